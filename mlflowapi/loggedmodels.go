package mlflowapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
)

// MLflow 3 logged models under /api/2.0/mlflow/logged-models. The MLflow 3
// client's log_model creates one (PENDING), uploads the files to its
// artifact location through the artifact proxy, then finalizes it (READY).

func (s *Server) routesLoggedModels() {
	s.handle("POST", "logged-models", handleJSON(s, s.createLoggedModel))
	s.handle("POST", "logged-models/search", handleJSON(s, s.searchLoggedModels))
	s.handle("GET", "logged-models/{model_id}", handleCall(s, s.getLoggedModel))
	s.handle("PATCH", "logged-models/{model_id}", handleJSON(s, s.finalizeLoggedModel))
	s.handle("DELETE", "logged-models/{model_id}", handleJSON(s, s.deleteLoggedModel))
	s.handle("PATCH", "logged-models/{model_id}/tags", handleJSON(s, s.setLoggedModelTags))
	s.handle("DELETE", "logged-models/{model_id}/tags/{tag_key...}", handleCall(s, s.deleteLoggedModelTag))
	s.handle("POST", "logged-models/{model_id}/params", handleJSON(s, s.logLoggedModelParams))
	s.handle("GET", "logged-models/{model_id}/artifacts/directories", handleJSON(s, s.listLoggedModelArtifacts))
}

// versionStr is a string request field that also accepts a JSON number
// (clients send model versions both ways).
type versionStr string

func (v *versionStr) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = versionStr(s)
		return nil
	}
	if _, err := strconv.ParseFloat(string(b), 64); err != nil {
		return tandem.Errorf(tandem.EINVALID, "expected a string or a number, got %s", b)
	}
	*v = versionStr(b)
	return nil
}

type loggedModelInfoJSON struct {
	ModelID                string    `json:"model_id"`
	ExperimentID           string    `json:"experiment_id"`
	Name                   string    `json:"name"`
	CreationTimestampMs    int64     `json:"creation_timestamp_ms"`
	LastUpdatedTimestampMs int64     `json:"last_updated_timestamp_ms"`
	ArtifactURI            string    `json:"artifact_uri"`
	Status                 string    `json:"status"`
	ModelType              string    `json:"model_type"`
	SourceRunID            string    `json:"source_run_id"`
	StatusMessage          string    `json:"status_message,omitempty"`
	Tags                   []tagJSON `json:"tags,omitempty"`
}

type loggedModelDataJSON struct {
	Params  []tagJSON               `json:"params,omitempty"`
	Metrics []loggedModelMetricJSON `json:"metrics,omitempty"`
}

// loggedModelMetricJSON is MLflow's Metric message as a logged model
// carries it: with the run, model and dataset of the point.
type loggedModelMetricJSON struct {
	Key           string      `json:"key"`
	Value         metricValue `json:"value"`
	Timestamp     int64       `json:"timestamp"`
	Step          int64       `json:"step"`
	DatasetName   string      `json:"dataset_name,omitempty"`
	DatasetDigest string      `json:"dataset_digest,omitempty"`
	ModelID       string      `json:"model_id"`
	RunID         string      `json:"run_id"`
}

type loggedModelJSON struct {
	Info loggedModelInfoJSON `json:"info"`
	Data loggedModelDataJSON `json:"data"`
}

func lmJSON(lm tandem.LoggedModel) loggedModelJSON {
	return loggedModelJSON{
		Info: loggedModelInfoJSON{ModelID: lm.ModelID, ExperimentID: lm.ExperimentID, Name: lm.Name,
			CreationTimestampMs: lm.CreationTime, LastUpdatedTimestampMs: lm.LastUpdatedTime, ArtifactURI: lm.ArtifactLocation,
			Status: lm.Status, ModelType: lm.ModelType, SourceRunID: lm.SourceRunID, StatusMessage: lm.StatusMessage,
			Tags: tagsJSON(lm.Tags)},
		Data: loggedModelDataJSON{Params: tagsJSON(lm.Params), Metrics: lmMetricsJSON(lm.Metrics)},
	}
}

func lmMetricsJSON(ms []tandem.LoggedModelMetric) []loggedModelMetricJSON {
	out := make([]loggedModelMetricJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, loggedModelMetricJSON{Key: m.Key, Value: metricValue(m.Value), Timestamp: m.Timestamp, Step: m.Step,
			DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest, ModelID: m.ModelID, RunID: m.RunID})
	}
	return out
}

// enumStr reads a proto enum field sent by name or by number ("" when
// absent or null).
type enumStr string

func (e *enumStr) UnmarshalJSON(b []byte) error {
	var v versionStr
	if err := v.UnmarshalJSON(b); err != nil {
		return err
	}
	*e = enumStr(v)
	return nil
}

// loggedModelNameBadChars are the characters MLflow refuses in a logged
// model's name, in its order (its message lists them as a Python tuple).
const loggedModelNameBadChars = `/:.%"'`

// checkLoggedModelName refuses a logged model name as MLflow does, in its
// words. An empty name is not refused: the server picks one.
func checkLoggedModelName(name string) error {
	if name == "" || !strings.ContainsAny(name, loggedModelNameBadChars) {
		return nil
	}
	var reprs []string
	for _, c := range loggedModelNameBadChars {
		reprs = append(reprs, pythonRepr(string(c)))
	}
	return tandem.Errorf(tandem.EINVALID, "Invalid model name (%s) provided. Model name must be a non-empty string and cannot contain the following characters: (%s)",
		pythonRepr(name), strings.Join(reprs, ", "))
}

type createLoggedModelReq struct {
	ExperimentID versionStr `json:"experiment_id" mlflow:"required,typefirst"`
	Name         string     `json:"name"`
	ModelType    string     `json:"model_type"`
	SourceRunID  string     `json:"source_run_id"`
	Params       []tagJSON  `json:"params"`
	Tags         []tagJSON  `json:"tags"`
}

func (s *Server) createLoggedModel(r *http.Request, req *createLoggedModelReq) (any, error) {
	if err := checkLoggedModelName(req.Name); err != nil {
		return nil, err
	}
	lm, err := s.Store.CreateLoggedModel(r.Context(), tandem.NewLoggedModel{ExperimentID: string(req.ExperimentID),
		Name: req.Name, ModelType: req.ModelType, SourceRunID: req.SourceRunID,
		Tags: fromTagsJSON(req.Tags), Params: fromTagsJSON(req.Params)})
	if err != nil {
		return nil, err
	}
	return map[string]any{"model": lmJSON(lm)}, nil
}

func (s *Server) getLoggedModel(r *http.Request) (any, error) {
	allow := strings.EqualFold(r.URL.Query().Get("allow_deleted"), "true")
	lm, err := s.Store.GetLoggedModel(r.Context(), r.PathValue("model_id"), allow)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model": lmJSON(lm)}, nil
}

// MLflow's finalize and log-params endpoints require model_id in the body
// as well as in the path; the path's value is the one used.
type finalizeLoggedModelReq struct {
	ModelID string  `json:"model_id" mlflow:"required,typefirst"`
	Status  enumStr `json:"status" mlflow:"required,typefirst"`
}

func (s *Server) finalizeLoggedModel(r *http.Request, req *finalizeLoggedModelReq) (any, error) {
	lm, err := s.Store.FinalizeLoggedModel(r.Context(), r.PathValue("model_id"), string(req.Status))
	if err != nil {
		return nil, err
	}
	return map[string]any{"model": lmJSON(lm)}, nil
}

func (s *Server) deleteLoggedModel(r *http.Request, _ *empty) (any, error) {
	return empty{}, s.Store.DeleteLoggedModel(r.Context(), r.PathValue("model_id"))
}

type setLoggedModelTagsReq struct {
	Tags []tagJSON `json:"tags"`
}

func (s *Server) setLoggedModelTags(r *http.Request, req *setLoggedModelTagsReq) (any, error) {
	return empty{}, s.Store.SetLoggedModelTags(r.Context(), r.PathValue("model_id"), fromTagsJSON(req.Tags))
}

func (s *Server) deleteLoggedModelTag(r *http.Request) (any, error) {
	return empty{}, s.Store.DeleteLoggedModelTag(r.Context(), r.PathValue("model_id"), r.PathValue("tag_key"))
}

type logLoggedModelParamsReq struct {
	ModelID string    `json:"model_id" mlflow:"required,typefirst"`
	Params  []tagJSON `json:"params"`
}

func (s *Server) logLoggedModelParams(r *http.Request, req *logLoggedModelParamsReq) (any, error) {
	return empty{}, s.Store.LogLoggedModelParams(r.Context(), r.PathValue("model_id"), fromTagsJSON(req.Params))
}

type searchLoggedModelsReq struct {
	ExperimentIDs []string `json:"experiment_ids" mlflow:"required,typefirst"`
	Filter        string   `json:"filter"`
	Datasets      []struct {
		DatasetName   string `json:"dataset_name"`
		DatasetDigest string `json:"dataset_digest"`
	} `json:"datasets"`
	MaxResults Int64 `json:"max_results"`
	OrderBy    []struct {
		FieldName     string `json:"field_name"`
		Ascending     *Bool  `json:"ascending"`
		DatasetName   string `json:"dataset_name"`
		DatasetDigest string `json:"dataset_digest"`
	} `json:"order_by"`
	PageToken string `json:"page_token"`
}

func (s *Server) searchLoggedModels(r *http.Request, req *searchLoggedModelsReq) (any, error) {
	for _, d := range req.Datasets {
		if d.DatasetName == "" {
			return nil, missing("datasets.dataset_name")
		}
	}
	var order []tandem.LoggedModelOrder
	for _, o := range req.OrderBy {
		if o.FieldName == "" {
			return nil, missing("order_by.field_name")
		}
		asc := true
		if o.Ascending != nil && o.Ascending.Set {
			asc = o.Ascending.V
		}
		order = append(order, tandem.LoggedModelOrder{Field: o.FieldName, Ascending: asc, DatasetName: o.DatasetName, DatasetDigest: o.DatasetDigest})
	}
	var datasets []tandem.LoggedModelDataset
	for _, d := range req.Datasets {
		datasets = append(datasets, tandem.LoggedModelDataset{Name: d.DatasetName, Digest: d.DatasetDigest})
	}
	lms, next, err := s.Store.SearchLoggedModels(r.Context(), req.ExperimentIDs, req.Filter, datasets, order, req.MaxResults.V, req.PageToken)
	if err != nil {
		return nil, err
	}
	resp := struct {
		Models        []loggedModelJSON `json:"models,omitempty"`
		NextPageToken string            `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	for _, lm := range lms {
		resp.Models = append(resp.Models, lmJSON(lm))
	}
	return resp, nil
}

type listLoggedModelArtifactsReq struct {
	Path      string `json:"artifact_directory_path"`
	PageToken string `json:"page_token"`
}

// listLoggedModelArtifacts lists one level of a logged model's files (the
// MLflow UI's call), from the artifact records the artifact proxy keeps.
// Paths are relative to the model's artifact root; one page holds all.
func (s *Server) listLoggedModelArtifacts(r *http.Request, req *listLoggedModelArtifactsReq) (any, error) {
	lm, err := s.Store.GetLoggedModel(r.Context(), r.PathValue("model_id"), false)
	if err != nil {
		return nil, err
	}
	root, err := ParseArtifactURI(lm.ArtifactLocation)
	if err != nil {
		return nil, err
	}
	rel := ""
	if req.Path != "" {
		if rel, err = checkArtifactPath(req.Path, true); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid path")
		}
	}
	entries, err := s.Store.ListArtifactDir(r.Context(), joinArtifactPath(root, rel))
	if err != nil {
		return nil, err
	}
	var resp struct {
		RootURI string     `json:"root_uri"`
		Files   []fileInfo `json:"files,omitempty"`
	}
	resp.RootURI = lm.ArtifactLocation
	resp.Files = fileInfos(entries, rel)
	return resp, nil
}

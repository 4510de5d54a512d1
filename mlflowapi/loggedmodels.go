package mlflowapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
)

// MLflow 3 logged models under /api/2.0/mlflow/logged-models. The MLflow 3
// client's log_model creates one (PENDING), uploads the files to its
// artifact location through the artifact proxy, then finalizes it (READY).

func (s *Server) routesLoggedModels() {
	s.handle("POST", "logged-models", s.createLoggedModel)
	s.handle("POST", "logged-models/search", s.searchLoggedModels)
	s.handle("GET", "logged-models/{model_id}", s.getLoggedModel)
	s.handle("PATCH", "logged-models/{model_id}", s.finalizeLoggedModel)
	s.handle("DELETE", "logged-models/{model_id}", s.deleteLoggedModel)
	s.handle("PATCH", "logged-models/{model_id}/tags", s.setLoggedModelTags)
	s.handle("DELETE", "logged-models/{model_id}/tags/{tag_key...}", s.deleteLoggedModelTag)
	s.handle("POST", "logged-models/{model_id}/params", s.logLoggedModelParams)
	s.handle("GET", "logged-models/{model_id}/artifacts/directories", s.listLoggedModelArtifacts)
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
	Params []tagJSON `json:"params,omitempty"`
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
		Data: loggedModelDataJSON{Params: tagsJSON(lm.Params)},
	}
}

// enumStr reads a proto enum field sent by name or by number.
type enumStr string

func (e *enumStr) UnmarshalJSON(b []byte) error {
	var v versionStr
	if err := v.UnmarshalJSON(b); err != nil {
		return err
	}
	*e = enumStr(v)
	return nil
}

func (s *Server) createLoggedModel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ExperimentID versionStr `json:"experiment_id"`
		Name         string     `json:"name"`
		ModelType    string     `json:"model_type"`
		SourceRunID  string     `json:"source_run_id"`
		Params       []tagJSON  `json:"params"`
		Tags         []tagJSON  `json:"tags"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	lm, err := s.Store.CreateLoggedModel(r.Context(), sqlstore.NewLoggedModel{ExperimentID: string(req.ExperimentID),
		Name: req.Name, ModelType: req.ModelType, SourceRunID: req.SourceRunID,
		Tags: fromTagsJSON(req.Tags), Params: fromTagsJSON(req.Params)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"model": lmJSON(lm)})
}

func (s *Server) getLoggedModel(w http.ResponseWriter, r *http.Request) {
	allow := strings.EqualFold(r.URL.Query().Get("allow_deleted"), "true")
	lm, err := s.Store.GetLoggedModel(r.Context(), r.PathValue("model_id"), allow)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"model": lmJSON(lm)})
}

func (s *Server) finalizeLoggedModel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ModelID string  `json:"model_id"`
		Status  enumStr `json:"status"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.ModelID == "" {
		s.writeError(w, r, errMissing("model_id"))
		return
	}
	if req.Status == "" {
		s.writeError(w, r, errMissing("status"))
		return
	}
	lm, err := s.Store.FinalizeLoggedModel(r.Context(), r.PathValue("model_id"), string(req.Status))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"model": lmJSON(lm)})
}

func (s *Server) deleteLoggedModel(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.DeleteLoggedModel(r.Context(), r.PathValue("model_id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

func (s *Server) setLoggedModelTags(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Tags []tagJSON `json:"tags"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.SetLoggedModelTags(r.Context(), r.PathValue("model_id"), fromTagsJSON(req.Tags)); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

func (s *Server) deleteLoggedModelTag(w http.ResponseWriter, r *http.Request) {
	if err := s.Store.DeleteLoggedModelTag(r.Context(), r.PathValue("model_id"), r.PathValue("tag_key")); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

func (s *Server) logLoggedModelParams(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ModelID string    `json:"model_id"`
		Params  []tagJSON `json:"params"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.ModelID == "" {
		s.writeError(w, r, errMissing("model_id"))
		return
	}
	if err := s.Store.LogLoggedModelParams(r.Context(), r.PathValue("model_id"), fromTagsJSON(req.Params)); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

func (s *Server) searchLoggedModels(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ExperimentIDs []string `json:"experiment_ids"`
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
	if err := decode(r, &req, "experiment_ids"); err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, d := range req.Datasets {
		if d.DatasetName == "" {
			s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Missing value for required parameter 'datasets.dataset_name'."))
			return
		}
	}
	var order []sqlstore.LoggedModelOrder
	for _, o := range req.OrderBy {
		if o.FieldName == "" {
			s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Missing value for required parameter 'order_by.field_name'."))
			return
		}
		asc := true
		if o.Ascending != nil && o.Ascending.Set {
			asc = o.Ascending.V
		}
		order = append(order, sqlstore.LoggedModelOrder{Field: o.FieldName, Ascending: asc})
	}
	lms, next, err := s.Store.SearchLoggedModels(r.Context(), req.ExperimentIDs, req.Filter, order, req.MaxResults.V, req.PageToken)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := struct {
		Models        []loggedModelJSON `json:"models,omitempty"`
		NextPageToken string            `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	for _, lm := range lms {
		resp.Models = append(resp.Models, lmJSON(lm))
	}
	writeJSON(w, 200, resp)
}

// errMissing is MLflow's error for a required request field left out.
// (MLflow's finalize and log-params endpoints require model_id in the body
// as well as in the path; the path's value is the one used.)
func errMissing(field string) error {
	return tandem.Errorf(tandem.EINVALID, "Missing value for required parameter '%s'. See the API docs for more information about request parameters.", field)
}

// listLoggedModelArtifacts lists one level of a logged model's files (the
// MLflow UI's call), from the artifact records the artifact proxy keeps.
// Paths are relative to the model's artifact root; one page holds all.
func (s *Server) listLoggedModelArtifacts(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path      string `json:"artifact_directory_path"`
		PageToken string `json:"page_token"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	lm, err := s.Store.GetLoggedModel(r.Context(), r.PathValue("model_id"), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	root, err := ParseArtifactURI(lm.ArtifactLocation)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rel := ""
	if req.Path != "" {
		if rel, err = checkArtifactPath(req.Path, true); err != nil {
			s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Invalid path"))
			return
		}
	}
	entries, err := sqlstore.ListArtifactDir(r.Context(), s.Store.Reader(), joinArtifactPath(root, rel))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var resp struct {
		RootURI string     `json:"root_uri"`
		Files   []fileInfo `json:"files,omitempty"`
	}
	resp.RootURI = lm.ArtifactLocation
	resp.Files = fileInfos(entries, rel)
	writeJSON(w, http.StatusOK, resp)
}

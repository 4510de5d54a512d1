package mlflowapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/tandemml/tandem"
)

// MLflow 3's GenAI workspace objects: evaluation datasets (with their
// records, tags and experiment links) and registered scorers. The stock
// client calls them under /api/3.0/mlflow/; they are served under the 2.0
// prefixes too, as MLflow's server does.

func (s *Server) routesGenAI() {
	both := func(method, name string, h http.HandlerFunc) {
		s.handle(method, name, h)
		s.handle3(method, name, h)
	}
	both("POST", "datasets/create", handleJSON(s, s.createDataset))
	both("POST", "datasets/search", handleJSON(s, s.searchEvalDatasets))
	both("GET", "datasets/{dataset_id}", handleCall(s, s.getDataset))
	both("DELETE", "datasets/{dataset_id}", handleCall(s, s.deleteDataset))
	both("PATCH", "datasets/{dataset_id}/tags", handleJSON(s, s.setDatasetTags))
	both("DELETE", "datasets/{dataset_id}/tags/{key...}", handleCall(s, s.deleteDatasetTag))
	both("POST", "datasets/{dataset_id}/records", handleJSON(s, s.upsertDatasetRecords))
	both("GET", "datasets/{dataset_id}/records", handleJSON(s, s.getDatasetRecords))
	both("DELETE", "datasets/{dataset_id}/records", handleJSON(s, s.deleteDatasetRecords))
	both("GET", "datasets/{dataset_id}/experiment-ids", handleCall(s, s.datasetExperimentIDs))
	both("POST", "datasets/{dataset_id}/add-experiments", handleJSON(s, s.addDatasetExperiments))
	both("POST", "datasets/{dataset_id}/remove-experiments", handleJSON(s, s.removeDatasetExperiments))

	both("POST", "scorers/register", handleJSON(s, s.registerScorer))
	both("GET", "scorers/list", handleJSON(s, s.listScorers))
	both("GET", "scorers/versions", handleJSON(s, s.listScorerVersions))
	both("GET", "scorers/get", handleJSON(s, s.getScorer))
	both("DELETE", "scorers/delete", handleJSON(s, s.deleteScorer))
	both("GET", "scorers/online-configs", handleCall(s, s.onlineScoringConfigs))
}

// datasetJSON is mlflow.datasets.Dataset in MLflow's JSON: tags is a JSON
// text, schema and profile too.
type datasetJSON struct {
	DatasetID     string   `json:"dataset_id"`
	Name          string   `json:"name"`
	Tags          string   `json:"tags"`
	Schema        string   `json:"schema,omitempty"`
	Profile       string   `json:"profile,omitempty"`
	Digest        string   `json:"digest"`
	CreatedTime   int64    `json:"created_time"`
	LastUpdate    int64    `json:"last_update_time"`
	CreatedBy     string   `json:"created_by,omitempty"`
	LastUpdatedBy string   `json:"last_updated_by,omitempty"`
	ExperimentIDs []string `json:"experiment_ids,omitempty"`
}

func toDatasetJSON(d *tandem.EvaluationDataset) datasetJSON {
	tags := d.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	b, _ := json.Marshal(tags)
	return datasetJSON{DatasetID: d.ID, Name: d.Name, Tags: string(b), Schema: d.Schema, Profile: d.Profile, Digest: d.Digest,
		CreatedTime: d.Created, LastUpdate: d.Updated, CreatedBy: d.CreatedBy, LastUpdatedBy: d.LastUpdatedBy, ExperimentIDs: d.ExperimentIDs}
}

type datasetResp struct {
	Dataset datasetJSON `json:"dataset"`
}

// jsonText decodes a request field that carries JSON as a string (MLflow's
// dataset tags and records) into v; EINVALID when it is not.
func jsonText(field, text string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return tandem.Errorf(tandem.EINVALID, "Invalid value for parameter '%s': it must be a JSON text (%v)", field, err)
	}
	return nil
}

type createDatasetReq struct {
	Name          string   `json:"name" mlflow:"required"`
	ExperimentIDs []string `json:"experiment_ids"`
	Tags          string   `json:"tags"`
}

func (s *Server) createDataset(r *http.Request, req *createDatasetReq) (any, error) {
	var tags map[string]json.RawMessage
	if req.Tags != "" {
		if err := jsonText("tags", req.Tags, &tags); err != nil {
			return nil, err
		}
	}
	plain := map[string]string{}
	for k, v := range tags {
		if str, ok := tagString(v); ok {
			plain[k] = str
		}
	}
	d, err := s.Store.CreateEvaluationDataset(r.Context(), req.Name, plain, req.ExperimentIDs)
	if err != nil {
		return nil, err
	}
	return datasetResp{toDatasetJSON(d)}, nil
}

// tagString is a tag value as text: a JSON string as is, any other value as
// its JSON; false for null.
func tagString(v json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s, true
	}
	if string(bytes.TrimSpace(v)) == "null" {
		return "", false
	}
	return string(v), true
}

func (s *Server) getDataset(r *http.Request) (any, error) {
	d, err := s.Store.GetEvaluationDataset(r.Context(), r.PathValue("dataset_id"))
	if err != nil {
		return nil, err
	}
	return datasetResp{toDatasetJSON(d)}, nil
}

func (s *Server) deleteDataset(r *http.Request) (any, error) {
	return empty{}, s.Store.DeleteEvaluationDataset(r.Context(), r.PathValue("dataset_id"))
}

type searchEvalDatasetsReq struct {
	ExperimentIDs []string `json:"experiment_ids"`
	FilterString  string   `json:"filter_string"`
	MaxResults    Int64    `json:"max_results"`
	OrderBy       []string `json:"order_by"`
	PageToken     string   `json:"page_token"`
}

type searchEvalDatasetsResp struct {
	Datasets      []datasetJSON `json:"datasets"`
	NextPageToken string        `json:"next_page_token,omitempty"`
}

func (s *Server) searchEvalDatasets(r *http.Request, req *searchEvalDatasetsReq) (any, error) {
	ds, next, err := s.Store.SearchEvaluationDatasets(r.Context(), tandem.DatasetSearch{ExperimentIDs: req.ExperimentIDs,
		Filter: req.FilterString, MaxResults: int(req.MaxResults.V), OrderBy: req.OrderBy, PageToken: req.PageToken})
	if err != nil {
		return nil, err
	}
	out := searchEvalDatasetsResp{Datasets: []datasetJSON{}, NextPageToken: next}
	for _, d := range ds {
		out.Datasets = append(out.Datasets, toDatasetJSON(d))
	}
	return out, nil
}

type setDatasetTagsReq struct {
	Tags string `json:"tags" mlflow:"required"`
}

func (s *Server) setDatasetTags(r *http.Request, req *setDatasetTagsReq) (any, error) {
	var tags map[string]json.RawMessage
	if err := jsonText("tags", req.Tags, &tags); err != nil {
		return nil, err
	}
	return empty{}, s.Store.SetEvaluationDatasetTags(r.Context(), r.PathValue("dataset_id"), tags)
}

func (s *Server) deleteDatasetTag(r *http.Request) (any, error) {
	return empty{}, s.Store.DeleteEvaluationDatasetTag(r.Context(), r.PathValue("dataset_id"), r.PathValue("key"))
}

type upsertRecordsReq struct {
	Records string `json:"records" mlflow:"required"`
}

type upsertRecordsResp struct {
	Inserted int `json:"inserted_count"`
	Updated  int `json:"updated_count"`
}

func (s *Server) upsertDatasetRecords(r *http.Request, req *upsertRecordsReq) (any, error) {
	var recs []tandem.RecordInput
	if err := jsonText("records", req.Records, &recs); err != nil {
		return nil, err
	}
	res, err := s.Store.UpsertDatasetRecords(r.Context(), r.PathValue("dataset_id"), recs)
	if err != nil {
		return nil, err
	}
	return upsertRecordsResp{res.Inserted, res.Updated}, nil
}

type getRecordsReq struct {
	MaxResults Int64  `json:"max_results"`
	PageToken  string `json:"page_token"`
}

type getRecordsResp struct {
	Records       string `json:"records"`
	NextPageToken string `json:"next_page_token,omitempty"`
}

// recordJSON is a record as MLflow's DatasetRecord.to_dict writes it: the
// domain record's JSON without its input hash (tandem's own).
type recordJSON struct {
	tandem.DatasetRecord
	InputHash string `json:"input_hash,omitempty"`
}

func (s *Server) getDatasetRecords(r *http.Request, req *getRecordsReq) (any, error) {
	if req.MaxResults.V < 0 || req.MaxResults.V > tandem.MaxDatasetRecordsPage {
		return nil, tandem.Errorf(tandem.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be at most %d.",
			req.MaxResults.V, tandem.MaxDatasetRecordsPage)
	}
	recs, next, err := s.Store.DatasetRecords(r.Context(), r.PathValue("dataset_id"), int(req.MaxResults.V), req.PageToken)
	if err != nil {
		return nil, err
	}
	out := make([]recordJSON, 0, len(recs))
	for _, x := range recs {
		tags := x.Tags
		if tags == nil {
			tags = json.RawMessage(`{}`)
		}
		x.Tags = tags
		out = append(out, recordJSON{DatasetRecord: x})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return getRecordsResp{Records: string(b), NextPageToken: next}, nil
}

type deleteRecordsReq struct {
	RecordIDs []string `json:"dataset_record_ids"`
}

type deleteRecordsResp struct {
	Deleted int `json:"deleted_count"`
}

func (s *Server) deleteDatasetRecords(r *http.Request, req *deleteRecordsReq) (any, error) {
	n, err := s.Store.DeleteDatasetRecords(r.Context(), r.PathValue("dataset_id"), req.RecordIDs)
	if err != nil {
		return nil, err
	}
	return deleteRecordsResp{n}, nil
}

type experimentIDsResp struct {
	ExperimentIDs []string `json:"experiment_ids"`
}

func (s *Server) datasetExperimentIDs(r *http.Request) (any, error) {
	ids, err := s.Store.DatasetExperimentIDs(r.Context(), r.PathValue("dataset_id"))
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = []string{}
	}
	return experimentIDsResp{ids}, nil
}

type datasetExperimentsReq struct {
	ExperimentIDs []string `json:"experiment_ids"`
}

func (s *Server) addDatasetExperiments(r *http.Request, req *datasetExperimentsReq) (any, error) {
	d, err := s.Store.LinkEvaluationDataset(r.Context(), r.PathValue("dataset_id"), req.ExperimentIDs, nil)
	if err != nil {
		return nil, err
	}
	return datasetResp{toDatasetJSON(d)}, nil
}

func (s *Server) removeDatasetExperiments(r *http.Request, req *datasetExperimentsReq) (any, error) {
	d, err := s.Store.LinkEvaluationDataset(r.Context(), r.PathValue("dataset_id"), nil, req.ExperimentIDs)
	if err != nil {
		return nil, err
	}
	return datasetResp{toDatasetJSON(d)}, nil
}

// Scorers.

// scorerJSON is mlflow.Scorer: its experiment_id is an int32.
type scorerJSON struct {
	ExperimentID     int64  `json:"experiment_id"`
	ScorerName       string `json:"scorer_name"`
	ScorerVersion    int64  `json:"scorer_version"`
	SerializedScorer string `json:"serialized_scorer"`
	CreationTime     int64  `json:"creation_time"`
	ScorerID         string `json:"scorer_id"`
}

func toScorerJSON(v tandem.ScorerVersion) scorerJSON {
	exp, _ := strconv.ParseInt(v.ExperimentID, 10, 64)
	return scorerJSON{ExperimentID: exp, ScorerName: v.Name, ScorerVersion: v.Version, SerializedScorer: v.Serialized,
		CreationTime: v.Created, ScorerID: v.ScorerID}
}

type registerScorerReq struct {
	ExperimentID     string `json:"experiment_id" mlflow:"required"`
	Name             string `json:"name" mlflow:"required"`
	SerializedScorer string `json:"serialized_scorer" mlflow:"required"`
}

type registerScorerResp struct {
	Version          int64  `json:"version"`
	ScorerID         string `json:"scorer_id"`
	ExperimentID     string `json:"experiment_id"`
	Name             string `json:"name"`
	SerializedScorer string `json:"serialized_scorer"`
	CreationTime     int64  `json:"creation_time"`
}

func (s *Server) registerScorer(r *http.Request, req *registerScorerReq) (any, error) {
	v, err := s.Store.RegisterScorer(r.Context(), req.ExperimentID, req.Name, req.SerializedScorer)
	if err != nil {
		return nil, err
	}
	return registerScorerResp{Version: v.Version, ScorerID: v.ScorerID, ExperimentID: v.ExperimentID, Name: v.Name,
		SerializedScorer: v.Serialized, CreationTime: v.Created}, nil
}

type listScorersReq struct {
	ExperimentID  string   `json:"experiment_id"`
	ExperimentIDs []string `json:"experiment_ids"`
}

type scorersResp struct {
	Scorers []scorerJSON `json:"scorers"`
}

func toScorersResp(vs []tandem.ScorerVersion) scorersResp {
	out := scorersResp{Scorers: []scorerJSON{}}
	for _, v := range vs {
		out.Scorers = append(out.Scorers, toScorerJSON(v))
	}
	return out
}

// listScorers lists the latest version of each scorer of one experiment
// (which must exist), of several, or of every active experiment.
func (s *Server) listScorers(r *http.Request, req *listScorersReq) (any, error) {
	ctx := r.Context()
	if req.ExperimentID != "" && len(req.ExperimentIDs) > 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "Cannot specify both 'experiment_id' and 'experiment_ids'. Use "+
			"'experiment_ids' to scope the query to multiple experiments, or 'experiment_id' to scope it to a single experiment.")
	}
	ids := req.ExperimentIDs
	if req.ExperimentID != "" {
		e, err := s.Store.GetExperiment(ctx, req.ExperimentID)
		if err != nil {
			return nil, err
		}
		if e.LifecycleStage != tandem.LifecycleActive {
			return nil, tandem.Errorf(tandem.EINVALIDSTATE, "The experiment %s must be in the 'active' state.", req.ExperimentID)
		}
		ids = []string{req.ExperimentID}
	}
	vs, err := s.Store.ListScorers(ctx, ids)
	if err != nil {
		return nil, err
	}
	return toScorersResp(vs), nil
}

type scorerReq struct {
	ExperimentID string `json:"experiment_id" mlflow:"required"`
	Name         string `json:"name" mlflow:"required"`
	Version      Int64  `json:"version"`
}

func (s *Server) listScorerVersions(r *http.Request, req *scorerReq) (any, error) {
	vs, err := s.Store.ListScorerVersions(r.Context(), req.ExperimentID, req.Name)
	if err != nil {
		return nil, err
	}
	return toScorersResp(vs), nil
}

func scorerVersion(req *scorerReq) (int64, error) {
	if req.Version.Set && req.Version.V <= 0 {
		return 0, tandem.Errorf(tandem.EINVALID, "Invalid value %d for parameter 'version' supplied.", req.Version.V)
	}
	return req.Version.V, nil
}

func (s *Server) getScorer(r *http.Request, req *scorerReq) (any, error) {
	v, err := scorerVersion(req)
	if err != nil {
		return nil, err
	}
	sv, err := s.Store.GetScorer(r.Context(), req.ExperimentID, req.Name, v)
	if err != nil {
		return nil, err
	}
	return struct {
		Scorer scorerJSON `json:"scorer"`
	}{toScorerJSON(*sv)}, nil
}

func (s *Server) deleteScorer(r *http.Request, req *scorerReq) (any, error) {
	v, err := scorerVersion(req)
	if err != nil {
		return nil, err
	}
	return empty{}, s.Store.DeleteScorer(r.Context(), req.ExperimentID, req.Name, v)
}

// onlineScoringConfigs answers that no scorer has an online scoring
// configuration: tandem stores scorers but never runs them on incoming
// traces, so setting one (PUT scorers/online-config) is not served.
func (s *Server) onlineScoringConfigs(r *http.Request) (any, error) {
	return struct {
		Configs []struct{} `json:"configs"`
	}{Configs: []struct{}{}}, nil
}

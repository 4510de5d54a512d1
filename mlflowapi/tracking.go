package mlflowapi

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
)

// routesTracking registers the MLflow tracking endpoints (experiments,
// runs, metrics). artifacts/list belongs to artifacts.go.
func (s *Server) routesTracking() {
	s.handle("POST", "experiments/create", handleJSON(s, s.createExperiment))
	s.handle("GET", "experiments/get", handleJSON(s, s.getExperiment))
	s.handle("GET", "experiments/get-by-name", handleJSON(s, s.getExperimentByName))
	s.handle("POST", "experiments/search", handleJSON(s, s.searchExperiments))
	s.handle("GET", "experiments/search", handleJSON(s, s.searchExperiments))
	s.handle("POST", "experiments/update", handleJSON(s, s.updateExperiment))
	s.handle("POST", "experiments/delete", handleJSON(s, s.deleteExperiment))
	s.handle("POST", "experiments/restore", handleJSON(s, s.restoreExperiment))
	s.handle("POST", "experiments/set-experiment-tag", handleJSON(s, s.setExperimentTag))
	s.handle("POST", "experiments/delete-experiment-tag", handleJSON(s, s.deleteExperimentTag))

	s.handle("POST", "runs/create", handleJSON(s, s.createRun))
	s.handle("GET", "runs/get", handleJSON(s, s.getRun))
	s.handle("POST", "runs/update", handleJSON(s, s.updateRun))
	s.handle("POST", "runs/delete", handleJSON(s, s.deleteRun))
	s.handle("POST", "runs/restore", handleJSON(s, s.restoreRun))
	s.handle("POST", "runs/search", handleJSON(s, s.searchRuns))
	s.handle("GET", "runs/search", handleJSON(s, s.searchRuns))
	s.handle("POST", "runs/log-metric", handleJSON(s, s.logMetric))
	s.handle("POST", "runs/log-parameter", handleJSON(s, s.logParam))
	s.handle("POST", "runs/set-tag", handleJSON(s, s.setTag))
	s.handle("POST", "runs/delete-tag", handleJSON(s, s.deleteTag))
	s.handle("POST", "runs/log-batch", s.limitBody(maxLogBatchBytes, logBatchTooLarge, handleJSON(s, s.logBatch)))
	s.handle("POST", "runs/log-model", handleJSON(s, s.logModel))
	s.handle("POST", "runs/log-inputs", handleJSON(s, s.logInputs))
	s.handle("POST", "runs/outputs", handleJSON(s, s.logOutputs))
	s.handle("GET", "metrics/get-history", handleJSON(s, s.getMetricHistory))
	s.handle("GET", "metrics/get-history-bulk-interval", handleJSON(s, s.getMetricHistoryBulkInterval))
}

// bootstrapTracking creates the Default experiment "0" when missing.
func (s *Server) bootstrapTracking(ctx context.Context) error {
	return s.Store.EnsureDefaultExperiment(ctx)
}

func tagsFrom(ts []reqTag, field string) ([]tandem.Tag, error) {
	out := make([]tandem.Tag, 0, len(ts))
	for i, t := range ts {
		if t.Key == nil {
			return nil, missing(field + "[" + strconv.Itoa(i) + "].key")
		}
		v := ""
		if t.Value != nil {
			v = *t.Value
		}
		out = append(out, tandem.Tag{Key: *t.Key, Value: v})
	}
	return out, nil
}

// Experiments.

type createExperimentReq struct {
	Name             string   `json:"name" mlflow:"required"`
	ArtifactLocation string   `json:"artifact_location"`
	Tags             []reqTag `json:"tags"`
}

func (s *Server) createExperiment(r *http.Request, req *createExperimentReq) (any, error) {
	tags, err := tagsFrom(req.Tags, "tags")
	if err != nil {
		return nil, err
	}
	// MLflow's order: the URL's form, then whether it names a host, then
	// the rest (the store's ValidateArtifactLocation).
	if err := tandem.CheckLocationURL(req.ArtifactLocation, "artifact_location"); err != nil {
		return nil, err
	}
	if err := tandem.CheckHostAddressed(req.ArtifactLocation, "artifact_location", s.hostSchemes); err != nil {
		return nil, err
	}
	// A relative local location is made absolute against the server's
	// working directory, as MLflow's server does, before it is journalled.
	loc := req.ArtifactLocation
	if dir, err := os.Getwd(); err == nil {
		loc = tandem.ResolveArtifactLocation(loc, dir)
	}
	id, err := s.Store.CreateExperiment(r.Context(), req.Name, loc, tags)
	if err != nil {
		return nil, err
	}
	return map[string]string{"experiment_id": id}, nil
}

type experimentIDReq struct {
	ExperimentID string `json:"experiment_id" mlflow:"required"`
}

func (s *Server) getExperiment(r *http.Request, req *experimentIDReq) (any, error) {
	id := req.ExperimentID
	e, err := s.Store.GetExperiment(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": toJSONExperiment(e)}, nil
}

type getExperimentByNameReq struct {
	Name string `json:"experiment_name" mlflow:"required"`
}

func (s *Server) getExperimentByName(r *http.Request, req *getExperimentByNameReq) (any, error) {
	e, err := s.Store.GetExperimentByName(r.Context(), req.Name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": toJSONExperiment(e)}, nil
}

// viewType reads MLflow's ViewType from its name or number; "" is
// ACTIVE_ONLY.
func viewType(v string) (tandem.ViewType, error) {
	switch strings.ToUpper(v) {
	case "", "ACTIVE_ONLY", "1":
		return tandem.ActiveOnly, nil
	case "DELETED_ONLY", "2":
		return tandem.DeletedOnly, nil
	case "ALL", "3":
		return tandem.AllStages, nil
	}
	return 0, tandem.Errorf(tandem.EINVALID, "Invalid value '%s' for parameter 'view_type' supplied", v)
}

type searchExperimentsReq struct {
	MaxResults Int64    `json:"max_results"`
	PageToken  string   `json:"page_token"`
	Filter     string   `json:"filter"`
	OrderBy    []string `json:"order_by"`
	ViewType   enumStr  `json:"view_type"`
}

func (s *Server) searchExperiments(r *http.Request, req *searchExperimentsReq) (any, error) {
	vt, err := viewType(string(req.ViewType))
	if err != nil {
		return nil, err
	}
	max, err := positiveMaxResults(req.MaxResults, 0, false)
	if err != nil {
		return nil, err
	}
	es, next, err := visiblePages(r.Context(), max, req.PageToken, func(max int, token string) ([]*tandem.Experiment, string, error) {
		return s.Store.SearchExperiments(r.Context(), tandem.SearchExperimentsInput{
			Filter: req.Filter, ViewType: vt, MaxResults: max, OrderBy: req.OrderBy, PageToken: token})
	}, func(e *tandem.Experiment) tandem.Scope { return tandem.ExperimentScope(e.ExperimentID) })
	if err != nil {
		return nil, err
	}
	out := struct {
		Experiments   []jsonExperiment `json:"experiments,omitempty"`
		NextPageToken string           `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	for _, e := range es {
		out.Experiments = append(out.Experiments, toJSONExperiment(e))
	}
	return out, nil
}

type updateExperimentReq struct {
	ExperimentID string `json:"experiment_id" mlflow:"required"`
	NewName      string `json:"new_name" mlflow:"required,typefirst"`
}

func (s *Server) updateExperiment(r *http.Request, req *updateExperimentReq) (any, error) {
	return empty{}, s.Store.RenameExperiment(r.Context(), req.ExperimentID, req.NewName)
}

func (s *Server) deleteExperiment(r *http.Request, req *experimentIDReq) (any, error) {
	return empty{}, s.Store.DeleteExperiment(r.Context(), req.ExperimentID)
}

func (s *Server) restoreExperiment(r *http.Request, req *experimentIDReq) (any, error) {
	return empty{}, s.Store.RestoreExperiment(r.Context(), req.ExperimentID)
}

type experimentTagReq struct {
	ExperimentID string  `json:"experiment_id" mlflow:"required"`
	Key          string  `json:"key" mlflow:"required"`
	Value        *string `json:"value"`
}

func (s *Server) setExperimentTag(r *http.Request, req *experimentTagReq) (any, error) {
	id := req.ExperimentID
	v := ""
	if req.Value != nil {
		v = *req.Value
	}
	return empty{}, s.Store.SetExperimentTag(r.Context(), id, req.Key, v)
}

func (s *Server) deleteExperimentTag(r *http.Request, req *experimentTagReq) (any, error) {
	id := req.ExperimentID
	return empty{}, s.Store.DeleteExperimentTag(r.Context(), id, req.Key)
}

// Runs.

type runIDReq struct {
	RunID   string `json:"run_id"`
	RunUUID string `json:"run_uuid"`
}

// id returns run_id, or the older run_uuid.
func (q runIDReq) id() string {
	if q.RunID == "" {
		return q.RunUUID
	}
	return q.RunID
}

// checkTypeFirst is check's error where MLflow's handler checks run_id's
// type before its presence (see firstInOrder).
func (q runIDReq) checkTypeFirst() error {
	if q.id() == "" {
		return invalidValue("run_id", nil)
	}
	return nil
}

// check requires one of run_id and run_uuid (see checkRequired).
func (q runIDReq) check() error {
	if q.id() == "" {
		return missing("run_id")
	}
	return nil
}

func (s *Server) runResponse(ctx context.Context, id string) (any, error) {
	run, err := s.Store.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": toJSONRun(run)}, nil
}

type createRunReq struct {
	ExperimentID string   `json:"experiment_id"`
	UserID       string   `json:"user_id"`
	StartTime    Int64    `json:"start_time"`
	Tags         []reqTag `json:"tags"`
	RunName      string   `json:"run_name"`
}

func (s *Server) createRun(r *http.Request, req *createRunReq) (any, error) {
	exp := req.ExperimentID
	if exp == "" {
		exp = tandem.DefaultExperimentID
	}
	tags, err := tagsFrom(req.Tags, "tags")
	if err != nil {
		return nil, err
	}
	user := req.UserID
	if user == "" {
		for _, t := range tags {
			if t.Key == tandem.TagUser {
				user = t.Value
			}
		}
	}
	// The response is built from the committed change, not read back.
	run, err := s.Store.CreateRunFull(r.Context(), tandem.CreateRunInput{ExperimentID: exp, UserID: user,
		StartTime: req.StartTime.V, RunName: req.RunName, Tags: tags})
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": toJSONRun(run)}, nil
}

func (s *Server) getRun(r *http.Request, req *runIDReq) (any, error) {
	id := req.id()
	return s.runResponse(r.Context(), id)
}

type updateRunReq struct {
	runIDReq
	Status  enumStr `json:"status"`
	EndTime Int64   `json:"end_time"`
	RunName string  `json:"run_name"`
}

func (s *Server) updateRun(r *http.Request, req *updateRunReq) (any, error) {
	id := req.id()
	var status *string
	if req.Status != "" {
		st := runStatusName(string(req.Status))
		status = &st
	}
	var end *int64
	if req.EndTime.Set {
		end = &req.EndTime.V
	}
	var name *string
	if req.RunName != "" {
		name = &req.RunName
	}
	if err := s.Store.UpdateRun(r.Context(), id, status, end, name); err != nil {
		return nil, err
	}
	run, err := s.Store.GetRun(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run_info": toJSONRunInfo(run.Info)}, nil
}

// runStatusName maps proto enum numbers to names (names pass through).
func runStatusName(v string) string {
	switch v {
	case "1":
		return tandem.RunRunning
	case "2":
		return tandem.RunScheduled
	case "3":
		return tandem.RunFinished
	case "4":
		return tandem.RunFailed
	case "5":
		return tandem.RunKilled
	}
	return v
}

func (s *Server) deleteRun(r *http.Request, req *runIDReq) (any, error) {
	return empty{}, s.Store.DeleteRun(r.Context(), req.id())
}

func (s *Server) restoreRun(r *http.Request, req *runIDReq) (any, error) {
	return empty{}, s.Store.RestoreRun(r.Context(), req.id())
}

type searchRunsReq struct {
	ExperimentIDs []string `json:"experiment_ids"`
	Filter        string   `json:"filter"`
	RunViewType   enumStr  `json:"run_view_type"`
	MaxResults    Int64    `json:"max_results"`
	OrderBy       []string `json:"order_by"`
	PageToken     string   `json:"page_token"`
}

func (s *Server) searchRuns(r *http.Request, req *searchRunsReq) (any, error) {
	vt, err := viewType(string(req.RunViewType))
	if err != nil {
		return nil, err
	}
	max, err := positiveMaxResults(req.MaxResults, tandem.SearchMaxResultsThreshold, false)
	if err != nil {
		return nil, err
	}
	runs, next, err := s.Store.SearchRuns(r.Context(), tandem.SearchRunsInput{ExperimentIDs: req.ExperimentIDs,
		Filter: req.Filter, ViewType: vt, MaxResults: max, OrderBy: req.OrderBy, PageToken: req.PageToken})
	if err != nil {
		return nil, err
	}
	out := struct {
		Runs          []jsonRun `json:"runs,omitempty"`
		NextPageToken string    `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	for _, run := range runs {
		out.Runs = append(out.Runs, toJSONRun(run))
	}
	return out, nil
}

func metricFrom(m reqMetric, path string) (tandem.Metric, error) {
	switch {
	case m.Key == nil:
		return tandem.Metric{}, missing(path + "key")
	case !m.Value.Set:
		return tandem.Metric{}, missing(path + "value")
	case !m.Timestamp.Set:
		return tandem.Metric{}, missing(path + "timestamp")
	}
	return tandem.Metric{Key: *m.Key, Value: m.Value.V, Timestamp: m.Timestamp.V, Step: m.Step.V,
		ModelID: m.ModelID, DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest}, nil
}

type logMetricReq struct {
	runIDReq
	reqMetric
}

func (s *Server) logMetric(r *http.Request, req *logMetricReq) (any, error) {
	id := req.id()
	m, err := metricFrom(req.reqMetric, "")
	if err != nil {
		return nil, err
	}
	return empty{}, s.Store.LogBatch(r.Context(), id, []tandem.Metric{m}, nil, nil)
}

type keyValueReq struct {
	runIDReq
	Key   *string `json:"key" mlflow:"required"`
	Value *string `json:"value"`
}

func (s *Server) logParam(r *http.Request, req *keyValueReq) (any, error) {
	id := req.id()
	v := "" // MLflow accepts a param without a value as ""
	if req.Value != nil {
		v = *req.Value
	}
	return empty{}, s.Store.LogBatch(r.Context(), id, nil, []tandem.Param{{Key: *req.Key, Value: v}}, nil)
}

func (s *Server) setTag(r *http.Request, req *keyValueReq) (any, error) {
	id := req.id()
	v := ""
	if req.Value != nil {
		v = *req.Value
	}
	return empty{}, s.Store.LogBatch(r.Context(), id, nil, nil, []tandem.Tag{{Key: *req.Key, Value: v}})
}

func (s *Server) deleteTag(r *http.Request, req *keyValueReq) (any, error) {
	return empty{}, s.Store.DeleteTag(r.Context(), req.id(), *req.Key)
}

// maxLogBatchBytes is MLflow's limit on a log-batch request body.
const maxLogBatchBytes = 1_000_000

func logBatchTooLarge(size int64) error {
	return tandem.Errorf(tandem.EINVALID, "Batched logging API requests must be at most %d bytes, got a request of size %d.", maxLogBatchBytes, size)
}

type logBatchReq struct {
	runIDReq `mlflow:"typefirst"`
	Metrics  []reqMetric `json:"metrics"`
	Params   []reqTag    `json:"params"`
	Tags     []reqTag    `json:"tags"`
}

func (s *Server) logBatch(r *http.Request, req *logBatchReq) (any, error) {
	id := req.id()
	if err := tandem.ValidateBatchLimits(len(req.Metrics), len(req.Params), len(req.Tags)); err != nil {
		return nil, err
	}
	ms := make([]tandem.Metric, 0, len(req.Metrics))
	for i, m := range req.Metrics {
		mm, err := metricFrom(m, "metrics["+strconv.Itoa(i)+"].")
		if err != nil {
			return nil, err
		}
		ms = append(ms, mm)
	}
	ps := make([]tandem.Param, 0, len(req.Params))
	for i, p := range req.Params {
		if p.Key == nil {
			return nil, missing("params[" + strconv.Itoa(i) + "].key")
		}
		v := ""
		if p.Value != nil {
			v = *p.Value
		}
		ps = append(ps, tandem.Param{Key: *p.Key, Value: v})
	}
	ts, err := tagsFrom(req.Tags, "tags")
	if err != nil {
		return nil, err
	}
	return empty{}, s.Store.LogBatch(r.Context(), id, ms, ps, ts)
}

type logModelReq struct {
	runIDReq  `mlflow:"typefirst"`
	ModelJSON string `json:"model_json" mlflow:"required,typefirst"`
}

func (s *Server) logModel(r *http.Request, req *logModelReq) (any, error) {
	return empty{}, s.Store.LogModel(r.Context(), req.id(), req.ModelJSON)
}

type logInputsReq struct {
	runIDReq
	Datasets []reqDatasetInput `json:"datasets"`
	Models   []reqModelIO      `json:"models"`
}

func (s *Server) logInputs(r *http.Request, req *logInputsReq) (any, error) {
	id := req.id()
	var ds []tandem.DatasetInput
	for i, d := range req.Datasets {
		if d.Dataset == nil {
			return nil, tandem.Errorf(tandem.EINVALID, "Dataset cannot be None (datasets[%d])", i)
		}
		tags, err := tagsFrom(d.Tags, "datasets["+strconv.Itoa(i)+"].tags")
		if err != nil {
			return nil, err
		}
		ds = append(ds, tandem.DatasetInput{Tags: tags, Dataset: tandem.Dataset(*d.Dataset)})
	}
	var ms []tandem.ModelIO
	for _, m := range req.Models {
		ms = append(ms, m.model())
	}
	return empty{}, s.Store.LogInputs(r.Context(), id, ds, ms)
}

type logOutputsReq struct {
	runIDReq
	Models []reqModelIO `json:"models" mlflow:"required"`
}

func (s *Server) logOutputs(r *http.Request, req *logOutputsReq) (any, error) {
	id := req.id()
	var ms []tandem.ModelIO
	for _, m := range req.Models {
		ms = append(ms, m.model())
	}
	return empty{}, s.Store.LogOutputs(r.Context(), id, ms)
}

// Metrics.

type getMetricHistoryReq struct {
	runIDReq   `mlflow:"typefirst"`
	MetricKey  string `json:"metric_key" mlflow:"required,typefirst"`
	PageToken  string `json:"page_token"`
	MaxResults Int64  `json:"max_results"`
}

func (s *Server) getMetricHistory(r *http.Request, req *getMetricHistoryReq) (any, error) {
	id := req.id()
	max, err := positiveMaxResults(req.MaxResults, 0, true)
	if err != nil {
		return nil, err
	}
	ms, next, err := s.Store.MetricHistory(r.Context(), id, req.MetricKey, max, req.PageToken)
	if err != nil {
		return nil, err
	}
	return struct {
		Metrics       []jsonMetric `json:"metrics,omitempty"`
		NextPageToken string       `json:"next_page_token,omitempty"`
	}{jsonMetrics(ms), next}, nil
}

// MLflow's bounds for get-history-bulk-interval.
const (
	maxRunsBulkInterval      = 100
	maxResultsPerRunInterval = 2500
)

type getMetricHistoryBulkIntervalReq struct {
	RunIDs     []string `json:"run_ids"`
	MetricKey  string   `json:"metric_key" mlflow:"required"`
	StartStep  Int64    `json:"start_step"`
	EndStep    Int64    `json:"end_step"`
	MaxResults Int64    `json:"max_results"`
}

func (s *Server) getMetricHistoryBulkInterval(r *http.Request, req *getMetricHistoryBulkIntervalReq) (any, error) {
	if len(req.RunIDs) == 0 {
		return nil, missing("run_ids")
	}
	if len(req.RunIDs) > maxRunsBulkInterval {
		return nil, tandem.Errorf(tandem.EINVALID, "GetMetricHistoryBulkInterval request must specify at most %d run_ids. Received %d run_ids."+apiDocs, maxRunsBulkInterval, len(req.RunIDs))
	}
	max := maxResultsPerRunInterval
	if req.MaxResults.Set {
		if req.MaxResults.V < 1 || req.MaxResults.V > maxResultsPerRunInterval {
			return nil, tandem.Errorf(tandem.EINVALID, "max_results must be between 1 and %d."+apiDocs, maxResultsPerRunInterval)
		}
		max = int(req.MaxResults.V)
	}
	var start, end *int64
	if req.StartStep.Set {
		start = &req.StartStep.V
	}
	if req.EndStep.Set {
		end = &req.EndStep.V
	}
	ms, err := s.Store.MetricHistoryBulkInterval(r.Context(), req.RunIDs, req.MetricKey, max, start, end)
	if err != nil {
		return nil, err
	}
	return struct {
		Metrics []jsonMetric `json:"metrics,omitempty"`
	}{jsonMetricsWithRun(ms)}, nil
}

package mlflowapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
)

// routesTracking registers the MLflow tracking endpoints (experiments,
// runs, metrics). artifacts/list belongs to artifacts.go.
func (s *Server) routesTracking() {
	s.handle("POST", "experiments/create", s.createExperiment)
	s.handle("GET", "experiments/get", s.getExperiment)
	s.handle("GET", "experiments/get-by-name", s.getExperimentByName)
	s.handle("POST", "experiments/search", s.searchExperiments)
	s.handle("GET", "experiments/search", s.searchExperiments)
	s.handle("POST", "experiments/update", s.updateExperiment)
	s.handle("POST", "experiments/delete", s.deleteExperiment)
	s.handle("POST", "experiments/restore", s.restoreExperiment)
	s.handle("POST", "experiments/set-experiment-tag", s.setExperimentTag)
	s.handle("POST", "experiments/delete-experiment-tag", s.deleteExperimentTag)

	s.handle("POST", "runs/create", s.createRun)
	s.handle("GET", "runs/get", s.getRun)
	s.handle("POST", "runs/update", s.updateRun)
	s.handle("POST", "runs/delete", s.deleteRun)
	s.handle("POST", "runs/restore", s.restoreRun)
	s.handle("POST", "runs/search", s.searchRuns)
	s.handle("GET", "runs/search", s.searchRuns)
	s.handle("POST", "runs/log-metric", s.logMetric)
	s.handle("POST", "runs/log-parameter", s.logParam)
	s.handle("POST", "runs/set-tag", s.setTag)
	s.handle("POST", "runs/delete-tag", s.deleteTag)
	s.handle("POST", "runs/log-batch", s.logBatch)
	s.handle("POST", "runs/log-model", s.logModel)
	s.handle("POST", "runs/log-inputs", s.logInputs)
	s.handle("POST", "runs/outputs", s.logOutputs)
	s.handle("GET", "metrics/get-history", s.getMetricHistory)
	s.handle("GET", "metrics/get-history-bulk-interval", s.getMetricHistoryBulkInterval)
}

// bootstrapTracking creates the Default experiment "0" when missing.
func (s *Server) bootstrapTracking(ctx context.Context) error {
	return s.Store.EnsureDefaultExperiment(ctx)
}

// missing is MLflow's error for an absent required request field.
func missing(field string) error {
	return tandem.Errorf(tandem.EINVALID, "Missing value for required parameter '%s'. See the API docs for more information about request parameters.", field)
}

var empty = struct{}{}

// handleWith decodes the request into a new *T and calls fn; errors are
// written in MLflow's format.
func handleWith[T any](s *Server, arrays []string, fn func(r *http.Request, req *T) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := new(T)
		if err := decode(r, req, arrays...); err != nil {
			s.writeError(w, r, err)
			return
		}
		out, err := fn(r, req)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
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

func experimentID(id string) (string, error) {
	if id == "" {
		return "", missing("experiment_id")
	}
	return id, nil
}

// Experiments.

type createExperimentReq struct {
	Name             string   `json:"name"`
	ArtifactLocation string   `json:"artifact_location"`
	Tags             []reqTag `json:"tags"`
}

func (s *Server) createExperiment(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *createExperimentReq) (any, error) {
		if req.Name == "" {
			return nil, missing("name")
		}
		tags, err := tagsFrom(req.Tags, "tags")
		if err != nil {
			return nil, err
		}
		id, err := s.Store.CreateExperiment(r.Context(), req.Name, req.ArtifactLocation, tags)
		if err != nil {
			return nil, err
		}
		return map[string]string{"experiment_id": id}, nil
	})(w, r)
}

type experimentIDReq struct {
	ExperimentID string `json:"experiment_id"`
}

func (s *Server) getExperiment(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *experimentIDReq) (any, error) {
		id, err := experimentID(req.ExperimentID)
		if err != nil {
			return nil, err
		}
		e, err := s.Store.GetExperiment(r.Context(), id)
		if err != nil {
			return nil, err
		}
		return map[string]any{"experiment": toJSONExperiment(e)}, nil
	})(w, r)
}

func (s *Server) getExperimentByName(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *struct {
		Name string `json:"experiment_name"`
	}) (any, error) {
		if req.Name == "" {
			return nil, missing("experiment_name")
		}
		e, err := s.Store.GetExperimentByName(r.Context(), req.Name)
		if err != nil {
			return nil, err
		}
		return map[string]any{"experiment": toJSONExperiment(e)}, nil
	})(w, r)
}

// viewType reads MLflow's ViewType from its name or number; "" is
// ACTIVE_ONLY.
func viewType(v string) (sqlstore.ViewType, error) {
	switch strings.ToUpper(v) {
	case "", "ACTIVE_ONLY", "1":
		return sqlstore.ActiveOnly, nil
	case "DELETED_ONLY", "2":
		return sqlstore.DeletedOnly, nil
	case "ALL", "3":
		return sqlstore.AllStages, nil
	}
	return 0, tandem.Errorf(tandem.EINVALID, "Invalid value '%s' for parameter 'view_type' supplied", v)
}

// enumString accepts a JSON string or number (proto enums may be either).
type enumString string

func (e *enumString) UnmarshalJSON(b []byte) error {
	*e = enumString(strings.Trim(string(b), `"`))
	if *e == "null" {
		*e = ""
	}
	return nil
}

type searchExperimentsReq struct {
	MaxResults Int64      `json:"max_results"`
	PageToken  string     `json:"page_token"`
	Filter     string     `json:"filter"`
	OrderBy    []string   `json:"order_by"`
	ViewType   enumString `json:"view_type"`
}

func (s *Server) searchExperiments(w http.ResponseWriter, r *http.Request) {
	handleWith(s, []string{"order_by"}, func(r *http.Request, req *searchExperimentsReq) (any, error) {
		vt, err := viewType(string(req.ViewType))
		if err != nil {
			return nil, err
		}
		max := int(req.MaxResults.V)
		if req.MaxResults.Set && max <= 0 {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer", max)
		}
		es, next, err := s.Store.SearchExperiments(r.Context(), sqlstore.SearchExperimentsInput{
			Filter: req.Filter, ViewType: vt, MaxResults: max, OrderBy: req.OrderBy, PageToken: req.PageToken})
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
	})(w, r)
}

func (s *Server) updateExperiment(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *struct {
		ExperimentID string `json:"experiment_id"`
		NewName      string `json:"new_name"`
	}) (any, error) {
		id, err := experimentID(req.ExperimentID)
		if err != nil {
			return nil, err
		}
		if req.NewName == "" {
			return nil, missing("new_name")
		}
		return empty, s.Store.RenameExperiment(r.Context(), id, req.NewName)
	})(w, r)
}

func (s *Server) deleteExperiment(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *experimentIDReq) (any, error) {
		id, err := experimentID(req.ExperimentID)
		if err != nil {
			return nil, err
		}
		return empty, s.Store.DeleteExperiment(r.Context(), id)
	})(w, r)
}

func (s *Server) restoreExperiment(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *experimentIDReq) (any, error) {
		id, err := experimentID(req.ExperimentID)
		if err != nil {
			return nil, err
		}
		return empty, s.Store.RestoreExperiment(r.Context(), id)
	})(w, r)
}

type experimentTagReq struct {
	ExperimentID string  `json:"experiment_id"`
	Key          string  `json:"key"`
	Value        *string `json:"value"`
}

func (s *Server) setExperimentTag(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *experimentTagReq) (any, error) {
		id, err := experimentID(req.ExperimentID)
		if err != nil {
			return nil, err
		}
		if req.Key == "" {
			return nil, missing("key")
		}
		v := ""
		if req.Value != nil {
			v = *req.Value
		}
		return empty, s.Store.SetExperimentTag(r.Context(), id, req.Key, v)
	})(w, r)
}

func (s *Server) deleteExperimentTag(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *experimentTagReq) (any, error) {
		id, err := experimentID(req.ExperimentID)
		if err != nil {
			return nil, err
		}
		if req.Key == "" {
			return nil, missing("key")
		}
		return empty, s.Store.DeleteExperimentTag(r.Context(), id, req.Key)
	})(w, r)
}

// Runs.

type runIDReq struct {
	RunID   string `json:"run_id"`
	RunUUID string `json:"run_uuid"`
}

// id returns run_id (or the older run_uuid), validated.
func (q runIDReq) id() (string, error) {
	id := q.RunID
	if id == "" {
		id = q.RunUUID
	}
	if id == "" {
		return "", missing("run_id")
	}
	return id, nil
}

func (s *Server) runResponse(ctx context.Context, id string) (any, error) {
	run, err := s.Store.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": toJSONRun(run)}, nil
}

func (s *Server) createRun(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *struct {
		ExperimentID string   `json:"experiment_id"`
		UserID       string   `json:"user_id"`
		StartTime    Int64    `json:"start_time"`
		Tags         []reqTag `json:"tags"`
		RunName      string   `json:"run_name"`
	}) (any, error) {
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
		run, err := s.Store.CreateRunFull(r.Context(), sqlstore.CreateRunInput{ExperimentID: exp, UserID: user,
			StartTime: req.StartTime.V, RunName: req.RunName, Tags: tags})
		if err != nil {
			return nil, err
		}
		return map[string]any{"run": toJSONRun(run)}, nil
	})(w, r)
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *runIDReq) (any, error) {
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		return s.runResponse(r.Context(), id)
	})(w, r)
}

func (s *Server) updateRun(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *struct {
		runIDReq
		Status  enumString `json:"status"`
		EndTime Int64      `json:"end_time"`
		RunName string     `json:"run_name"`
	}) (any, error) {
		id, err := req.id()
		if err != nil {
			return nil, err
		}
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
	})(w, r)
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

func (s *Server) deleteRun(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *runIDReq) (any, error) {
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		return empty, s.Store.DeleteRun(r.Context(), id)
	})(w, r)
}

func (s *Server) restoreRun(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *runIDReq) (any, error) {
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		return empty, s.Store.RestoreRun(r.Context(), id)
	})(w, r)
}

type searchRunsReq struct {
	ExperimentIDs []string   `json:"experiment_ids"`
	Filter        string     `json:"filter"`
	RunViewType   enumString `json:"run_view_type"`
	MaxResults    Int64      `json:"max_results"`
	OrderBy       []string   `json:"order_by"`
	PageToken     string     `json:"page_token"`
}

func (s *Server) searchRuns(w http.ResponseWriter, r *http.Request) {
	handleWith(s, []string{"experiment_ids", "order_by"}, func(r *http.Request, req *searchRunsReq) (any, error) {
		vt, err := viewType(string(req.RunViewType))
		if err != nil {
			return nil, err
		}
		max := int(req.MaxResults.V)
		if req.MaxResults.Set && max <= 0 {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer", max)
		}
		runs, next, err := s.Store.SearchRuns(r.Context(), sqlstore.SearchRunsInput{ExperimentIDs: req.ExperimentIDs,
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
	})(w, r)
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
	return tandem.Metric{Key: *m.Key, Value: m.Value.V, Timestamp: m.Timestamp.V, Step: m.Step.V}, nil
}

func (s *Server) logMetric(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *struct {
		runIDReq
		reqMetric
	}) (any, error) {
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		m, err := metricFrom(req.reqMetric, "")
		if err != nil {
			return nil, err
		}
		return empty, s.Store.LogBatch(r.Context(), id, []tandem.Metric{m}, nil, nil)
	})(w, r)
}

type keyValueReq struct {
	runIDReq
	Key   *string `json:"key"`
	Value *string `json:"value"`
}

func (s *Server) logParam(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *keyValueReq) (any, error) {
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		if req.Key == nil {
			return nil, missing("key")
		}
		v := "" // MLflow accepts a param without a value as ""
		if req.Value != nil {
			v = *req.Value
		}
		return empty, s.Store.LogBatch(r.Context(), id, nil, []tandem.Param{{Key: *req.Key, Value: v}}, nil)
	})(w, r)
}

func (s *Server) setTag(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *keyValueReq) (any, error) {
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		if req.Key == nil || *req.Key == "" {
			return nil, missing("key")
		}
		v := ""
		if req.Value != nil {
			v = *req.Value
		}
		return empty, s.Store.LogBatch(r.Context(), id, nil, nil, []tandem.Tag{{Key: *req.Key, Value: v}})
	})(w, r)
}

func (s *Server) deleteTag(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *keyValueReq) (any, error) {
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		if req.Key == nil || *req.Key == "" {
			return nil, missing("key")
		}
		return empty, s.Store.DeleteTag(r.Context(), id, *req.Key)
	})(w, r)
}

// maxLogBatchBytes is MLflow's limit on a log-batch request body.
const maxLogBatchBytes = 1_000_000

func (s *Server) logBatch(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > maxLogBatchBytes {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Batched logging API requests must be at most %d bytes, got a request of size %d.", maxLogBatchBytes, r.ContentLength))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLogBatchBytes)
	handleWith(s, nil, func(r *http.Request, req *struct {
		runIDReq
		Metrics []reqMetric `json:"metrics"`
		Params  []reqTag    `json:"params"`
		Tags    []reqTag    `json:"tags"`
	}) (any, error) {
		id, err := req.id()
		if err != nil {
			return nil, err
		}
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
		return empty, s.Store.LogBatch(r.Context(), id, ms, ps, ts)
	})(w, r)
}

func (s *Server) logModel(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *struct {
		runIDReq
		ModelJSON string `json:"model_json"`
	}) (any, error) {
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		if req.ModelJSON == "" {
			return nil, missing("model_json")
		}
		return empty, s.Store.LogModel(r.Context(), id, req.ModelJSON)
	})(w, r)
}

func (s *Server) logInputs(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *struct {
		runIDReq
		Datasets []reqDatasetInput `json:"datasets"`
		Models   []reqModelIO      `json:"models"`
	}) (any, error) {
		id, err := req.id()
		if err != nil {
			return nil, err
		}
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
		return empty, s.Store.LogInputs(r.Context(), id, ds, ms)
	})(w, r)
}

func (s *Server) logOutputs(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *struct {
		runIDReq
		Models []reqModelIO `json:"models"`
	}) (any, error) {
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		if req.Models == nil {
			return nil, missing("models")
		}
		var ms []tandem.ModelIO
		for _, m := range req.Models {
			ms = append(ms, m.model())
		}
		return empty, s.Store.LogOutputs(r.Context(), id, ms)
	})(w, r)
}

// Metrics.

func (s *Server) getMetricHistory(w http.ResponseWriter, r *http.Request) {
	handleWith(s, nil, func(r *http.Request, req *struct {
		runIDReq
		MetricKey  string `json:"metric_key"`
		PageToken  string `json:"page_token"`
		MaxResults Int64  `json:"max_results"`
	}) (any, error) {
		id, err := req.id()
		if err != nil {
			return nil, err
		}
		if req.MetricKey == "" {
			return nil, missing("metric_key")
		}
		if req.MaxResults.Set && req.MaxResults.V <= 0 {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer.", req.MaxResults.V)
		}
		ms, next, err := s.Store.MetricHistory(r.Context(), id, req.MetricKey, int(req.MaxResults.V), req.PageToken)
		if err != nil {
			return nil, err
		}
		return struct {
			Metrics       []jsonMetric `json:"metrics,omitempty"`
			NextPageToken string       `json:"next_page_token,omitempty"`
		}{jsonMetrics(ms), next}, nil
	})(w, r)
}

// MLflow's bounds for get-history-bulk-interval.
const (
	maxRunsBulkInterval      = 100
	maxResultsPerRunInterval = 2500
)

func (s *Server) getMetricHistoryBulkInterval(w http.ResponseWriter, r *http.Request) {
	handleWith(s, []string{"run_ids"}, func(r *http.Request, req *struct {
		RunIDs     []string `json:"run_ids"`
		MetricKey  string   `json:"metric_key"`
		StartStep  Int64    `json:"start_step"`
		EndStep    Int64    `json:"end_step"`
		MaxResults Int64    `json:"max_results"`
	}) (any, error) {
		if len(req.RunIDs) == 0 {
			return nil, missing("run_ids")
		}
		if len(req.RunIDs) > maxRunsBulkInterval {
			return nil, tandem.Errorf(tandem.EINVALID, "GetMetricHistoryBulkInterval request must specify at most %d run_ids. Received %d run_ids.", maxRunsBulkInterval, len(req.RunIDs))
		}
		if req.MetricKey == "" {
			return nil, missing("metric_key")
		}
		max := maxResultsPerRunInterval
		if req.MaxResults.Set {
			if req.MaxResults.V < 1 || req.MaxResults.V > maxResultsPerRunInterval {
				return nil, tandem.Errorf(tandem.EINVALID, "max_results must be between 1 and %d.", maxResultsPerRunInterval)
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
	})(w, r)
}

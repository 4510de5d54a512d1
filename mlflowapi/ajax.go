package mlflowapi

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/tandemml/tandem"
)

// MLflow's bounds for the UI's metrics/get-history-bulk.
const (
	maxRunsHistoryBulk    = 100
	maxResultsHistoryBulk = 25000
)

// routesAjax registers the endpoints the MLflow UI calls that the client
// does not.
func (s *Server) routesAjax() {
	s.handle("GET", "metrics/get-history-bulk", handleCall(s, s.getMetricHistoryBulk))
	s.handle("POST", "experiments/search-datasets", handleJSON(s, s.searchDatasets))
	s.handle("POST", "upload-artifact", s.uiUploadArtifact)                              // uiartifacts.go
	s.handle("GET", "logged-models/{model_id}/artifacts/files", s.uiLoggedModelArtifact) // uiartifacts.go
	s.handle("POST", "runs/create-promptlab-run", s.createPromptlabRun)                  // promptlab.go
	s.handle("GET", "gateway-proxy", handleCall(s, s.gatewayProxy))                      // gateway.go
	s.handle("POST", "gateway-proxy", handleCall(s, s.gatewayProxy))
	for _, p := range []string{"/api/3.0/mlflow/", "/ajax-api/3.0/mlflow/"} {
		s.handleRaw("GET "+p+"server-info", handleCall(s, s.serverInfo))
	}
	// The account menu's identity, which MLflow serves only with its
	// basic-auth app: without it these are unknown endpoints (404), which
	// the UI takes as "no accounts here". tandem's own identity API is
	// /api/tandem/v1/whoami.
	s.handle("GET", "users/current", noAuthApp)
	s.handleRaw("GET /ajax-api/3.0/mlflow/users/current/permissions", noAuthApp)
	for _, v := range []string{"2.0", "3.0"} {
		s.handleRaw("GET /ajax-api/"+v+"/mlflow/get-trace-artifact", s.uiTraceArtifact) // uitraces.go
	}
	s.handleRaw("GET /ajax-api/3.0/mlflow/ui-telemetry", handleCall(s, uiTelemetryConfig))
	s.handleRaw("GET /ajax-api/3.0/mlflow/assistant/config", handleCall(s, noAssistantConfig))
	s.handleRaw("GET /ajax-api/3.0/mlflow/assistant/providers", handleCall(s, noAssistantProviders))
	s.handleRaw("POST /ajax-api/3.0/mlflow/ui-telemetry", handleCall(s, uiTelemetryRecords))
}

// serverInfo is MLflow 3's server-info: what this server is and serves,
// read by the client (multipart uploads) and the UI before anything else.
// tandem keeps its metadata in SQL (the UI's FileStore limits do not
// apply), serves multipart uploads through its artifact proxy, and has no
// MLflow workspaces, trace archival or AI gateway.
func (s *Server) serverInfo(*http.Request) (any, error) {
	return map[string]any{
		"store_type":                          "SqlStore",
		"workspaces_enabled":                  false,
		"trace_archival_enabled":              false,
		"multipart_uploads_enabled":           true,
		"multipart_downloads_enabled":         false,
		"presigned_upload_run_id_supported":   false,
		"presigned_upload_model_id_supported": false,
		"features_enabled":                    map[string]bool{"gateway": false},
	}, nil
}

// noAuthApp answers 404 ENDPOINT_NOT_FOUND, MLflow's code for a path it
// does not serve.
func noAuthApp(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, errorBody{ErrorCode: "ENDPOINT_NOT_FOUND",
		Message: "No API found for '" + r.URL.Path + "': MLflow serves it with its basic-auth app; tandem's is /api/tandem/v1/whoami"})
}

// noAssistantConfig and noAssistantProviders are the UI's assistant as
// MLflow's server answers with nothing set up, and with no provider at
// all: tandem runs no coding assistant (MLflow's start local CLIs).
func noAssistantConfig(*http.Request) (any, error) {
	return map[string]any{"providers": map[string]any{}, "projects": map[string]any{}, "remote_access_allowed": false}, nil
}

func noAssistantProviders(*http.Request) (any, error) {
	return map[string]any{"providers": []any{}}, nil
}

// uiTelemetryConfig and uiTelemetryRecords are MLflow's UI telemetry
// endpoints as MLflow answers them with telemetry off: tandem sends
// nothing to MLflow's telemetry service.
func uiTelemetryConfig(*http.Request) (any, error) {
	return map[string]any{"disable_ui_telemetry": true, "disable_ui_events": []string{}, "ui_rollout_percentage": 0}, nil
}

func uiTelemetryRecords(*http.Request) (any, error) {
	return map[string]string{"status": "disabled"}, nil
}

// getMetricHistoryBulk returns the full history of one metric for up to 100
// runs (repeated run_id), runs in id order and each run's points by
// timestamp, step and value, cut at max_results points in all.
func (s *Server) getMetricHistoryBulk(r *http.Request) (any, error) {
	q := r.URL.Query()
	runIDs := q["run_id"]
	if len(runIDs) == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "GetMetricHistoryBulk request must specify at least one run_id.")
	}
	if len(runIDs) > maxRunsHistoryBulk {
		return nil, tandem.Errorf(tandem.EINVALID, "GetMetricHistoryBulk request cannot specify more than %d run_ids. Received %d run_ids.", maxRunsHistoryBulk, len(runIDs))
	}
	if !q.Has("metric_key") {
		return nil, tandem.Errorf(tandem.EINVALID, "GetMetricHistoryBulk request must specify a metric_key.")
	}
	key := q.Get("metric_key")
	max := maxResultsHistoryBulk
	if v := q.Get("max_results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid value %s for parameter 'max_results' supplied.", strconv.Quote(v))
		}
		max = min(n, maxResultsHistoryBulk)
	}
	ids := append([]string(nil), runIDs...)
	sort.Strings(ids)
	out := []jsonMetric{}
	for _, id := range ids {
		if len(out) >= max {
			break
		}
		ms, _, err := s.Store.MetricHistory(r.Context(), id, key, max, "")
		if err != nil {
			return nil, err
		}
		sort.SliceStable(ms, func(i, j int) bool {
			a, b := ms[i], ms[j]
			if a.Timestamp != b.Timestamp {
				return a.Timestamp < b.Timestamp
			}
			if a.Step != b.Step {
				return a.Step < b.Step
			}
			return a.Value < b.Value
		})
		for _, m := range ms {
			out = append(out, jsonMetric{Key: m.Key, Value: metricValue(m.Value), Timestamp: m.Timestamp, Step: m.Step, RunID: id})
		}
	}
	if max < 0 {
		max = 0
	}
	if len(out) > max {
		out = out[:max]
	}
	return struct {
		Metrics []jsonMetric `json:"metrics"`
	}{out}, nil
}

// MLflow's bounds for experiments/search-datasets.
const (
	maxExperimentsSearchDatasets = 20
	maxSearchDatasetsResults     = 1000
)

type searchDatasetsReq struct {
	ExperimentIDs []string `json:"experiment_ids"`
}

type jsonDatasetSummary struct {
	ExperimentID string `json:"experiment_id"`
	Name         string `json:"name"`
	Digest       string `json:"digest"`
	Context      string `json:"context,omitempty"`
}

// searchDatasets lists the datasets the runs of up to 20 experiments used,
// with the context of each use.
func (s *Server) searchDatasets(r *http.Request, req *searchDatasetsReq) (any, error) {
	if len(req.ExperimentIDs) == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "SearchDatasets request must specify at least one experiment_id.")
	}
	if len(req.ExperimentIDs) > maxExperimentsSearchDatasets {
		return nil, tandem.Errorf(tandem.EINVALID, "SearchDatasets request cannot specify more than %d experiment_ids. Received %d experiment_ids.", maxExperimentsSearchDatasets, len(req.ExperimentIDs))
	}
	ds, err := s.Store.SearchDatasetSummaries(r.Context(), req.ExperimentIDs, maxSearchDatasetsResults)
	if err != nil {
		return nil, err
	}
	out := make([]jsonDatasetSummary, len(ds))
	for i, d := range ds {
		out[i] = jsonDatasetSummary{ExperimentID: d.ExperimentID, Name: d.Name, Digest: d.Digest, Context: d.Context}
	}
	return struct {
		Summaries []jsonDatasetSummary `json:"dataset_summaries,omitempty"`
	}{out}, nil
}

package auth

import (
	"context"
	"net/http"
	"strings"

	"github.com/tandemml/tandem"
)

// Traces are guarded as runs are: they belong to an experiment, and a role
// that may read (write, delete) an experiment's runs may do the same with
// its traces. The scope is the trace's experiment, as in MLflow's auth app.

// traceResolver is what a Resolver has when it can find a trace's
// experiment (sqlstore.IdentityStore does).
type traceResolver interface {
	TraceExperiment(ctx context.Context, traceID string) (string, error)
}

func traceScopes(ctx context.Context, res Resolver, ids ...string) []tandem.Scope {
	tr, ok := res.(traceResolver)
	if !ok {
		return nil
	}
	var out []tandem.Scope
	for _, id := range ids {
		if id == "" {
			continue
		}
		if exp, err := tr.TraceExperiment(ctx, id); err == nil {
			out = append(out, tandem.ExperimentScope(exp))
		}
	}
	return out
}

// tracePath: the trace named in the path ({trace_id}).
func tracePath(ctx context.Context, r *http.Request, _ map[string]any, res Resolver) []tandem.Scope {
	return traceScopes(ctx, res, r.PathValue("trace_id"))
}

// traceParam: the trace named by trace_id in the query or body.
func traceParam(ctx context.Context, r *http.Request, body map[string]any, res Resolver) []tandem.Scope {
	return traceScopes(ctx, res, param(r, body, "trace_id"))
}

// traceRequestID: the trace named by request_id in the query.
func traceRequestID(ctx context.Context, r *http.Request, _ map[string]any, res Resolver) []tandem.Scope {
	return traceScopes(ctx, res, r.URL.Query().Get("request_id"))
}

// traceList: every trace of trace_ids (query or body).
func traceList(ctx context.Context, r *http.Request, body map[string]any, res Resolver) []tandem.Scope {
	ids := r.URL.Query()["trace_ids"]
	if l, ok := body["trace_ids"].([]any); ok {
		for _, v := range l {
			if s, ok := v.(string); ok {
				ids = append(ids, s)
			}
		}
	}
	return traceScopes(ctx, res, ids...)
}

// traceStartExperiment: StartTraceV3 names its experiment in the trace's
// location.
func traceStartExperiment(_ context.Context, _ *http.Request, body map[string]any, _ Resolver) []tandem.Scope {
	t, _ := body["trace"].(map[string]any)
	info, _ := t["trace_info"].(map[string]any)
	loc, _ := info["trace_location"].(map[string]any)
	exp, _ := loc["mlflow_experiment"].(map[string]any)
	if id, _ := exp["experiment_id"].(string); id != "" {
		return []tandem.Scope{tandem.ExperimentScope(id)}
	}
	return nil
}

// traceLocations: SearchTracesV3 names its experiments as locations.
func traceLocations(_ context.Context, _ *http.Request, body map[string]any, _ Resolver) []tandem.Scope {
	var out []tandem.Scope
	l, _ := body["locations"].([]any)
	for _, v := range l {
		loc, _ := v.(map[string]any)
		exp, _ := loc["mlflow_experiment"].(map[string]any)
		if id, _ := exp["experiment_id"].(string); id != "" {
			out = append(out, tandem.ExperimentScope(id))
		}
	}
	return out
}

// otlpExperiment: OTLP ingestion names its experiment in a header.
func otlpExperiment(_ context.Context, r *http.Request, _ map[string]any, _ Resolver) []tandem.Scope {
	if id := r.Header.Get("X-Mlflow-Experiment-Id"); id != "" {
		return []tandem.Scope{tandem.ExperimentScope(id)}
	}
	return nil
}

// TraceRules guards the trace routes, by full pattern.
func TraceRules() map[string]Rule {
	read, write, del := tandem.ActionRunsRead, tandem.ActionRunsWrite, tandem.ActionRunsDelete
	v3 := map[string]Rule{
		"POST traces":                                          act(write, traceStartExperiment),
		"GET traces/get":                                       act(read, traceParam),
		"GET traces/batchGet":                                  act(read, traceList),
		"POST traces/batchGetInfos":                            act(read, traceList),
		"POST traces/search":                                   act(read, traceLocations),
		"POST traces/calculate-filter-correlation":             act(read, experimentList),
		"POST traces/metrics":                                  act(read, experimentList),
		"GET traces/{trace_id}":                                act(read, tracePath),
		"PATCH traces/{trace_id}/tags":                         act(write, tracePath),
		"DELETE traces/{trace_id}/tags":                        act(write, tracePath),
		"POST traces/delete-traces":                            act(del, experimentParam("experiment_id")),
		"POST traces/{trace_id}/assessments":                   act(write, tracePath),
		"GET traces/{trace_id}/assessments/{assessment_id}":    act(read, tracePath),
		"PATCH traces/{trace_id}/assessments/{assessment_id}":  act(write, tracePath),
		"DELETE traces/{trace_id}/assessments/{assessment_id}": act(write, tracePath),
	}
	v2 := map[string]Rule{
		"POST traces":                   act(write, experimentParam("experiment_id")),
		"GET traces":                    act(read, experimentList),
		"PATCH traces/{trace_id}":       act(write, tracePath),
		"GET traces/{trace_id}/info":    act(read, tracePath),
		"PATCH traces/{trace_id}/tags":  act(write, tracePath),
		"DELETE traces/{trace_id}/tags": act(write, tracePath),
		"POST traces/delete-traces":     act(del, experimentParam("experiment_id")),
		"POST traces/link-to-run":       act(write, runParam),
		"POST traces/link-prompts":      act(write, traceParam),
	}
	out := map[string]Rule{"POST /v1/traces": act(write, otlpExperiment),
		// The UI's trace view: the spans of request_id (a trace id).
		"GET /ajax-api/2.0/mlflow/get-trace-artifact": act(read, traceRequestID),
		"GET /ajax-api/3.0/mlflow/get-trace-artifact": act(read, traceRequestID),
	}
	for prefixes, rules := range map[[2]string]map[string]Rule{
		{"/api/3.0/mlflow/", "/ajax-api/3.0/mlflow/"}: v3,
		{"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"}: v2,
	} {
		for route, rule := range rules {
			method, name, _ := strings.Cut(route, " ")
			for _, p := range prefixes {
				out[method+" "+p+name] = rule
			}
		}
	}
	return out
}

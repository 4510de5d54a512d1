package region_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/tandemml/tandem"
)

// TestScopedTraceAccess: a role at one experiment's scope covers that
// experiment's traces only: the scope is found from the trace id in the
// path or query, the experiment of a new trace, a search's locations and
// the OTLP experiment header.
func TestScopedTraceAccess(t *testing.T) {
	a := openAuthRegion(t)
	exp := func(name string) string {
		_, out := a.do("POST", "/api/2.0/mlflow/experiments/create", bearer(a.owner), map[string]any{"name": name})
		return out["experiment_id"].(string)
	}
	mine, theirs := exp("mine"), exp("theirs")
	start := func(authz, id, exp string) int {
		code, _ := a.do("POST", "/api/3.0/mlflow/traces", authz, map[string]any{"trace": map[string]any{"trace_info": map[string]any{
			"trace_id": id, "trace_location": map[string]any{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": map[string]any{"experiment_id": exp}},
			"request_time": "2026-01-01T00:00:00Z", "state": "OK"}}})
		return code
	}
	if start(bearer(a.owner), "tr-mine", mine) != 200 || start(bearer(a.owner), "tr-theirs", theirs) != 200 {
		t.Fatal("owner could not start traces")
	}
	eve := bearer(a.principal("eve", tandem.RoleContributor, tandem.ExperimentScope(mine)))
	loc := func(ids ...string) []any {
		var out []any
		for _, id := range ids {
			out = append(out, map[string]any{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": map[string]any{"experiment_id": id}})
		}
		return out
	}
	for _, c := range []struct {
		method, path string
		body         map[string]any
		status       int
	}{
		{"GET", "/api/3.0/mlflow/traces/tr-mine", nil, 200},
		{"GET", "/api/3.0/mlflow/traces/tr-theirs", nil, 403},
		{"GET", "/api/3.0/mlflow/traces/get?trace_id=tr-theirs", nil, 403},
		{"GET", "/api/3.0/mlflow/traces/batchGet?trace_ids=tr-mine&trace_ids=tr-theirs", nil, 403},
		{"GET", "/api/3.0/mlflow/traces/batchGet?trace_ids=tr-mine", nil, 200},
		{"PATCH", "/api/3.0/mlflow/traces/tr-mine/tags", map[string]any{"key": "k", "value": "v"}, 200},
		{"PATCH", "/api/3.0/mlflow/traces/tr-theirs/tags", map[string]any{"key": "k", "value": "v"}, 403},
		{"POST", "/api/3.0/mlflow/traces/search", map[string]any{"locations": loc(mine)}, 200},
		{"POST", "/api/3.0/mlflow/traces/search", map[string]any{"locations": loc(mine, theirs)}, 403},
		{"POST", "/api/3.0/mlflow/traces/tr-theirs/assessments", map[string]any{"assessment": map[string]any{"assessment_name": "x", "feedback": map[string]any{"value": 1}}}, 403},
		{"POST", "/api/2.0/mlflow/traces/delete-traces", map[string]any{"experiment_id": theirs, "request_ids": []string{"tr-theirs"}}, 403},
	} {
		if code, out := a.do(c.method, c.path, eve, c.body); code != c.status {
			t.Errorf("%s %s: %d %v; want %d", c.method, c.path, code, out, c.status)
		}
	}
	if code := start(eve, "tr-eve", theirs); code != 403 {
		t.Errorf("start a trace in another experiment: %d", code)
	}
	if code := start(eve, "tr-eve", mine); code != 200 {
		t.Errorf("start a trace in own experiment: %d", code)
	}
	for exp, want := range map[string]int{mine: 200, theirs: 403} {
		req, _ := http.NewRequest("POST", a.srv.URL+"/v1/traces", bytes.NewReader(nil))
		req.Header.Set("Authorization", eve)
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("X-Mlflow-Experiment-Id", exp)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("OTLP into experiment %s: %d; want %d", exp, resp.StatusCode, want)
		}
	}
}

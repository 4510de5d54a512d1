package region_test

import (
	"testing"

	"github.com/tandemml/tandem"
)

// TestUIEndpointsScoped: a Contributor on one experiment uploads into its
// runs and creates prompt-lab runs there, but not in another experiment,
// whatever the uploaded file says (a JSON body naming an allowed run does
// not choose the scope); server-info and the UI's telemetry switch answer
// anyone who may read some experiment.
func TestUIEndpointsScoped(t *testing.T) {
	a := openAuthRegion(t)
	owner := bearer(a.owner)
	exp := func(name string) string {
		code, out := a.do("POST", "/api/2.0/mlflow/experiments/create", owner, map[string]any{"name": name})
		if code != 200 {
			t.Fatalf("create %s: %d %v", name, code, out)
		}
		return out["experiment_id"].(string)
	}
	mine, theirs := exp("mine"), exp("theirs")
	run := func(e string) string {
		code, out := a.do("POST", "/api/2.0/mlflow/runs/create", owner, map[string]any{"experiment_id": e})
		if code != 200 {
			t.Fatalf("create run: %d %v", code, out)
		}
		return out["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	}
	myRun, theirRun := run(mine), run(theirs)
	eve := bearer(a.principal("eve", tandem.RoleContributor, tandem.ExperimentScope(mine)))
	lab := func(e string) map[string]any {
		return map[string]any{"experiment_id": e, "prompt_template": "{{ a }}", "prompt_parameters": []any{map[string]any{"key": "a", "value": "x"}},
			"model_route": "r", "model_input": "x", "mlflow_version": "3"}
	}
	const ajax = "/ajax-api/2.0/mlflow/"
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", ajax + "upload-artifact?run_uuid=" + myRun + "&path=t.json", map[string]any{"run_id": theirRun}, 200},
		{"POST", ajax + "upload-artifact?run_uuid=" + theirRun + "&path=t.json", map[string]any{"run_id": myRun}, 403},
		{"POST", ajax + "upload-artifact?run_uuid=" + theirRun + "&path=t.json", map[string]any{"run_uuid": myRun}, 403},
		{"POST", ajax + "runs/create-promptlab-run", lab(mine), 200},
		{"POST", ajax + "runs/create-promptlab-run", lab(theirs), 403},
		{"GET", "/ajax-api/3.0/mlflow/server-info", nil, 200},
		{"GET", "/api/3.0/mlflow/server-info", nil, 200},
		{"GET", "/ajax-api/3.0/mlflow/ui-telemetry", nil, 200},
		{"POST", "/ajax-api/3.0/mlflow/ui-telemetry", map[string]any{"records": []any{}}, 200},
		{"GET", ajax + "gateway-proxy?gateway_path=api/2.0/endpoints", nil, 200},
	} {
		if code, out := a.do(c.method, c.path, eve, c.body); code != c.status {
			t.Errorf("%s %s: %d %v; want %d", c.method, c.path, code, out, c.status)
		}
	}
	if code, _ := a.do("GET", "/ajax-api/3.0/mlflow/server-info", "", nil); code != 401 {
		t.Errorf("anonymous server-info: %d; want 401", code)
	}
}

package mlflowapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
)

// paritySide is one server of the differential test: its URL and the ids
// its setup made ({exp}, {run}, {rm}, {lm} in a case's path and body).
type paritySide struct {
	url string
	ids map[string]string
}

func (p *paritySide) send(t *testing.T, method, path, body string) (int, string, string) {
	t.Helper()
	for k, v := range p.ids {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
		body = strings.ReplaceAll(body, "{"+k+"}", v)
	}
	if !strings.HasPrefix(path, "/") {
		path = "/api/2.0/mlflow/" + path
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	json.Unmarshal(b, &e)
	return resp.StatusCode, e.ErrorCode, e.Message
}

// setup makes an experiment, a run, a registered model and a logged model.
func (p *paritySide) setup(t *testing.T) {
	t.Helper()
	call := func(path, body string, out any) {
		t.Helper()
		resp, err := http.Post(p.url+"/api/2.0/mlflow/"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: %v %s", path, err, b)
		}
	}
	var exp struct {
		ID string `json:"experiment_id"`
	}
	call("experiments/create", `{"name":"parity"}`, &exp)
	var run struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	call("runs/create", fmt.Sprintf(`{"experiment_id":%q}`, exp.ID), &run)
	var rm map[string]any
	call("registered-models/create", `{"name":"parity-model"}`, &rm)
	var lm struct {
		Model struct {
			Info struct {
				ModelID string `json:"model_id"`
			} `json:"info"`
		} `json:"model"`
	}
	call("logged-models", fmt.Sprintf(`{"experiment_id":%q}`, exp.ID), &lm)
	p.ids = map[string]string{"exp": exp.ID, "run": run.Run.Info.RunID, "rm": "parity-model", "lm": lm.Model.Info.ModelID}
}

// TestParityWithStockMLflow sends the same requests to a stock MLflow
// server and to tandem and requires the same status, error code and
// message: validation messages (wrong JSON types, missing fields, in
// MLflow's field order), max_results limits, unsafe artifact paths and
// model version sources. The differences tandem keeps on purpose are in
// the README ("Where tandem differs from stock MLflow") and not here.
func TestParityWithStockMLflow(t *testing.T) {
	stock := mlflowtest.Start(t)
	tandemSide := newArtEnv(t, storetest.FileURL(t)) // tandem with its artifact proxy, behind Guard

	sides := []*paritySide{{url: stock.URL}, {url: tandemSide.url}}
	for _, s := range sides {
		s.setup(t)
	}
	type pcase struct{ method, path, body string }
	cases := []pcase{
		// wrong JSON types, and MLflow's order of checks
		{"POST", "runs/update", `{"run_id":31}`},
		{"GET", "runs/get?run_id=", ``},
		{"POST", "experiments/create", `{"name":31}`},
		{"POST", "experiments/create", `{"name":[1]}`},
		{"POST", "experiments/create", `{"name":{"a":1}}`},
		{"POST", "experiments/create", `{"artifact_location":31}`},
		{"POST", "experiments/create", `{"tags":"abc"}`},
		{"POST", "experiments/update", `{"new_name":31}`},
		{"POST", "experiments/update", `{"experiment_id":"{exp}","new_name":31}`},
		{"POST", "experiments/set-experiment-tag", `{"key":31}`},
		{"POST", "experiments/set-experiment-tag", `{"experiment_id":"{exp}","key":31}`},
		{"POST", "experiments/delete-experiment-tag", `{"key":"abc"}`},
		{"POST", "experiments/search", `{"max_results":"abc"}`},
		{"POST", "experiments/search", `{"filter":31}`},
		{"POST", "runs/log-metric", `{"run_id":"{run}","key":"m","value":"abc","timestamp":1}`},
		{"POST", "runs/log-metric", `{"run_id":"{run}","key":"m","value":1,"timestamp":1,"model_id":31}`},
		{"POST", "runs/log-parameter", `{"run_id":"{run}","key":31,"value":"v"}`},
		{"POST", "runs/set-tag", `{"run_id":"{run}","key":"k","value":31}`},
		{"POST", "runs/log-batch", `{"metrics":31}`},
		{"POST", "runs/log-batch", `{"run_id":"{run}","params":"abc"}`},
		{"POST", "runs/log-model", `{"model_json":31}`},
		{"POST", "runs/log-model", `{"run_id":"{run}"}`},
		{"GET", "metrics/get-history?max_results=abc", ``},
		{"GET", "metrics/get-history?run_id={run}", ``},
		{"POST", "registered-models/create", `{"tags":31}`},
		{"POST", "registered-models/create", `{"name":31}`},
		{"POST", "registered-models/rename", `{"new_name":31}`},
		{"PATCH", "registered-models/update", `{"description":31}`},
		{"POST", "registered-models/set-tag", `{"key":31}`},
		{"POST", "registered-models/alias", `{"alias":31}`},
		{"POST", "registered-models/get-latest-versions", `{"stages":31}`},
		{"POST", "model-versions/create", `{"source":31}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":31}`},
		{"POST", "model-versions/create", `{"name":"{rm}"}`},
		{"POST", "logged-models", `{"name":31}`},
		{"POST", "logged-models", `{"experiment_id":"{exp}","name":"model/path/0"}`},
		{"POST", "logged-models", `{"experiment_id":"{exp}","name":"a.b"}`},
		{"POST", "logged-models", `{"experiment_id":"{exp}","name":"it's"}`},
		{"POST", "logged-models", `{"experiment_id":"{exp}","name":"say \"x\" 'y'"}`},
		{"POST", "logged-models", `{"experiment_id":"99999","name":"50%"}`},
		{"POST", "logged-models/search", `{"max_results":"abc"}`},
		// max_results limits
		{"POST", "runs/search", `{"experiment_ids":["{exp}"],"max_results":50001}`},
		{"POST", "runs/search", `{"experiment_ids":["{exp}"],"max_results":-1}`},
		{"POST", "experiments/search", `{"max_results":50001}`},
		{"POST", "experiments/search", `{"max_results":-1}`},
		{"GET", "experiments/search?max_results=50001", ``},
		{"GET", "registered-models/search?max_results=1001", ``},
		{"GET", "model-versions/search?max_results=200001", ``},
		{"GET", "model-versions/search?max_results=-5", ``},
		{"GET", "metrics/get-history?run_id={run}&metric_key=m&max_results=-1", ``},
		{"POST", "/api/3.0/mlflow/traces/search", `{"locations":[{"type":"MLFLOW_EXPERIMENT","mlflow_experiment":{"experiment_id":"{exp}"}}],"max_results":501}`},
		{"POST", "/api/3.0/mlflow/traces/search", `{"locations":[{"type":"MLFLOW_EXPERIMENT","mlflow_experiment":{"experiment_id":"{exp}"}}],"max_results":-1}`},
		// unsafe artifact paths, on every artifact route
		{"GET", "artifacts/list?run_id={run}&path=../x", ``},
		{"GET", "artifacts/list?run_id={run}&path=/etc", ``},
		{"GET", "artifacts/list?run_id={run}&path=a/../../x", ``},
		{"GET", "/get-artifact?run_id={run}&path=../x", ``},
		{"GET", "/get-artifact?run_id={run}&path=/etc/passwd", ``},
		{"GET", "/model-versions/get-artifact?name={rm}&version=1&path=../x", ``},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=../x", ``},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts?path=/etc", ``},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts/%2E%2E/x", ``},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/%2E%2E/x", ``},
		{"DELETE", "/api/2.0/mlflow-artifacts/artifacts/%2E%2E/x", ``},
		{"GET", "/ajax-api/2.0/mlflow/logged-models/{lm}/artifacts/directories?artifact_directory_path=../x", ``},
		{"GET", "/ajax-api/2.0/mlflow/logged-models/{lm}/artifacts/files?artifact_file_path=../x", ``},
		{"GET", "/ajax-api/2.0/mlflow/logged-models/{lm}/artifacts/files?artifact_file_path=/etc/passwd", ``},
		{"GET", "/ajax-api/2.0/mlflow/logged-models/{lm}/artifacts/files", ``},
		{"GET", "/ajax-api/2.0/mlflow/logged-models/m-0123456789abcdef0123456789abcdef/artifacts/files?artifact_file_path=x", ``},
		// the UI's upload-artifact and create-promptlab-run
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?path=x", `1`},
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid={run}", `1`},
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid={run}&path=../x", `1`},
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid={run}&path=/etc/x", `1`},
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid={run}&path=a%252F..%252F..%252Fx", `1`},
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid={run}&path=x", ``},
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid=nope&path=x", `1`},
		{"POST", "/ajax-api/2.0/mlflow/upload-artifact?run_uuid={run}&path=ok.json", `{"a":1}`},
		{"POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", `{}`},
		{"POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", `{"experiment_id":"{exp}"}`},
		{"POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", `{"experiment_id":"{exp}","prompt_template":"t","prompt_parameters":[]}`},
		{"POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", `{"experiment_id":"{exp}","prompt_template":"t","prompt_parameters":[{"key":"a","value":1}]}`},
		{"POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", `{"experiment_id":"{exp}","prompt_template":"t","prompt_parameters":[{"key":"a","value":1}],"model_route":"r","model_input":""}`},
		{"POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", `{"experiment_id":"{exp}","prompt_template":"t","prompt_parameters":[{"key":"a","value":1}],"model_route":"r","model_input":"x"}`},
		{"POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", `{"experiment_id":"99999","prompt_template":"t","prompt_parameters":[{"key":"a","value":1}],"model_route":"r","model_input":"x","mlflow_version":"3"}`},
		{"POST", "/ajax-api/2.0/mlflow/runs/create-promptlab-run", `{"experiment_id":"{exp}","prompt_template":"t","prompt_parameters":[{"key":"a","value":1}],"model_route":"r","model_input":"x","mlflow_version":"3"}`},
		{"GET", "/ajax-api/3.0/mlflow/ui-telemetry", ``},
		{"GET", "/ajax-api/2.0/mlflow/gateway-proxy", ``},
		// model version sources: local paths and relative references
		{"POST", "model-versions/create", `{"name":"{rm}","source":"/etc"}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"relative/x"}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"file:///etc"}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"file:relative"}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"/tmp/x","run_id":"{run}"}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"/tmp/x","model_id":"{lm}"}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"s3://b/../x"}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"s3://b/x/.."}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"s3://b/a%2F..%2Fx"}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"s3://b/a%252F..%252Fx"}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"s3://b/a/./x"}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"mlflow-artifacts:/x"}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"mlflow-artifacts:/x","run_id":"{run}"}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"runs:/other/x","run_id":"{run}"}`},
		{"POST", "model-versions/create", `{"name":"{rm}","source":"models:/m-0123456789abcdef0123456789abcdef"}`},
		// webhooks (webhooks.go): required fields, MLflow's order of checks
		// (name, URL, events), URL rules, not found, page sizes
		{"POST", "webhooks", `{"url":"https://h.example/x"}`},
		{"POST", "webhooks", `{"name":"a"}`},
		{"POST", "webhooks", `{"name":"a","url":"https://h.example/x"}`},
		{"POST", "webhooks", `{"name":31,"url":"https://h.example/x","events":[]}`},
		{"POST", "webhooks", `{"name":"-a","url":"http://127.0.0.1/x","events":[]}`},
		{"POST", "webhooks", `{"name":"a","url":"http://h.example/x","events":[{"entity":"REGISTERED_MODEL","action":"CREATED"}]}`},
		{"POST", "webhooks", `{"name":"a","url":"https://127.0.0.1:8/x","events":[]}`},
		{"POST", "webhooks", `{"name":"a","url":"https://","events":[{"entity":"REGISTERED_MODEL","action":"CREATED"}]}`},
		{"POST", "webhooks", `{"name":"a","url":"https://127.0.0.1/x","events":[{"entity":"REGISTERED_MODEL","action":"DELETED"}]}`},
		{"POST", "webhooks", `{"name":"a","url":"https://127.0.0.1/x","events":[{"entity":"MODEL_VERSION_TAG","action":"CREATED"}]}`},
		{"GET", "webhooks/nope", ``},
		{"PATCH", "webhooks/nope", `{"name":"-x"}`},
		{"DELETE", "webhooks/nope", ``},
		{"POST", "webhooks/nope/test", `{}`},
		{"GET", "webhooks?max_results=1001", ``},
		{"GET", "webhooks?max_results=-1", ``},
	}
	// A relative artifact location is made absolute against each
	// server's working directory.
	wd, _ := os.Getwd()
	for i, dir := range []string{stock.Dir, wd} {
		s := sides[i]
		for loc, want := range map[string]string{"rel/x": dir + "/rel/x", "file:rel": "file://" + dir + "/rel", "s3://b/k": "s3://b/k"} {
			var e struct {
				ID string `json:"experiment_id"`
			}
			resp, err := http.Post(s.url+"/api/2.0/mlflow/experiments/create", "application/json",
				strings.NewReader(fmt.Sprintf(`{"name":"loc-%s","artifact_location":%q}`, loc, loc)))
			if err != nil {
				t.Fatal(err)
			}
			json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			resp, err = http.Get(s.url + "/api/2.0/mlflow/experiments/get?experiment_id=" + e.ID)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Experiment struct {
					ArtifactLocation string `json:"artifact_location"`
				} `json:"experiment"`
			}
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if got.Experiment.ArtifactLocation != want {
				t.Errorf("side %d: artifact_location %q became %q, want %q", i, loc, got.Experiment.ArtifactLocation, want)
			}
		}
	}
	// GraphQL queries over MLflow's bounds: refused whole, in its words.
	many := func(n int, f string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "a%d: %s ", i, f)
		}
		return b.String()
	}
	for _, q := range []string{
		"query { " + many(11, `mlflowGetExperiment(input: {experimentId: "0"}) { experiment { name } }`) + "}",
		`query { mlflowGetExperiment(input: {experimentId: "0"}) { experiment { ` + many(11, "name") + "} } }",
		"query { " + strings.Repeat("a { ", 11) + "b" + strings.Repeat(" }", 11) + " }",
	} {
		body, _ := json.Marshal(map[string]string{"query": q})
		var got [2]string
		for i, side := range sides {
			resp, err := http.Post(side.url+"/graphql", "application/json", strings.NewReader(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var out struct {
				Data   any      `json:"data"`
				Errors []string `json:"errors"`
			}
			json.Unmarshal(b, &out)
			got[i] = fmt.Sprintf("%d data=%v errors=%q", resp.StatusCode, out.Data, out.Errors)
		}
		if !strings.Contains(got[0], "at most 10") && !strings.Contains(got[0], "maximum depth of 10") {
			t.Errorf("the stock server did not refuse graphql %.60s...: %s", q, got[0])
		}
		if got[0] != got[1] {
			t.Errorf("graphql %.60s...\n  stock : %s\n  tandem: %s", q, got[0], got[1])
		}
	}
	for _, c := range cases {
		ss, sc, sm := sides[0].send(t, c.method, c.path, c.body)
		ts, tc, tm := sides[1].send(t, c.method, c.path, c.body)
		if ss != ts || sc != tc || sm != tm {
			t.Errorf("%s %s %s\n  stock : %d %s %q\n  tandem: %d %s %q", c.method, c.path, c.body, ss, sc, sm, ts, tc, tm)
		}
	}
}

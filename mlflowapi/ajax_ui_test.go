package mlflowapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// raw sends body as is (contentType "" sends none) and returns the status,
// the response's headers and its body.
func (e *env) raw(method, path, contentType, body string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// wantError checks an MLflow error answer: status, code and message.
func (e *env) wantError(what string, st int, b []byte, status int, code, msg string) {
	e.t.Helper()
	var out struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	json.Unmarshal(b, &out)
	if st != status || out.ErrorCode != code || out.Message != msg {
		e.t.Errorf("%s: %d %s; want %d %s %q", what, st, b, status, code, msg)
	}
}

const ajax = "/ajax-api/2.0/mlflow/"

func (e *env) newRun(exp string) string {
	e.t.Helper()
	return dig(e.ok("POST", "runs/create", map[string]any{"experiment_id": exp}), "run", "info", "run_id").(string)
}

// TestUploadArtifactUI: the UI's upload-artifact writes the body into the
// run's artifacts at the (percent-decoded) path, where artifacts/list and
// get-artifact find it; an upload replaces the file; a deleted run still
// takes uploads, as in MLflow; every refusal is MLflow's and writes
// nothing.
func TestUploadArtifactUI(t *testing.T) {
	for name, e := range newEnvs(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			exp := e.ok("POST", "experiments/create", map[string]any{"name": "up"})["experiment_id"].(string)
			run := e.newRun(exp)
			up := func(path, body string) (int, http.Header, []byte) {
				return e.raw("POST", ajax+"upload-artifact?run_uuid="+run+"&path="+url.QueryEscape(path), "application/json", body)
			}
			if st, h, b := up("tables/eval.json", `{"a": 1}`); st != 200 || len(b) != 0 || h.Get("Content-Type") != "application/json" {
				t.Fatalf("upload: %d %v %q", st, h, b)
			}
			if st, _, b := up("top.txt", "one"); st != 200 {
				t.Fatalf("upload top.txt: %d %s", st, b)
			}
			if st, _, b := up("top.txt", "second"); st != 200 {
				t.Fatalf("upload top.txt again: %d %s", st, b)
			}
			// %2F in the path is a separator once decoded, as MLflow decodes it.
			if st, _, b := up("dir%2Fnested.txt", "n"); st != 200 {
				t.Fatalf("upload dir%%2Fnested.txt: %d %s", st, b)
			}
			list := func(path string) string {
				got := e.ok("GET", "artifacts/list", map[string]any{"run_id": run, "path": path})
				var out []string
				for _, f := range got["files"].([]any) {
					f := f.(map[string]any)
					s := f["path"].(string)
					if f["is_dir"] == true {
						s += "/"
					}
					out = append(out, s)
				}
				sort.Strings(out)
				return strings.Join(out, " ")
			}
			if got := list(""); got != "dir/ tables/ top.txt" {
				t.Fatalf("root lists %q", got)
			}
			if got := list("tables"); got != "tables/eval.json" {
				t.Fatalf("tables lists %q", got)
			}
			for path, want := range map[string]string{"top.txt": "second", "tables/eval.json": `{"a": 1}`, "dir/nested.txt": "n"} {
				if st, _, b := e.raw("GET", "/get-artifact?run_uuid="+run+"&path="+url.QueryEscape(path), "", ""); st != 200 || string(b) != want {
					t.Errorf("get %s: %d %q, want %q", path, st, b, want)
				}
			}

			before := e.seq()
			big := strings.Repeat("x", 10<<20+1)
			for _, c := range []struct {
				query, body string
				status      int
				code, msg   string
			}{
				{"path=x", "1", 400, "INVALID_PARAMETER_VALUE", "Request must specify run_uuid."},
				{"run_id=" + run + "&path=x", "1", 400, "INVALID_PARAMETER_VALUE", "Request must specify run_uuid."},
				{"run_uuid=" + run, "1", 400, "INVALID_PARAMETER_VALUE", "Request must specify path."},
				{"run_uuid=" + run + "&path=../x", "1", 400, "INVALID_PARAMETER_VALUE", "Invalid path"},
				{"run_uuid=" + run + "&path=/etc/x", "1", 400, "INVALID_PARAMETER_VALUE", "Invalid path"},
				{"run_uuid=" + run + "&path=a%252F..%252F..%252Fx", "1", 400, "INVALID_PARAMETER_VALUE", "Invalid path"},
				{"run_uuid=" + run + "&path=x", "", 400, "INVALID_PARAMETER_VALUE", "Request must specify data."},
				{"run_uuid=" + run + "&path=x", big, 400, "INVALID_PARAMETER_VALUE", "Artifact size is too large. Max size is 10MB."},
				{"run_uuid=nope&path=x", "1", 404, "RESOURCE_DOES_NOT_EXIST", "Run with id=nope not found"},
			} {
				st, _, b := e.raw("POST", ajax+"upload-artifact?"+c.query, "application/json", c.body)
				e.wantError(c.query, st, b, c.status, c.code, c.msg)
			}
			if after := e.seq(); after != before {
				t.Fatalf("refused uploads wrote %d journal entries", after-before)
			}
			if st, _, b := e.raw("GET", ajax+"upload-artifact?run_uuid="+run+"&path=x", "", ""); st == 200 {
				t.Fatalf("GET upload-artifact: %d %s", st, b)
			}
			e.ok("POST", "runs/delete", map[string]any{"run_id": run})
			if st, _, b := up("after-delete.txt", "d"); st != 200 {
				t.Fatalf("upload to a deleted run: %d %s", st, b)
			}
		})
	}
}

// TestLoggedModelArtifactFile: artifacts/files serves one file of a logged
// model with the download headers; a directory, a missing file, a missing
// or unsafe path and an unknown model get MLflow's errors.
func TestLoggedModelArtifactFile(t *testing.T) {
	for name, e := range newEnvs(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			exp := e.ok("POST", "experiments/create", map[string]any{"name": "lmf"})["experiment_id"].(string)
			id := dig(e.ok("POST", "logged-models", map[string]any{"experiment_id": exp, "name": "m"}), "model", "info", "model_id").(string)
			root := exp + "/models/" + id + "/artifacts"
			for p, body := range map[string]string{"MLmodel": "flavors: {}\n", "sub/x.txt": "hello"} {
				if st, _, b := e.raw("PUT", "/api/2.0/mlflow-artifacts/artifacts/"+root+"/"+p, "", body); st != 200 {
					t.Fatalf("put %s: %d %s", p, st, b)
				}
			}
			files := ajax + "logged-models/" + id + "/artifacts/files"
			for p, want := range map[string]string{"MLmodel": "flavors: {}\n", "sub/x.txt": "hello"} {
				st, h, b := e.raw("GET", files+"?artifact_file_path="+url.QueryEscape(p), "", "")
				if st != 200 || string(b) != want || h.Get("Content-Type") != "text/plain" ||
					!strings.HasPrefix(h.Get("Content-Disposition"), "attachment") || h.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("get %s: %d %v %q", p, st, h, b)
				}
			}
			for _, c := range []struct {
				path      string
				status    int
				code, msg string
			}{
				{files, 400, "BAD_REQUEST", `Request must include the "artifact_file_path" query parameter.`},
				{files + "?artifact_file_path=", 400, "BAD_REQUEST", `Request must include the "artifact_file_path" query parameter.`},
				{files + "?artifact_file_path=../x", 400, "INVALID_PARAMETER_VALUE", "Invalid path"},
				{files + "?artifact_file_path=/etc/passwd", 400, "INVALID_PARAMETER_VALUE", "Invalid path"},
				{files + "?artifact_file_path=sub", 400, "INVALID_PARAMETER_VALUE", "Artifact path refers to a directory, not a file: '" + root + "/sub'"},
				{files + "?artifact_file_path=nope", 404, "RESOURCE_DOES_NOT_EXIST", "No such artifact: '" + root + "/nope'"},
				{ajax + "logged-models/m-nope/artifacts/files?artifact_file_path=MLmodel", 404, "RESOURCE_DOES_NOT_EXIST", "Logged model with ID 'm-nope' not found."},
			} {
				st, _, b := e.raw("GET", c.path, "", "")
				e.wantError(c.path, st, b, c.status, c.code, c.msg)
			}
		})
	}
}

func promptlabBody(exp string) map[string]any {
	return map[string]any{
		"experiment_id": exp, "run_name": "pl", "tags": []any{},
		"prompt_template":   "Say {{ a }} and {{ b }}",
		"prompt_parameters": []any{map[string]any{"key": "a", "value": "x"}, map[string]any{"key": "b", "value": 2}},
		"model_route":       "chat",
		"model_parameters":  []any{map[string]any{"key": "temperature", "value": 0.5}, map[string]any{"key": "max_tokens", "value": 10}},
		"model_input":       "Say x and 2", "model_output": "x 2",
		"model_output_parameters": []any{map[string]any{"key": "latency", "value": 12}},
		"mlflow_version":          "2.7.1", "user_id": "alice", "start_time": 1700000000000,
	}
}

// TestCreatePromptlabRun: the run is FINISHED with MLflow's params and
// tags, a logged model in its history and the evaluation table and model
// files in its artifacts; a missing field, a missing Content-Type and an
// unknown experiment are refused in MLflow's words and create nothing.
func TestCreatePromptlabRun(t *testing.T) {
	for name, e := range newEnvs(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			exp := e.ok("POST", "experiments/create", map[string]any{"name": "pl"})["experiment_id"].(string)
			b, _ := json.Marshal(promptlabBody(exp))
			st, _, raw := e.raw("POST", ajax+"runs/create-promptlab-run", "application/json", string(b))
			if st != 200 {
				t.Fatalf("create-promptlab-run: %d %s", st, raw)
			}
			var out map[string]any
			json.Unmarshal(raw, &out)
			info := dig(out, "run", "info").(map[string]any)
			if info["status"] != "FINISHED" || info["run_name"] != "pl" || info["user_id"] != "alice" ||
				info["start_time"] != float64(1700000000000) || info["end_time"] == nil || info["experiment_id"] != exp {
				t.Fatalf("run info %v", info)
			}
			run := info["run_id"].(string)
			kv := func(field string) map[string]string {
				m := map[string]string{}
				for _, x := range dig(out, "run", "data", field).([]any) {
					x := x.(map[string]any)
					m[x["key"].(string)] = x["value"].(string)
				}
				return m
			}
			params := kv("params")
			wantParams := map[string]string{"temperature": "0.5", "max_tokens": "10", "model_route": "chat", "prompt_template": "Say {{ a }} and {{ b }}"}
			if len(params) != len(wantParams) {
				t.Fatalf("params %v", params)
			}
			for k, v := range wantParams {
				if params[k] != v {
					t.Fatalf("params %v, want %v", params, wantParams)
				}
			}
			tags := kv("tags")
			if tags["mlflow.runSourceType"] != "PROMPT_ENGINEERING" || tags["mlflow.runName"] != "pl" ||
				tags["mlflow.loggedArtifacts"] != `[{"path": "eval_results_table.json", "type": "table"}]` {
				t.Fatalf("tags %v", tags)
			}
			var hist []map[string]any
			if err := json.Unmarshal([]byte(tags["mlflow.log-model.history"]), &hist); err != nil || len(hist) != 1 ||
				hist[0]["artifact_path"] != "model" || hist[0]["run_id"] != run {
				t.Fatalf("log-model history %q: %v", tags["mlflow.log-model.history"], err)
			}
			get := func(p string) []byte {
				st, _, b := e.raw("GET", "/get-artifact?run_uuid="+run+"&path="+p, "", "")
				if st != 200 {
					t.Fatalf("get %s: %d %s", p, st, b)
				}
				return b
			}
			var table struct {
				Columns []string `json:"columns"`
				Data    [][]any  `json:"data"`
			}
			if err := json.Unmarshal(get("eval_results_table.json"), &table); err != nil {
				t.Fatal(err)
			}
			if strings.Join(table.Columns, ",") != "a,b,prompt,output,latency" || len(table.Data) != 1 ||
				fmtRow(table.Data[0]) != "x|2|Say x and 2|x 2|12" {
				t.Fatalf("evaluation table %+v", table)
			}
			var mlmodel struct {
				ArtifactPath string `yaml:"artifact_path"`
				RunID        string `yaml:"run_id"`
				ModelUUID    string `yaml:"model_uuid"`
				Flavors      map[string]struct {
					LoaderModule   string `yaml:"loader_module"`
					ParametersPath string `yaml:"parameters_path"`
				} `yaml:"flavors"`
				Signature struct {
					Inputs string `yaml:"inputs"`
				} `yaml:"signature"`
			}
			if err := yaml.Unmarshal(get("model/MLmodel"), &mlmodel); err != nil {
				t.Fatal(err)
			}
			pf := mlmodel.Flavors["python_function"]
			if mlmodel.ArtifactPath != "model" || mlmodel.RunID != run || mlmodel.ModelUUID != hist[0]["model_uuid"] ||
				pf.LoaderModule != "mlflow.prompt.promptlab_model" || pf.ParametersPath != "parameters.yaml" ||
				!strings.Contains(mlmodel.Signature.Inputs, `"name":"b"`) {
				t.Fatalf("MLmodel %+v", mlmodel)
			}
			var parameters struct {
				Template string            `yaml:"prompt_template"`
				Prompt   map[string]string `yaml:"prompt_parameters"`
				Model    map[string]string `yaml:"model_parameters"`
				Route    string            `yaml:"model_route"`
			}
			if err := yaml.Unmarshal(get("model/parameters.yaml"), &parameters); err != nil {
				t.Fatal(err)
			}
			if parameters.Template != "Say {{ a }} and {{ b }}" || parameters.Prompt["b"] != "2" || parameters.Model["temperature"] != "0.5" || parameters.Route != "chat" {
				t.Fatalf("parameters.yaml %+v", parameters)
			}
			if got := string(get("model/input_example.json")); got != `{"inputs":["x","2"]}` {
				t.Fatalf("input example %s", got)
			}

			before := e.seq()
			for _, field := range []string{"experiment_id", "prompt_template", "prompt_parameters", "model_route", "model_input", "mlflow_version"} {
				for _, empty := range []any{nil, ""} {
					body := promptlabBody(exp)
					if empty == nil {
						delete(body, field)
					} else if field == "prompt_parameters" {
						body[field] = []any{}
					} else {
						body[field] = empty
					}
					b, _ := json.Marshal(body)
					st, _, raw := e.raw("POST", ajax+"runs/create-promptlab-run", "application/json", string(b))
					e.wantError("without "+field, st, raw, 400, "INVALID_PARAMETER_VALUE", "CreatePromptlabRun request must specify "+field+".")
				}
			}
			st, _, raw = e.raw("POST", ajax+"runs/create-promptlab-run", "", string(b))
			e.wantError("no Content-Type", st, raw, 400, "INVALID_PARAMETER_VALUE", "Bad Request. Content-Type header is missing.")
			st, _, raw = e.raw("POST", ajax+"runs/create-promptlab-run", "text/plain", string(b))
			e.wantError("text/plain", st, raw, 400, "INVALID_PARAMETER_VALUE", "Bad Request. Content-Type must be one of ['application/json'].")
			body := promptlabBody("99999")
			b, _ = json.Marshal(body)
			st, _, raw = e.raw("POST", ajax+"runs/create-promptlab-run", "application/json", string(b))
			e.wantError("unknown experiment", st, raw, 404, "RESOURCE_DOES_NOT_EXIST", "No Experiment with id=99999 exists")
			if after := e.seq(); after != before {
				t.Fatalf("refused requests wrote %d journal entries", after-before)
			}
			// Without user_id and start_time: user "unknown", started now.
			body = promptlabBody(exp)
			delete(body, "user_id")
			delete(body, "start_time")
			b, _ = json.Marshal(body)
			st, _, raw = e.raw("POST", ajax+"runs/create-promptlab-run", "application/json; charset=utf-8", string(b))
			json.Unmarshal(raw, &out)
			if st != 200 || dig(out, "run", "info", "user_id") != "unknown" || dig(out, "run", "info", "start_time").(float64) < 1.7e12+1e10 {
				t.Fatalf("defaults: %d %s", st, raw)
			}
		})
	}
}

func fmtRow(row []any) string {
	var parts []string
	for _, v := range row {
		s, _ := v.(string)
		parts = append(parts, s)
	}
	return strings.Join(parts, "|")
}

// TestUIFeatureEndpoints: server-info says what tandem serves (SQL
// metadata, multipart uploads; no workspaces or gateway); UI telemetry is
// off; gateway-proxy is an empty gateway, as MLflow's without a target.
func TestUIFeatureEndpoints(t *testing.T) {
	for name, e := range newEnvs(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			for _, p := range []string{"/api/3.0/mlflow/server-info", "/ajax-api/3.0/mlflow/server-info"} {
				st, _, b := e.raw("GET", p, "", "")
				var info map[string]any
				json.Unmarshal(b, &info)
				if st != 200 || info["store_type"] != "SqlStore" || info["workspaces_enabled"] != false ||
					info["multipart_uploads_enabled"] != true || dig(info, "features_enabled", "gateway") != false {
					t.Errorf("%s: %d %s", p, st, b)
				}
			}
			for _, c := range []struct{ method, path, body, want string }{
				{"GET", "/ajax-api/3.0/mlflow/ui-telemetry", "", `{"disable_ui_events":[],"disable_ui_telemetry":true,"ui_rollout_percentage":0}`},
				{"POST", "/ajax-api/3.0/mlflow/ui-telemetry", `{"records":[{"event_name":"x"}]}`, `{"status":"disabled"}`},
				{"GET", ajax + "gateway-proxy?gateway_path=api/2.0/endpoints", "", `{"endpoints":[]}`},
				{"POST", ajax + "gateway-proxy", `{"gateway_path":"gateway/x/invocations"}`, `{"endpoints":[]}`},
				{"GET", "/ajax-api/3.0/mlflow/assistant/config", "", `{"projects":{},"providers":{},"remote_access_allowed":false}`},
				{"GET", "/ajax-api/3.0/mlflow/assistant/providers", "", `{"providers":[]}`},
			} {
				if st, _, b := e.raw(c.method, c.path, "application/json", c.body); st != 200 || string(b) != c.want {
					t.Errorf("%s %s: %d %s, want %s", c.method, c.path, st, b, c.want)
				}
			}
			// MLflow serves these with its auth app only: 404 without it.
			for _, p := range []string{ajax + "users/current", "/api/2.0/mlflow/users/current", "/ajax-api/3.0/mlflow/users/current/permissions"} {
				st, _, b := e.raw("GET", p, "", "")
				var out map[string]any
				json.Unmarshal(b, &out)
				if st != 404 || out["error_code"] != "ENDPOINT_NOT_FOUND" {
					t.Errorf("%s: %d %s", p, st, b)
				}
			}
		})
	}
}

// TestTraceArtifactUI: get-trace-artifact gives the spans ingested over
// OTLP (typed attribute values, as the stock client sends them) as
// MLflow's traces.json (ids in base64, status by name, each attribute
// value as JSON text), an unknown trace and a missing request_id MLflow's errors.
func TestTraceArtifactUI(t *testing.T) {
	for name, e := range newEnvs(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			exp := e.ok("POST", "experiments/create", map[string]any{"name": "tr"})["experiment_id"].(string)
			body := `{"resourceSpans":[{"scopeSpans":[{"spans":[
				{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"1112131415161718","name":"root",
				 "startTimeUnixNano":"1000000","endTimeUnixNano":"3000000","status":{"code":1},
				 "attributes":[{"key":"mlflow.traceRequestId","value":{"stringValue":"tr-0102030405060708090a0b0c0d0e0f10"}},
				   {"key":"mlflow.spanType","value":{"stringValue":"AGENT"}},{"key":"n","value":{"intValue":"7"}}],
				 "events":[{"name":"ev","timeUnixNano":"2000000","attributes":[{"key":"k","value":{"boolValue":true}}]}]},
				{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"2122232425262728","parentSpanId":"1112131415161718","name":"child",
				 "startTimeUnixNano":"1500000","endTimeUnixNano":"2500000",
				 "attributes":[{"key":"mlflow.traceRequestId","value":{"stringValue":"tr-0102030405060708090a0b0c0d0e0f10"}}]}]}]}]}`
			req, _ := http.NewRequest("POST", e.srv.URL+"/v1/traces", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Mlflow-Experiment-Id", exp)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("OTLP ingest: %d", resp.StatusCode)
			}
			for _, v := range []string{"2.0", "3.0"} {
				st, h, b := e.raw("GET", "/ajax-api/"+v+"/mlflow/get-trace-artifact?request_id=tr-0102030405060708090a0b0c0d0e0f10", "", "")
				if st != 200 || h.Get("Content-Type") != "application/octet-stream" || !strings.Contains(h.Get("Content-Disposition"), "traces.json") {
					t.Fatalf("%s: %d %v %s", v, st, h, b)
				}
				var data struct {
					Spans []map[string]any `json:"spans"`
				}
				if err := json.Unmarshal(b, &data); err != nil || len(data.Spans) != 2 {
					t.Fatalf("%s: %s %v", v, b, err)
				}
				byName := map[string]map[string]any{}
				for _, sp := range data.Spans {
					byName[sp["name"].(string)] = sp
				}
				root, child := byName["root"], byName["child"]
				if root["trace_id"] != "AQIDBAUGBwgJCgsMDQ4PEA==" || root["span_id"] != "ERITFBUWFxg=" || root["parent_span_id"] != nil ||
					child["parent_span_id"] != "ERITFBUWFxg=" || root["start_time_unix_nano"] != float64(1000000) ||
					dig(root, "status", "code") != "STATUS_CODE_OK" || dig(child, "status", "code") != "STATUS_CODE_UNSET" ||
					dig(root, "attributes", "mlflow.spanType") != `"AGENT"` || dig(root, "attributes", "n") != "7" {
					t.Fatalf("%s: spans %s", v, b)
				}
				if evs := root["events"].([]any); len(evs) != 1 || dig(evs[0].(map[string]any), "attributes", "k") != true {
					t.Fatalf("%s: events %v", v, root["events"])
				}
			}
			st, _, b := e.raw("GET", "/ajax-api/3.0/mlflow/get-trace-artifact?request_id=tr-nope", "", "")
			e.wantError("unknown trace", st, b, 404, "RESOURCE_DOES_NOT_EXIST", "Trace with ID tr-nope is not found.")
			st, _, b = e.raw("GET", "/ajax-api/3.0/mlflow/get-trace-artifact", "", "")
			e.wantError("no request_id", st, b, 400, "BAD_REQUEST", `Request must include the "request_id" query parameter.`)
		})
	}
}

package mlflowapi_test

import (
	"strings"
	"testing"
)

// goWords are what a message must never show: Go type and package names,
// tandem's internal error format, encoding/json's own words.
var goWords = []string{"mlflowapi", "sqlstore", "strictjson", "tandem error", "code=", "Go struct", "Go value",
	"int64", "float64", "Req.", "Req'", "runIDReq", "nameVersion", "json: ", "struct {"}

// TestBadRequestBodies sends endpoints of every area bodies that are not
// JSON objects, carry trailing data or a key twice, have a value of the
// wrong type or out of range, or leave out a required field: each answers
// 400 INVALID_PARAMETER_VALUE, names the parameter as MLflow's server does,
// shows no Go name, and changes nothing.
func TestBadRequestBodies(t *testing.T) {
	for name, e := range newEnvs(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			run := e.ok("POST", "runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
			before := e.seq()
			for _, c := range []struct {
				method, path, body string
				want               string // in the message
			}{
				// Not one JSON object.
				{"POST", "experiments/create", `{"name":"a"} {"name":"b"}`, "unexpected data after the JSON object"},
				{"POST", "runs/log-batch", `{"run_id":"` + run + `"}{"params":[{"key":"p","value":"v"}]}`, "unexpected data after the JSON object"},
				{"POST", "registered-models/create", `{"name":"m"}]`, "unexpected data after the JSON object"},
				{"POST", "experiments/create", `{"name":"a","name":"b"}`, "key 'name' appears more than once"},
				{"POST", "runs/log-batch", `{"run_id":"` + run + `","tags":[{"key":"t","value":"1","value":"2"}]}`, "key 'tags[0].value' appears more than once"},
				{"PATCH", "model-versions/update", `{"name":"m","version":"1","version":"2"}`, "key 'version' appears more than once"},
				{"POST", "runs/create", `[1,2]`, "the body must be a JSON object"},
				{"POST", "runs/create", `"run"`, "the body must be a JSON object"},
				{"POST", "experiments/create", `{"name":`, "malformed JSON request"},
				// Values of the wrong type, in MLflow's words and order: a
				// required field declared earlier and left out comes first,
				// as a null where MLflow checks its type first.
				{"POST", "experiments/create", `{"artifact_location":31}`, "Missing value for required parameter 'name'."},
				{"POST", "registered-models/create", `{"tags":31}`, "Invalid value null for parameter 'name' supplied:  Hint: Value was of type 'NoneType'."},
				{"POST", "runs/log-batch", `{"metrics":31}`, "Invalid value null for parameter 'run_id' supplied:  Hint: Value was of type 'NoneType'."},
				{"POST", "runs/log-batch", `{"run_id":"r","metrics":31,"params":"x"}`, "Invalid value 31 for parameter 'metrics' supplied"},
				{"POST", "runs/update", `{"run_id":31}`, "Invalid value 31 for parameter 'run_id' supplied:  Hint: Value was of type 'int'."},
				{"POST", "experiments/create", `{"name":5}`, "Invalid value 5 for parameter 'name' supplied"},
				{"POST", "experiments/create", `{"name":"a","tags":{"k":"v"}}`, `Invalid value {"k":"v"} for parameter 'tags' supplied:  Hint: Value was of type 'dict'.`},
				{"POST", "runs/log-metric", `{"run_id":"` + run + `","key":"m","value":"abc","timestamp":1}`, `Invalid value "abc" for parameter 'value' supplied:  Hint: Value was of type 'str'.`},
				{"POST", "runs/log-batch", `{"run_id":"` + run + `","metrics":[{"key":"m","value":1,"timestamp":"t"}]}`, "parameter 'metrics[0].timestamp'"},
				{"POST", "runs/log-batch", `{"run_id":"` + run + `","params":[{"key":"p","value":"v"},{"key":5}]}`, "parameter 'params[1].key'"},
				{"POST", "runs/create", `{"start_time":true}`, "Invalid value true for parameter 'start_time' supplied:  Hint: Value was of type 'bool'."},
				{"POST", "runs/update", `{"run_id":"` + run + `","status":{"a":1}}`, "parameter 'status'"},
				{"POST", "experiments/search", `{"max_results":"ten"}`, `Invalid value "ten" for parameter 'max_results' supplied`},
				{"POST", "experiments/search", `{"order_by":"name"}`, "parameter 'order_by' supplied:  Hint: Value was of type 'str'."},
				{"POST", "registered-models/set-tag", `{"name":"m","key":["x"]}`, `Invalid value ["x"] for parameter 'key' supplied:  Hint: Value was of type 'list'.`},
				{"POST", "model-versions/create", `{"name":"m","source":"s3://b/k","tags":[{"key":1.5}]}`, "Invalid value 1.5 for parameter 'tags[0].key' supplied:  Hint: Value was of type 'float'."},
				{"POST", "logged-models/search", `{"experiment_ids":["0"],"max_results":[]}`, "parameter 'max_results'"},
				{"POST", "model-versions/transition-stage", `{"name":"m","version":"1","stage":"Staging","archive_existing_versions":"maybe"}`, "parameter 'archive_existing_versions'"},
				// max_results limits, as MLflow's handlers word them.
				{"POST", "runs/search", `{"experiment_ids":["0"],"max_results":50001}`, "Invalid value 50001 for parameter 'max_results' supplied"},
				{"POST", "runs/search", `{"experiment_ids":["0"],"max_results":-1}`, "Invalid value -1 for parameter 'max_results' supplied. It must be a positive integer"},
				{"GET", "registered-models/search?max_results=1001", ``, `Invalid value "1001" for parameter 'max_results' supplied`},
				{"GET", "model-versions/search?max_results=200001", ``, `Invalid value "200001" for parameter 'max_results' supplied`},
				{"GET", "metrics/get-history?run_id=" + run + "&metric_key=m&max_results=0", ``, "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer."},
				{"GET", "metrics/get-history-bulk-interval?run_ids=" + run + "&metric_key=m&max_results=2501", ``, "max_results must be between 1 and 2500."},
				{"GET", "experiments/search?max_results=x", ``, `Invalid value "x" for parameter 'max_results' supplied`},
				// Required fields.
				{"POST", "experiments/create", `{}`, "Missing value for required parameter 'name'."},
				{"GET", "experiments/get", ``, "Missing value for required parameter 'experiment_id'."},
				{"GET", "experiments/get-by-name", ``, "Missing value for required parameter 'experiment_name'."},
				{"POST", "experiments/update", `{"experiment_id":"0"}`, "Missing value for required parameter 'new_name'."},
				{"POST", "experiments/set-experiment-tag", `{"experiment_id":"0","value":"v"}`, "Missing value for required parameter 'key'."},
				{"POST", "runs/delete", `{}`, "Missing value for required parameter 'run_id'."},
				{"POST", "runs/set-tag", `{"key":"k"}`, "Missing value for required parameter 'run_id'."},
				{"POST", "runs/set-tag", `{"run_id":"` + run + `","value":"v"}`, "Missing value for required parameter 'key'."},
				{"POST", "runs/log-parameter", `{"run_id":"` + run + `","key":""}`, "Missing value for required parameter 'key'."},
				{"POST", "runs/log-metric", `{"run_id":"` + run + `","key":"m","timestamp":1}`, "Missing value for required parameter 'value'."},
				{"POST", "runs/log-batch", `{"run_id":"` + run + `","metrics":[{"key":"m","value":1}]}`, "Missing value for required parameter 'metrics[0].timestamp'."},
				{"POST", "runs/outputs", `{"run_id":"` + run + `"}`, "Missing value for required parameter 'models'."},
				{"GET", "metrics/get-history?run_id=" + run, ``, "Missing value for required parameter 'metric_key'."},
				{"POST", "registered-models/create", `{"description":"d"}`, "Missing value for required parameter 'name'."},
				{"POST", "registered-models/rename", `{"name":"m"}`, "Missing value for required parameter 'new_name'."},
				{"GET", "registered-models/get", ``, "Missing value for required parameter 'name'."},
				{"POST", "registered-models/alias", `{"name":"m","alias":"a"}`, "Missing value for required parameter 'version'."},
				{"POST", "model-versions/create", `{"name":"m"}`, "Missing value for required parameter 'source'."},
				{"PATCH", "model-versions/update", `{"name":"m"}`, "Missing value for required parameter 'version'."},
				{"POST", "model-versions/transition-stage", `{"name":"m","version":"1"}`, "Missing value for required parameter 'stage'."},
				{"POST", "model-versions/set-tag", `{"name":"m","version":"1","value":"v"}`, "Missing value for required parameter 'key'."},
				{"POST", "logged-models", `{"name":"lm"}`, "Missing value for required parameter 'experiment_id'."},
				{"PATCH", "logged-models/m-1", `{"status":"READY"}`, "Missing value for required parameter 'model_id'."},
				{"POST", "logged-models/search", `{}`, "Missing value for required parameter 'experiment_ids'."},
			} {
				var body any
				if c.body != "" {
					body = c.body
				}
				st, out := e.call(c.method, c.path, body)
				msg, _ := out["message"].(string)
				if st != 400 || out["error_code"] != "INVALID_PARAMETER_VALUE" || !strings.Contains(msg, c.want) {
					t.Errorf("%s %s %s:\n  got  %d %v %q\n  want 400 INVALID_PARAMETER_VALUE %q", c.method, c.path, c.body, st, out["error_code"], msg, c.want)
				}
				for _, w := range goWords {
					if strings.Contains(msg, w) {
						t.Errorf("%s %s %s: message %q shows %q", c.method, c.path, c.body, msg, w)
					}
				}
			}
			if after := e.seq(); after != before {
				t.Fatalf("refused requests journalled %d entries", after-before)
			}
			if st, _ := e.call("GET", "experiments/get-by-name", map[string]any{"experiment_name": "a"}); st != 404 {
				t.Fatalf("experiment of a refused create exists: %d", st)
			}
		})
	}
}

package mlflowapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestTrackingReads(t *testing.T) {
	for name, e := range newEnvs(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			// Default experiment as MLflow makes it.
			def := e.ok("GET", "experiments/get", map[string]any{"experiment_id": "0"})["experiment"].(map[string]any)
			if def["name"] != "Default" || def["artifact_location"] != "mlflow-artifacts:/0" || def["lifecycle_stage"] != "active" {
				t.Fatalf("default = %v", def)
			}
			exp := e.ok("POST", "experiments/create", map[string]any{"name": "reads", "tags": []map[string]string{{"key": "k", "value": "v"}}})["experiment_id"].(string)
			got := e.ok("GET", "experiments/get-by-name", map[string]any{"experiment_name": "reads"})["experiment"].(map[string]any)
			if got["experiment_id"] != exp || got["artifact_location"] != "mlflow-artifacts:/"+exp || len(got["tags"].([]any)) != 1 {
				t.Fatalf("by name = %v", got)
			}
			run := e.ok("POST", "runs/create", map[string]any{"experiment_id": exp, "start_time": "7", "user_id": "me", "run_name": "rr"})["run"].(map[string]any)
			info := run["info"].(map[string]any)
			id := info["run_id"].(string)
			if info["run_uuid"] != id || info["run_name"] != "rr" || info["status"] != "RUNNING" || info["start_time"] != 7.0 ||
				info["artifact_uri"] != "mlflow-artifacts:/"+exp+"/"+id+"/artifacts" || info["lifecycle_stage"] != "active" || info["user_id"] != "me" {
				t.Fatalf("info = %v", info)
			}
			if _, ok := info["end_time"]; ok {
				t.Fatal("end_time present on a running run")
			}
			if _, ok := run["inputs"]; !ok {
				t.Fatal("inputs missing (MLflow sends an empty object)")
			}
			var ms []map[string]any
			for i := 0; i < 30; i++ {
				ms = append(ms, map[string]any{"key": "loss", "value": float64(i), "timestamp": 100 + i, "step": i})
			}
			ms = append(ms, map[string]any{"key": "n", "value": "NaN", "timestamp": 1, "step": 0})
			e.ok("POST", "runs/log-batch", map[string]any{"run_id": id, "metrics": ms})
			data := e.ok("GET", "runs/get", map[string]any{"run_id": id})["run"].(map[string]any)["data"].(map[string]any)
			raw, _ := json.Marshal(data["metrics"])
			if !strings.Contains(string(raw), `"value":"NaN"`) || !strings.Contains(string(raw), `{"key":"loss","step":29,"timestamp":129,"value":29}`) {
				t.Fatalf("metrics = %s", raw)
			}
			// History pages (GET query string) and the ajax prefix.
			h := e.ok("GET", "metrics/get-history", map[string]any{"run_id": id, "metric_key": "loss", "max_results": 20})
			if len(h["metrics"].([]any)) != 20 || h["next_page_token"] == nil {
				t.Fatalf("history page 1: %v", h)
			}
			h = e.ok("GET", "metrics/get-history", map[string]any{"run_id": id, "metric_key": "loss", "max_results": 20, "page_token": h["next_page_token"]})
			if len(h["metrics"].([]any)) != 10 || h["next_page_token"] != nil {
				t.Fatalf("history page 2: %v", h)
			}
			resp, err := http.Get(e.srv.URL + "/ajax-api/2.0/mlflow/metrics/get-history?run_id=" + id + "&metric_key=loss")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("ajax: %v %v", resp, err)
			}
			resp.Body.Close()
			// Bulk interval: sampled as MLflow's store samples (NTILE(4)
			// buckets of 8, 8, 7 and 7 points, the first of each, the last
			// point in place of the last), run_id set.
			b := e.ok("GET", "metrics/get-history-bulk-interval", map[string]any{"run_ids": []string{id}, "metric_key": "loss", "max_results": 4})
			pts := b["metrics"].([]any)
			var steps []string
			for _, p := range pts {
				m := p.(map[string]any)
				if m["run_id"] != id {
					t.Fatalf("bulk point without run_id: %v", m)
				}
				steps = append(steps, fmt.Sprint(m["step"]))
			}
			if strings.Join(steps, ",") != "0,8,16,29" {
				t.Fatalf("bulk steps = %v", steps)
			}
			b = e.ok("GET", "metrics/get-history-bulk-interval", map[string]any{"run_ids": []string{id}, "metric_key": "loss", "start_step": 5, "end_step": 7})
			if len(b["metrics"].([]any)) != 3 {
				t.Fatalf("bulk range = %v", b)
			}
			if st, out := e.call("GET", "metrics/get-history-bulk-interval", map[string]any{"run_ids": []string{id}, "metric_key": "loss", "start_step": 5}); st != 400 {
				t.Fatalf("bulk with only start_step: %d %v", st, out)
			}
			// Search via POST and GET (repeated experiment_ids).
			s := e.ok("POST", "runs/search", map[string]any{"experiment_ids": []string{exp}, "filter": "metrics.loss > 28", "max_results": 10})
			if len(s["runs"].([]any)) != 1 {
				t.Fatalf("search = %v", s)
			}
			s = e.ok("GET", "runs/search", map[string]any{"experiment_ids": []string{exp, "0"}, "filter": "attributes.run_name = 'rr'"})
			if len(s["runs"].([]any)) != 1 {
				t.Fatalf("GET search = %v", s)
			}
			if s := e.ok("POST", "runs/search", map[string]any{"experiment_ids": []string{exp}, "filter": "metrics.loss > 100"}); len(s) != 0 {
				t.Fatalf("empty search must be {} as MLflow: %v", s)
			}
			x := e.ok("POST", "experiments/search", map[string]any{"max_results": 1, "view_type": "ALL"})
			if len(x["experiments"].([]any)) != 1 || x["next_page_token"] == nil {
				t.Fatalf("experiments/search = %v", x)
			}
			// Errors in MLflow's format.
			for _, c := range []struct {
				method, path string
				body         any
				status       int
				code         string
			}{
				{"GET", "runs/get", map[string]any{"run_id": "nope"}, 404, "RESOURCE_DOES_NOT_EXIST"},
				{"GET", "runs/get", map[string]any{}, 400, "INVALID_PARAMETER_VALUE"},
				{"GET", "experiments/get", map[string]any{"experiment_id": "abc"}, 400, "INVALID_PARAMETER_VALUE"},
				{"GET", "experiments/get", map[string]any{"experiment_id": "404"}, 404, "RESOURCE_DOES_NOT_EXIST"},
				{"GET", "experiments/get-by-name", map[string]any{"experiment_name": "nope"}, 404, "RESOURCE_DOES_NOT_EXIST"},
				{"POST", "runs/search", map[string]any{"experiment_ids": []string{exp}, "filter": "metrics.loss >"}, 400, "INVALID_PARAMETER_VALUE"},
				{"POST", "runs/search", map[string]any{"experiment_ids": []string{exp}, "page_token": "xx"}, 400, "INVALID_PARAMETER_VALUE"},
				{"POST", "runs/search", map[string]any{"experiment_ids": []string{exp}, "max_results": 50001}, 400, "INVALID_PARAMETER_VALUE"},
				{"POST", "experiments/search", map[string]any{"view_type": "SOMETIMES"}, 400, "INVALID_PARAMETER_VALUE"},
				{"POST", "runs/log-metric", map[string]any{"run_id": id, "key": "m", "value": "abc", "timestamp": 1}, 400, "INVALID_PARAMETER_VALUE"},
				{"POST", "runs/log-batch", map[string]any{"run_id": id, "metrics": make([]map[string]any, 1001)}, 400, "INVALID_PARAMETER_VALUE"},
				{"GET", "metrics/get-history", map[string]any{"run_id": id}, 400, "INVALID_PARAMETER_VALUE"},
				{"POST", "runs/create", "[1,2]", 400, "INVALID_PARAMETER_VALUE"},
				{"POST", "experiments/create", map[string]any{"name": "bad-loc", "artifact_location": "runs:/x/y"}, 400, "INVALID_PARAMETER_VALUE"},
				{"POST", "runs/log-batch", map[string]any{"run_id": id, "pad": strings.Repeat("x", 1_000_001)}, 400, "INVALID_PARAMETER_VALUE"},
				{"POST", "experiments/set-experiment-tag", map[string]any{"experiment_id": exp, "key": "k", "value": strings.Repeat("x", 20001)}, 400, "INVALID_PARAMETER_VALUE"},
			} {
				st, out := e.call(c.method, c.path, c.body)
				if st != c.status || out["error_code"] != c.code || out["message"] == "" {
					t.Errorf("%s %s %v: %d %v; want %d %s", c.method, c.path, c.body, st, out, c.status, c.code)
				}
			}
			// Long param and tag values are truncated, as MLflow does by default.
			e.ok("POST", "runs/log-parameter", map[string]any{"run_id": id, "key": "long", "value": strings.Repeat("p", 7000)})
			e.ok("POST", "runs/set-tag", map[string]any{"run_id": id, "key": "long", "value": strings.Repeat("t", 9000)})
			rd := e.ok("GET", "runs/get", map[string]any{"run_id": id})["run"].(map[string]any)["data"].(map[string]any)
			for _, kind := range []string{"params", "tags"} {
				for _, x := range rd[kind].([]any) {
					kv := x.(map[string]any)
					if kv["key"] == "long" && len(kv["value"].(string)) != map[string]int{"params": 6000, "tags": 8000}[kind] {
						t.Fatalf("%s value length %d", kind, len(kv["value"].(string)))
					}
				}
			}
			// An empty log-batch is accepted and journals nothing (documented).
			before := e.seq()
			e.ok("POST", "runs/log-batch", map[string]any{"run_id": id})
			if e.seq() != before {
				t.Fatal("empty log-batch journalled an entry")
			}
			// Update returns run_info; deleted runs refuse writes.
			u := e.ok("POST", "runs/update", map[string]any{"run_id": id, "status": "KILLED", "end_time": 9, "run_name": "new"})["run_info"].(map[string]any)
			if u["status"] != "KILLED" || u["end_time"] != 9.0 || u["run_name"] != "new" {
				t.Fatalf("run_info = %v", u)
			}
			e.ok("POST", "runs/delete", map[string]any{"run_id": id})
			if st, out := e.call("POST", "runs/set-tag", map[string]any{"run_id": id, "key": "a", "value": "b"}); st != 400 || out["error_code"] != "INVALID_PARAMETER_VALUE" {
				t.Fatalf("write to deleted run: %d %v", st, out)
			}
		})
	}
}

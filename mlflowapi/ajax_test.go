package mlflowapi_test

import (
	"fmt"
	"testing"
)

// TestMetricHistoryBulk checks the UI's metrics/get-history-bulk: runs in id
// order, points by timestamp then step, run_id on each point, NaN kept, the
// max_results cut over all runs, and MLflow's messages for bad requests.
func TestMetricHistoryBulk(t *testing.T) {
	for name, e := range newEnvs(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			exp := e.ok("POST", "experiments/create", map[string]any{"name": "bulk"})["experiment_id"].(string)
			var ids []string
			for r := 0; r < 2; r++ {
				id := e.ok("POST", "runs/create", map[string]any{"experiment_id": exp})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
				ids = append(ids, id)
				// Timestamps fall as steps rise: the bulk order is by timestamp.
				e.ok("POST", "runs/log-batch", map[string]any{"run_id": id, "metrics": []map[string]any{
					{"key": "m", "value": 1, "timestamp": 30, "step": 0},
					{"key": "m", "value": 2, "timestamp": 20, "step": 1},
					{"key": "m", "value": "NaN", "timestamp": 10, "step": 2},
					{"key": "other", "value": 9, "timestamp": 5, "step": 0},
				}})
			}
			lo, hi := ids[0], ids[1]
			if hi < lo {
				lo, hi = hi, lo
			}
			b := e.ok("GET", "metrics/get-history-bulk", map[string]any{"run_id": []string{hi, lo}, "metric_key": "m"})
			pts := b["metrics"].([]any)
			var got []string
			for _, p := range pts {
				m := p.(map[string]any)
				got = append(got, fmt.Sprintf("%v/%v/%v/%v", m["run_id"], m["timestamp"], m["step"], m["value"]))
			}
			want := []string{lo + "/10/2/NaN", lo + "/20/1/2", lo + "/30/0/1", hi + "/10/2/NaN", hi + "/20/1/2", hi + "/30/0/1"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("bulk = %v, want %v", got, want)
			}
			b = e.ok("GET", "metrics/get-history-bulk", map[string]any{"run_id": []string{hi, lo}, "metric_key": "m", "max_results": 4})
			if n := len(b["metrics"].([]any)); n != 4 {
				t.Fatalf("max_results 4 gave %d points", n)
			}
			b = e.ok("GET", "metrics/get-history-bulk", map[string]any{"run_id": []string{lo}, "metric_key": "none"})
			if n := len(b["metrics"].([]any)); n != 0 {
				t.Fatalf("unknown key gave %d points", n)
			}
			many := make([]string, 101)
			for i := range many {
				many[i] = lo
			}
			for _, c := range []struct {
				q   map[string]any
				msg string
			}{
				{map[string]any{"metric_key": "m"}, "GetMetricHistoryBulk request must specify at least one run_id."},
				{map[string]any{"run_id": []string{lo}}, "GetMetricHistoryBulk request must specify a metric_key."},
				{map[string]any{"run_id": many, "metric_key": "m"}, "GetMetricHistoryBulk request cannot specify more than 100 run_ids. Received 101 run_ids."},
				{map[string]any{"run_id": []string{lo}, "metric_key": "m", "max_results": "x"}, `Invalid value "x" for parameter 'max_results' supplied.`},
			} {
				st, out := e.call("GET", "metrics/get-history-bulk", c.q)
				if st != 400 || out["error_code"] != "INVALID_PARAMETER_VALUE" || out["message"] != c.msg {
					t.Fatalf("%v: %d %v", c.q, st, out)
				}
			}
		})
	}
}

// TestSearchDatasets checks experiments/search-datasets: each dataset a run
// used, once per context, only from the experiments asked for.
func TestSearchDatasets(t *testing.T) {
	for name, e := range newEnvs(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			var exps []string
			for _, n := range []string{"ds-a", "ds-b"} {
				exp := e.ok("POST", "experiments/create", map[string]any{"name": n})["experiment_id"].(string)
				exps = append(exps, exp)
				for _, ctx := range []string{"training", "eval", "training"} {
					id := e.ok("POST", "runs/create", map[string]any{"experiment_id": exp})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
					e.ok("POST", "runs/log-inputs", map[string]any{"run_id": id, "datasets": []map[string]any{{
						"tags":    []map[string]string{{"key": "mlflow.data.context", "value": ctx}},
						"dataset": map[string]string{"name": "d-" + n, "digest": "abc", "source_type": "local", "source": "{}"},
					}}})
				}
			}
			b := e.ok("POST", "experiments/search-datasets", map[string]any{"experiment_ids": []string{exps[0]}})
			var got []string
			for _, s := range b["dataset_summaries"].([]any) {
				m := s.(map[string]any)
				got = append(got, fmt.Sprintf("%v/%v/%v/%v", m["experiment_id"], m["name"], m["digest"], m["context"]))
			}
			want := []string{exps[0] + "/d-ds-a/abc/eval", exps[0] + "/d-ds-a/abc/training"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("summaries = %v, want %v", got, want)
			}
			for _, c := range []struct {
				body map[string]any
				msg  string
			}{
				{map[string]any{}, "SearchDatasets request must specify at least one experiment_id."},
				{map[string]any{"experiment_ids": make([]string, 21)}, "SearchDatasets request cannot specify more than 20 experiment_ids. Received 21 experiment_ids."},
			} {
				st, out := e.call("POST", "experiments/search-datasets", c.body)
				if st != 400 || out["message"] != c.msg {
					t.Fatalf("%v: %d %v", c.body, st, out)
				}
			}
		})
	}
}

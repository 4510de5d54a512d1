//go:build tandemtest

package replication_test

import (
	"testing"

	"github.com/tandemml/tandem/regiontest"
)

// TestLoggedModelMetricsReplicate: metrics logged with a model_id (sent to
// the secondary, which forwards the write) are on the logged model in both
// regions, and the secondary's logged-model search filters by them.
func TestLoggedModelMetricsReplicate(t *testing.T) {
	w := regiontest.Start(t, regiontest.Options{Extra: "durability: {mode: sync, timeout: 10s}"})
	east, west := w.URLs[0], w.URLs[1]
	const api = "/api/2.0/mlflow/"
	exp := callMLflow(t, "POST", east+api+"experiments/create", map[string]any{"name": "lmm"})["experiment_id"].(string)
	run := callMLflow(t, "POST", east+api+"runs/create", map[string]any{"experiment_id": exp})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	model := callMLflow(t, "POST", east+api+"logged-models", map[string]any{"experiment_id": exp, "name": "m"})["model"].(map[string]any)["info"].(map[string]any)["model_id"].(string)
	callMLflow(t, "POST", west+api+"runs/log-batch", map[string]any{"run_id": run, "metrics": []map[string]any{
		{"key": "acc", "value": 0.9, "timestamp": 10, "step": 1, "model_id": model, "dataset_name": "eval", "dataset_digest": "d1"}}})
	callMLflow(t, "POST", west+api+"runs/log-metric", map[string]any{"run_id": run, "key": "loss", "value": 0.2, "timestamp": 11, "model_id": model})

	for _, base := range []string{east, west} {
		got := callMLflow(t, "GET", base+api+"logged-models/"+model, nil)["model"].(map[string]any)
		ms, _ := got["data"].(map[string]any)["metrics"].([]any)
		if len(ms) != 2 {
			t.Fatalf("%s: metrics %v", base, got["data"])
		}
		acc := ms[0].(map[string]any)
		if acc["key"] != "acc" || acc["value"] != 0.9 || acc["run_id"] != run || acc["dataset_name"] != "eval" || acc["dataset_digest"] != "d1" {
			t.Errorf("%s: acc %v", base, acc)
		}
		found := callMLflow(t, "POST", base+api+"logged-models/search", map[string]any{"experiment_ids": []string{exp},
			"filter": "metrics.acc > 0.5", "datasets": []map[string]any{{"dataset_name": "eval", "dataset_digest": "d1"}}})
		if ms, _ := found["models"].([]any); len(ms) != 1 {
			t.Errorf("%s: search %v", base, found)
		}
		none := callMLflow(t, "POST", base+api+"logged-models/search", map[string]any{"experiment_ids": []string{exp}, "filter": "metrics.acc > 0.95"})
		if ms, _ := none["models"].([]any); len(ms) != 0 {
			t.Errorf("%s: search > 0.95 %v", base, none)
		}
	}
}

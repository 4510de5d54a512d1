package mlflowsource_test

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"testing"

	"github.com/tandemml/tandem/transfer/bundle"
	"github.com/tandemml/tandem/transfer/mlflowsource"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
)

// populateMisleadingSteps logs histories whose latest step says nothing
// about their length (every point at step 0), so bulk requests are sized
// wrong and answers come back truncated: one run longer than a whole bulk
// answer (30,000 points), three of 12,000, and a few short ones.
const populateMisleadingSteps = `
import json, sys
from mlflow import MlflowClient
from mlflow.entities import Metric
c = MlflowClient(sys.argv[1])
e = c.create_experiment("steps")
want = {}
for i, n in enumerate([30000, 12000, 12000, 12000, 3, 1, 2]):
    r = c.create_run(e, run_name=f"r{i}")
    pts = [Metric("m", float(j), 1700000000000 + j, 0) for j in range(n)]
    pts += [Metric("other", float(j), 1700000000000 + j, 7) for j in range(i + 1)]
    for k in range(0, len(pts), 1000):
        c.log_batch(r.info.run_id, metrics=pts[k:k + 1000])
    want[r.info.run_id] = {"m": n, "other": i + 1}
print(json.dumps(want))
`

// TestBulkHistoriesTruncated: every point of every history arrives, once,
// when bulk answers are cut at the server's limit.
func TestBulkHistoriesTruncated(t *testing.T) {
	ctx := t.Context()
	src := mlflowtest.Start(t)
	out := mlflowtest.Python(t, ctx, mlflowtest.Venv(t), "-c", populateMisleadingSteps, src.URL)
	var want map[string]map[string]int
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	c, err := mlflowsource.New(src.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "b")
	w, err := bundle.Create(path, bundle.Meta{Source: "mlflow"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Export(ctx, w, mlflowsource.Options{Experiments: []string{"steps"}, Parallel: 2}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := bundle.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]int{}
	err = r.Walk(context.Background(), func(it bundle.Item, body io.Reader) error {
		if it.Kind != bundle.KindRun {
			return nil
		}
		var run bundle.Run
		if err := bundle.Decode(body, &run); err != nil {
			return err
		}
		got[run.RunID] = map[string]int{}
		seen := map[[2]int64]bool{}
		for _, m := range run.Metrics {
			if m.Key == "m" {
				k := [2]int64{m.Timestamp, int64(m.Value)}
				if seen[k] {
					t.Errorf("run %s: point %v twice", run.RunID, k)
				}
				seen[k] = true
			}
			got[run.RunID][m.Key]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d runs read, want %d", len(got), len(want))
	}
	for id, keys := range want {
		for k, n := range keys {
			if got[id][k] != n {
				t.Errorf("run %s metric %s: %d points, want %d", id, k, got[id][k], n)
			}
		}
	}
	calls := map[string]int64{}
	for _, cs := range c.Calls() {
		calls[cs.Path] = cs.Count
	}
	if calls["/ajax-api/2.0/mlflow/metrics/get-history-bulk"] == 0 {
		t.Errorf("no bulk request: %+v", c.Calls())
	}
	t.Logf("requests: %+v", c.Calls())
}

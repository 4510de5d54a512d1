package mlflowsource_test

import (
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/tandemml/tandem/transfer/bundle"
	"github.com/tandemml/tandem/transfer/mlflowsource"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
)

// sourceURL is a populated stock MLflow server: TANDEM_TEST_MLFLOW_URL (an
// already populated server, for quick iterations) or a fresh one.
func sourceURL(t *testing.T) string {
	if u := os.Getenv("TANDEM_TEST_MLFLOW_URL"); u != "" {
		return u
	}
	s := mlflowtest.Start(t)
	s.Populate(t, t.Context(), 20, 300, false)
	return s.URL
}

func TestExportFromStockMLflow(t *testing.T) {
	src := sourceURL(t)
	c, err := mlflowsource.New(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "b.tgz")
	w, err := bundle.Create(path, bundle.Meta{Source: "mlflow"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Export(context.Background(), w, mlflowsource.Options{All: true, Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", st)
	if st.Experiments < 3 || st.Runs != 20 || st.RegisteredModels != 2 || st.ModelVersions != 2 || st.LoggedModels != 1 || st.Artifacts != 8 {
		t.Fatalf("stats %+v", st)
	}
	r, err := bundle.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	var bigHistory, nan, deleted, inputs int
	var aliases int
	err = r.Walk(context.Background(), func(it bundle.Item, body io.Reader) error {
		switch it.Kind {
		case bundle.KindRun:
			var run bundle.Run
			if err := bundle.Decode(body, &run); err != nil {
				return err
			}
			n := 0
			for _, m := range run.Metrics {
				if m.Key == "loss" {
					n++
				}
				if m.Key == "weird" && math.IsNaN(float64(m.Value)) {
					nan++
				}
			}
			if n > 20 {
				bigHistory++
			}
			if run.LifecycleStage == "deleted" {
				deleted++
			}
			inputs += len(run.Inputs)
		case bundle.KindRegisteredModel:
			var m bundle.RegisteredModel
			if err := bundle.Decode(body, &m); err != nil {
				return err
			}
			aliases += len(m.Aliases)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if bigHistory != 2 || nan != 20 || deleted != 1 || inputs != 1 || aliases != 2 {
		t.Fatalf("big=%d nan=%d deleted=%d inputs=%d aliases=%d", bigHistory, nan, deleted, inputs, aliases)
	}
}

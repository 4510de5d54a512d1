package mlflowapi_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
)

// TestRegistryWithMLflowClient runs testdata/registry_client.py (log a pyfunc
// model, register it, alias it, load "models:/NAME@ALIAS" and predict, then
// the registry and logged-model calls around it) with the stock mlflow
// client against a region on loopback: SQLite + folder, and PostgreSQL + S3
// when those services are available.
func TestRegistryWithMLflowClient(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts Python")
	}
	py := mlflowtest.PythonPath(t)
	type backend struct{ meta, art string }
	backends := map[string]backend{"sqlite+file": {storetest.SQLiteURL(t), storetest.FileURL(t)}}
	if pg, s3 := storetest.PostgresURL(t), storetest.S3URL(t); pg != "" && s3 != "" {
		backends["postgres+s3"] = backend{pg, s3}
	}
	for name, b := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			reg, err := region.Open(ctx, region.Config{MetadataURL: b.meta, ArtifactsURL: b.art, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			srv := httptest.NewServer(reg.Handler())
			defer srv.Close()
			cmd := exec.CommandContext(ctx, py, "testdata/registry_client.py", srv.URL)
			cmd.Env = append(os.Environ(), "MLFLOW_TRACKING_URI="+srv.URL)
			cmd.Dir = "."
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "CLIENT OK") {
				t.Fatalf("client: %v\n%s", err, out)
			}
			// Every registry change reached the journal.
			es, err := reg.Store.ReadJournal(ctx, 0, 10000)
			if err != nil {
				t.Fatal(err)
			}
			ops := map[string]int{}
			for _, e := range es {
				ops[e.Op]++
			}
			for _, op := range []string{"logged_model.create", "logged_model.finalize", "registered_model.create",
				"model_version.create", "registered_model.set_alias", "logged_model.set_tags"} {
				if ops[op] == 0 {
					t.Errorf("no %s entry in the journal: %v", op, ops)
				}
			}
		})
	}
}

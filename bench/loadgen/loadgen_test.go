package loadgen_test

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandemml/tandem/bench/loadgen"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/storetest"
)

// TestExecuteSmoke runs every scenario at a tiny size against an in-process
// tandem region: the load generator works end to end and checks what it reads.
func TestExecuteSmoke(t *testing.T) {
	ctx := t.Context()
	r, err := region.Open(ctx, region.Config{MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: storetest.FileURL(t),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	res, err := loadgen.Execute(ctx, loadgen.NewClient(srv.URL, 2), loadgen.Config{
		Concurrency: 2, Ops: 20, SearchRuns: 50, HistoryPoints: 2500, ArtifactMiB: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(loadgen.Names) {
		t.Fatalf("got %d results, want %d", len(res), len(loadgen.Names))
	}
	for i, x := range res {
		t.Log(x)
		if x.Name != loadgen.Names[i] || x.Errors != 0 || x.Ops == 0 || x.P99 < x.P50 {
			t.Errorf("bad result %+v", x)
		}
	}
	if !strings.Contains(res[4].Note, "2500 points") {
		t.Errorf("metric-history note %q", res[4].Note)
	}
}

func TestArtifactPath(t *testing.T) {
	run := loadgen.Run{ArtifactURI: "mlflow-artifacts:/3/abc/artifacts"}
	if got := loadgen.ArtifactPath(run, "x.bin"); got != "3/abc/artifacts/x.bin" {
		t.Errorf("got %q", got)
	}
	run.ArtifactURI = "mlflow-artifacts://host:5000/3/abc/artifacts"
	if got := loadgen.ArtifactPath(run, "x.bin"); got != "3/abc/artifacts/x.bin" {
		t.Errorf("got %q", got)
	}
}

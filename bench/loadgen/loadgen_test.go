package loadgen_test

import (
	"fmt"
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

func TestUnsupported(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&loadgen.APIError{Status: 404, Body: `{"error_code":"ENDPOINT_NOT_FOUND"}`}, true},
		{&loadgen.APIError{Status: 501, Body: `{"error_code":"NOT_IMPLEMENTED"}`}, true},
		{&loadgen.APIError{Status: 500, Body: `ENDPOINT_NOT_FOUND: Not found`}, true},
		{&loadgen.APIError{Status: 404, Body: `{"error_code":"RESOURCE_DOES_NOT_EXIST"}`}, false},
		{&loadgen.APIError{Status: 400, Body: `{"error_code":"INVALID_PARAMETER_VALUE"}`}, false},
	} {
		if got := loadgen.Unsupported(fmt.Errorf("call: %w", c.err)); got != c.want {
			t.Errorf("Unsupported(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestSuiteSmoke runs every comparison scenario once against an in-process
// tandem region: each one's setup and operation work end to end.
func TestSuiteSmoke(t *testing.T) {
	ctx := t.Context()
	r, err := region.Open(ctx, region.Config{MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: storetest.FileURL(t),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	c := loadgen.NewClient(srv.URL, 2)
	f, err := loadgen.NewFixture(ctx, c, "smoke", 4)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range loadgen.Suite(loadgen.SuiteConfig{HistoryPoints: 1500, SmallArtifact: 4096, LargeArtifact: 1 << 20}) {
		op, err := sc.Prepare(ctx, c, f)
		if err != nil {
			t.Fatalf("%s setup: %v", sc.Name, err)
		}
		if res := loadgen.Measure(ctx, sc.Name, op, 2, 2, 4, 0); res.Errors != 0 || res.Ops != 2 {
			t.Errorf("%s: %+v", sc.Name, res)
		}
	}
	ss, err := loadgen.NewSearchSet(ctx, c, "smoke")
	if err != nil {
		t.Fatal(err)
	}
	if err := ss.Grow(ctx, c, 120, 4); err != nil {
		t.Fatal(err)
	}
	if res := loadgen.Measure(ctx, "search", ss.SearchOp(c), 1, 3, 3, 0); res.Errors != 0 || res.Ops != 3 {
		t.Errorf("search: %+v", res)
	}
}

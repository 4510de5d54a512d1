package main

import (
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem/bench/loadgen"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/storetest"
)

// TestBulkLoad: the bulk loader copies a run tandem created through its
// API into a search set, on SQLite and PostgreSQL; the loaded runs read
// back through the API like the template, the timed query's first page is
// the expected one, and loading in two steps continues where it stopped.
func TestBulkLoad(t *testing.T) {
	for _, be := range storetest.MetadataURLs(t) {
		t.Run(be.Name, func(t *testing.T) {
			ctx := t.Context()
			r, err := region.Open(ctx, region.Config{MetadataURL: be.URL, ArtifactsURL: storetest.FileURL(t), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			srv := httptest.NewServer(r.Handler())
			defer srv.Close()
			c := loadgen.NewClient(srv.URL, 2)
			s := &server{name: "tandem", client: c}
			if err := prepareSearchWith(ctx, s, "t", func() (*bulkStore, error) {
				if be.Name == "sqlite" {
					return openBulkStore(ctx, "sqlite", strings.TrimPrefix(be.URL, "sqlite://"))
				}
				return openBulkStore(ctx, "postgres", be.URL)
			}); err != nil {
				t.Fatal(err)
			}
			defer s.bulk.store.Close()
			for _, n := range []int{150, 1200} {
				if err := growSearch(ctx, nil, s, n); err != nil {
					t.Fatalf("grow to %d: %v", n, err)
				}
				if err := s.search.CheckFirstPage(ctx, c); err != nil {
					t.Fatalf("at %d runs: %v", n, err)
				}
			}
			if err := s.search.CheckRun(ctx, c, bulkRunID(1199), 1199); err != nil {
				t.Fatal(err)
			}
			// A wrong value is caught by the check.
			if err := s.search.CheckRun(ctx, c, bulkRunID(1199), 1198); err == nil {
				t.Fatal("CheckRun accepted run 1199 as run 1198")
			}
			var total int
			if _, rows, err := s.bulk.store.query(ctx, "SELECT COUNT(*) FROM runs WHERE experiment_id = ?", s.search.ExpID); err != nil {
				t.Fatal(err)
			} else {
				total = int(toInt64(rows[0][0]))
			}
			if total != 1200 {
				t.Fatalf("search experiment has %d runs, want 1200", total)
			}
		})
	}
}

// TestExpectedFirstPage: the expected page is sorted, within the filter,
// and the API-grown set answers it (tandem in-process, SQLite).
func TestExpectedFirstPage(t *testing.T) {
	p := loadgen.ExpectedFirstPage(5000, 100)
	if len(p) != 100 {
		t.Fatalf("%d losses", len(p))
	}
	for i := range p {
		if p[i] >= 0.5 || (i > 0 && p[i] < p[i-1]) {
			t.Fatalf("bad page %v", p)
		}
	}
}

func TestContinuity(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "failover-x.json"), []byte(`{"drills":[
		{"fault":"kill","durability":"sync","rto_seconds":2.5,"acknowledged_writes":100,"rpo_missing_writes":0,"rpo_lost_writes":0},
		{"fault":"kill","durability":"sync","rto_seconds":3.5,"acknowledged_writes":90,"rpo_missing_writes":0,"rpo_lost_writes":0,"failure":"x"}]}
		{"fault":"pause","durability":"async","rto_seconds":4,"acknowledged_writes":10,"rpo_missing_writes":2,"rpo_lost_writes":0}`), 0o644)
	tr := filepath.Join(dir, "RESULTS.md")
	os.WriteFile(tr, []byte("# T\n\n## Latest\n\nintro\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nSpeed-up: 3x.\n\nMOREPARA\n\n## Older\n\nOLDSECTION\n"), 0o644)
	c := &Continuity{Replication: "lag p50 1ms", ReplicationCommand: "go run ./bench/replication"}
	readFailover(c, dir)
	readTransfer(c, tr)
	md := renderContinuity(c)
	for _, want := range []string{"lag p50 1ms", "| kill | sync | 2 | 3.50 | 3.50 | 190 | 0 | 0 | 1 |", "| pause | async | 1 | 4.00 | 4.00 | 10 | 2 | 0 | 0 |", "| 1 | 2 |", "Speed-up: 3x."} {
		if !strings.Contains(md, want) {
			t.Errorf("continuity lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "MOREPARA") || strings.Contains(md, "OLDSECTION") {
		t.Errorf("continuity took more than the latest section:\n%s", md)
	}
	c = &Continuity{}
	readFailover(c, t.TempDir())
	if md := renderContinuity(c); !strings.Contains(md, "no bench/results/failover-*.json") {
		t.Errorf("missing failover files not said:\n%s", md)
	}
}

// TestRenderScaling: a server that timed out or could not be loaded is
// named in the scaling table and the search table, not left out; a capped
// concurrency is shown.
func TestRenderScaling(t *testing.T) {
	why := "timed out (one search > 120 s at 1M runs)"
	rep := &Report{Date: "d", Command: "c", Machine: map[string]string{}, Config: compareConfig{Backends: []string{"sqlite"}, Conc: []int{32}},
		Notes:   []string{"--full: 5 s a measurement"},
		Servers: []ServerInfo{{Backend: "sqlite", Server: "tandem"}, {Backend: "sqlite", Server: "mlflow"}, {Backend: "sqlite", Server: "fasttrackml"}},
		Cells: []Cell{
			{Backend: "sqlite", Scenario: "search-runs-100k", Conc: 32, Server: "tandem", Supported: true, Ops: 10, OpsPerSec: 30, Note: "q (concurrency capped at 8)"},
			{Backend: "sqlite", Scenario: "search-runs-100k", Conc: 32, Server: "mlflow", Supported: true, Note: why, FirstError: why},
		},
		Scaling: []ScalePoint{
			{Backend: "sqlite", Server: "tandem", Runs: 1_000_000, Ops: 3, P50ms: 900, P99ms: 950, RSSMiB: 80, HWMMiB: 90, CPUOp: 0.8, GrowSec: 60},
			{Backend: "sqlite", Server: "mlflow", Runs: 1_000_000, Note: why},
			{Backend: "sqlite", Server: "fasttrackml", Runs: 1_000_000, Note: "not loaded: boom"},
		}}
	md := renderMarkdown(rep, "x.json")
	for _, want := range []string{"- --full: 5 s a measurement", "| search-runs-100k | 32 (capped at 8) | 30.0 ·", "| " + why + " |",
		"| sqlite | 1000000 | 900/950 ms · 80/90 MiB · cpu 800 ms · load 60.0 s | " + why + " | not loaded: boom |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

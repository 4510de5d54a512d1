package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tandemml/tandem/storetest"
)

// benchInsert inserts rows (each a slice of column values) into table in
// multi-row statements: setup only, outside the journal.
func benchInsert(b *testing.B, s *Store, table string, cols int, rows [][]any) {
	b.Helper()
	ctx := context.Background()
	row := "(" + placeholders(cols) + ")"
	for len(rows) > 0 {
		n := min(len(rows), 500)
		var args []any
		for _, r := range rows[:n] {
			args = append(args, r...)
		}
		q := "INSERT INTO " + table + " VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
		if _, err := s.db.ExecContext(ctx, rebind(s.dialect, q), args...); err != nil {
			b.Fatalf("insert %s: %v", table, err)
		}
		rows = rows[n:]
	}
}

// openBenchStore opens a store on url for a benchmark (closed at its end)
// with the default experiment "0" and an empty experiment "1".
func openBenchStore(b *testing.B, url string) *Store {
	b.Helper()
	ctx := context.Background()
	s, err := Open(ctx, url, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.EnsureDefaultExperiment(ctx); err != nil {
		b.Fatal(err)
	}
	benchInsert(b, s, "experiments", 7, [][]any{{"1", int64(1), "small", "file:///a", "active", int64(0), int64(0)}})
	return s
}

// BenchmarkSearchRunsFiltered10k times SearchRuns with param, tag and
// metric filters over 10,000 runs of one experiment, on every backend. On
// PostgreSQL the statistics are stale on purpose (ANALYZE ran while the
// tables were empty, as autovacuum may before a bulk load), the case in which
// correlated EXISTS probes became nested loops in the issue 7 benchmarks.
//
//	go test ./sqlstore -run '^$' -bench SearchRunsFiltered10k -benchtime 20x
func BenchmarkSearchRunsFiltered10k(b *testing.B) {
	const n = 10_000
	for _, be := range storetest.MetadataURLs(b) {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			// Experiment 1 is small (1% of the runs) in a big database.
			s := openBenchStore(b, be.URL)
			var runs, params, tags, metrics [][]any
			for i := range n {
				id := fmt.Sprintf("%032x", i)
				exp := "0"
				if i%100 == 0 {
					exp = "1"
				}
				runs = append(runs, []any{id, exp, "r", "u", "FINISHED", int64(i), int64(i + 1), "file:///a/" + id, "active", nil})
				params = append(params, []any{id, "model", fmt.Sprintf("m%d", i%10)}, []any{id, "lr", fmt.Sprintf("0.%d", i%100)})
				tags = append(tags, []any{id, "group", fmt.Sprintf("g%d", i%20)}, []any{id, "mlflow.user", "u"})
				metrics = append(metrics, []any{id, "loss", int64(1), int64(i), float64(i) / n, 0}, []any{id, "acc", int64(1), int64(i), float64(n-i) / n, 0})
			}
			if s.dialect == Postgres {
				if _, err := s.db.ExecContext(ctx, "ANALYZE"); err != nil {
					b.Fatal(err)
				}
			}
			benchInsert(b, s, "runs", 10, runs)
			benchInsert(b, s, "params", 3, params)
			benchInsert(b, s, "tags", 3, tags)
			benchInsert(b, s, "latest_metrics", 6, metrics)
			for _, f := range []struct{ name, exp, filter string }{
				{"param", "0", "params.model = 'm3'"},
				{"tag", "0", "tags.group = 'g7'"},
				{"metric", "0", "metrics.loss > 0.95"},
				{"all3", "0", "params.model = 'm0' AND tags.group = 'g0' AND metrics.loss < 0.5"},
				{"param-is-null", "0", "params.missing IS NULL"},
				{"small-exp-all3", "1", "params.model = 'm0' AND tags.group = 'g0' AND metrics.loss < 0.5"},
			} {
				b.Run(f.name, func(b *testing.B) {
					for b.Loop() {
						got, _, err := s.SearchRuns(ctx, SearchRunsInput{ExperimentIDs: []string{f.exp}, Filter: f.filter, MaxResults: 100})
						if err != nil {
							b.Fatal(err)
						}
						if len(got) == 0 {
							b.Fatal("no runs")
						}
					}
				})
			}
		})
	}
}

// BenchmarkSearchRunsBenchSet times, at the store level, the query the
// issue 7 benchmark times (bench/loadgen SearchOp) over a data set shaped
// like its search set: every run has a kind and mlflow.runName tag, a
// group param and a loss metric; 10,000 runs, fresh statistics.
//
//	go test ./sqlstore -run '^$' -bench SearchRunsBenchSet -benchtime 200x
func BenchmarkSearchRunsBenchSet(b *testing.B) {
	const n = 10_000
	for _, be := range storetest.MetadataURLs(b) {
		// Set up once: b.Run calls its function again for every b.N.
		func() {
			ctx := context.Background()
			s := openBenchStore(b, be.URL)
			var runs, params, tags, metrics [][]any
			for k := range n {
				id := fmt.Sprintf("%032x", k)
				name := fmt.Sprintf("r%d", k)
				runs = append(runs, []any{id, "1", name, "u", "RUNNING", int64(1_700_000_000_000 + k), nil, "file:///a/" + id, "active", nil})
				params = append(params, []any{id, "group", fmt.Sprintf("g%d", k%10)})
				tags = append(tags, []any{id, "kind", []string{"a", "b"}[k%2]}, []any{id, "mlflow.runName", name})
				metrics = append(metrics, []any{id, "loss", int64(0), int64(1_700_000_000_000 + k), float64((k*7919)%1000) / 1000, 0})
			}
			benchInsert(b, s, "runs", 10, runs)
			benchInsert(b, s, "params", 3, params)
			benchInsert(b, s, "tags", 3, tags)
			benchInsert(b, s, "latest_metrics", 6, metrics)
			benchInsert(b, s, "metrics", 6, metrics)
			if s.dialect == Postgres {
				if _, err := s.db.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
					b.Fatal(err)
				}
			}
			in := SearchRunsInput{ExperimentIDs: []string{"1"}, Filter: "metrics.loss < 0.5 and params.group = 'g3'", OrderBy: []string{"metrics.loss ASC"}, MaxResults: 100}
			got, _, err := s.SearchRuns(ctx, in)
			if err != nil || len(got) != 100 {
				b.Fatalf("search: %d runs, %v", len(got), err)
			}
			b.Run(be.Name, func(b *testing.B) {
				for range b.N {
					if _, _, err := s.SearchRuns(ctx, in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}()
	}
}

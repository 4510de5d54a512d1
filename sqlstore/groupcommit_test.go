package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

// TestGroupCommitConcurrent runs many concurrent writes, some of which fail
// in prepare, in the applier (a SQL error, which aborts a PostgreSQL
// transaction) or by panicking, while they are committed in groups. Each
// caller must get its own outcome; the journal must hold exactly the
// successful writes, in a gap-free order; and a replica applying that
// journal must reach the primary's state, table by table.
func TestGroupCommitConcurrent(t *testing.T) {
	backends := storetest.MetadataURLs(t)
	replicas := storetest.MetadataURLs(t)
	for bi, b := range backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			quiet := slog.New(slog.DiscardHandler) // the panicking writes log their stack
			p, err := sqlstore.Open(ctx, b.URL, sqlstore.Options{Logger: quiet})
			must(t, err)
			defer p.Close()
			r, err := sqlstore.Open(ctx, replicas[bi].URL, sqlstore.Options{})
			must(t, err)
			defer r.Close()
			must(t, p.EnsureDefaultExperiment(ctx))
			run, err := p.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: "0"})
			must(t, err)

			// Hold the lead with a write whose prepare waits, so that the
			// writes started meanwhile queue up and commit as groups.
			release, leading := make(chan struct{}), make(chan struct{})
			blockerDone := make(chan error, 1)
			go func() {
				_, err := p.Mutate(ctx, func(context.Context, *sqlstore.Tx) (*sqlstore.Change, error) {
					close(leading)
					<-release
					return runCreateChange("b10c0000000000000000000000000000", "blocker"), nil
				})
				blockerDone <- err
			}()
			<-leading

			const workers, each, kinds = 14, 12, 7
			type result struct {
				w, i, kind int
				entry      tandem.Entry
				expID      string
				err        error
			}
			results := make(chan result, workers*each)
			var wg sync.WaitGroup
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; i < each; i++ {
						res := result{w: w, i: i, kind: (w + i) % kinds}
						switch res.kind {
						case 0: // succeeds
							res.expID, res.err = p.CreateExperiment(ctx, fmt.Sprintf("exp-%d-%d", w, i), "", nil)
						case 1: // two workers race for each name: one wins
							res.expID, res.err = p.CreateExperiment(ctx, fmt.Sprintf("dup-%d", i), "", nil)
						case 2: // fails in prepare
							res.entry, res.err = p.Mutate(ctx, func(ctx context.Context, tx *sqlstore.Tx) (*sqlstore.Change, error) {
								var n int
								if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM runs`).Scan(&n); err != nil {
									return nil, err
								}
								return nil, tandem.Errorf(tandem.EINVALID, "refused %d-%d", w, i)
							})
						case 3: // fails in the applier: the run exists (unique violation)
							res.entry, res.err = p.Mutate(ctx, func(context.Context, *sqlstore.Tx) (*sqlstore.Change, error) {
								return runCreateChange(run, "again"), nil
							})
						case 4: // succeeds
							res.err = p.LogBatch(ctx, run, []tandem.Metric{{Key: "m", Value: float64(i), Timestamp: 1, Step: int64(w*each + i)}},
								[]tandem.Param{{Key: fmt.Sprintf("p-%d-%d", w, i), Value: "v"}}, []tandem.Tag{{Key: "t", Value: fmt.Sprint(w)}})
						case 5: // panics in prepare
							res.entry, res.err = p.Mutate(ctx, func(context.Context, *sqlstore.Tx) (*sqlstore.Change, error) {
								panic("boom")
							})
						case 6: // a failed statement in prepare (aborts a PostgreSQL transaction), then a refusal
							res.entry, res.err = p.Mutate(ctx, func(ctx context.Context, tx *sqlstore.Tx) (*sqlstore.Change, error) {
								var n int
								_ = tx.QueryRowContext(ctx, `SELECT no_such_column FROM runs`).Scan(&n)
								return nil, tandem.Errorf(tandem.ENOTFOUND, "swallowed %d-%d", w, i)
							})
						}
						results <- res
					}
				}(w)
			}
			waitFor(t, func() bool { return sqlstore.GroupQueued(p) == workers }, "queued writers")
			close(release)
			wg.Wait()
			close(results)
			must(t, <-blockerDone)

			var got []result
			for res := range results {
				got = append(got, res)
			}
			dupWins := map[int]int{}
			successes := 0
			for _, res := range got {
				switch res.kind {
				case 0, 4:
					if res.err != nil {
						t.Fatalf("worker %d op %d (kind %d): %v", res.w, res.i, res.kind, res.err)
					}
					successes++
				case 1:
					switch tandem.ErrorCode(res.err) {
					case "":
						dupWins[res.i]++
						successes++
					case tandem.EEXISTS:
					default:
						t.Fatalf("dup create: %v", res.err)
					}
				case 2:
					wantCode(t, res.err, tandem.EINVALID)
					if !strings.Contains(res.err.Error(), fmt.Sprintf("refused %d-%d", res.w, res.i)) {
						t.Fatalf("worker %d op %d got another caller's error: %v", res.w, res.i, res.err)
					}
				case 3:
					if res.err == nil {
						t.Fatalf("duplicate run.create succeeded: %+v", res.entry)
					}
				case 5:
					wantCode(t, res.err, tandem.EINTERNAL)
				case 6:
					wantCode(t, res.err, tandem.ENOTFOUND)
				}
				if res.err != nil && res.entry.Seq != 0 {
					t.Fatalf("failed write has an entry: %+v", res.entry)
				}
			}
			for i := 0; i < each; i++ {
				if dupWins[i] != 1 {
					t.Fatalf("dup-%d created %d times", i, dupWins[i])
				}
			}
			// Each creator's id names its own experiment.
			for _, res := range got {
				if (res.kind == 0 || res.kind == 1) && res.err == nil {
					e, err := p.GetExperiment(ctx, res.expID)
					must(t, err)
					want := fmt.Sprintf("exp-%d-%d", res.w, res.i)
					if res.kind == 1 {
						want = fmt.Sprintf("dup-%d", res.i)
					}
					if e.Name != want {
						t.Fatalf("worker %d op %d: id %s is %q, want %q", res.w, res.i, res.expID, e.Name, want)
					}
				}
			}
			groups, writes := sqlstore.GroupStats(p)
			if writes <= groups {
				t.Fatalf("%d writes in %d groups: nothing was grouped", writes, groups)
			}
			t.Logf("%d writes in %d groups", writes, groups)

			// The journal: gap-free, exactly the successful writes (plus
			// the default experiment, the run and the blocker).
			js, err := p.ReadJournal(ctx, 0, 100000)
			must(t, err)
			if len(js) != successes+3 {
				t.Fatalf("journal has %d entries; want %d", len(js), successes+3)
			}
			for i, e := range js {
				if e.Seq != int64(i+1) {
					t.Fatalf("journal entry %d has seq %d", i, e.Seq)
				}
			}
			for _, res := range got {
				if res.entry.Seq == 0 {
					continue
				}
				j := js[res.entry.Seq-1]
				if j.Op != res.entry.Op || j.Key != res.entry.Key || string(j.Payload) != string(res.entry.Payload) {
					t.Fatalf("caller got %+v; journal has %+v", res.entry, j)
				}
			}
			head, err := p.Head(ctx)
			must(t, err)
			if head.Seq != int64(len(js)) {
				t.Fatalf("head %v; journal has %d", head, len(js))
			}
			hist, _, err := p.MetricHistory(ctx, run, "m", 0, "")
			must(t, err)
			if len(hist) != workers*each/kinds {
				t.Fatalf("%d metric points; want %d", len(hist), workers*each/kinds)
			}

			// A replica applying the journal reaches the same state.
			for _, e := range js {
				if _, err := r.Apply(ctx, e); err != nil {
					t.Fatalf("replica apply %v: %v", e.Position, err)
				}
			}
			for _, table := range []string{"experiments", "experiment_tags", "runs", "tags", "params", "metrics", "latest_metrics", "journal", "journal_state"} {
				a, b := dumpTable(t, p.DB(), table), dumpTable(t, r.DB(), table)
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("table %s differs on the replica:\nprimary %v\nreplica %v", table, a, b)
				}
			}
		})
	}
}

func runCreateChange(runID, name string) *sqlstore.Change {
	return &sqlstore.Change{Op: "run.create", Key: runID, Payload: map[string]any{
		"run_id": runID, "experiment_id": "0", "name": name, "user_id": "u", "start_time": 1,
		"artifact_uri": "mlflow-artifacts:/0/" + runID + "/artifacts",
	}}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// dumpTable returns every row of table as a string, sorted.
func dumpTable(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT * FROM ` + table)
	must(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	must(t, err)
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		must(t, rows.Scan(ptrs...))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		out = append(out, fmt.Sprint(vals...))
	}
	must(t, rows.Err())
	sort.Strings(out)
	return out
}

// TestGroupCommitCancelWhileQueued: a write whose caller gives up while it
// waits for a group returns the context's error and is never written; the
// writes around it are. OnCommit sees every committed entry once, in
// sequence order.
func TestGroupCommitCancelWhileQueued(t *testing.T) {
	for name, p := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var mu sync.Mutex
			var seen []int64
			p.OnCommit(func(e tandem.Entry) {
				mu.Lock()
				seen = append(seen, e.Seq)
				mu.Unlock()
			})
			head, err := p.Head(ctx)
			must(t, err)
			release, leading := make(chan struct{}), make(chan struct{})
			done := make(chan error, 3)
			go func() {
				_, err := p.Mutate(ctx, func(context.Context, *sqlstore.Tx) (*sqlstore.Change, error) {
					close(leading)
					<-release
					return runCreateChange("c0ffee00000000000000000000000000", "first"), nil
				})
				done <- err
			}()
			<-leading
			cctx, cancel := context.WithCancel(ctx)
			go func() {
				_, err := p.Mutate(cctx, func(context.Context, *sqlstore.Tx) (*sqlstore.Change, error) {
					return runCreateChange("dead0000000000000000000000000000", "cancelled"), nil
				})
				done <- err
			}()
			waitFor(t, func() bool { return sqlstore.GroupQueued(p) == 1 }, "queued write")
			go func() {
				_, err := p.Mutate(ctx, func(context.Context, *sqlstore.Tx) (*sqlstore.Change, error) {
					return runCreateChange("beef0000000000000000000000000000", "last"), nil
				})
				done <- err
			}()
			waitFor(t, func() bool { return sqlstore.GroupQueued(p) == 2 }, "second queued write")
			cancel()
			close(release)
			var errs []error
			for i := 0; i < 3; i++ {
				errs = append(errs, <-done)
			}
			cancelled := 0
			for _, err := range errs {
				switch {
				case err == nil:
				case errors.Is(err, context.Canceled):
					cancelled++
				default:
					t.Fatal(err)
				}
			}
			if cancelled != 1 {
				t.Fatalf("errors %v: want exactly one cancellation", errs)
			}
			if _, err := p.GetRun(ctx, "dead0000000000000000000000000000"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("cancelled write: GetRun err = %v", err)
			}
			for _, id := range []string{"c0ffee00000000000000000000000000", "beef0000000000000000000000000000"} {
				_, err := p.GetRun(ctx, id)
				must(t, err)
			}
			js, err := p.ReadJournal(ctx, head.Seq, 100)
			must(t, err)
			mu.Lock()
			defer mu.Unlock()
			if len(js) != 2 || len(seen) != 2 || seen[0] != head.Seq+1 || seen[1] != head.Seq+2 {
				t.Fatalf("journal %d entries, OnCommit saw %v after %d", len(js), seen, head.Seq)
			}
		})
	}
}

package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

func openStores(t *testing.T) map[string]*sqlstore.Store {
	t.Helper()
	out := map[string]*sqlstore.Store{}
	for _, b := range storetest.MetadataURLs(t) {
		s, err := sqlstore.Open(context.Background(), b.URL, sqlstore.Options{})
		if err != nil {
			t.Fatalf("%s: %v", b.Name, err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.EnsureDefaultExperiment(context.Background()); err != nil {
			t.Fatal(err)
		}
		out[b.Name] = s
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if tandem.ErrorCode(err) != code {
		t.Fatalf("err = %v; want code %s", err, code)
	}
}

func TestTrackingLifecycle(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			// Bootstrap is idempotent and makes "0"/"Default".
			must(t, s.EnsureDefaultExperiment(ctx))
			def, err := s.GetExperiment(ctx, "0")
			must(t, err)
			if def.Name != "Default" || def.ArtifactLocation != "mlflow-artifacts:/0" {
				t.Fatalf("default experiment = %+v", def)
			}
			id, err := s.CreateExperiment(ctx, "exp", "", []tandem.Tag{{Key: "a", Value: "1"}})
			must(t, err)
			if id != "1" {
				t.Fatalf("first experiment id = %q; want 1", id)
			}
			id2, err := s.CreateExperiment(ctx, "exp2", "s3://b/x", nil)
			must(t, err)
			if id2 != "2" {
				t.Fatalf("second experiment id = %q", id2)
			}
			_, err = s.CreateExperiment(ctx, "exp", "", nil)
			wantCode(t, err, tandem.EEXISTS)
			_, err = s.GetExperiment(ctx, "99")
			wantCode(t, err, tandem.ENOTFOUND)

			runID, err := s.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: id, UserID: "u", StartTime: 10})
			must(t, err)
			run, err := s.GetRun(ctx, runID)
			must(t, err)
			if run.Info.ArtifactURI != "mlflow-artifacts:/1/"+runID+"/artifacts" || run.Info.RunName == "" || run.Info.Status != "RUNNING" {
				t.Fatalf("run info = %+v", run.Info)
			}
			r2, err := s.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: id2, RunName: "n"})
			must(t, err)
			run2, _ := s.GetRun(ctx, r2)
			if run2.Info.ArtifactURI != "s3://b/x/"+r2+"/artifacts" {
				t.Fatalf("artifact uri = %s", run2.Info.ArtifactURI)
			}

			ms := []tandem.Metric{{Key: "loss", Value: 3, Timestamp: 1, Step: 0}, {Key: "loss", Value: 1, Timestamp: 3, Step: 2}, {Key: "loss", Value: 2, Timestamp: 2, Step: 1}, {Key: "n", Value: math.NaN(), Timestamp: 1}}
			must(t, s.LogBatch(ctx, runID, ms, []tandem.Param{{Key: "lr", Value: "0.1"}}, []tandem.Tag{{Key: "t", Value: "a"}, {Key: "t", Value: "b"}}))
			// Same param value again is fine; another value is EINVALID; tags: last write wins.
			must(t, s.LogBatch(ctx, runID, nil, []tandem.Param{{Key: "lr", Value: "0.1"}}, nil))
			head, _ := s.Head(ctx)
			wantCode(t, s.LogBatch(ctx, runID, []tandem.Metric{{Key: "x", Value: 1}}, []tandem.Param{{Key: "lr", Value: "0.2"}}, nil), tandem.EINVALID)
			if h, _ := s.Head(ctx); h != head {
				t.Fatalf("a rejected batch journalled something: %v -> %v", head, h)
			}
			wantCode(t, s.LogBatch(ctx, runID, nil, []tandem.Param{{Key: "a", Value: "1"}, {Key: "a", Value: "1"}}, nil), tandem.EINVALID)
			wantCode(t, s.LogBatch(ctx, runID, []tandem.Metric{{Key: "../x", Value: 1}}, nil, nil), tandem.EINVALID)
			wantCode(t, s.LogBatch(ctx, runID, make([]tandem.Metric, 1001), nil, nil), tandem.EINVALID)
			wantCode(t, s.LogBatch(ctx, "nope", []tandem.Metric{{Key: "x"}}, nil, nil), tandem.ENOTFOUND)

			run, err = s.GetRun(ctx, runID)
			must(t, err)
			latest := map[string]tandem.Metric{}
			for _, m := range run.Metrics {
				latest[m.Key] = m
			}
			if latest["loss"].Value != 1 || latest["loss"].Step != 2 || !math.IsNaN(latest["n"].Value) {
				t.Fatalf("latest metrics = %+v", run.Metrics)
			}
			if !reflect.DeepEqual(run.Params, []tandem.Param{{Key: "lr", Value: "0.1"}}) {
				t.Fatalf("params = %+v", run.Params)
			}
			tags := map[string]string{}
			for _, tg := range run.Tags {
				tags[tg.Key] = tg.Value
			}
			if tags["t"] != "b" || tags["mlflow.runName"] != run.Info.RunName {
				t.Fatalf("tags = %v", tags)
			}
			hist, next, err := s.MetricHistory(ctx, runID, "loss", 2, "")
			must(t, err)
			if len(hist) != 2 || hist[0].Step != 0 || hist[1].Step != 1 || next == "" {
				t.Fatalf("history page 1 = %+v next=%q", hist, next)
			}
			hist, next, err = s.MetricHistory(ctx, runID, "loss", 2, next)
			must(t, err)
			if len(hist) != 1 || hist[0].Step != 2 || next != "" {
				t.Fatalf("history page 2 = %+v next=%q", hist, next)
			}
			_, _, err = s.MetricHistory(ctx, runID, "loss", 2, "garbage!")
			wantCode(t, err, tandem.EINVALID)

			// Rename runs through update and the mlflow.runName tag alike.
			st, end, nm := "FINISHED", int64(99), "renamed"
			must(t, s.UpdateRun(ctx, runID, &st, &end, &nm))
			run, _ = s.GetRun(ctx, runID)
			if run.Info.RunName != "renamed" || run.Info.Status != "FINISHED" || run.Info.EndTime == nil || *run.Info.EndTime != 99 {
				t.Fatalf("updated info = %+v", run.Info)
			}
			must(t, s.LogBatch(ctx, runID, nil, nil, []tandem.Tag{{Key: "mlflow.runName", Value: "viaTag"}}))
			run, _ = s.GetRun(ctx, runID)
			if run.Info.RunName != "viaTag" {
				t.Fatalf("run name after tag = %q", run.Info.RunName)
			}
			bad := "BOGUS"
			wantCode(t, s.UpdateRun(ctx, runID, &bad, nil, nil), tandem.EINVALID)

			must(t, s.DeleteTag(ctx, runID, "t"))
			wantCode(t, s.DeleteTag(ctx, runID, "t"), tandem.ENOTFOUND)

			// Deleted runs refuse writes with INVALID_PARAMETER_VALUE, as MLflow.
			must(t, s.DeleteRun(ctx, runID))
			wantCode(t, s.LogBatch(ctx, runID, []tandem.Metric{{Key: "x", Value: 1}}, nil, nil), tandem.EINVALID)
			must(t, s.RestoreRun(ctx, runID))
			must(t, s.LogBatch(ctx, runID, []tandem.Metric{{Key: "x", Value: 1}}, nil, nil))

			// Experiments: tags, rename, delete (cascades to runs), restore.
			must(t, s.SetExperimentTag(ctx, id, "b", "2"))
			must(t, s.DeleteExperimentTag(ctx, id, "a"))
			wantCode(t, s.DeleteExperimentTag(ctx, id, "a"), tandem.ENOTFOUND)
			wantCode(t, s.RenameExperiment(ctx, id, "exp2"), tandem.EEXISTS)
			must(t, s.RenameExperiment(ctx, id, "exp1"))
			must(t, s.DeleteExperiment(ctx, id))
			wantCode(t, s.DeleteExperiment(ctx, id), tandem.ENOTFOUND)
			run, _ = s.GetRun(ctx, runID)
			if run.Info.LifecycleStage != "deleted" {
				t.Fatalf("run of a deleted experiment is %s", run.Info.LifecycleStage)
			}
			_, err = s.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: id})
			wantCode(t, err, tandem.EINVALID)
			wantCode(t, s.SetExperimentTag(ctx, id, "c", "3"), tandem.EINVALID)
			wantCode(t, s.RenameExperiment(ctx, id, "x"), tandem.EINVALIDSTATE)
			must(t, s.RestoreExperiment(ctx, id))
			e, _ := s.GetExperimentByName(ctx, "exp1")
			if e == nil || len(e.Tags) != 1 || e.Tags[0].Key != "b" {
				t.Fatalf("experiment = %+v", e)
			}
			run, _ = s.GetRun(ctx, runID)
			if run.Info.LifecycleStage != "active" {
				t.Fatal("restore did not restore the runs")
			}

			// Inputs and outputs.
			dsi := tandem.DatasetInput{Tags: []tandem.Tag{{Key: "mlflow.data.context", Value: "train"}},
				Dataset: tandem.Dataset{Name: "d", Digest: "abc", SourceType: "local", Source: "{}"}}
			must(t, s.LogInputs(ctx, runID, []tandem.DatasetInput{dsi, dsi}, []tandem.ModelIO{{ModelID: "m-1"}}))
			must(t, s.LogInputs(ctx, runID, []tandem.DatasetInput{dsi}, nil))
			step := int64(3)
			must(t, s.LogOutputs(ctx, runID, []tandem.ModelIO{{ModelID: "m-2", Step: &step}}))
			run, _ = s.GetRun(ctx, runID)
			if len(run.Inputs) != 1 || run.Inputs[0].Dataset.Digest != "abc" || len(run.Inputs[0].Tags) != 1 ||
				len(run.ModelIn) != 1 || len(run.Outputs) != 1 || *run.Outputs[0].Step != 3 {
				t.Fatalf("inputs/outputs = %+v %+v %+v", run.Inputs, run.ModelIn, run.Outputs)
			}
			wantCode(t, s.LogInputs(ctx, runID, []tandem.DatasetInput{{Dataset: tandem.Dataset{Name: "d"}}}, nil), tandem.EINVALID)

			// Log model appends to the history tag.
			must(t, s.LogModel(ctx, runID, `{"artifact_path":"m","flavors":{},"utc_time_created":"x","run_id":"`+runID+`"}`))
			must(t, s.LogModel(ctx, runID, `{"artifact_path":"m2","flavors":{},"utc_time_created":"x","run_id":"`+runID+`"}`))
			run, _ = s.GetRun(ctx, runID)
			for _, tg := range run.Tags {
				if tg.Key == tandem.TagLogModelHistory {
					var h []map[string]any
					must(t, json.Unmarshal([]byte(tg.Value), &h))
					if len(h) != 2 || h[1]["artifact_path"] != "m2" {
						t.Fatalf("history = %s", tg.Value)
					}
				}
			}
			wantCode(t, s.LogModel(ctx, runID, `{"artifact_path":"m"}`), tandem.EINVALID)
		})
	}
}

// TestTrackingReplay applies a primary's journal to a fresh store and
// checks both end in the same state: the appliers are deterministic.
func TestTrackingReplay(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			id, err := s.CreateExperiment(ctx, "e", "", []tandem.Tag{{Key: "k", Value: "v"}})
			must(t, err)
			var runs []string
			for i := 0; i < 3; i++ {
				r, err := s.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: id, StartTime: int64(i)})
				must(t, err)
				runs = append(runs, r)
				must(t, s.LogBatch(ctx, r, []tandem.Metric{{Key: "m", Value: float64(i), Step: int64(i)}, {Key: "m", Value: math.Inf(1), Step: 9}, {Key: "nan", Value: math.NaN()}, {Key: "neg", Value: math.Inf(-1)}}, []tandem.Param{{Key: "p", Value: fmt.Sprint(i)}}, []tandem.Tag{{Key: "t", Value: "x"}}))
			}
			must(t, s.LogInputs(ctx, runs[0], []tandem.DatasetInput{{Dataset: tandem.Dataset{Name: "d", Digest: "1", SourceType: "s", Source: "x"}}}, nil))
			must(t, s.DeleteRun(ctx, runs[1]))
			must(t, s.DeleteTag(ctx, runs[2], "t"))
			must(t, s.SetExperimentTag(ctx, id, "k", "w"))

			replica, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
			must(t, err)
			defer replica.Close()
			es, err := s.ReadJournal(ctx, 0, 1000)
			must(t, err)
			for _, e := range es {
				if _, err := replica.Apply(ctx, e); err != nil {
					t.Fatalf("apply %s: %v", e.Op, err)
				}
			}
			for _, r := range runs {
				a, err := s.GetRun(ctx, r)
				must(t, err)
				b, err := replica.GetRun(ctx, r)
				must(t, err)
				ja, _ := json.Marshal(fmt.Sprintf("%+v", a))
				jb, _ := json.Marshal(fmt.Sprintf("%+v", b))
				if string(ja) != string(jb) {
					t.Fatalf("replica differs:\n%s\n%s", ja, jb)
				}
			}
			ea, _ := s.GetExperiment(ctx, id)
			eb, _ := replica.GetExperiment(ctx, id)
			if !reflect.DeepEqual(ea, eb) {
				t.Fatalf("experiment differs: %+v %+v", ea, eb)
			}
		})
	}
}

// TestSearchRunsLarge checks that searching 10k runs with a filter and an
// order_by stays fast (it must use indexes and load only one page).
func TestSearchRunsLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			id, err := s.CreateExperiment(ctx, "big", "", nil)
			must(t, err)
			// Rows are bulk-loaded straight into the tables: this test is
			// about reads.
			tx, err := s.DB().BeginTx(ctx, nil)
			must(t, err)
			ph := func(q string) string {
				if s.Dialect() != sqlstore.Postgres {
					return q
				}
				out, n := "", 0
				for _, c := range q {
					if c == '?' {
						n++
						out += fmt.Sprintf("$%d", n)
					} else {
						out += string(c)
					}
				}
				return out
			}
			const n = 10000
			for i := 0; i < n; i += 250 {
				qr, qm, qp := "INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, artifact_uri, lifecycle_stage) VALUES ", "INSERT INTO latest_metrics (run_id, key, step, timestamp, value, is_nan) VALUES ", "INSERT INTO params (run_id, key, value) VALUES "
				var ar, am, ap []any
				for j := i; j < i+250; j++ {
					if j > i {
						qr, qm, qp = qr+", ", qm+", ", qp+", "
					}
					qr += "(?, ?, ?, '', 'FINISHED', ?, '', 'active')"
					qm += "(?, 'acc', 0, 0, ?, 0)"
					qp += "(?, 'fold', ?)"
					rid := fmt.Sprintf("run%05d", j)
					ar = append(ar, rid, id, fmt.Sprintf("r%d", j), int64(j))
					am = append(am, rid, float64(j%1000)/1000)
					ap = append(ap, rid, fmt.Sprint(j%10))
				}
				for _, q := range []struct {
					q string
					a []any
				}{{qr, ar}, {qm, am}, {qp, ap}} {
					if _, err := tx.ExecContext(ctx, ph(q.q), q.a...); err != nil {
						t.Fatal(err)
					}
				}
			}
			must(t, tx.Commit())
			start := time.Now()
			runs, next, err := s.SearchRuns(ctx, sqlstore.SearchRunsInput{ExperimentIDs: []string{id},
				Filter: "metrics.acc > 0.5 AND params.fold = '3'", OrderBy: []string{"metrics.acc DESC"}, MaxResults: 100})
			must(t, err)
			took := time.Since(start)
			if len(runs) != 100 || next == "" {
				t.Fatalf("got %d runs, next %q", len(runs), next)
			}
			if runs[0].Metrics[0].Value != 0.993 {
				t.Fatalf("first run acc = %v", runs[0].Metrics[0].Value)
			}
			start = time.Now()
			all, _, err := s.SearchRuns(ctx, sqlstore.SearchRunsInput{ExperimentIDs: []string{id}, MaxResults: 1000, PageToken: next})
			must(t, err)
			if len(all) != 1000 || all[0].Info.StartTime != n-101 {
				t.Fatalf("page of default order: %d runs, first start %d", len(all), all[0].Info.StartTime)
			}
			took2 := time.Since(start)
			t.Logf("filtered+ordered search: %v; 1000-run page: %v", took, took2)
			if took > 3*time.Second || took2 > 5*time.Second {
				t.Fatalf("search too slow: %v, %v", took, took2)
			}
		})
	}
}

type closedGate struct{}

func (closedGate) WriteEpoch(context.Context) (int64, error) {
	return 0, tandem.Errorf(tandem.EUNAVAILABLE, "not the primary")
}

// TestDefaultExperimentOnSecondary: a region that may not write skips the
// bootstrap instead of failing; the Default experiment then arrives
// through the journal.
func TestDefaultExperimentOnSecondary(t *testing.T) {
	ctx := context.Background()
	sec, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{Gate: closedGate{}})
	must(t, err)
	defer sec.Close()
	must(t, sec.EnsureDefaultExperiment(ctx))
	if h, _ := sec.Head(ctx); h.Seq != 0 {
		t.Fatalf("secondary journalled %v", h)
	}
	prim, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
	must(t, err)
	defer prim.Close()
	must(t, prim.EnsureDefaultExperiment(ctx))
	es, err := prim.ReadJournal(ctx, 0, 10)
	must(t, err)
	for _, e := range es {
		if _, err := sec.Apply(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if e, err := sec.GetExperiment(ctx, "0"); err != nil || e.Name != "Default" {
		t.Fatalf("secondary default experiment: %v %v", e, err)
	}
}

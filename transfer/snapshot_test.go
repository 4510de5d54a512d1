package transfer_test

import (
	"context"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/transfer"
	"github.com/tandemml/tandem/transfer/bundle"
)

// TestExportIsOneSnapshot: a writer creates runs and logs metric points
// while an export runs; the bundle holds exactly the writes at or before
// the journal position its manifest records, none after.
func TestExportIsOneSnapshot(t *testing.T) {
	for _, be := range storetest.MetadataURLs(t) {
		t.Run(be.Name, func(t *testing.T) {
			ctx := t.Context()
			w := newWorkspace(t, be.URL)
			st := w.Store
			exp, err := st.CreateExperiment(ctx, "snap", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			// Some runs to export before the writer starts.
			for i := 0; i < 20; i++ {
				id, err := st.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: exp, UserID: "u", StartTime: int64(i)})
				if err != nil {
					t.Fatal(err)
				}
				if err := st.LogBatch(ctx, id, []tandem.Metric{{Key: "m", Value: 0, Step: 0}}, nil, nil); err != nil {
					t.Fatal(err)
				}
			}

			// The only writer: after each write the journal head is that
			// write's position, so it knows what the store held at any
			// position.
			type write struct {
				seq    int64
				run    string
				points int // the run's points after this write
			}
			var mu sync.Mutex
			var writes []write
			points := map[string]int{}
			wctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				var run string
				for i := 0; wctx.Err() == nil; i++ {
					if i%5 == 0 {
						id, err := st.CreateRun(wctx, tandem.CreateRunInput{ExperimentID: exp, UserID: "w", StartTime: int64(1000 + i)})
						if err != nil {
							done <- err
							return
						}
						run = id
					} else if err := st.LogBatch(wctx, run, []tandem.Metric{{Key: "m", Value: float64(i), Step: int64(i)}}, nil, nil); err != nil {
						done <- err
						return
					} else {
						points[run]++
					}
					head, err := st.Head(wctx)
					if err != nil {
						done <- err
						return
					}
					mu.Lock()
					writes = append(writes, write{head.Seq, run, points[run]})
					mu.Unlock()
					time.Sleep(time.Millisecond)
				}
				done <- nil
			}()
			// Let the writer get going, then export slowly (a pause after
			// each run) so that writes land in the middle of the export.
			for {
				mu.Lock()
				n := len(writes)
				mu.Unlock()
				if n >= 5 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			path := filepath.Join(t.TempDir(), "snap.tar")
			ex := w.exporter()
			meta, err := ex.Meta(ctx)
			if err != nil {
				t.Fatal(err)
			}
			bw, err := bundle.Create(path, meta)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ex.Export(ctx, bw, transfer.Selection{Experiments: []string{exp}}, func(transfer.ExportStats) { time.Sleep(10 * time.Millisecond) }); err != nil {
				t.Fatal(err)
			}
			if err := bw.Close(); err != nil {
				t.Fatal(err)
			}
			stop()
			if err := <-done; err != nil && wctx.Err() == nil {
				t.Fatal(err)
			}

			r, err := bundle.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			pos := r.Manifest().Position
			if pos == nil {
				t.Fatal("manifest has no position")
			}
			// What the store held at pos: the 20 first runs, and the
			// writer's runs and points at or before it.
			want := map[string]int{}
			after := 0
			for _, wr := range writes {
				if wr.seq <= pos.Seq {
					want[wr.run] = wr.points
				} else {
					after++
				}
			}
			if after == 0 {
				t.Fatal("no write landed during the export: the test proves nothing")
			}
			got := map[string]int{}
			err = r.Walk(ctx, func(it bundle.Item, body io.Reader) error {
				if it.Kind != bundle.KindRun {
					return nil
				}
				var run bundle.Run
				if err := bundle.Decode(body, &run); err != nil {
					return err
				}
				got[run.RunID] = len(run.Metrics)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want)+20 {
				t.Errorf("bundle at position %d holds %d runs, the store held %d then", pos.Seq, len(got), len(want)+20)
			}
			for run, n := range want {
				if got[run] != n {
					t.Errorf("run %s: %d points in the bundle, %d at position %d", run, got[run], n, pos.Seq)
				}
			}
			t.Logf("position %d: %d runs; %d writes during or after the export", pos.Seq, len(got), after)
		})
	}
}

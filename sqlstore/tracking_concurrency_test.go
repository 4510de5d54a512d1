package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tandemml/tandem"
)

// TestTrackingConcurrentWrites logs to one run and creates experiments from
// several goroutines: every write lands, ids stay unique and increasing.
func TestTrackingConcurrentWrites(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			run, err := s.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: "0"})
			must(t, err)
			const workers, each = 4, 10
			var wg sync.WaitGroup
			errs := make(chan error, workers*each*2)
			ids := make(chan string, workers*each)
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; i < each; i++ {
						errs <- s.LogBatch(ctx, run, []tandem.Metric{{Key: "m", Value: float64(i), Step: int64(w*each + i)}},
							[]tandem.Param{{Key: fmt.Sprintf("p%d", w), Value: "same"}}, []tandem.Tag{{Key: "t", Value: fmt.Sprint(w)}})
						id, err := s.CreateExperiment(ctx, fmt.Sprintf("c-%d-%d", w, i), "", nil)
						errs <- err
						ids <- id
					}
				}(w)
			}
			wg.Wait()
			close(errs)
			close(ids)
			for err := range errs {
				must(t, err)
			}
			seen := map[string]bool{}
			for id := range ids {
				if seen[id] {
					t.Fatalf("experiment id %s allocated twice", id)
				}
				seen[id] = true
			}
			hist, _, err := s.MetricHistory(ctx, run, "m", 0, "")
			must(t, err)
			if len(hist) != workers*each {
				t.Fatalf("%d metric points; want %d", len(hist), workers*each)
			}
			r, _ := s.GetRun(ctx, run)
			if len(r.Metrics) != 1 || r.Metrics[0].Step != workers*each-1 {
				t.Fatalf("latest = %+v", r.Metrics)
			}
		})
	}
}

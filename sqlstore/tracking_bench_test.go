package sqlstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

func benchLogBatch(b *testing.B, n int) {
	for _, be := range storetest.MetadataURLs(b) {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			s, err := sqlstore.Open(ctx, be.URL, sqlstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.EnsureDefaultExperiment(ctx); err != nil {
				b.Fatal(err)
			}
			run, err := s.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: "0"})
			if err != nil {
				b.Fatal(err)
			}
			ms := make([]tandem.Metric, n)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range ms {
					ms[j] = tandem.Metric{Key: fmt.Sprintf("m%d", j%100), Value: float64(i), Timestamp: int64(i), Step: int64(i*n + j)}
				}
				if err := s.LogBatch(ctx, run, ms, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLogBatch10 and BenchmarkLogBatch1000 time one log-batch of 10
// and 1,000 metrics (100 distinct keys) through the journalled write path.
func BenchmarkLogBatch10(b *testing.B)   { benchLogBatch(b, 10) }
func BenchmarkLogBatch1000(b *testing.B) { benchLogBatch(b, 1000) }

func TestLatestMetricsManyKeys(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			run, err := s.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: "0"})
			must(t, err)
			for round := 0; round < 2; round++ {
				ms := make([]tandem.Metric, 1000)
				for j := range ms {
					// Round 1 has a greater step for even keys only.
					step := int64(1)
					if round == 1 && j%2 == 1 {
						step = 0
					}
					ms[j] = tandem.Metric{Key: fmt.Sprintf("k%04d", j), Value: float64(round), Step: step}
				}
				must(t, s.LogBatch(ctx, run, ms, nil, nil))
			}
			r, err := s.GetRun(ctx, run)
			must(t, err)
			if len(r.Metrics) != 1000 {
				t.Fatalf("%d latest metrics", len(r.Metrics))
			}
			for i, m := range r.Metrics {
				// Same step and timestamp: the greater value wins, so round 1 (value 1) wins everywhere
				// except where its step went back to 0.
				want := 1.0
				if i%2 == 1 {
					want = 0
				}
				if m.Value != want {
					t.Fatalf("%s latest = %v; want %v", m.Key, m.Value, want)
				}
			}
		})
	}
}

// BenchmarkCreateRunResponse compares what the create-run handler needs
// for its answer: CreateRun then GetRun (a second, read transaction) with
// CreateRunFull (the run built from the committed change), side by side.
func BenchmarkCreateRunResponse(b *testing.B) {
	for _, be := range storetest.MetadataURLs(b) {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			s, err := sqlstore.Open(ctx, be.URL, sqlstore.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if err := s.EnsureDefaultExperiment(ctx); err != nil {
				b.Fatal(err)
			}
			in := tandem.CreateRunInput{ExperimentID: "0", UserID: "u", Tags: []tandem.Tag{{Key: "mlflow.user", Value: "u"}, {Key: "mlflow.source.name", Value: "train.py"}}}
			b.Run("create+get", func(b *testing.B) {
				for b.Loop() {
					id, err := s.CreateRun(ctx, in)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := s.GetRun(ctx, id); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("create-full", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.CreateRunFull(ctx, in); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

package mlflowapi_test

// In-process benchmarks of the operations issue 2 lists, over HTTP against
// one tandem region on SQLite + a folder (httptest). They share their calls
// with the load generator (bench/loadgen), which measures the same
// operations against any server:
//
//	go test ./mlflowapi -run '^$' -bench . -benchtime 20x
//
// Setup (the 10k runs to search, the 100k-point history, the 100 MiB
// artifact to download) is outside the timed loop. p50/p99 are reported as
// extra metrics.

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemml/tandem/bench/loadgen"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/storetest"
)

type benchEnv struct {
	c   *loadgen.Client
	exp string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	ctx := context.Background()
	r, err := region.Open(ctx, region.Config{MetadataURL: storetest.SQLiteURL(b), ArtifactsURL: storetest.FileURL(b),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	srv := httptest.NewServer(r.Handler())
	b.Cleanup(srv.Close)
	c := loadgen.NewClient(srv.URL, 8)
	exp, err := c.CreateExperiment(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return &benchEnv{c: c, exp: exp}
}

// latencies records per-operation durations and reports p50/p99.
type latencies []time.Duration

func (l *latencies) time(f func() error) error {
	t := time.Now()
	err := f()
	*l = append(*l, time.Since(t))
	return err
}

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(l[min(len(l)-1, len(l)*99/100)].Microseconds()), "p99-µs")
}

func (e *benchEnv) run(b *testing.B) loadgen.Run {
	run, err := e.c.CreateRun(context.Background(), e.exp, time.Now().UnixMilli())
	if err != nil {
		b.Fatal(err)
	}
	return run
}

// fill runs op(i) for i in [0,n) over 8 goroutines (setup, not timed).
func fill(b *testing.B, n int, op func(i int) error) {
	b.Helper()
	var next atomic.Int64
	errc := make(chan error, 8)
	for range 8 {
		go func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					errc <- nil
					return
				}
				if err := op(i); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
}

// eachTimed runs op(1), op(2), ... in b's loop, timing each.
func eachTimed(b *testing.B, op func(i int) error) {
	var lat latencies
	i := 0
	for b.Loop() {
		i++
		if err := lat.time(func() error { return op(i) }); err != nil {
			b.Fatal(err)
		}
	}
	lat.report(b)
}

func BenchmarkCreateRun(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	eachTimed(b, func(i int) error { _, err := e.c.CreateRun(ctx, e.exp, int64(i)); return err })
}

func BenchmarkLogBatch(b *testing.B) {
	for _, size := range []int{10, 1000} {
		b.Run(fmt.Sprintf("metrics=%d", size), func(b *testing.B) {
			e := newBenchEnv(b)
			ctx := context.Background()
			run := e.run(b)
			var lat latencies
			i := 0
			for b.Loop() {
				pts := loadgen.Points("m", i*size, size)
				i++
				if err := lat.time(func() error { return e.c.LogBatch(ctx, run.ID, pts) }); err != nil {
					b.Fatal(err)
				}
			}
			lat.report(b)
		})
	}
}

func BenchmarkSearchRuns10k(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	const n = 10_000
	fill(b, n, func(i int) error { _, err := e.c.CreateRun(ctx, e.exp, int64(i)); return err })
	var lat latencies
	i := 0
	for b.Loop() {
		i++
		err := lat.time(func() error {
			if i%2 == 0 {
				got, _, err := e.c.SearchRuns(ctx, e.exp, "", "", 1000, "")
				if err == nil && got != 1000 {
					err = fmt.Errorf("got %d runs", got)
				}
				return err
			}
			_, _, err := e.c.SearchRuns(ctx, e.exp, fmt.Sprintf("attributes.start_time >= %d", n/2), "attributes.start_time ASC", 100, "")
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	lat.report(b)
}

func BenchmarkMetricHistory100k(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	run := e.run(b)
	const n = 100_000
	fill(b, n/1000, func(i int) error { return e.c.LogBatch(ctx, run.ID, loadgen.Points("curve", i*1000, 1000)) })
	var lat latencies
	for b.Loop() {
		err := lat.time(func() error {
			got, err := e.c.MetricHistory(ctx, run.ID, "curve")
			if err == nil && got != n {
				err = fmt.Errorf("got %d points", got)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	lat.report(b)
}

const artifactBytes = 100 << 20

func BenchmarkArtifactUpload100MiB(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	run := e.run(b)
	b.SetBytes(artifactBytes)
	var lat latencies
	i := 0
	for b.Loop() {
		i++
		path := loadgen.ArtifactPath(run, fmt.Sprintf("up-%d.bin", i))
		if err := lat.time(func() error {
			return e.c.Upload(ctx, path, &loadgen.PatternReader{N: artifactBytes}, artifactBytes)
		}); err != nil {
			b.Fatal(err)
		}
	}
	lat.report(b)
}

func BenchmarkArtifactDownload100MiB(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	run := e.run(b)
	path := loadgen.ArtifactPath(run, "down.bin")
	if err := e.c.Upload(ctx, path, &loadgen.PatternReader{N: artifactBytes}, artifactBytes); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(artifactBytes)
	var lat latencies
	for b.Loop() {
		if err := lat.time(func() error {
			n, err := e.c.Download(ctx, path)
			if err == nil && n != artifactBytes {
				err = fmt.Errorf("got %d bytes", n)
			}
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	lat.report(b)
}

// BenchmarkSearchTraces2k: a page of the 100 newest of 2,000 traces (10
// spans each, ingested over OTLP), filtered on their status, as
// mlflow.search_traces asks.
func BenchmarkSearchTraces2k(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	fill(b, 2000, func(i int) error { return e.c.LogSpans(ctx, e.exp, loadgen.OTLPTrace(uint64(i+1)*1_000_000)) })
	var lat latencies
	for b.Loop() {
		err := lat.time(func() error {
			got, err := e.c.SearchTraces(ctx, e.exp, 100)
			if err == nil && got != 100 {
				err = fmt.Errorf("got %d traces", got)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	lat.report(b)
}

// BenchmarkTraceIngest sends one OTLP request of one 10-span trace per
// operation, as the stock client's exporter does (bench/traces measures
// the same beside the stock server).
func BenchmarkTraceIngest(b *testing.B) {
	e := newBenchEnv(b)
	ctx := context.Background()
	eachTimed(b, func(i int) error { return e.c.LogSpans(ctx, e.exp, loadgen.OTLPTrace(uint64(i)*1_000_000)) })
}

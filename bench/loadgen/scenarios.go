package loadgen

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config sizes a load run. Zero values take the defaults of issue 2's
// benchmark list.
type Config struct {
	Concurrency   int      // parallel callers (default 8)
	Ops           int      // operations per timed scenario (default 500)
	SearchRuns    int      // runs in the search experiment (default 10,000)
	HistoryPoints int      // points in the metric history (default 100,000)
	ArtifactMiB   int      // size of the uploaded artifact (default 100)
	Scenarios     []string // which scenarios (default all); see Names
	// Experiment, when set, is an existing experiment the scenarios run in
	// instead of a new one (search-traces then searches the traces already
	// there, such as a large set loaded beforehand).
	Experiment string
	Progress   io.Writer
}

// Names lists the scenarios in the order they run.
var Names = []string{"create-run", "log-batch-10", "log-batch-1000", "search-runs", "metric-history", "artifact-upload", "artifact-download", "trace-ingest", "search-traces", "graphql-run-page"}

func (c *Config) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Ops <= 0 {
		c.Ops = 500
	}
	if c.SearchRuns <= 0 {
		c.SearchRuns = 10_000
	}
	if c.HistoryPoints <= 0 {
		c.HistoryPoints = 100_000
	}
	if c.ArtifactMiB <= 0 {
		c.ArtifactMiB = 100
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = Names
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// Result is one scenario's measurements.
type Result struct {
	Name     string
	Ops      int
	Errors   int
	Elapsed  time.Duration
	P50, P99 time.Duration
	Bytes    int64  // payload moved (artifacts), for MiB/s
	Note     string // what one operation is
	FirstErr error
}

// OpsPerSec is the throughput in operations a second.
func (r Result) OpsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// MiBPerSec is the payload throughput, or 0 for scenarios without payload.
func (r Result) MiBPerSec() float64 {
	if r.Elapsed <= 0 || r.Bytes == 0 {
		return 0
	}
	return float64(r.Bytes) / (1 << 20) / r.Elapsed.Seconds()
}

func (r Result) String() string {
	s := fmt.Sprintf("%-18s %7d ops %4d err %9.1f ops/s  p50 %9s  p99 %9s", r.Name, r.Ops, r.Errors,
		r.OpsPerSec(), r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond))
	if r.Bytes > 0 {
		s += fmt.Sprintf("  %8.1f MiB/s", r.MiBPerSec())
	}
	if r.Note != "" {
		s += "  (" + r.Note + ")"
	}
	return s
}

// timed runs op n times over conc workers and measures each call.
func timed(ctx context.Context, name string, n, conc int, op func(ctx context.Context, i int) error) Result {
	lat := make([]time.Duration, n)
	var next, errs atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				err := op(ctx, i)
				lat[i] = time.Since(t)
				if err != nil {
					errs.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	wg.Wait()
	r := Result{Name: name, Ops: n, Errors: int(errs.Load()), Elapsed: time.Since(start), FirstErr: firstErr}
	slices.Sort(lat)
	if n > 0 {
		r.P50 = lat[n/2]
		r.P99 = lat[min(n-1, n*99/100)]
	}
	return r
}

// parallel runs op for i in [0,n) over conc workers and returns the first error.
func parallel(ctx context.Context, n, conc int, op func(ctx context.Context, i int) error) error {
	r := timed(ctx, "", n, conc, op)
	return r.FirstErr
}

// Execute runs the chosen scenarios against the server and returns their results.
// Setup (creating the runs to search, the metric history to read, the
// artifact to download) is not timed.
func Execute(ctx context.Context, c *Client, cfg Config) ([]Result, error) {
	cfg.defaults()
	want := func(name string) bool { return slices.Contains(cfg.Scenarios, name) }
	for _, s := range cfg.Scenarios {
		if !slices.Contains(Names, s) {
			return nil, fmt.Errorf("unknown scenario %q (have %s)", s, strings.Join(Names, ", "))
		}
	}
	stamp := time.Now().UnixNano()
	exp := cfg.Experiment
	if exp == "" {
		var err error
		if exp, err = c.CreateExperiment(ctx, fmt.Sprintf("loadgen-%d", stamp)); err != nil {
			return nil, fmt.Errorf("create experiment: %w", err)
		}
	}
	logf := func(format string, a ...any) { fmt.Fprintf(cfg.Progress, format+"\n", a...) }
	var out []Result
	add := func(r Result) {
		logf("%s", r)
		if r.FirstErr != nil {
			logf("  first error: %v", r.FirstErr)
		}
		out = append(out, r)
	}
	base := time.Now().UnixMilli()

	// runs for the log-batch scenarios
	var runs []Run
	var mu sync.Mutex
	if want("create-run") || want("log-batch-10") || want("log-batch-1000") {
		r := timed(ctx, "create-run", cfg.Ops, cfg.Concurrency, func(ctx context.Context, i int) error {
			run, err := c.CreateRun(ctx, exp, base+int64(i))
			if err == nil {
				mu.Lock()
				runs = append(runs, run)
				mu.Unlock()
			}
			return err
		})
		r.Note = "POST runs/create"
		if want("create-run") {
			add(r)
		}
		if len(runs) == 0 {
			return out, fmt.Errorf("create-run: %w", r.FirstErr)
		}
	}
	for _, size := range []int{10, 1000} {
		name := fmt.Sprintf("log-batch-%d", size)
		if !want(name) {
			continue
		}
		n := cfg.Ops
		if size == 1000 {
			n = max(1, cfg.Ops/10)
		}
		r := timed(ctx, name, n, cfg.Concurrency, func(ctx context.Context, i int) error {
			run := runs[i%len(runs)]
			return c.LogBatch(ctx, run.ID, Points(fmt.Sprintf("m%d", size), (i/len(runs))*size, size))
		})
		r.Note = fmt.Sprintf("%d metrics a call", size)
		add(r)
	}

	if want("search-runs") {
		sexp, err := c.CreateExperiment(ctx, fmt.Sprintf("loadgen-search-%d", stamp))
		if err != nil {
			return out, fmt.Errorf("create search experiment: %w", err)
		}
		logf("setup: creating %d runs to search", cfg.SearchRuns)
		if err := parallel(ctx, cfg.SearchRuns, cfg.Concurrency, func(ctx context.Context, i int) error {
			_, err := c.CreateRun(ctx, sexp, base+int64(i))
			return err
		}); err != nil {
			return out, fmt.Errorf("setup search runs: %w", err)
		}
		n := max(1, cfg.Ops/5)
		r := timed(ctx, "search-runs", n, cfg.Concurrency, func(ctx context.Context, i int) error {
			// alternate: first page of everything, and a filtered ordered page
			if i%2 == 0 {
				_, _, err := c.SearchRuns(ctx, sexp, "", "", 1000, "")
				return err
			}
			_, _, err := c.SearchRuns(ctx, sexp, fmt.Sprintf("attributes.start_time >= %d", base+int64(cfg.SearchRuns/2)),
				"attributes.start_time ASC", 100, "")
			return err
		})
		r.Note = fmt.Sprintf("over %d runs: 1000 newest / 100 filtered+ordered", cfg.SearchRuns)
		add(r)
	}

	if want("metric-history") {
		run, err := c.CreateRun(ctx, exp, base)
		if err != nil {
			return out, fmt.Errorf("setup history run: %w", err)
		}
		logf("setup: logging %d metric points", cfg.HistoryPoints)
		batches := (cfg.HistoryPoints + 999) / 1000
		if err := parallel(ctx, batches, cfg.Concurrency, func(ctx context.Context, i int) error {
			n := min(1000, cfg.HistoryPoints-i*1000)
			return c.LogBatch(ctx, run.ID, Points("curve", i*1000, n))
		}); err != nil {
			return out, fmt.Errorf("setup history: %w", err)
		}
		var got atomic.Int64
		r := timed(ctx, "metric-history", max(1, cfg.Ops/50), min(2, cfg.Concurrency), func(ctx context.Context, i int) error {
			n, err := c.MetricHistory(ctx, run.ID, "curve")
			got.Store(int64(n))
			if err == nil && n != cfg.HistoryPoints {
				err = fmt.Errorf("history has %d points, want %d", n, cfg.HistoryPoints)
			}
			return err
		})
		r.Note = fmt.Sprintf("%d points a read", got.Load())
		add(r)
	}

	if want("artifact-upload") || want("artifact-download") {
		run, err := c.CreateRun(ctx, exp, base)
		if err != nil {
			return out, fmt.Errorf("setup artifact run: %w", err)
		}
		size := int64(cfg.ArtifactMiB) << 20
		path := ArtifactPath(run, "blob.bin")
		r := timed(ctx, "artifact-upload", 1, 1, func(ctx context.Context, i int) error {
			return c.Upload(ctx, path, &PatternReader{N: size}, size)
		})
		r.Bytes = size
		r.Note = fmt.Sprintf("%d MiB PUT", cfg.ArtifactMiB)
		if want("artifact-upload") {
			add(r)
		}
		if r.FirstErr != nil {
			return out, fmt.Errorf("artifact upload: %w", r.FirstErr)
		}
		if want("artifact-download") {
			var got atomic.Int64
			r := timed(ctx, "artifact-download", 3, 1, func(ctx context.Context, i int) error {
				n, err := c.Download(ctx, path)
				got.Add(n)
				if err == nil && n != size {
					err = fmt.Errorf("downloaded %d bytes, want %d", n, size)
				}
				return err
			})
			r.Bytes = got.Load()
			r.Note = fmt.Sprintf("%d MiB GET", cfg.ArtifactMiB)
			add(r)
		}
	}
	if want("trace-ingest") {
		add(traceIngest(ctx, c, exp, cfg, base)) // traces.go
	}
	if want("search-traces") {
		add(searchTraces(ctx, c, exp, cfg)) // traces.go: over the traces trace-ingest wrote
	}
	if want("graphql-run-page") {
		r, err := graphqlRunPage(ctx, c, exp, cfg, base) // graphql.go
		if err != nil {
			return out, err
		}
		add(r)
	}
	return out, nil
}

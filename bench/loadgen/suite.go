package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The suite below is what `go run ./bench compare` drives against several
// servers side by side: each scenario has an untimed Prepare (per server)
// that returns the operation to time, so the comparison can interleave the
// servers scenario by scenario and concurrency by concurrency.

// ErrUnsupported marks a scenario whose endpoint the server does not serve
// (404, 405, 501 or MLflow's ENDPOINT_NOT_FOUND / NOT_IMPLEMENTED); the
// comparison table shows "n/a" for it instead of a failure.
var ErrUnsupported = errors.New("endpoint not served")

// Unsupported reports whether err says the server lacks the endpoint.
func Unsupported(err error) bool {
	if errors.Is(err, ErrUnsupported) {
		return true
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Status {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		// A 404 that names a missing resource (RESOURCE_DOES_NOT_EXIST) is a
		// real failure, not a missing endpoint.
		return !strings.Contains(ae.Body, "RESOURCE_DOES_NOT_EXIST")
	}
	return strings.Contains(ae.Body, "ENDPOINT_NOT_FOUND") || strings.Contains(ae.Body, "NOT_IMPLEMENTED")
}

// Op is one timed operation; i counts operations from 0 within one measurement.
type Op func(ctx context.Context, i int) error

// Scenario is one row of the comparison table.
type Scenario struct {
	Name     string
	Note     string // what one operation is
	Bytes    int64  // payload moved by one operation (artifacts), for MiB/s
	MaxConc  int    // concurrency cap (0 = none); the table notes a cap
	MaxOps   int    // operations cap per measurement (0 = none)
	PointOps int    // metric points (or params) written or read per op, for points/s
	// Prepare does the untimed setup against one server and returns the
	// operation to time. It runs once per server; the Fixture carries what
	// scenarios share (experiment, pool of runs).
	Prepare func(ctx context.Context, c *Client, f *Fixture) (Op, error)
}

// Fixture is per-server state the scenarios share.
type Fixture struct {
	Stamp   string
	ExpID   string
	Pool    []Run // runs for log-batch scenarios
	counter atomic.Int64
}

// NewFixture creates the experiment and the pool of runs on one server.
func NewFixture(ctx context.Context, c *Client, stamp string, pool int) (*Fixture, error) {
	f := &Fixture{Stamp: stamp}
	id, err := c.CreateExperiment(ctx, "bench-"+stamp)
	if err != nil {
		return nil, fmt.Errorf("create experiment: %w", err)
	}
	f.ExpID = id
	base := time.Now().UnixMilli()
	var mu sync.Mutex
	if err := parallel(ctx, pool, 4, func(ctx context.Context, i int) error {
		r, err := c.CreateRun(ctx, id, base+int64(i))
		mu.Lock()
		f.Pool = append(f.Pool, r)
		mu.Unlock()
		return err
	}); err != nil {
		return nil, fmt.Errorf("create run pool: %w", err)
	}
	return f, nil
}

// next returns a number unique within this fixture (across measurements).
func (f *Fixture) next() int64 { return f.counter.Add(1) }

// SuiteConfig sizes the suite.
type SuiteConfig struct {
	HistoryPoints int   // points in the read metric history
	SmallArtifact int64 // bytes
	LargeArtifact int64 // bytes
}

// Suite returns the comparison scenarios (search-runs is separate: see
// SearchScenario and GrowSearch, because its data set grows in steps).
func Suite(cfg SuiteConfig) []Scenario {
	out := []Scenario{
		{Name: "create-run", Note: "POST runs/create with 1 tag",
			Prepare: func(ctx context.Context, c *Client, f *Fixture) (Op, error) {
				base := time.Now().UnixMilli()
				return func(ctx context.Context, i int) error {
					_, err := c.CreateRun(ctx, f.ExpID, base+f.next())
					return err
				}, nil
			}},
		logBatchScenario(10), logBatchScenario(1000),
		{Name: "log-params", Note: "runs/log-batch with 20 new params", PointOps: 20,
			Prepare: func(ctx context.Context, c *Client, f *Fixture) (Op, error) {
				return func(ctx context.Context, i int) error {
					n := f.next()
					run := f.Pool[int(n)%len(f.Pool)]
					ps := make([]map[string]string, 20)
					for j := range ps {
						ps[j] = map[string]string{"key": fmt.Sprintf("p%d_%d", n, j), "value": fmt.Sprintf("v%d", j)}
					}
					return c.Call(ctx, http.MethodPost, "runs/log-batch", map[string]any{"run_id": run.ID, "params": ps}, nil)
				}, nil
			}},
		{Name: "metric-history", Note: fmt.Sprintf("get-history of %d points (pages of 25k)", cfg.HistoryPoints),
			PointOps: cfg.HistoryPoints, MaxOps: 200,
			Prepare: func(ctx context.Context, c *Client, f *Fixture) (Op, error) {
				run, err := c.CreateRun(ctx, f.ExpID, time.Now().UnixMilli())
				if err != nil {
					return nil, err
				}
				batches := (cfg.HistoryPoints + 999) / 1000
				if err := parallel(ctx, batches, 4, func(ctx context.Context, i int) error {
					n := min(1000, cfg.HistoryPoints-i*1000)
					return c.LogBatch(ctx, run.ID, Points("curve", i*1000, n))
				}); err != nil {
					return nil, fmt.Errorf("log history: %w", err)
				}
				return func(ctx context.Context, i int) error {
					n, err := c.MetricHistory(ctx, run.ID, "curve")
					if err == nil && n != cfg.HistoryPoints {
						err = fmt.Errorf("history has %d points, want %d", n, cfg.HistoryPoints)
					}
					return err
				}, nil
			}},
		{Name: "search-experiments", Note: "experiments/search, 100 a page, over 100+ experiments",
			Prepare: func(ctx context.Context, c *Client, f *Fixture) (Op, error) {
				if err := parallel(ctx, 100, 4, func(ctx context.Context, i int) error {
					_, err := c.CreateExperiment(ctx, fmt.Sprintf("bench-%s-e%d", f.Stamp, i))
					return err
				}); err != nil {
					return nil, err
				}
				return func(ctx context.Context, i int) error {
					var out struct {
						Experiments []json.RawMessage `json:"experiments"`
					}
					err := c.Call(ctx, http.MethodPost, "experiments/search", map[string]any{"max_results": 100}, &out)
					if err == nil && len(out.Experiments) == 0 {
						err = errors.New("search-experiments found nothing")
					}
					return err
				}, nil
			}},
		{Name: "registered-model-create", Note: "registered-models/create",
			Prepare: func(ctx context.Context, c *Client, f *Fixture) (Op, error) {
				op := func(ctx context.Context, i int) error {
					return c.Call(ctx, http.MethodPost, "registered-models/create",
						map[string]any{"name": fmt.Sprintf("bench-%s-m%d", f.Stamp, f.next())}, nil)
				}
				return op, op(ctx, 0) // probe: does the server serve the registry?
			}},
		{Name: "model-version-create", Note: "model-versions/create under one model",
			Prepare: func(ctx context.Context, c *Client, f *Fixture) (Op, error) {
				name := fmt.Sprintf("bench-%s-versions", f.Stamp)
				if err := c.Call(ctx, http.MethodPost, "registered-models/create", map[string]any{"name": name}, nil); err != nil {
					return nil, err
				}
				run := f.Pool[0]
				return func(ctx context.Context, i int) error {
					return c.Call(ctx, http.MethodPost, "model-versions/create", map[string]any{
						"name": name, "source": run.ArtifactURI + "/model", "run_id": run.ID}, nil)
				}, nil
			}},
	}
	for _, size := range []int64{cfg.SmallArtifact, cfg.LargeArtifact} {
		if size > 0 {
			out = append(out, artifactScenarios(size)...)
		}
	}
	return out
}

func logBatchScenario(size int) Scenario {
	return Scenario{Name: fmt.Sprintf("log-batch-%d", size), Note: fmt.Sprintf("runs/log-batch with %d metrics", size), PointOps: size,
		Prepare: func(ctx context.Context, c *Client, f *Fixture) (Op, error) {
			key := fmt.Sprintf("m%d", size)
			return func(ctx context.Context, i int) error {
				n := f.next()
				run := f.Pool[int(n)%len(f.Pool)]
				return c.LogBatch(ctx, run.ID, Points(key, int(n)*size, size))
			}, nil
		}}
}

func sizeName(b int64) string {
	if b >= 1<<20 {
		return fmt.Sprintf("%dMiB", b>>20)
	}
	return fmt.Sprintf("%dKiB", b>>10)
}

func artifactScenarios(size int64) []Scenario {
	capConc := 0
	if size > 16<<20 {
		capConc = 8 // 32 parallel 100 MiB uploads would be 3 GiB a server a step
	}
	return []Scenario{
		{Name: "artifact-upload-" + sizeName(size), Note: "PUT through the artifact proxy", Bytes: size, MaxConc: capConc,
			MaxOps: int(max(2, (1<<30)/size)), // at most 1 GiB written a measurement
			Prepare: func(ctx context.Context, c *Client, f *Fixture) (Op, error) {
				run := f.Pool[len(f.Pool)-1]
				op := func(ctx context.Context, i int) error {
					return c.Upload(ctx, ArtifactPath(run, fmt.Sprintf("up-%s-%d.bin", sizeName(size), f.next())), &PatternReader{N: size}, size)
				}
				return op, op(ctx, 0) // probe: does the server proxy artifacts?
			}},
		{Name: "artifact-download-" + sizeName(size), Note: "GET through the artifact proxy", Bytes: size, MaxConc: capConc,
			Prepare: func(ctx context.Context, c *Client, f *Fixture) (Op, error) {
				run := f.Pool[len(f.Pool)-1]
				path := ArtifactPath(run, "down-"+sizeName(size)+".bin")
				if err := c.Upload(ctx, path, &PatternReader{N: size}, size); err != nil {
					return nil, err
				}
				return func(ctx context.Context, i int) error {
					n, err := c.Download(ctx, path)
					if err == nil && n != size {
						err = fmt.Errorf("downloaded %d bytes, want %d", n, size)
					}
					return err
				}, nil
			}},
	}
}

// SearchSet is a growing experiment for search-runs: every run has a
// metric "loss", a param "group" and a tag "kind".
type SearchSet struct {
	ExpID string
	Runs  int
	base  int64
}

// NewSearchSet creates the (empty) search experiment.
func NewSearchSet(ctx context.Context, c *Client, stamp string) (*SearchSet, error) {
	id, err := c.CreateExperiment(ctx, "bench-search-"+stamp)
	if err != nil {
		return nil, fmt.Errorf("create search experiment: %w", err)
	}
	return &SearchSet{ExpID: id, base: 1_700_000_000_000}, nil
}

// GrowSearch adds runs (runs/create + one log-batch each) until the set
// holds n runs.
func (s *SearchSet) Grow(ctx context.Context, c *Client, n, conc int) error {
	from := s.Runs
	if n <= from {
		return nil
	}
	err := parallel(ctx, n-from, conc, func(ctx context.Context, i int) error {
		k := from + i
		var out struct {
			Run struct {
				Info struct {
					RunID string `json:"run_id"`
				} `json:"info"`
			} `json:"run"`
		}
		if err := c.Call(ctx, http.MethodPost, "runs/create", map[string]any{
			"experiment_id": s.ExpID, "start_time": s.base + int64(k), "run_name": fmt.Sprintf("r%d", k),
			"tags": []map[string]string{{"key": "kind", "value": []string{"a", "b"}[k%2]}},
		}, &out); err != nil {
			return err
		}
		loss := float64((k*7919)%1000) / 1000
		return c.Call(ctx, http.MethodPost, "runs/log-batch", map[string]any{
			"run_id":  out.Run.Info.RunID,
			"metrics": []Metric{{Key: "loss", Value: loss, Timestamp: s.base + int64(k), Step: 0}},
			"params":  []map[string]string{{"key": "group", "value": fmt.Sprintf("g%d", k%10)}},
		}, nil)
	})
	if err != nil {
		return fmt.Errorf("grow search set to %d runs: %w", n, err)
	}
	s.Runs = n
	return nil
}

// SearchOp is the timed search: a filter on a metric and a param, ordered
// by the metric, first page of 100.
func (s *SearchSet) SearchOp(c *Client) Op {
	return func(ctx context.Context, i int) error {
		n, _, err := c.SearchRuns(ctx, s.ExpID, "metrics.loss < 0.5 and params.group = 'g3'", "metrics.loss ASC", 100, "")
		if err == nil && n == 0 && s.Runs >= 100 {
			err = errors.New("search-runs matched nothing")
		}
		return err
	}
}

// SearchNote says what SearchOp does.
const SearchNote = "runs/search: metrics.loss < 0.5 and params.group = 'g3', order_by metrics.loss, 100 a page"

// Measure runs op over conc workers until maxOps operations are done or
// dur has passed (whichever first), but at least minOps operations.
func Measure(ctx context.Context, name string, op Op, conc, minOps, maxOps int, dur time.Duration) Result {
	if maxOps <= 0 {
		maxOps = 1 << 30
	}
	minOps = min(minOps, maxOps)
	var next, errs atomic.Int64
	var firstErr error
	var once sync.Once
	lats := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(dur)
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= maxOps || (i >= minOps && time.Now().After(deadline)) {
					return
				}
				t := time.Now()
				err := op(ctx, i)
				lats[w] = append(lats[w], time.Since(t))
				if err != nil {
					errs.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	wg.Wait()
	all := slices.Concat(lats...)
	slices.Sort(all)
	r := Result{Name: name, Ops: len(all), Errors: int(errs.Load()), Elapsed: time.Since(start), FirstErr: firstErr}
	if n := len(all); n > 0 {
		r.P50 = all[n/2]
		r.P99 = all[min(n-1, n*99/100)]
	}
	return r
}

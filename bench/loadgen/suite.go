package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
// metric "loss", a param "group" and a tag "kind" (see SearchSpec). It
// grows either through the API (Grow) or, much faster, by a bulk loader
// that writes SearchSpec rows straight into the server's own tables
// (bench compare --load sql); Runs counts the runs either way.
type SearchSet struct {
	ExpID string
	Runs  int
	// Template is a run the API created in a separate experiment with
	// SearchSpec(0)'s values (NewSearchTemplate): the bulk loader copies
	// its rows, and CheckRun compares a loaded run with it.
	Template *Run
	// TemplateExpID is the template run's experiment.
	TemplateExpID string
}

// SearchBase is the start time of run 0 of every search set (ms).
const SearchBase int64 = 1_700_000_000_000

// SearchRun is the logical content of run k of a search set: the same on
// every server, whichever way it was loaded.
type SearchRun struct {
	Name      string
	StartTime int64 // also the loss metric's timestamp; step 0
	Kind      string
	Group     string
	Loss      float64
}

// SearchSpec returns run k of a search set.
func SearchSpec(k int) SearchRun {
	return SearchRun{Name: fmt.Sprintf("r%d", k), StartTime: SearchBase + int64(k), Kind: []string{"a", "b"}[k%2],
		Group: fmt.Sprintf("g%d", k%10), Loss: float64((k*7919)%1000) / 1000}
}

// NewSearchSet creates the (empty) search experiment.
func NewSearchSet(ctx context.Context, c *Client, stamp string) (*SearchSet, error) {
	id, err := c.CreateExperiment(ctx, "bench-search-"+stamp)
	if err != nil {
		return nil, fmt.Errorf("create search experiment: %w", err)
	}
	return &SearchSet{ExpID: id}, nil
}

// NewSearchTemplate creates, through the API, one run with SearchSpec(0)'s
// content in an experiment of its own (so it is not searched): what the
// server itself writes for such a run is what the bulk loader copies.
func (s *SearchSet) NewSearchTemplate(ctx context.Context, c *Client, stamp string) error {
	id, err := c.CreateExperiment(ctx, "bench-search-template-"+stamp)
	if err != nil {
		return fmt.Errorf("create template experiment: %w", err)
	}
	run, err := s.createRun(ctx, c, id, 0)
	if err != nil {
		return fmt.Errorf("create template run: %w", err)
	}
	s.TemplateExpID, s.Template = id, &run
	return nil
}

func (s *SearchSet) createRun(ctx context.Context, c *Client, expID string, k int) (Run, error) {
	sp := SearchSpec(k)
	var out struct {
		Run struct {
			Info struct {
				RunID       string `json:"run_id"`
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := c.Call(ctx, http.MethodPost, "runs/create", map[string]any{
		"experiment_id": expID, "start_time": sp.StartTime, "run_name": sp.Name,
		"tags": []map[string]string{{"key": "kind", "value": sp.Kind}},
	}, &out); err != nil {
		return Run{}, err
	}
	run := Run{ID: out.Run.Info.RunID, ArtifactURI: out.Run.Info.ArtifactURI}
	return run, c.Call(ctx, http.MethodPost, "runs/log-batch", map[string]any{
		"run_id":  run.ID,
		"metrics": []Metric{{Key: "loss", Value: sp.Loss, Timestamp: sp.StartTime, Step: 0}},
		"params":  []map[string]string{{"key": "group", "value": sp.Group}},
	}, nil)
}

// Grow adds runs through the API (runs/create + one log-batch each) until
// the set holds n runs.
func (s *SearchSet) Grow(ctx context.Context, c *Client, n, conc int) error {
	from := s.Runs
	if n <= from {
		return nil
	}
	err := parallel(ctx, n-from, conc, func(ctx context.Context, i int) error {
		_, err := s.createRun(ctx, c, s.ExpID, from+i)
		return err
	})
	if err != nil {
		return fmt.Errorf("grow search set to %d runs: %w", n, err)
	}
	s.Runs = n
	return nil
}

// SearchFilter and SearchOrder are the timed query.
const (
	SearchFilter = "metrics.loss < 0.5 and params.group = 'g3'"
	SearchOrder  = "metrics.loss ASC"
)

func searchMatch(sp SearchRun) bool { return sp.Loss < 0.5 && sp.Group == "g3" }

// ExpectedFirstPage returns the losses of the first page (max 100) the
// timed query must return over runs 0..n-1, in order.
func ExpectedFirstPage(n, max int) []float64 {
	var out []float64
	for k := range n {
		if sp := SearchSpec(k); searchMatch(sp) {
			out = append(out, sp.Loss)
		}
	}
	slices.Sort(out)
	return out[:min(len(out), max)]
}

// SearchOp is the timed search: a filter on a metric and a param, ordered
// by the metric, first page of 100.
func (s *SearchSet) SearchOp(c *Client) Op {
	return func(ctx context.Context, i int) error {
		n, _, err := c.SearchRuns(ctx, s.ExpID, SearchFilter, SearchOrder, 100, "")
		if err == nil && n == 0 && s.Runs >= 100 {
			err = errors.New("search-runs matched nothing")
		}
		return err
	}
}

// CheckFirstPage runs the timed query once and checks the page against
// ExpectedFirstPage: every server must answer from the same logical data.
func (s *SearchSet) CheckFirstPage(ctx context.Context, c *Client) error {
	var out struct {
		Runs []RunJSON `json:"runs"`
	}
	in := map[string]any{"experiment_ids": []string{s.ExpID}, "max_results": 100, "filter": SearchFilter, "order_by": []string{SearchOrder}}
	if err := c.Call(ctx, http.MethodPost, "runs/search", in, &out); err != nil {
		return err
	}
	want := ExpectedFirstPage(s.Runs, 100)
	if len(out.Runs) != len(want) {
		return fmt.Errorf("first page has %d runs, want %d", len(out.Runs), len(want))
	}
	for i, r := range out.Runs {
		loss, okL := r.Metric("loss")
		if g, _ := r.Param("group"); !okL || g != "g3" || loss != want[i] {
			return fmt.Errorf("first page run %d: loss %v group %q, want loss %v group g3", i, loss, g, want[i])
		}
	}
	return nil
}

// RunJSON is a run as runs/get and runs/search return it.
type RunJSON struct {
	Info map[string]any `json:"info"`
	Data struct {
		Metrics []map[string]any `json:"metrics"`
		Params  []map[string]any `json:"params"`
		Tags    []map[string]any `json:"tags"`
	} `json:"data"`
}

// Metric returns the latest value of metric key.
func (r RunJSON) Metric(key string) (float64, bool) {
	for _, m := range r.Data.Metrics {
		if m["key"] == key {
			v, ok := m["value"].(float64)
			return v, ok
		}
	}
	return 0, false
}

// Param returns the value of param key.
func (r RunJSON) Param(key string) (string, bool) {
	for _, p := range r.Data.Params {
		if p["key"] == key {
			v, ok := p["value"].(string)
			return v, ok
		}
	}
	return "", false
}

// GetRun reads one run as raw JSON.
func (c *Client) GetRun(ctx context.Context, runID string) (map[string]any, error) {
	var out struct {
		Run map[string]any `json:"run"`
	}
	err := c.Call(ctx, http.MethodGet, "runs/get", url.Values{"run_id": {runID}}, &out)
	return out.Run, err
}

// CheckRun compares, through the API, run k of the set (loaded by any
// means) with the template run the API created: apart from the run id, the
// experiment and SearchSpec's values, the server must report the same
// fields. This catches a bulk loader that misses a column or a table the
// server fills for runs created through its API.
func (s *SearchSet) CheckRun(ctx context.Context, c *Client, runID string, k int) error {
	if s.Template == nil {
		return errors.New("no template run")
	}
	tmpl, err := c.GetRun(ctx, s.Template.ID)
	if err != nil {
		return fmt.Errorf("get template run: %w", err)
	}
	got, err := c.GetRun(ctx, runID)
	if err != nil {
		return fmt.Errorf("get run %d: %w", k, err)
	}
	want := normalizeRun(tmpl, s.Template.ID, s.TemplateExpID, SearchSpec(0))
	have := normalizeRun(got, runID, s.ExpID, SearchSpec(k))
	wb, _ := json.Marshal(want)
	hb, _ := json.Marshal(have)
	if string(wb) != string(hb) {
		return fmt.Errorf("run %d differs from the run the API created:\n  api:    %s\n  loaded: %s", k, wb, hb)
	}
	return nil
}

// normalizeRun replaces what differs by design between two runs of a
// search set (id, experiment, SearchSpec values) with placeholders.
func normalizeRun(run map[string]any, runID, expID string, sp SearchRun) any {
	b, _ := json.Marshal(run)
	s := strings.ReplaceAll(string(b), runID, "RUNID")
	var v any
	json.Unmarshal([]byte(s), &v)
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				switch {
				case k == "experiment_id" && e == expID:
					x[k] = "EXPID"
				case k == "artifact_uri":
					if s, ok := e.(string); ok {
						x[k] = strings.Replace(s, "/"+expID+"/RUNID", "/EXPID/RUNID", 1)
					}
				case k == "run_name" && e == sp.Name:
					x[k] = "NAME"
				case k == "start_time" || k == "timestamp":
					if f, ok := e.(float64); ok && int64(f) == sp.StartTime {
						x[k] = "START"
					} else if s, ok := e.(string); ok && s == fmt.Sprint(sp.StartTime) {
						x[k] = "START"
					}
				case k == "value":
					switch {
					case e == sp.Name && x["key"] == "mlflow.runName", e == sp.Kind && x["key"] == "kind", e == sp.Group && x["key"] == "group":
						x[k] = "VALUE"
					case x["key"] == "loss":
						if f, ok := e.(float64); ok && f == sp.Loss {
							x[k] = "VALUE"
						}
					}
				default:
					x[k] = walk(e)
				}
			}
			return x
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
			return x
		}
		return v
	}
	return walk(v)
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

// Package loadgen drives any MLflow-compatible tracking server (tandem or
// the stock `mlflow server`) over its REST API and measures the operations a
// training workload leans on: create-run, log-batch, search-runs,
// get-metric-history and artifact upload/download through the proxy.
//
// It speaks plain HTTP+JSON with the request shapes the stock Python client
// sends, so the numbers are comparable between servers. bench/main.go is the
// command line; mlflowapi/bench_test.go reuses the same calls in-process.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls one server. Base is the server's root URL
// (http://127.0.0.1:5000).
type Client struct {
	Base string
	HTTP *http.Client
}

// NewClient returns a client with a connection pool sized for conc parallel
// callers.
func NewClient(base string, conc int) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = conc * 2
	tr.MaxIdleConnsPerHost = conc * 2
	return &Client{Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Transport: tr, Timeout: 10 * time.Minute}}
}

// APIError is a non-2xx answer.
type APIError struct {
	Status int
	Body   string
}

func (e *APIError) Error() string { return fmt.Sprintf("HTTP %d: %.300s", e.Status, e.Body) }

// Call sends in as JSON (or as the query string for GET) to
// /api/2.0/mlflow/<path> and decodes the answer into out (when not nil).
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	u := c.Base + "/api/2.0/mlflow/" + path
	if strings.HasPrefix(path, "/") { // a full path (the 3.0 API, /graphql)
		u = c.Base + path
	}
	var body io.Reader
	if method == http.MethodGet {
		if q, ok := in.(url.Values); ok && len(q) > 0 {
			u += "?" + q.Encode()
		}
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", method, path, &APIError{Status: resp.StatusCode, Body: string(b)})
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// CreateExperiment creates an experiment and returns its id.
func (c *Client) CreateExperiment(ctx context.Context, name string) (string, error) {
	var out struct {
		ExperimentID string `json:"experiment_id"`
	}
	err := c.Call(ctx, http.MethodPost, "experiments/create", map[string]any{"name": name}, &out)
	return out.ExperimentID, err
}

// Run is what the benchmarks need of a created run.
type Run struct {
	ID          string
	ArtifactURI string
}

// CreateRun creates a run in the experiment with this start time.
func (c *Client) CreateRun(ctx context.Context, expID string, startTime int64) (Run, error) {
	var out struct {
		Run struct {
			Info struct {
				RunID       string `json:"run_id"`
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	err := c.Call(ctx, http.MethodPost, "runs/create", map[string]any{
		"experiment_id": expID, "start_time": startTime,
		"tags": []map[string]string{{"key": "bench", "value": "loadgen"}},
	}, &out)
	return Run{ID: out.Run.Info.RunID, ArtifactURI: out.Run.Info.ArtifactURI}, err
}

// Metric is one metric point.
type Metric struct {
	Key       string  `json:"key"`
	Value     float64 `json:"value"`
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
}

// LogBatch logs metrics (at most 1000, MLflow's limit) to a run.
func (c *Client) LogBatch(ctx context.Context, runID string, metrics []Metric) error {
	return c.Call(ctx, http.MethodPost, "runs/log-batch", map[string]any{"run_id": runID, "metrics": metrics}, nil)
}

// Points returns n metric points of key, steps from..from+n-1.
func Points(key string, from, n int) []Metric {
	out := make([]Metric, n)
	for i := range out {
		s := int64(from + i)
		out[i] = Metric{Key: key, Value: float64(s) * 0.5, Timestamp: 1_700_000_000_000 + s, Step: s}
	}
	return out
}

// SearchRuns returns one page of the experiment's runs matching filter.
func (c *Client) SearchRuns(ctx context.Context, expID, filter, orderBy string, max int, token string) (n int, next string, err error) {
	in := map[string]any{"experiment_ids": []string{expID}, "max_results": max, "filter": filter}
	if orderBy != "" {
		in["order_by"] = []string{orderBy}
	}
	if token != "" {
		in["page_token"] = token
	}
	var out struct {
		Runs          []json.RawMessage `json:"runs"`
		NextPageToken string            `json:"next_page_token"`
	}
	err = c.Call(ctx, http.MethodPost, "runs/search", in, &out)
	return len(out.Runs), out.NextPageToken, err
}

// MetricHistory reads a metric's whole history, following page tokens, and
// returns the number of points.
func (c *Client) MetricHistory(ctx context.Context, runID, key string) (int, error) {
	total, token := 0, ""
	for {
		q := url.Values{"run_id": {runID}, "metric_key": {key}, "max_results": {"25000"}}
		if token != "" {
			q.Set("page_token", token)
		}
		var out struct {
			Metrics       []Metric `json:"metrics"`
			NextPageToken string   `json:"next_page_token"`
		}
		if err := c.Call(ctx, http.MethodGet, "metrics/get-history", q, &out); err != nil {
			return total, err
		}
		total += len(out.Metrics)
		if out.NextPageToken == "" || len(out.Metrics) == 0 {
			return total, nil
		}
		token = out.NextPageToken
	}
}

// ArtifactPath is the proxy path of a file in a run's artifacts, from the
// run's artifact_uri (mlflow-artifacts:/<exp>/<run>/artifacts).
func ArtifactPath(run Run, name string) string {
	p := run.ArtifactURI
	if i := strings.Index(p, "mlflow-artifacts:"); i >= 0 {
		p = p[i+len("mlflow-artifacts:"):]
		if u, err := url.Parse(p); err == nil && u.Host != "" {
			p = u.Path // mlflow-artifacts://host:port/path
		}
	}
	return strings.Trim(p, "/") + "/" + name
}

func (c *Client) artifactURL(path string) string {
	return c.Base + "/api/2.0/mlflow-artifacts/artifacts/" + path
}

// Upload PUTs size bytes from r to the artifact proxy at path.
func (c *Client) Upload(ctx context.Context, path string, r io.Reader, size int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.artifactURL(path), r)
	if err != nil {
		return err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("upload %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("upload %s: %w", path, &APIError{Status: resp.StatusCode, Body: string(b)})
	}
	return nil
}

// Download GETs the artifact at path and returns how many bytes came back.
func (c *Client) Download(ctx context.Context, path string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.artifactURL(path), nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, fmt.Errorf("download %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return 0, fmt.Errorf("download %s: %w", path, &APIError{Status: resp.StatusCode, Body: string(b)})
	}
	return io.Copy(io.Discard, resp.Body)
}

// PatternReader yields n deterministic, poorly compressible bytes without
// holding them in memory.
type PatternReader struct {
	N     int64
	off   int64
	state uint64
}

func (p *PatternReader) Read(b []byte) (int, error) {
	if p.off >= p.N {
		return 0, io.EOF
	}
	if rem := p.N - p.off; int64(len(b)) > rem {
		b = b[:rem]
	}
	if p.state == 0 {
		p.state = 0x9E3779B97F4A7C15
	}
	for i := range b {
		p.state ^= p.state << 13
		p.state ^= p.state >> 7
		p.state ^= p.state << 17
		b[i] = byte(p.state)
	}
	p.off += int64(len(b))
	return len(b), nil
}

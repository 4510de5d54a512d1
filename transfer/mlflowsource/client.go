// Package mlflowsource reads a stock MLflow tracking server through its REST
// API, read-only, and turns what it finds into bundle records: experiments,
// runs with every metric point, params, tags, dataset inputs and artifacts,
// logged models, registered models with their versions, aliases and tags.
// It is the first half of `tandem import --from-mlflow`: the records go into
// a bundle that the importer then verifies and applies.
//
// Only GET requests and the read-only POST search endpoints are sent; the
// source server is never changed.
package mlflowsource

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
)

// Client talks to one MLflow tracking server.
type Client struct {
	base  string // scheme://host[:port][/prefix], no trailing slash
	http  *http.Client
	token string // optional bearer token (MLFLOW_TRACKING_TOKEN); never logged
	// user and password: optional HTTP basic credentials
	// (MLFLOW_TRACKING_USERNAME/PASSWORD); never logged.
	user, password string

	mu    sync.Mutex
	calls map[string]*CallStat // by endpoint path
}

// CallStat counts the requests sent to one endpoint of the source server
// and the wall time they took (summed over concurrent requests).
type CallStat struct {
	Path  string
	Count int64
	Time  time.Duration
}

// Calls returns what was sent so far, most time first: the profile of a
// migration (where reading the source spends its time).
func (c *Client) Calls() []CallStat {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]CallStat, 0, len(c.calls))
	for _, s := range c.calls {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time > out[j].Time })
	return out
}

func (c *Client) record(path string, d time.Duration) {
	if strings.Contains(path, "/logged-models/") {
		path = "/logged-models/{id}/..."
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]*CallStat{}
	}
	s := c.calls[path]
	if s == nil {
		s = &CallStat{Path: path}
		c.calls[path] = s
	}
	s.Count++
	s.Time += d
}

// New returns a client for the MLflow server at baseURL (the same URL one
// gives MLFLOW_TRACKING_URI). hc may be nil.
func New(baseURL string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "MLflow URL %q: want http(s)://host[:port]", baseURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Minute}
	}
	return &Client{base: u.String(), http: hc}, nil
}

// SetToken sets a bearer token sent with every request.
func (c *Client) SetToken(tok string) { c.token = tok }

// SetBasicAuth sets the user and password (HTTP basic, as the MLflow
// basic-auth app wants them) sent with every request.
func (c *Client) SetBasicAuth(user, password string) { c.user, c.password = user, password }

// apiError is MLflow's JSON error body.
type apiError struct {
	Status    int
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("MLflow answered %d %s: %s", e.Status, e.ErrorCode, e.Message)
}

// do sends one request and decodes a JSON answer into out. It retries
// transient failures (connection errors, 429, 5xx) a few times.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	start := time.Now()
	defer func() { c.record(path, time.Since(start)) }()
	resp, err := c.send(ctx, method, path, query, payload)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send returns a 2xx response (the caller closes its body) or an error.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, payload []byte) (*http.Response, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var last error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(attempt*attempt) * 250 * time.Millisecond):
			}
		}
		var rd io.Reader
		if payload != nil {
			rd = bytes.NewReader(payload)
		}
		req, err := http.NewRequestWithContext(ctx, method, u, rd)
		if err != nil {
			return nil, err
		}
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		} else if c.user != "" {
			req.SetBasicAuth(c.user, c.password)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			last = fmt.Errorf("%s %s: %w", method, path, err)
			continue
		}
		if resp.StatusCode/100 == 2 {
			return resp, nil
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		ae := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(b, ae) != nil || ae.Message == "" {
			ae.Message = strings.TrimSpace(string(b))
			if len(ae.Message) > 300 {
				ae.Message = ae.Message[:300] + "..."
			}
		}
		last = fmt.Errorf("%s %s: %w", method, path, ae)
		if resp.StatusCode == 429 || resp.StatusCode >= 500 {
			continue
		}
		code := tandem.EINVALID
		if resp.StatusCode == 404 || ae.ErrorCode == "RESOURCE_DOES_NOT_EXIST" {
			code = tandem.ENOTFOUND
		} else if resp.StatusCode == 401 || resp.StatusCode == 403 {
			code = tandem.EUNAUTHORIZED
		}
		return nil, &tandem.Error{Code: code, Message: fmt.Sprintf("source MLflow server: %s %s: %s", method, path, ae.Message)}
	}
	return nil, tandem.Errorf(tandem.EUNAVAILABLE, "source MLflow server: %v", last)
}

// num is an integer that MLflow may send as a JSON number or a string.
type num int64

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return fmt.Errorf("not an integer: %s", b)
		}
		v = int64(f)
	}
	*n = num(v)
	return nil
}

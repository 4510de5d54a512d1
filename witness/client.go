package witness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tandemml/tandem"
)

// Client talks to a built-in witness (Server) over HTTP. It implements
// tandem.Witness for one lease name (the workspace).
type Client struct {
	base string
	name string
	key  string
	hc   *http.Client
}

// NewClient returns a client for the witness at base (http://host:port),
// for lease name, presenting key. hc nil uses http.DefaultClient (callers
// bound each request with a context). EINVALID for a bad URL or name.
func NewClient(base, name, key string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "witness: bad URL %q (want http://host:port)", base)
	}
	if !leaseName.MatchString(name) {
		return nil, tandem.Errorf(tandem.EINVALID, "witness: bad lease name %q", name)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimSuffix(u.String(), "/"), name: name, key: key, hc: hc}, nil
}

// Get implements tandem.Witness.
func (c *Client) Get(ctx context.Context) (tandem.Lease, error) {
	return c.do(ctx, http.MethodGet, "/v1/leases/"+c.name, nil)
}

// CompareAndSwap implements tandem.Witness.
func (c *Client) CompareAndSwap(ctx context.Context, prev, next tandem.Lease) (tandem.Lease, error) {
	body, _ := json.Marshal(casRequest{Prev: toWire(prev), Next: toWire(next)})
	return c.do(ctx, http.MethodPost, "/v1/leases/"+c.name+"/cas", body)
}

// Close implements tandem.Witness.
func (c *Client) Close() error { return nil }

func (c *Client) do(ctx context.Context, method, path string, body []byte) (tandem.Lease, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return tandem.Lease{}, fmt.Errorf("witness request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return tandem.Lease{}, tandem.Errorf(tandem.EUNAVAILABLE, "witness %s unreachable: %v", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return tandem.Lease{}, tandem.Errorf(tandem.EUNAVAILABLE, "witness %s: reading reply: %v", c.base, err)
	}
	if resp.StatusCode == http.StatusOK {
		var wl wireLease
		if err := json.Unmarshal(b, &wl); err != nil {
			return tandem.Lease{}, tandem.Errorf(tandem.EUNAVAILABLE, "witness %s: bad reply: %v", c.base, err)
		}
		return wl.lease(), nil
	}
	var eb errorBody
	if json.Unmarshal(b, &eb) != nil || eb.Error.Code == "" {
		return tandem.Lease{}, tandem.Errorf(tandem.EUNAVAILABLE, "witness %s: HTTP %d", c.base, resp.StatusCode)
	}
	var cur tandem.Lease
	if eb.Lease != nil {
		cur = eb.Lease.lease()
	}
	code := eb.Error.Code
	if resp.StatusCode >= 500 {
		code = tandem.EUNAVAILABLE
	}
	return cur, &tandem.Error{Code: code, Message: eb.Error.Message}
}

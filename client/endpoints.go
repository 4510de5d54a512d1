package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/serving"
)

const endpointsPath = "/online-endpoints" // under api.Prefix

func endpointPath(name string) string { return endpointsPath + "/" + url.PathEscape(name) }

func deploymentPath(endpoint, name string) string {
	return endpointPath(endpoint) + "/deployments/" + url.PathEscape(name)
}

func withMode(p, mode string) string {
	if mode == "" {
		return p
	}
	return p + "?mode=" + url.QueryEscape(mode)
}

// PutEndpoint creates or replaces an online endpoint; mode "create"
// refuses an existing one (EEXISTS), "update" a missing one (ENOTFOUND).
func (c *Client) PutEndpoint(ctx context.Context, ep tandem.OnlineEndpoint, mode string) (*serving.EndpointResponse, error) {
	body, err := json.Marshal(ep)
	if err != nil {
		return nil, err
	}
	var out serving.EndpointResponse
	return &out, c.do(ctx, "PUT", withMode(endpointPath(ep.Name), mode), body, &out)
}

// GetEndpoint returns an online endpoint (never its keys).
func (c *Client) GetEndpoint(ctx context.Context, name string) (*serving.EndpointResponse, error) {
	var out serving.EndpointResponse
	return &out, c.do(ctx, "GET", endpointPath(name), nil, &out)
}

// ListEndpoints lists the online endpoints.
func (c *Client) ListEndpoints(ctx context.Context) ([]serving.EndpointResponse, error) {
	var out serving.EndpointsResponse
	return out.Endpoints, c.do(ctx, "GET", endpointsPath, nil, &out)
}

// DeleteEndpoint deletes an online endpoint and its deployments.
func (c *Client) DeleteEndpoint(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", endpointPath(name), nil, nil)
}

// EndpointKeys returns an endpoint's two keys (get-credentials).
func (c *Client) EndpointKeys(ctx context.Context, name string) (*tandem.EndpointKeys, error) {
	var out tandem.EndpointKeys
	return &out, c.do(ctx, "POST", endpointPath(name)+"/listKeys", []byte("{}"), &out)
}

// RegenerateEndpointKey replaces the endpoint's "Primary" or "Secondary" key.
func (c *Client) RegenerateEndpointKey(ctx context.Context, name, keyType string) error {
	body, _ := json.Marshal(serving.RegenerateKeysRequest{KeyType: keyType})
	return c.do(ctx, "POST", endpointPath(name)+"/regenerateKeys", body, nil)
}

// PutDeployment creates or replaces a deployment (mode as PutEndpoint).
func (c *Client) PutDeployment(ctx context.Context, d tandem.OnlineDeployment, mode string) (*tandem.OnlineDeployment, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var out tandem.OnlineDeployment
	return &out, c.do(ctx, "PUT", withMode(deploymentPath(d.Endpoint, d.Name), mode), body, &out)
}

// GetDeployment returns one deployment.
func (c *Client) GetDeployment(ctx context.Context, endpoint, name string) (*tandem.OnlineDeployment, error) {
	var out tandem.OnlineDeployment
	return &out, c.do(ctx, "GET", deploymentPath(endpoint, name), nil, &out)
}

// ListDeployments lists an endpoint's deployments.
func (c *Client) ListDeployments(ctx context.Context, endpoint string) ([]*tandem.OnlineDeployment, error) {
	var out serving.DeploymentsResponse
	return out.Deployments, c.do(ctx, "GET", endpointPath(endpoint)+"/deployments", nil, &out)
}

// DeleteDeployment deletes a deployment (refused while it has traffic).
func (c *Client) DeleteDeployment(ctx context.Context, endpoint, name string) error {
	return c.do(ctx, "DELETE", deploymentPath(endpoint, name), nil, nil)
}

// DeploymentStatus returns how the region that answers runs a deployment.
func (c *Client) DeploymentStatus(ctx context.Context, endpoint, name string) (*serving.DeploymentStatus, error) {
	var out serving.DeploymentStatus
	return &out, c.do(ctx, "GET", deploymentPath(endpoint, name)+"/status", nil, &out)
}

// DeploymentLogs returns the last lines of a deployment's processes in the
// region that answers.
func (c *Client) DeploymentLogs(ctx context.Context, endpoint, name string, lines int) (*serving.LogsResponse, error) {
	var out serving.LogsResponse
	return &out, c.do(ctx, "GET", deploymentPath(endpoint, name)+"/logs?lines="+strconv.Itoa(lines), nil, &out)
}

// ScoreResult is a scoring server's answer, passed through.
type ScoreResult struct {
	Status      int
	ContentType string
	Deployment  string // the deployment that answered
	Region      string
	Body        []byte
}

// Score sends body to the endpoint's scoring URL (POST
// /endpoints/NAME/score) in the first region that answers. key is an
// endpoint key; empty: the client's tandem token (aml_token endpoints).
// deployment, when set, bypasses the traffic split. Any answer of the
// region (a 4xx of the scoring server too) is returned, not an error.
func (c *Client) Score(ctx context.Context, name, key, deployment, contentType string, body []byte) (*ScoreResult, error) {
	if contentType == "" {
		contentType = "application/json"
	}
	tok := key
	if tok == "" && c.s.token != nil {
		tok = c.s.token()
	}
	hc := c.s.http
	if hc == nil {
		hc = http.DefaultClient
	}
	var errs []string
	for _, base := range c.cfg.Endpoints {
		u := strings.TrimSuffix(base, "/") + "/endpoints/" + url.PathEscape(name) + "/score"
		req, err := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(body))
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "score: %v", err)
		}
		req.Header.Set("Content-Type", contentType)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if deployment != "" {
			req.Header.Set(serving.DeploymentHeader, deployment)
		}
		resp, err := hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, reachMessage(u, err))
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", u, err))
			continue
		}
		return &ScoreResult{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"),
			Deployment: resp.Header.Get(serving.DeploymentHeader), Region: resp.Header.Get("X-Tandem-Region"), Body: b}, nil
	}
	return nil, &tandem.Error{Code: tandem.EUNAVAILABLE, Message: "no region of workspace " + c.cfg.Workspace + " answered: " + strings.Join(errs, "; ")}
}

// Endpoint returns an online endpoint as the workspace stores it.
func (c *Client) Endpoint(ctx context.Context, name string) (*tandem.OnlineEndpoint, error) {
	r, err := c.GetEndpoint(ctx, name)
	if err != nil {
		return nil, err
	}
	return &r.OnlineEndpoint, nil
}

// Endpoints lists the online endpoints (converge.Reader).
func (c *Client) Endpoints(ctx context.Context) ([]*tandem.OnlineEndpoint, error) {
	rs, err := c.ListEndpoints(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*tandem.OnlineEndpoint, len(rs))
	for i := range rs {
		out[i] = &rs[i].OnlineEndpoint
	}
	return out, nil
}

// Deployments lists every deployment of every online endpoint
// (converge.Reader).
func (c *Client) Deployments(ctx context.Context) ([]*tandem.OnlineDeployment, error) {
	eps, err := c.ListEndpoints(ctx)
	if err != nil {
		return nil, err
	}
	var out []*tandem.OnlineDeployment
	for _, ep := range eps {
		ds, err := c.ListDeployments(ctx, ep.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// SetEndpoint creates or replaces an online endpoint (converge.Writer).
func (c *Client) SetEndpoint(ctx context.Context, ep tandem.OnlineEndpoint) error {
	_, err := c.PutEndpoint(ctx, ep, "")
	return err
}

// SetDeployment creates or replaces a deployment (converge.Writer).
func (c *Client) SetDeployment(ctx context.Context, d tandem.OnlineDeployment) error {
	_, err := c.PutDeployment(ctx, d, "")
	return err
}

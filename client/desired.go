package client

import (
	"context"
	"encoding/json"
	"net/url"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/workspace"
)

// Roles lists the custom and built-in role definitions.
func (c *Client) Roles(ctx context.Context) ([]*tandem.RoleDefinition, error) {
	var out struct {
		Roles []*tandem.RoleDefinition `json:"roles"`
	}
	err := c.do(ctx, "GET", "/roles", nil, &out)
	return out.Roles, err
}

// Assignments lists the role assignments.
func (c *Client) Assignments(ctx context.Context) ([]*tandem.RoleAssignment, error) {
	var out struct {
		Assignments []*tandem.RoleAssignment `json:"role_assignments"`
	}
	err := c.do(ctx, "GET", "/role-assignments", nil, &out)
	return out.Assignments, err
}

// PutRole creates or replaces a custom role.
func (c *Client) PutRole(ctx context.Context, r *tandem.RoleDefinition) error {
	return c.Identity(ctx, "PUT", "/roles/"+url.PathEscape(r.Name), r, nil)
}

// DeleteRole removes a custom role.
func (c *Client) DeleteRole(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/roles/"+url.PathEscape(name), nil, nil)
}

// CreateAssignment grants a role.
func (c *Client) CreateAssignment(ctx context.Context, a *tandem.RoleAssignment) (*tandem.RoleAssignment, error) {
	var out tandem.RoleAssignment
	if err := c.Identity(ctx, "POST", "/role-assignments", a, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAssignment removes a role assignment by id.
func (c *Client) DeleteAssignment(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/role-assignments/"+url.PathEscape(id), nil, nil)
}

// DesiredApplied returns the last applied desired state (a plan.Applied
// as JSON); ENOTFOUND before the first apply.
func (c *Client) DesiredApplied(ctx context.Context) (json.RawMessage, error) {
	var out struct {
		Applied json.RawMessage `json:"applied"`
	}
	if err := c.do(ctx, "GET", "/desired/applied", nil, &out); err != nil {
		return nil, err
	}
	return out.Applied, nil
}

// PutDesiredApplied records the desired state an apply completed.
func (c *Client) PutDesiredApplied(ctx context.Context, doc json.RawMessage) error {
	b, err := json.Marshal(map[string]json.RawMessage{"applied": doc})
	if err != nil {
		return err
	}
	return c.do(ctx, "PUT", "/desired/applied", b, nil)
}

// DesiredDrift is a region's last drift check.
type DesiredDrift struct {
	Region    string            `json:"region"`
	CheckedMS int64             `json:"checked_ms"` // 0: not checked yet
	Applied   bool              `json:"applied"`    // a desired state has been applied
	Drift     []json.RawMessage `json:"drift"`      // plan.Drift objects
	Error     string            `json:"error,omitempty"`
}

// Drift returns the region's last drift check.
func (c *Client) Drift(ctx context.Context) (*DesiredDrift, error) {
	var out DesiredDrift
	if err := c.do(ctx, "GET", "/desired/drift", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RegionClients returns a client for each region of a workspace file, by
// name: each talks to its region only (no fallback to another), over the
// workspace's TLS, with the user's token (TANDEM_TOKEN or
// ~/.tandem/credentials), as plan and apply need.
func RegionClients(ws *workspace.Workspace) (map[string]*Client, error) {
	hc, err := WorkspaceHTTPClient(ws)
	if err != nil {
		return nil, err
	}
	out := map[string]*Client{}
	for _, r := range ws.Regions {
		cfg := Config{Workspace: ws.Name, Endpoints: []string{r.URL}}
		out[r.Name] = &Client{cfg: cfg, s: sender{http: hc, token: bearerEnv(Auth{}, ws.Name)}}
	}
	return out, nil
}

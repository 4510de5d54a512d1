package client

import (
	"context"

	"github.com/tandemml/tandem/api"
)

// Identity calls the identity API (principals, tokens, roles, role
// assignments, audit) at path under /api/tandem/v1: in is sent as JSON
// (nil: no body), the answer decoded into out.
func (c *Client) Identity(ctx context.Context, method, path string, in, out any) error {
	return c.Call(ctx, method, api.Prefix+path, in, out)
}

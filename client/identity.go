package client

import (
	"context"
	"encoding/json"
)

// Identity calls the identity API (principals, tokens, roles, role
// assignments, audit) at path under /api/tandem/v1: in is sent as JSON
// (nil: no body), the answer decoded into out.
func (c *Client) Identity(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = b
	}
	return c.do(ctx, method, path, body, out)
}

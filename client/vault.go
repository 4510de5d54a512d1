package client

import (
	"context"
	"encoding/json"
	"net/url"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/api"
)

// SetSecret stores value as a new version of the key vault secret name and
// returns its metadata (never the value).
func (c *Client) SetSecret(ctx context.Context, name string, value []byte, contentType string, tags map[string]string) (*tandem.Secret, error) {
	body, err := json.Marshal(api.SetSecretRequest{Value: string(value), ContentType: contentType, Tags: tags})
	if err != nil {
		return nil, err
	}
	var out tandem.Secret
	if err := c.do(ctx, "PUT", "/secrets/"+url.PathEscape(name), body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListSecrets lists the newest version of each secret (the soft-deleted
// ones when deleted).
func (c *Client) ListSecrets(ctx context.Context, deleted bool) ([]*tandem.Secret, error) {
	p := "/secrets"
	if deleted {
		p += "?deleted=true"
	}
	var out api.SecretsResponse
	if err := c.do(ctx, "GET", p, nil, &out); err != nil {
		return nil, err
	}
	return out.Secrets, nil
}

// SecretVersions lists every version of a secret, newest first.
func (c *Client) SecretVersions(ctx context.Context, name string) ([]*tandem.Secret, error) {
	var out api.SecretsResponse
	if err := c.do(ctx, "GET", "/secrets/"+url.PathEscape(name)+"/versions", nil, &out); err != nil {
		return nil, err
	}
	return out.Secrets, nil
}

// UpdateSecret enables or disables one version.
func (c *Client) UpdateSecret(ctx context.Context, name, version string, enabled bool) (*tandem.Secret, error) {
	body, _ := json.Marshal(api.UpdateSecretRequest{Enabled: &enabled})
	var out tandem.Secret
	if err := c.do(ctx, "PATCH", "/secrets/"+url.PathEscape(name)+"/versions/"+url.PathEscape(version), body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteSecret soft-deletes a secret; RecoverSecret undoes it;
// PurgeSecret removes a soft-deleted one for good.
func (c *Client) DeleteSecret(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", "/secrets/"+url.PathEscape(name), nil, nil)
}

// RecoverSecret recovers a soft-deleted secret.
func (c *Client) RecoverSecret(ctx context.Context, name string) error {
	return c.do(ctx, "POST", "/secrets/"+url.PathEscape(name)+"/recover", []byte("{}"), nil)
}

// PurgeSecret purges a soft-deleted secret.
func (c *Client) PurgeSecret(ctx context.Context, name string) error {
	return c.do(ctx, "POST", "/secrets/"+url.PathEscape(name)+"/purge", []byte("{}"), nil)
}

// CheckDatastore asks the workspace to open a datastore's credentials
// (server-side) and list its storage with them.
func (c *Client) CheckDatastore(ctx context.Context, name string) (*api.CheckResponse, error) {
	var out api.CheckResponse
	if err := c.do(ctx, "POST", "/datastores/"+url.PathEscape(name)+"/check", []byte("{}"), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

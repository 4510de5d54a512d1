package client

import (
	"context"

	"github.com/tandemml/tandem"
)

// Images is the image sync report of the region the client talks to.
func (c *Client) Images(ctx context.Context) (*tandem.ImagesReport, error) {
	var out tandem.ImagesReport
	if err := c.do(ctx, "GET", "/images", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SyncImages asks the region for an image sync pass now and returns its
// report as it stands.
func (c *Client) SyncImages(ctx context.Context) (*tandem.ImagesReport, error) {
	var out tandem.ImagesReport
	if err := c.do(ctx, "POST", "/images/sync", []byte("{}"), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PerEndpoint returns one client per endpoint of the config, each talking
// to that endpoint only (a region each, for the verbs that ask every
// region).
func (c *Client) PerEndpoint() ([]*Client, error) {
	out := make([]*Client, 0, len(c.cfg.Endpoints))
	for _, e := range c.cfg.Endpoints {
		cfg := c.cfg
		cfg.Endpoints = []string{e}
		x, err := New(cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

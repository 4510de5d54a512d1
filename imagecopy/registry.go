package imagecopy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/tandemml/tandem"
)

// Client talks to OCI registries: credentials from the Docker keychain
// (~/.docker/config.json, credential helpers), plain HTTP for loopback
// and private addresses as go-containerregistry decides, HTTPS otherwise.
type Client struct {
	transport http.RoundTripper
	keychain  authn.Keychain
	jobs      int
}

// Option configures a Client.
type Option func(*Client)

// WithTransport sends every registry request through rt.
func WithTransport(rt http.RoundTripper) Option { return func(c *Client) { c.transport = rt } }

// WithJobs bounds the blobs copied at once (default 4).
func WithJobs(n int) Option { return func(c *Client) { c.jobs = n } }

// New returns a Client.
func New(opts ...Option) *Client {
	c := &Client{transport: http.DefaultTransport, keychain: authn.DefaultKeychain, jobs: 4}
	for _, o := range opts {
		o(c)
	}
	return c
}

func (c *Client) remote(ctx context.Context, extra ...remote.Option) []remote.Option {
	return append([]remote.Option{remote.WithContext(ctx), remote.WithTransport(c.transport),
		remote.WithAuthFromKeychain(c.keychain), remote.WithJobs(c.jobs)}, extra...)
}

func parse(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "image %q: %v", ref, err)
	}
	return r, nil
}

// Resolve returns the digest ref names now (a tag's current manifest or
// index; a digest reference answers its own digest once it is found).
func (c *Client) Resolve(ctx context.Context, ref string) (string, error) {
	r, err := parse(ref)
	if err != nil {
		return "", err
	}
	d, err := remote.Head(r, c.remote(ctx)...)
	if err != nil {
		// Some registries answer HEAD without a digest; GET always has it.
		desc, gerr := remote.Get(r, c.remote(ctx)...)
		if gerr != nil {
			return "", wrap(ref, gerr)
		}
		return desc.Digest.String(), nil
	}
	return d.Digest.String(), nil
}

// Has reports whether ref (repository@digest) is present.
func (c *Client) Has(ctx context.Context, ref string) (bool, error) {
	r, err := parse(ref)
	if err != nil {
		return false, err
	}
	_, err = remote.Head(r, c.remote(ctx)...)
	if err == nil {
		return true, nil
	}
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return false, nil
	}
	return false, wrap(ref, err)
}

// Progress is a copy's bytes: Done of Total (the sum of the blobs and
// manifests to write; blobs already present count as done at once).
type Progress struct{ Done, Total int64 }

// Copy copies src (repository@digest) to dst (repository@digest of the
// same digest): an image with its layers, or an index with every
// platform's image. Blobs the destination has are not sent again, so a
// copy that was interrupted resumes where it stopped. tag, when not
// empty, is set on the copy afterwards. progress, when not nil, is called
// as bytes are written.
func (c *Client) Copy(ctx context.Context, src, dst, tag string, progress func(Progress)) error {
	sref, err := parse(src)
	if err != nil {
		return err
	}
	dref, err := parse(dst)
	if err != nil {
		return err
	}
	desc, err := remote.Get(sref, c.remote(ctx)...)
	if err != nil {
		return wrap(src, err)
	}
	if d, ok := dref.(name.Digest); ok && d.DigestStr() != desc.Digest.String() {
		return tandem.Errorf(tandem.ECONFLICT, "image %s has digest %s, not the %s recorded", src, desc.Digest, d.DigestStr())
	}
	var extra []remote.Option
	done := make(chan struct{})
	var total int64
	if progress != nil {
		ch := make(chan v1.Update, 16)
		extra = append(extra, remote.WithProgress(ch))
		go func() {
			defer close(done)
			for u := range ch {
				if u.Error == nil {
					total = u.Total
					progress(Progress{Done: u.Complete, Total: u.Total})
				}
			}
		}()
	} else {
		close(done)
	}
	var t remote.Taggable
	if desc.MediaType.IsIndex() {
		t, err = desc.ImageIndex()
	} else {
		t, err = desc.Image()
	}
	if err == nil {
		err = remote.Push(dref, t, c.remote(ctx, extra...)...)
	}
	<-done // Push closes the progress channel when it returns
	if err != nil {
		return wrap(dst, err)
	}
	if progress != nil && total > 0 {
		// Blobs the destination had are skipped without an update: the
		// copy is whole now.
		progress(Progress{Done: total, Total: total})
	}
	if tag != "" {
		tref, err := name.NewTag(dref.Context().String() + ":" + tag)
		if err != nil {
			return tandem.Errorf(tandem.EINVALID, "tag %q: %v", tag, err)
		}
		if err := remote.Tag(tref, desc, c.remote(ctx)...); err != nil {
			return wrap(tref.String(), err)
		}
	}
	return nil
}

// wrap maps a registry error to tandem's codes: not found, refused
// credentials, unreachable, or invalid.
func wrap(ref string, err error) error {
	var terr *transport.Error
	var nerr net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return tandem.Errorf(tandem.EUNAVAILABLE, "image %s: %v", ref, err)
	case errors.As(err, &terr):
		switch terr.StatusCode {
		case http.StatusNotFound:
			return tandem.Errorf(tandem.ENOTFOUND, "image %s not found in its registry", ref)
		case http.StatusUnauthorized, http.StatusForbidden:
			return tandem.Errorf(tandem.EFORBIDDEN, "image %s: the registry refused the credentials (%d)", ref, terr.StatusCode)
		}
		if terr.StatusCode >= 500 {
			return tandem.Errorf(tandem.EUNAVAILABLE, "image %s: %v", ref, err)
		}
		return tandem.Errorf(tandem.EINVALID, "image %s: %v", ref, err)
	case errors.As(err, &nerr), strings.Contains(err.Error(), "connection refused"):
		return tandem.Errorf(tandem.EUNAVAILABLE, "image %s: registry unreachable: %v", ref, err)
	}
	return tandem.Errorf(tandem.EUNAVAILABLE, "image %s: %v", ref, err)
}

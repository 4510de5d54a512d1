package imagecopy_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/imagecopy"
	"github.com/tandemml/tandem/registrytest"
)

// counting counts the bytes sent in blob uploads.
type counting struct{ sent atomic.Int64 }

func (c *counting) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && strings.Contains(req.URL.Path, "/blobs/uploads") {
		req.Body = &countBody{ReadCloser: req.Body, n: &c.sent}
	}
	return http.DefaultTransport.RoundTrip(req)
}

type countBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// TestCopyIndexResumes copies a two-platform index between two real
// registries, killed (cancelled) a third of the way, then again: the
// second copy sends only what the first did not, and the copy has the
// source's digest, tag and every platform's image.
func TestCopyIndexResumes(t *testing.T) {
	a, b := registrytest.Start(t), registrytest.Start(t)
	const layer = 1 << 20
	idx := registrytest.Index(t, []string{"linux/amd64", "linux/arm64"}, 3, layer)
	digest := registrytest.Push(t, a.Host+"/ml/train:1", idx)
	ctx := context.Background()

	var first counting
	c := imagecopy.New(imagecopy.WithTransport(&first), imagecopy.WithJobs(1))
	got, err := c.Resolve(ctx, a.Host+"/ml/train:1")
	if err != nil || got != digest {
		t.Fatalf("Resolve = %q, %v; want %s", got, err, digest)
	}
	dst := b.Host + "/ml/train@" + digest
	if ok, err := c.Has(ctx, dst); err != nil || ok {
		t.Fatalf("Has before the copy = %v, %v", ok, err)
	}
	cctx, cancel := context.WithCancel(ctx)
	err = c.Copy(cctx, a.Host+"/ml/train@"+digest, dst, "1", func(p imagecopy.Progress) {
		if p.Done > 2*layer {
			cancel()
		}
	})
	cancel()
	if err == nil {
		t.Fatal("a cancelled copy reported success")
	}
	if ok, _ := c.Has(ctx, dst); ok {
		t.Fatal("the index is present after an interrupted copy")
	}

	var second counting
	c2 := imagecopy.New(imagecopy.WithTransport(&second), imagecopy.WithJobs(1))
	var last imagecopy.Progress
	if err := c2.Copy(ctx, a.Host+"/ml/train@"+digest, dst, "1", func(p imagecopy.Progress) { last = p }); err != nil {
		t.Fatal(err)
	}
	if first.sent.Load() < 2*layer {
		t.Fatalf("first copy sent %d bytes before it was cancelled, want at least two layers", first.sent.Load())
	}
	if s := second.sent.Load(); s > 6*layer-2*layer+layer/2 || s < layer {
		t.Fatalf("the resumed copy sent %d bytes; the first had sent %d of %d: blobs already there must not be sent again", s, first.sent.Load(), 6*layer)
	}
	if last.Done != last.Total || last.Total < 6*layer {
		t.Fatalf("last progress %+v, want done = total, at least the six layers (%d)", last, 6*layer)
	}
	if ok, err := c2.Has(ctx, dst); err != nil || !ok {
		t.Fatalf("Has after the copy = %v, %v", ok, err)
	}
	if d, err := c2.Resolve(ctx, b.Host+"/ml/train:1"); err != nil || d != digest {
		t.Fatalf("the copy's tag resolves to %q, %v; want %s", d, err, digest)
	}
	// Every platform's image is there, layer by layer.
	ref, _ := name.ParseReference(dst)
	ii, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ii.IndexManifest()
	if err != nil || len(m.Manifests) != 2 {
		t.Fatalf("copied index: %v, %d manifests", err, len(m.Manifests))
	}
	for _, d := range m.Manifests {
		img, err := ii.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		ls, err := img.Layers()
		if err != nil || len(ls) != 3 {
			t.Fatalf("%s: %d layers, %v", d.Platform, len(ls), err)
		}
		for _, l := range ls {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, rc) // verified against its digest as it is read
			rc.Close()
			if err != nil || n != layer {
				t.Fatalf("%s: layer read %d bytes, %v", d.Platform, n, err)
			}
		}
	}
}

func TestCopySingleImageAndErrors(t *testing.T) {
	a, b := registrytest.Start(t), registrytest.Start(t)
	img := registrytest.Image(t, 2, 4096)
	digest := registrytest.Push(t, a.Host+"/one:latest", img)
	ctx := context.Background()
	c := imagecopy.New()
	if err := c.Copy(ctx, a.Host+"/one@"+digest, b.Host+"/x/one@"+digest, "", nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Has(ctx, b.Host+"/x/one@"+digest); err != nil || !ok {
		t.Fatalf("Has = %v, %v", ok, err)
	}
	// A digest that is not the source's is refused before anything is written.
	other := "sha256:" + strings.Repeat("ab", 32)
	if err := c.Copy(ctx, a.Host+"/one@"+digest, b.Host+"/y/one@"+other, "", nil); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Fatalf("copy under another digest: %v, want conflict", err)
	}
	if _, err := c.Resolve(ctx, a.Host+"/nothing:1"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("resolve a missing image: %v, want not found", err)
	}
	b.Stop()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := c.Has(tctx, b.Host+"/x/one@"+digest); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("Has on a stopped registry: %v, want unavailable", err)
	}
	if _, err := c.Resolve(ctx, "Not A Reference"); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("resolve a bad reference: %v, want invalid", err)
	}
}

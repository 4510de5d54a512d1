// Package registrytest starts real OCI distribution registries (CNCF
// distribution's `registry`, built from its Go module by scripts/test.sh)
// on loopback for tests, one per region, and pushes real images built
// with go-containerregistry from layers made in the test.
//
// The binary comes from TANDEM_REGISTRY, else the repository's
// .tandem/bin/registry, else `registry` on PATH. Without one, tests skip,
// unless TANDEM_REQUIRE_REGISTRY=1, where they fail.
//
// Only tests import it: nothing in the tandem binary does.
package registrytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tandemml/tandem/testbin"
)

// Registry is one running registry.
type Registry struct {
	Host string // 127.0.0.1:PORT
	Dir  string // its storage
	cmd  *exec.Cmd
}

// Bin returns the registry binary ($TANDEM_REGISTRY, else
// .tandem/bin/registry, which scripts/test.sh builds, else registry on
// PATH), or skips the test (fails it under TANDEM_REQUIRE_REGISTRY=1).
func Bin(t testing.TB) string {
	t.Helper()
	return testbin.Find(t, testbin.Tool{Name: "OCI registry binary", Env: "TANDEM_REGISTRY",
		Repo: []string{".tandem/bin/registry"}, Path: []string{"registry"},
		Require: "TANDEM_REQUIRE_REGISTRY", Hint: "scripts/test.sh builds it"})
}

// Start runs a registry with filesystem storage in a temporary folder on a
// free loopback port, waits until it answers /v2/, and stops it when the
// test ends.
func Start(t testing.TB) *Registry {
	t.Helper()
	bin := Bin(t)
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	conf := filepath.Join(dir, "config.yml")
	body := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "data"), host)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", conf)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &Registry{Host: host, Dir: dir, cmd: cmd}
	t.Cleanup(r.Stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry on %s did not answer /v2/ in 30s: %v\n%s", host, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop kills the registry (a kill in the middle of a copy is what the
// resume tests want); it is idempotent.
func (r *Registry) Stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

// Image builds an image of layers random layers of size bytes each.
func Image(t testing.TB, layers int, size int64) v1.Image {
	t.Helper()
	img := empty.Image
	for i := 0; i < layers; i++ {
		b := make([]byte, size)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		var err error
		img, err = mutate.AppendLayers(img, static.NewLayer(b, types.DockerLayer))
		if err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// Index builds a multi-platform index with one image per platform
// ("linux/amd64", "linux/arm64", ...), each of layers random layers.
func Index(t testing.TB, platforms []string, layers int, size int64) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		os_, arch, _ := strings.Cut(p, "/")
		img := Image(t, layers, size)
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = os_, arch
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: os_, Architecture: arch}}})
	}
	return mutate.AppendManifests(empty.Index, adds...)
}

// Push writes an image or an index to ref (host/repo:tag) and returns its
// digest.
func Push(t testing.TB, ref string, x remote.Taggable) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := remote.Push(r, x, remote.WithContext(ctx)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	var d v1.Hash
	switch v := x.(type) {
	case v1.Image:
		d, err = v.Digest()
	case v1.ImageIndex:
		d, err = v.Digest()
	default:
		t.Fatalf("push %s: %T is neither an image nor an index", ref, x)
	}
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

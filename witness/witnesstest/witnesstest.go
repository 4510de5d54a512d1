// Package witnesstest starts witnesses for tests: a built-in witness on
// loopback, or a real etcd (Debian's etcd-server binary, or the endpoint
// in $TANDEM_TEST_ETCD).
package witnesstest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/testbin"
	"github.com/tandemml/tandem/witness"
)

// HTTP starts a built-in witness server on loopback with a data directory
// in t.TempDir() and returns its URL and key. It stops with the test.
func HTTP(t testing.TB) (url, key string) {
	t.Helper()
	key = "test-witness-key"
	srv, err := witness.NewServer(witness.ServerOptions{Dir: t.TempDir(), Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL, key
}

// Etcd returns the host:port of an etcd for tests: $TANDEM_TEST_ETCD, or a
// fresh etcd process on loopback in a temp dir (killed with the test). It
// skips the test when neither is available, or fails it when
// $TANDEM_REQUIRE_ETCD is set (CI).
func Etcd(t testing.TB) string {
	t.Helper()
	if ep := os.Getenv("TANDEM_TEST_ETCD"); ep != "" {
		return ep
	}
	bin := testbin.Find(t, testbin.Tool{Name: "etcd", Path: []string{"etcd"}, Require: "TANDEM_REQUIRE_ETCD",
		Hint: "install etcd-server, or set TANDEM_TEST_ETCD=host:port"})
	client, peer := freePort(t), freePort(t)
	dir := t.TempDir()
	curl, purl := "http://127.0.0.1:"+client, "http://127.0.0.1:"+peer
	cmd := exec.Command(bin, "--name", "t", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", curl, "--advertise-client-urls", curl,
		"--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
		"--initial-cluster", "t="+purl, "--log-level", "error")
	out, _ := os.Create(filepath.Join(dir, "etcd.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); out.Close() })
	ep := "127.0.0.1:" + client
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		w, err := witness.Open(context.Background(), "etcd://"+ep, witness.Options{Name: "probe"})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err = w.Get(ctx)
			cancel()
			w.Close()
			if err == nil || tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
				return ep
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "etcd.log"))
	t.Fatalf("etcd did not start: %s", b)
	return ""
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

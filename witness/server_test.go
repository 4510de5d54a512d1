package witness

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

const key = "k3y-do-not-log"

// fakeClock is a monotonic clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Duration      { return time.Duration(c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newTestServer(t *testing.T, dir string, clock *fakeClock, logs *bytes.Buffer) (*Server, *Client) {
	t.Helper()
	srv, err := NewServer(ServerOptions{Dir: dir, Key: key, Clock: clock.now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	cl, err := NewClient(hs.URL, "ws1", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return srv, cl
}

func TestServerSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var logs bytes.Buffer
	clock := &fakeClock{}
	_, cl := newTestServer(t, dir, clock, &logs)
	if _, err := cl.CompareAndSwap(ctx, tandem.Lease{}, tandem.Lease{Holder: "a", Epoch: 1, TTL: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	// The sync standby is state too: it survives the restart.
	before, err := cl.CompareAndSwap(ctx, tandem.Lease{Holder: "a", Epoch: 1}, tandem.Lease{Holder: "a", Epoch: 1, Sync: "c", TTL: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Identical renewals raise the revision without writing the file.
	for range 3 {
		if before, err = cl.CompareAndSwap(ctx, before, before); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(9 * time.Second)
	// Restart: the lease keeps its holder and epoch, and is given its full
	// length again from the restart (never shorter than before).
	clock2 := &fakeClock{}
	_, cl2 := newTestServer(t, dir, clock2, &logs)
	l, err := cl2.Get(ctx)
	if err != nil || !l.Same(tandem.Lease{Holder: "a", Epoch: 1}) || l.TTL != 10*time.Second || l.Sync != "c" {
		t.Fatalf("after restart: %v %v", l, err)
	}
	// Revisions never repeat across a restart: a request built on one
	// returned before it (delayed in the network) cannot land.
	if l.Rev <= before.Rev {
		t.Fatalf("revision %d after restart, %d before", l.Rev, before.Rev)
	}
	if _, err := cl2.CompareAndSwap(ctx, before, tandem.Lease{Holder: "a", Epoch: 1, Sync: "b", TTL: time.Second}); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Fatalf("renewal with a revision from before the restart: %v", err)
	}
	// Its epoch is not forgotten: a takeover still needs epoch 2.
	clock2.advance(11 * time.Second)
	if _, err := cl2.CompareAndSwap(ctx, tandem.Lease{}, tandem.Lease{Holder: "b", Epoch: 1, TTL: time.Second}); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Fatalf("fresh-start takeover after restart: %v", err)
	}
	if _, err := cl2.CompareAndSwap(ctx, tandem.Lease{Holder: "a", Epoch: 1}, tandem.Lease{Holder: "b", Epoch: 2, TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	// No temporary files are left behind; the state file is valid JSON.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != stateFile {
		t.Fatalf("data dir holds %v", ents)
	}
	b, _ := os.ReadFile(filepath.Join(dir, stateFile))
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil || doc.Leases["ws1"].Holder != "b" {
		t.Fatalf("state file %s: %v", b, err)
	}
	if strings.Contains(logs.String(), key) {
		t.Fatal("the key appears in the logs")
	}
	if !strings.Contains(logs.String(), "changed hands") {
		t.Fatalf("lease changes not logged: %s", logs.String())
	}
}

func TestServerPersistsOnlyChanges(t *testing.T) {
	ctx := context.Background()
	syncs := 0
	clock := &fakeClock{}
	srv, err := NewServer(ServerOptions{Dir: t.TempDir(), Key: key, Clock: clock.now, Logger: slog.New(slog.DiscardHandler),
		Sync: func(dir string) error { syncs++; return syncDir(dir) }})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	cl, _ := NewClient(hs.URL, "ws1", key, nil)
	a := tandem.Lease{Holder: "a", Epoch: 1, TTL: 10 * time.Second}
	cl.CompareAndSwap(ctx, tandem.Lease{}, a)
	for range 5 {
		if _, err := cl.CompareAndSwap(ctx, a, a); err != nil {
			t.Fatal(err)
		}
	}
	if syncs != 1 {
		t.Fatalf("%d fsyncs for one change and five identical renewals", syncs)
	}
	// Naming a sync standby is a change: written before it is answered.
	a.Sync = "b"
	if l, err := cl.CompareAndSwap(ctx, a, a); err != nil || l.Sync != "b" {
		t.Fatal(l, err)
	}
	if syncs != 2 {
		t.Fatalf("%d fsyncs after the sync standby changed", syncs)
	}
}

func TestServerRejectsBadRequests(t *testing.T) {
	clock := &fakeClock{}
	var logs bytes.Buffer
	srv, cl := newTestServer(t, t.TempDir(), clock, &logs)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	do := func(method, path, auth, body string) (int, errorBody) {
		req, _ := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb errorBody
		json.NewDecoder(resp.Body).Decode(&eb)
		return resp.StatusCode, eb
	}
	for _, tc := range []struct {
		method, path, auth, body string
		status                   int
		code                     string
	}{
		{"GET", "/v1/leases/ws1", "", "", 401, tandem.EUNAUTHORIZED},
		{"GET", "/v1/leases/ws1", "Bearer nope", "", 401, tandem.EUNAUTHORIZED},
		{"GET", "/v1/leases/ws1", "Bearer " + key + "x", "", 401, tandem.EUNAUTHORIZED},
		{"GET", "/v1/leases/..%2Fetc", "Bearer " + key, "", 400, tandem.EINVALID},
		{"POST", "/v1/leases/ws1/cas", "Bearer " + key, "{", 400, tandem.EINVALID},
		{"POST", "/v1/leases/ws1/cas", "Bearer " + key, `{"prev":{},"next":{"holder":"a","epoch":1,"ttl_ms":-5}}`, 400, tandem.EINVALID},
		{"POST", "/v1/leases/ws1/cas", "Bearer " + key, `{"prev":{},"next":{"holder":"a b","epoch":1,"ttl_ms":5}}`, 400, tandem.EINVALID},
		{"POST", "/v1/leases/ws1/cas", "Bearer " + key, `{"prev":{},"next":{"holder":"a","epoch":0,"ttl_ms":5}}`, 400, tandem.EINVALID},
		{"POST", "/v1/leases/ws1/cas", "Bearer " + key, `{"prev":{},"next":{"holder":"a","epoch":1,"ttl_ms":5},"x":1}`, 400, tandem.EINVALID},
	} {
		status, eb := do(tc.method, tc.path, tc.auth, tc.body)
		if status != tc.status || eb.Error.Code != tc.code {
			t.Errorf("%s %s %q: %d %+v, want %d %s", tc.method, tc.path, tc.body, status, eb, tc.status, tc.code)
		}
	}
	// Nothing changed.
	if l, err := cl.Get(context.Background()); err != nil || l != (tandem.Lease{}) {
		t.Fatalf("lease after bad requests: %v %v", l, err)
	}
	// Health needs no key.
	if status, _ := do("GET", "/health", "", ""); status != 200 {
		t.Fatalf("health %d", status)
	}
	// A client with the wrong key gets EUNAUTHORIZED.
	bad, _ := NewClient(hs.URL, "ws1", "wrong", nil)
	if _, err := bad.Get(context.Background()); tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
		t.Fatalf("wrong key: %v", err)
	}
	if strings.Contains(logs.String(), key) {
		t.Fatal("the key appears in the logs")
	}
}

func TestServerNeedsKeyAndValidState(t *testing.T) {
	if _, err := NewServer(ServerOptions{Dir: t.TempDir()}); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("no key: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, stateFile), []byte("{not json"), 0o600)
	if _, err := NewServer(ServerOptions{Dir: dir, Key: "k"}); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("corrupt state: %v", err)
	}
}

func TestClientUnreachable(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL
	hs.Close()
	cl, _ := NewClient(url, "ws1", key, nil)
	if _, err := cl.Get(context.Background()); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{"", "witness", "ftp://x", "http://", "etcd://"} {
		if _, err := Open(ctx, bad, Options{Name: "ws"}); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if w, err := Open(ctx, "mem://", Options{Name: "ws"}); err != nil {
		t.Fatal(err)
	} else if _, ok := w.(*Memory); !ok {
		t.Fatalf("mem:// gave %T", w)
	}
	if w, err := Open(ctx, "http://127.0.0.1:1", Options{Name: "ws", Key: "k"}); err != nil {
		t.Fatal(err)
	} else if _, ok := w.(*Client); !ok {
		t.Fatalf("http:// gave %T", w)
	}
	if s := redact("etcd://u:pw@h:1"); strings.Contains(s, "pw") {
		t.Fatalf("redact %s", s)
	}
}

func TestLoadKey(t *testing.T) {
	f := filepath.Join(t.TempDir(), "key")
	os.WriteFile(f, []byte("  abc\n"), 0o600)
	if k, err := LoadKey(f); err != nil || k != "abc" {
		t.Fatalf("%q %v", k, err)
	}
	t.Setenv("TANDEM_WITNESS_KEY", "fromenv")
	if k, err := LoadKey(""); err != nil || k != "fromenv" {
		t.Fatalf("%q %v", k, err)
	}
	t.Setenv("TANDEM_WITNESS_KEY", "")
	if _, err := LoadKey(""); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatal(err)
	}
	if _, err := LoadKey(filepath.Join(t.TempDir(), "missing")); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatal(err)
	}
}

func FuzzParseCAS(f *testing.F) {
	f.Add(`{"prev":{"holder":"a","epoch":1},"next":{"holder":"a","epoch":1,"ttl_ms":10000}}`)
	f.Add(`{"prev":{},"next":{"holder":"b","epoch":2,"next":"c","ttl_ms":0}}`)
	f.Add(`{"prev":{},"next":{"holder":"","epoch":-1,"ttl_ms":-1}}`)
	f.Add(`[]`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, body string) {
		prev, next, err := parseCAS(strings.NewReader(body))
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("parse error with code %s", tandem.ErrorCode(err))
			}
			return
		}
		if next.TTL < 0 {
			t.Fatalf("negative TTL accepted: %v", next)
		}
		// Whatever parses, the register either applies it by the rules or
		// refuses it with a known code; it never panics.
		var r Register
		_, err = r.CompareAndSwap(0, prev, next)
		if c := tandem.ErrorCode(err); err != nil && c != tandem.EINVALID && c != tandem.ECONFLICT {
			t.Fatalf("swap error code %s", c)
		}
	})
}

// A state file written before lease revisions loads: the lease resumes at
// revision 1, callers that know no revision (zero) are still served, and
// from then on the revision is kept.
func TestServerLoadsStateWithoutRevision(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old := `{"version":1,"leases":{"ws1":{"holder":"a","epoch":3,"sync":"b","ttl_ms":10000}}}`
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	_, cl := newTestServer(t, dir, &fakeClock{}, &logs)
	l, err := cl.Get(ctx)
	if err != nil || !l.Same(tandem.Lease{Holder: "a", Epoch: 3}) || l.Sync != "b" || l.Rev != 1 {
		t.Fatalf("old state loaded as %v %v", l, err)
	}
	n, err := cl.CompareAndSwap(ctx, tandem.Lease{Holder: "a", Epoch: 3}, tandem.Lease{Holder: "a", Epoch: 3, Sync: "c", TTL: time.Second})
	if err != nil || n.Rev != 2 {
		t.Fatalf("renewal without a revision: %v %v", n, err)
	}
	if _, err := cl.CompareAndSwap(ctx, l, tandem.Lease{Holder: "a", Epoch: 3, Sync: "b", TTL: time.Second}); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Fatalf("stale renewal: %v", err)
	}
	_, cl2 := newTestServer(t, dir, &fakeClock{}, &logs)
	if l, err := cl2.Get(ctx); err != nil || l.Rev <= n.Rev || l.Sync != "c" {
		t.Fatalf("after restart: %v %v", l, err)
	}
}

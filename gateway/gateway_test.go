package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRegion is an httptest backend that behaves like a region: it
// reports its role, refuses writes with 503 unless primary, and records
// the writes it applied.
type fakeRegion struct {
	name    string
	srv     *httptest.Server
	primary atomic.Bool
	epoch   atomic.Int64
	mu      sync.Mutex
	applied []string // bodies of applied writes
	keys    []string // their idempotency keys
	reads   atomic.Int32
	hook    func(w http.ResponseWriter, r *http.Request) bool // handles the request itself when it returns true
}

func newFakeRegion(t *testing.T, name string, primary bool, epoch int64) *fakeRegion {
	f := &fakeRegion{name: name}
	f.primary.Store(primary)
	f.epoch.Store(epoch)
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeRegion) role() string {
	if f.primary.Load() {
		return "primary"
	}
	return "secondary"
}

func (f *fakeRegion) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(HeaderRole, f.role())
	if r.URL.Path == StatusPath {
		json.NewEncoder(w).Encode(map[string]any{"region": f.name, "role": f.role(), "epoch": f.epoch.Load(), "writes_allowed": f.primary.Load()})
		return
	}
	if f.hook != nil && f.hook(w, r) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	if isWrite(r) {
		if !f.primary.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error_code":"TEMPORARILY_UNAVAILABLE","message":"not primary"}`))
			return
		}
		f.mu.Lock()
		f.applied = append(f.applied, string(body))
		f.keys = append(f.keys, r.Header.Get(HeaderIdempotencyKey))
		f.mu.Unlock()
	} else {
		f.reads.Add(1)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"region": f.name, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(body)})
}

func (f *fakeRegion) writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.applied...)
}

func startGateway(t *testing.T, cfg Config, regions ...*fakeRegion) (*Gateway, *httptest.Server) {
	t.Helper()
	for _, f := range regions {
		cfg.Regions = append(cfg.Regions, Region{Name: f.name, URL: f.srv.URL})
	}
	if cfg.CheckEvery == 0 {
		cfg.CheckEvery = 50 * time.Millisecond
	}
	if cfg.RetryFor == 0 {
		cfg.RetryFor = 5 * time.Second
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	hs := httptest.NewServer(g)
	t.Cleanup(hs.Close)
	deadline := time.Now().Add(2 * time.Second)
	for g.Status().Primary == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return g, hs
}

func post(t *testing.T, url, body string) (int, map[string]string, http.Header) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

func get(t *testing.T, url string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestRoutesWritesToPrimaryAndReads(t *testing.T) {
	a := newFakeRegion(t, "a", false, 1)
	b := newFakeRegion(t, "b", true, 1)
	c := newFakeRegion(t, "c", false, 1)
	g, hs := startGateway(t, Config{}, a, b, c)
	if st := g.Status(); st.Primary != "b" {
		t.Fatalf("status %+v", st)
	}
	status, m, h := post(t, hs.URL+"/api/2.0/mlflow/runs/create", `{"experiment_id":"0"}`)
	if status != 200 || m["region"] != "b" || h.Get(HeaderRegion) != "b" || m["body"] != `{"experiment_id":"0"}` {
		t.Fatalf("write: %d %v", status, m)
	}
	// Reads go to the primary by default (read-your-writes)...
	status, m = get(t, hs.URL+"/api/2.0/mlflow/runs/get?run_id=x")
	if status != 200 || m["region"] != "b" || m["query"] != "run_id=x" {
		t.Fatalf("read: %d %v", status, m)
	}
	// ...and POST searches are reads.
	if _, m, _ = post(t, hs.URL+"/api/2.0/mlflow/runs/search", `{}`); m["region"] != "b" || len(b.writes()) != 1 {
		t.Fatalf("search: %v, writes %v", m, b.writes())
	}
	// Without a primary, reads still work from a healthy region.
	b.primary.Store(false)
	g.Check(context.Background())
	if status, m = get(t, hs.URL+"/api/2.0/mlflow/experiments/get?experiment_id=0"); status != 200 || m["region"] == "" {
		t.Fatalf("read without primary: %d %v", status, m)
	}
}

func TestSpreadReads(t *testing.T) {
	a := newFakeRegion(t, "a", true, 1)
	b := newFakeRegion(t, "b", false, 1)
	_, hs := startGateway(t, Config{SpreadReads: true}, a, b)
	for range 10 {
		get(t, hs.URL+"/api/2.0/mlflow/experiments/list")
	}
	if a.reads.Load() == 0 || b.reads.Load() == 0 {
		t.Fatalf("reads a=%d b=%d, want both", a.reads.Load(), b.reads.Load())
	}
}

// TestWritesFollowAFailover: clients write continuously while the primary
// moves from a to b; no client sees an error and every write is applied
// exactly once.
func TestWritesFollowAFailover(t *testing.T) {
	a := newFakeRegion(t, "a", true, 1)
	b := newFakeRegion(t, "b", false, 1)
	_, hs := startGateway(t, Config{}, a, b)
	var wg sync.WaitGroup
	var failures atomic.Int32
	const clients, each = 4, 40
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				resp, err := http.Post(hs.URL+"/api/2.0/mlflow/runs/log-metric", "application/json",
					strings.NewReader(fmt.Sprintf(`{"c":%d,"i":%d}`, c, i)))
				if err != nil || resp.StatusCode != 200 {
					failures.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	time.Sleep(60 * time.Millisecond)
	// Failover: a stops being primary (refuses writes), a moment later b
	// becomes primary in epoch 2.
	a.primary.Store(false)
	time.Sleep(150 * time.Millisecond)
	b.epoch.Store(2)
	b.primary.Store(true)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d client-visible failures", failures.Load())
	}
	seen := map[string]int{}
	for _, w := range append(a.writes(), b.writes()...) {
		seen[w]++
	}
	if len(seen) != clients*each {
		t.Fatalf("%d distinct writes applied, want %d", len(seen), clients*each)
	}
	for w, n := range seen {
		if n != 1 {
			t.Fatalf("write %s applied %d times", w, n)
		}
	}
	if len(b.writes()) == 0 {
		t.Fatal("no write reached the new primary")
	}
}

// TestPrimaryKilled: the primary's process is gone (connection refused);
// requests wait for the new primary.
func TestPrimaryKilled(t *testing.T) {
	a := newFakeRegion(t, "a", true, 1)
	b := newFakeRegion(t, "b", false, 1)
	_, hs := startGateway(t, Config{}, a, b)
	a.srv.Close()
	go func() {
		time.Sleep(200 * time.Millisecond)
		b.epoch.Store(2)
		b.primary.Store(true)
	}()
	status, m, _ := post(t, hs.URL+"/api/2.0/mlflow/experiments/create", `{"name":"x"}`)
	if status != 200 || m["region"] != "b" {
		t.Fatalf("after kill: %d %v", status, m)
	}
	if len(b.writes()) != 1 {
		t.Fatalf("b applied %v", b.writes())
	}
}

func TestNoPrimaryGivesMLflowError(t *testing.T) {
	a := newFakeRegion(t, "a", false, 1)
	_, hs := startGateway(t, Config{RetryFor: 300 * time.Millisecond}, a)
	resp, err := http.Post(hs.URL+"/api/2.0/mlflow/runs/create", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]string
	json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != 503 || m["error_code"] != "TEMPORARILY_UNAVAILABLE" || m["message"] == "" {
		t.Fatalf("%d %v", resp.StatusCode, m)
	}
	if len(a.writes()) != 0 {
		t.Fatal("a secondary applied a write")
	}
}

// TestAmbiguousPostNotRetried: the primary dies after reading a POST (it
// may have applied it): the gateway must not send it again elsewhere. (Go's
// transport may resend it on a fresh connection to the same region, which
// it does only because the request carries an idempotency key: the region
// answers such a resend with the first result.)
func TestAmbiguousPostNotRetried(t *testing.T) {
	a := newFakeRegion(t, "a", true, 1)
	b := newFakeRegion(t, "b", true, 0) // would accept too, in an older epoch
	var got atomic.Int32
	var keys sync.Map
	a.hook = func(w http.ResponseWriter, r *http.Request) bool {
		io.ReadAll(r.Body)
		got.Add(1)
		keys.Store(r.Header.Get(HeaderIdempotencyKey), true)
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return true
	}
	_, hs := startGateway(t, Config{}, a, b)
	status, _, _ := post(t, hs.URL+"/api/2.0/mlflow/runs/create", `{}`)
	if status != 503 {
		t.Fatalf("status %d", status)
	}
	nkeys := 0
	keys.Range(func(k, _ any) bool { nkeys++; return k != "" })
	if got.Load() < 1 || nkeys != 1 || len(b.writes()) != 0 {
		t.Fatalf("POST sent %d times to a with %d keys, %d to b", got.Load(), nkeys, len(b.writes()))
	}
	// A GET in the same situation is retried.
	a.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return true
		}
		return false
	}
	b.epoch.Store(5) // b is now the newest primary... but the gateway still prefers it only after a check
	if status, m := get(t, hs.URL+"/api/2.0/mlflow/runs/get?run_id=1"); status != 200 || m["region"] != "b" {
		t.Fatalf("GET retry: %d %v", status, m)
	}
}

func TestLargeUploadStreams(t *testing.T) {
	a := newFakeRegion(t, "a", true, 1)
	_, hs := startGateway(t, Config{MaxRetryBody: 1024}, a)
	big := bytes.Repeat([]byte("x"), 1<<20)
	req, _ := http.NewRequest(http.MethodPut, hs.URL+"/api/2.0/mlflow-artifacts/artifacts/0/r/artifacts/big.bin", bytes.NewReader(big))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(a.writes()) != 1 || len(a.writes()[0]) != len(big) {
		t.Fatalf("%d, %d writes", resp.StatusCode, len(a.writes()))
	}
}

func TestGatewayStatusAndHealth(t *testing.T) {
	a := newFakeRegion(t, "a", true, 3)
	b := newFakeRegion(t, "b", false, 3)
	_, hs := startGateway(t, Config{}, a, b)
	resp, err := http.Get(hs.URL + "/api/tandem/v1/gateway/status")
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Primary != "a" || len(st.Regions) != 2 || !st.Regions[1].Healthy || st.Regions[0].Epoch != 3 {
		t.Fatalf("%+v", st)
	}
	if resp, _ := http.Get(hs.URL + "/health"); resp.StatusCode != 200 {
		t.Fatalf("health %d", resp.StatusCode)
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{{}, {Regions: []Region{{Name: "a", URL: "ftp://x"}}}, {Regions: []Region{{Name: "", URL: "http://x"}}}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if r, err := ParseRegion("eastus=http://127.0.0.1:5000"); err != nil || r.Name != "eastus" || r.URL != "http://127.0.0.1:5000" {
		t.Fatalf("%v %v", r, err)
	}
	if _, err := ParseRegion("nourl"); err == nil {
		t.Fatal("accepted")
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		doc   string
		role  string
		epoch int64
	}{
		{`{"role":"primary","epoch":3,"writes_allowed":true}`, "primary", 3},
		{`{"role":"primary","epoch":3,"writes_allowed":false}`, "primary-fenced", 3},
		{`{"region":"a","role":{"role":"secondary","epoch":4,"primary":"b"},"head":{"epoch":4,"seq":9}}`, "secondary", 4},
		{`{"role":{"role":"primary","epoch":5}}`, "primary", 5},
		{`{}`, "", 0},
	} {
		role, epoch, err := parseStatus(strings.NewReader(tc.doc))
		if err != nil || role != tc.role || epoch != tc.epoch {
			t.Errorf("%s: %q %d %v", tc.doc, role, epoch, err)
		}
	}
	for _, bad := range []string{`{"role":5}`, `{"role":{"role":1}}`, `nope`} {
		if _, _, err := parseStatus(strings.NewReader(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func FuzzParseStatus(f *testing.F) {
	f.Add(`{"role":"primary","epoch":3,"writes_allowed":true}`)
	f.Add(`{"role":{"role":"secondary","epoch":4}}`)
	f.Add(`{"role":null}`)
	f.Fuzz(func(t *testing.T, doc string) {
		// Any document: an answer or an error, never a panic; and the
		// same answer twice (routing must not depend on luck).
		r1, e1, err1 := parseStatus(strings.NewReader(doc))
		r2, e2, err2 := parseStatus(strings.NewReader(doc))
		if r1 != r2 || e1 != e2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("parseStatus is not deterministic on %q", doc)
		}
	})
}

package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/witness"
)

// manualClock is the witness's clock, moved by the test.
type manualClock struct{ now atomic.Int64 }

func (c *manualClock) get() time.Duration  { return time.Duration(c.now.Load()) }
func (c *manualClock) add(d time.Duration) { c.now.Add(int64(d)) }
func newManualClock() (*manualClock, func() time.Duration) {
	c := &manualClock{}
	return c, c.get
}

// TestPausedPrimaryGivenUpAtLeaseExpiry: a write in flight to a primary
// that stopped answering (paused) is answered TEMPORARILY_UNAVAILABLE when
// the witness's lease runs out, while the paused region still holds it;
// the client's retry of the same bytes goes to the new holder with the
// same idempotency key.
func TestPausedPrimaryGivenUpAtLeaseExpiry(t *testing.T) {
	ctx := context.Background()
	clock, now := newManualClock()
	w := witness.NewMemory(now)
	la, err := w.CompareAndSwap(ctx, tandem.Lease{}, tandem.Lease{Holder: "a", Epoch: 1, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	a := newFakeRegion(t, "a", true, 1)
	b := newFakeRegion(t, "b", false, 1)
	arrived := make(chan string, 4)
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	a.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !isWrite(r) {
			return false
		}
		io.ReadAll(r.Body)
		arrived <- r.Header.Get(HeaderIdempotencyKey)
		<-release // paused
		return true
	}
	g, hs := startGateway(t, Config{Witness: w, LeaseTTL: time.Hour, RetryFor: time.Minute}, a, b)
	var mu sync.Mutex
	var events []string
	event := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
	type answer struct {
		status int
		body   map[string]string
		region string
	}
	send := func() answer {
		resp, err := http.Post(hs.URL+"/api/2.0/mlflow/runs/create", "application/json", strings.NewReader(`{"experiment_id":"0"}`))
		if err != nil {
			t.Error(err)
			return answer{}
		}
		defer resp.Body.Close()
		var m map[string]string
		json.NewDecoder(resp.Body).Decode(&m)
		return answer{resp.StatusCode, m, resp.Header.Get(HeaderRegion)}
	}
	first := make(chan answer, 1)
	go func() { ans := send(); event("first answered"); first <- ans }()
	key := <-arrived
	if key == "" {
		t.Fatal("the write reached a without an idempotency key")
	}
	// a holds the lease: the gateway keeps waiting while the witness says so.
	waitUntil(t, func() bool { return g.Status().Lease == "a@1" })
	select {
	case ans := <-first:
		t.Fatalf("answered while a still held its lease: %+v", ans)
	default:
	}
	event("lease expired")
	clock.add(2 * time.Hour)
	ans := <-first
	if ans.status != http.StatusServiceUnavailable || ans.body["error_code"] != "TEMPORARILY_UNAVAILABLE" ||
		!strings.Contains(ans.body["message"], "the lease of a expired") {
		t.Fatalf("in-flight write after the lease ran out: %+v", ans)
	}
	// b takes over; the client's retry goes there, with the same key.
	if _, err := w.CompareAndSwap(ctx, la, tandem.Lease{Holder: "b", Epoch: 2, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	b.primary.Store(true)
	b.epoch.Store(2)
	ans = send()
	event("retry answered by " + ans.region)
	if ans.status != 200 || ans.region != "b" {
		t.Fatalf("retry: %+v", ans)
	}
	b.mu.Lock()
	bkeys := append([]string(nil), b.keys...)
	b.mu.Unlock()
	if len(bkeys) != 1 || bkeys[0] != key {
		t.Fatalf("retry carried keys %v, the first attempt %q", bkeys, key)
	}
	// A different write gets a fresh key.
	if _, m, _ := post(t, hs.URL+"/api/2.0/mlflow/runs/create", `{"experiment_id":"1"}`); m["region"] != "b" {
		t.Fatalf("next write: %v", m)
	}
	b.mu.Lock()
	if len(b.keys) != 2 || b.keys[1] == key || b.keys[1] == "" {
		t.Errorf("keys on b: %v", b.keys)
	}
	b.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(events, ", ") != "lease expired, first answered, retry answered by b" {
		t.Fatalf("events: %v", events)
	}
}

// TestClientKeyKept: a client's own Idempotency-Key is sent as is.
func TestClientKeyKept(t *testing.T) {
	a := newFakeRegion(t, "a", true, 1)
	_, hs := startGateway(t, Config{}, a)
	req, _ := http.NewRequest("POST", hs.URL+"/api/2.0/mlflow/runs/create", strings.NewReader(`{}`))
	req.Header.Set(HeaderIdempotencyKey, "client-key-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	get(t, hs.URL+"/api/2.0/mlflow/runs/get?run_id=1")
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.keys) != 1 || a.keys[0] != "client-key-1" {
		t.Fatalf("keys %v", a.keys)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

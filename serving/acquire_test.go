package serving

import (
	"testing"

	"github.com/tandemml/tandem"
)

// TestAcquire drives the per-instance admission step by step: the ready
// instance with the fewest requests in flight gets the next one, up to
// max_concurrent_requests_per_instance; full (429) and none ready (503)
// are told apart; instances already tried for a request are skipped.
func TestAcquire(t *testing.T) {
	spec := &tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", RequestSettings: tandem.RequestSettings{MaxConcurrentRequestsPerInstance: 2}}
	d := newDeployment(nil, spec)
	a, b, c := &instance{id: 1}, &instance{id: 2}, &instance{id: 3}
	d.insts = []*instance{a, b, c}
	if in, full := d.acquire(nil); in != nil || full {
		t.Fatalf("nothing ready: got %v full=%v, want none (503)", in, full)
	}
	a.ready.Store(true)
	b.ready.Store(true) // c is starting
	var got []int
	for range 4 {
		in, full := d.acquire(nil)
		if in == nil || full {
			t.Fatalf("slot %d refused", len(got))
		}
		got = append(got, in.id)
	}
	// a, then b (fewer in flight), then a, then b: two each, c never.
	if a.inflight.Load() != 2 || b.inflight.Load() != 2 || c.inflight.Load() != 0 {
		t.Fatalf("in flight a=%d b=%d c=%d (order %v)", a.inflight.Load(), b.inflight.Load(), c.inflight.Load(), got)
	}
	if in, full := d.acquire(nil); in != nil || !full {
		t.Fatalf("every ready instance at its limit: got %v full=%v, want full (429)", in, full)
	}
	b.inflight.Add(-1)
	if in, _ := d.acquire(nil); in != b {
		t.Fatalf("a freed slot on b: got %v", in)
	}
	b.inflight.Add(-1)
	// Retrying a request elsewhere: b was tried, a is full.
	if in, full := d.acquire(map[*instance]bool{b: true}); in != nil || !full {
		t.Fatalf("b tried, a full: got %v full=%v", in, full)
	}
	c.ready.Store(true)
	if in, _ := d.acquire(map[*instance]bool{b: true}); in != c {
		t.Fatalf("c ready: got %v", in)
	}
	if !d.healthy() {
		t.Fatal("a deployment with ready instances is not healthy")
	}
}

package witness_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/witness"
	"github.com/tandemml/tandem/witness/witnesstest"
)

// fakeClock is a monotonic clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Duration      { return time.Duration(c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// backend is a witness under test and a way to let time pass for it.
type backend struct {
	w       tandem.Witness
	advance func(time.Duration) // let d pass on the witness's clock
	ttl     time.Duration       // lease length to use (etcd counts whole seconds)
}

func memoryBackend(t *testing.T) backend {
	c := &fakeClock{}
	return backend{w: witness.NewMemory(c.now), advance: c.advance, ttl: 10 * time.Second}
}

func httpBackend(t *testing.T) backend {
	c := &fakeClock{}
	srv, err := witness.NewServer(witness.ServerOptions{Dir: t.TempDir(), Key: "s3cret-key", Clock: c.now, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	cl, err := witness.NewClient(hs.URL, "ws1", "s3cret-key", nil)
	if err != nil {
		t.Fatal(err)
	}
	return backend{w: cl, advance: c.advance, ttl: 10 * time.Second}
}

func etcdBackend(t *testing.T) backend {
	ep := witnesstest.Etcd(t)
	w, err := witness.Open(context.Background(), "etcd://"+ep+"/tandem-test-"+strings.ReplaceAll(t.Name(), "/", "-"), witness.Options{Name: "ws1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return backend{w: w, advance: func(d time.Duration) { time.Sleep(d) }, ttl: 2 * time.Second}
}

func TestContract(t *testing.T) {
	for name, mk := range map[string]func(*testing.T) backend{
		"memory": memoryBackend, "http": httpBackend, "etcd": etcdBackend,
	} {
		t.Run(name, func(t *testing.T) { contract(t, mk(t)) })
	}
}

func contract(t *testing.T, b backend) {
	ctx := context.Background()
	w := b.w
	lease := func(h string, e int64) tandem.Lease { return tandem.Lease{Holder: h, Epoch: e, TTL: b.ttl} }
	id := func(h string, e int64) tandem.Lease { return tandem.Lease{Holder: h, Epoch: e} }
	wantCode := func(what string, err error, code string) {
		t.Helper()
		if tandem.ErrorCode(err) != code {
			t.Fatalf("%s: %v, want %s", what, err, code)
		}
	}
	waitExpired := func() {
		t.Helper()
		for range 100 {
			b.advance(b.ttl / 2)
			if l, err := w.Get(ctx); err == nil && l.Expired() {
				return
			}
		}
		t.Fatal("lease never expired")
	}

	l, err := w.Get(ctx)
	if err != nil || l != (tandem.Lease{}) {
		t.Fatalf("empty witness: %v %v", l, err)
	}
	// First acquisition.
	if l, err = w.CompareAndSwap(ctx, tandem.Lease{}, lease("a", 1)); err != nil || !l.Same(id("a", 1)) {
		t.Fatalf("acquire: %v %v", l, err)
	}
	if l, err = w.Get(ctx); err != nil || !l.Same(id("a", 1)) || l.Expired() || l.TTL > b.ttl {
		t.Fatalf("get after acquire: %v %v", l, err)
	}
	// A second racer from the same observation loses and learns the holder.
	l, err = w.CompareAndSwap(ctx, tandem.Lease{}, lease("b", 1))
	wantCode("racing acquire", err, tandem.ECONFLICT)
	if !l.Same(id("a", 1)) {
		t.Fatalf("conflict returned %v", l)
	}
	// An unexpired lease cannot be taken, even with the right prev.
	_, err = w.CompareAndSwap(ctx, id("a", 1), lease("b", 2))
	wantCode("takeover of a live lease", err, tandem.ECONFLICT)
	_, err = w.CompareAndSwap(ctx, id("a", 1), lease("a", 2))
	wantCode("holder changing epoch of a live lease", err, tandem.ECONFLICT)
	_, err = w.CompareAndSwap(ctx, id("a", 7), lease("a", 7))
	wantCode("renew with a wrong prev", err, tandem.ECONFLICT)
	_, err = w.CompareAndSwap(ctx, id("a", 1), tandem.Lease{Epoch: 1, TTL: b.ttl})
	wantCode("no holder", err, tandem.EINVALID)
	// Renewal.
	if l, err = w.CompareAndSwap(ctx, id("a", 1), lease("a", 1)); err != nil || !l.Same(id("a", 1)) {
		t.Fatalf("renew: %v %v", l, err)
	}
	// Release to b.
	if _, err = w.CompareAndSwap(ctx, id("a", 1), tandem.Lease{Holder: "a", Epoch: 1, Next: "b"}); err != nil {
		t.Fatalf("release: %v", err)
	}
	if l, err = w.Get(ctx); err != nil || !l.Expired() || !l.Same(id("a", 1)) || l.Next != "b" {
		t.Fatalf("after release: %v %v", l, err)
	}
	// An expired lease is taken only with a higher epoch.
	_, err = w.CompareAndSwap(ctx, id("a", 1), lease("b", 1))
	wantCode("takeover without a new epoch", err, tandem.ECONFLICT)
	_, err = w.CompareAndSwap(ctx, id("a", 1), lease("a", 1))
	wantCode("renewing an expired lease", err, tandem.ECONFLICT)
	if l, err = w.CompareAndSwap(ctx, id("a", 1), lease("b", 2)); err != nil || !l.Same(id("b", 2)) {
		t.Fatalf("takeover: %v %v", l, err)
	}
	// The sync standby travels with the lease: set and changed by
	// renewals, returned by CompareAndSwap and Get.
	withSync := func(s string) tandem.Lease { l := lease("b", 2); l.Sync = s; return l }
	if l, err = w.CompareAndSwap(ctx, id("b", 2), withSync("c")); err != nil || l.Sync != "c" {
		t.Fatalf("renew naming a sync standby: %v %v", l, err)
	}
	if l, err = w.Get(ctx); err != nil || l.Sync != "c" {
		t.Fatalf("get after naming a sync standby: %v %v", l, err)
	}
	if l, err = w.CompareAndSwap(ctx, id("b", 2), withSync("a")); err != nil || l.Sync != "a" {
		t.Fatalf("renew changing the sync standby: %v %v", l, err)
	}
	// A stale CAS (older Rev) is refused: a renewal the holder gave up on,
	// delivered after a newer one, cannot write back an older standby.
	cur, err := w.Get(ctx)
	if err != nil || cur.Rev == 0 {
		t.Fatalf("lease without a revision: %v %v", cur, err)
	}
	if l, err = w.CompareAndSwap(ctx, cur, withSync("c")); err != nil || l.Sync != "c" || l.Rev == cur.Rev {
		t.Fatalf("renew with the current revision: %v %v (was %v)", l, err, cur)
	}
	newer := l
	if g, err := w.Get(ctx); err != nil || g.Rev != newer.Rev {
		t.Fatalf("get returned %v %v, want revision %d", g, err, newer.Rev)
	}
	l, err = w.CompareAndSwap(ctx, cur, withSync("a"))
	wantCode("stale renewal", err, tandem.ECONFLICT)
	if l.Sync != "c" || l.Rev != newer.Rev {
		t.Fatalf("stale renewal's conflict returned %v, want %v", l, newer)
	}
	if l, err = w.Get(ctx); err != nil || l.Sync != "c" {
		t.Fatalf("a stale renewal changed the lease: %v %v", l, err)
	}
	if l, err = w.CompareAndSwap(ctx, newer, withSync("a")); err != nil || l.Sync != "a" {
		t.Fatalf("renew with the newer revision: %v %v", l, err)
	}
	// Expiry by time, measured by the witness.
	waitExpired()
	if l, _ = w.Get(ctx); !l.Same(id("b", 2)) || l.Sync != "a" {
		t.Fatalf("expired lease lost its identity or sync standby: %v", l)
	}
	// Many racers for one expired lease: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.CompareAndSwap(ctx, id("b", 2), lease(fmt.Sprintf("r%d", i), 3)); err == nil {
				wins.Add(1)
			} else if tandem.ErrorCode(err) != tandem.ECONFLICT {
				t.Errorf("racer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d racers won the same expired lease", wins.Load())
	}
	if l, _ = w.Get(ctx); l.Epoch != 3 || l.Expired() {
		t.Fatalf("after the race: %v", l)
	}
}

package failover

import (
	"slices"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

func syncMode(cfg *Config) { cfg.Sync = true; cfg.MaxLagOnFailover = -1 }

// nameStandby has primary p name standby s at the witness.
func (c *cluster) nameStandby(p, s string) {
	c.t.Helper()
	if !c.nodes[p].ProposeSync(c.clock(p), s) {
		c.t.Fatalf("%s refused to propose %q", p, s)
	}
	c.step(p)
	if l := c.reg.Lease(c.now); l.Sync != s {
		c.t.Fatalf("lease %s after naming %q", l, s)
	}
}

// The double fault of the chaos suite, step by step: b is cut from a and
// c and falls far behind; c is the sync standby; then a dies. b and c both
// see the lease expire and cannot see each other. b asks the witness
// first at every step: without the sync rule it takes the lease (it sees
// no better candidate) and every write only c acknowledged is lost.
func TestSyncDoubleFaultOnlyNamedStandbyWins(t *testing.T) {
	c := newCluster(t, syncMode, "a", "b", "c")
	c.bootstrap("a", "b", "c")
	c.nameStandby("a", "c")
	// b and c learn nothing of each other: only a's last head (stale).
	c.pos = map[string]tandem.Position{"a": {Epoch: 1, Seq: 500}}
	c.nodes["b"].Local(c.clock("b"), tandem.Position{Epoch: 1, Seq: 100})
	c.nodes["c"].Local(c.clock("c"), tandem.Position{Epoch: 1, Seq: 500})
	c.advance(ttl+ttl/2, "b", "c") // a is dead; b ticks first
	if w := c.writer("b", "c"); w != "c" {
		t.Fatalf("writer %q, want c (the sync standby); lease %s", w, c.reg.Lease(c.now))
	}
	// The new primary names itself until it has a standby of its own.
	if l := c.reg.Lease(c.now); l.Holder != "c" || l.Sync != "c" || l.Epoch != 2 {
		t.Fatalf("lease after the failover %s", l)
	}
}

// When the named standby is gone too, nobody takes the lease
// automatically, however long it stays free; an operator still can (and
// is told what may be lost).
func TestSyncNoAutomaticPromotionWithoutTheStandby(t *testing.T) {
	c := newCluster(t, syncMode, "a", "b", "c")
	c.bootstrap("a", "b", "c")
	c.nameStandby("a", "c")
	c.peers(map[string]tandem.Position{"a": {Epoch: 1, Seq: 50}, "b": {Epoch: 1, Seq: 50}, "c": {Epoch: 1, Seq: 50}}, "a", "b", "c")
	c.advance(10*ttl, "b") // a and c are dead; b is even fully caught up
	if w := c.writer("b"); w != "" {
		t.Fatalf("%s promoted automatically though the lease names c", w)
	}
	if err := c.nodes["b"].Switchover(c.clock("b"), "b", true); err != nil {
		t.Fatal(err)
	}
	c.step("b")
	c.advance(time.Second, "b")
	if w := c.writer("b"); w != "b" {
		t.Fatal("forced promotion did not happen")
	}
	if st := c.actions("b", StartWrites); len(st) != 1 || st[0].Previous != "a" {
		t.Fatalf("b StartWrites %+v", st)
	}
}

// Right after a takeover the lease names the new primary itself: if it
// dies before it named a standby, the old standby chain is broken and no
// other region may take the lease automatically (it may lack writes the
// previous primary acknowledged through the new one).
func TestSyncNewPrimaryWithoutStandbyBlocksOthers(t *testing.T) {
	c := newCluster(t, syncMode, "a", "b", "c")
	c.bootstrap("a", "b", "c")
	c.nameStandby("a", "c")
	c.advance(ttl+ttl/2, "b", "c")
	if w := c.writer("b", "c"); w != "c" {
		t.Fatalf("writer %q, want c", w)
	}
	c.advance(10*ttl, "b") // c dies at once
	if w := c.writer("b"); w != "" {
		t.Fatal("b promoted though the lease names only c")
	}
	// c comes back: it takes its own lease back.
	c.advance(2*ttl, "b", "c")
	if w := c.writer("b", "c"); w != "c" {
		t.Fatalf("writer %q, want c again", w)
	}
}

// A change of standby counts both the old and the new one until the
// witness confirms it; a failed renewal keeps both.
func TestSyncStandbyChange(t *testing.T) {
	c := newCluster(t, syncMode, "a", "b", "c")
	c.bootstrap("a", "b", "c")
	m := c.nodes["a"]
	v := m.SyncView()
	if !v.Enabled || !v.Primary || v.Named() != "" || v.Confirmed != "a" || v.Degraded() {
		t.Fatalf("after bootstrap %+v", v)
	}
	applied := map[string]int64{"b": 10, "c": 12}
	get := func(r string) int64 { return applied[r] }
	if v.Acked(1, get) {
		t.Fatal("acknowledged without a standby")
	}
	c.nameStandby("a", "b")
	if v = m.SyncView(); v.Named() != "b" || !v.Acked(10, get) || v.Acked(11, get) {
		t.Fatalf("standby b: %+v", v)
	}
	// Propose c while the witness is out of reach: both count.
	c.cut["a"] = true
	if !m.ProposeSync(c.clock("a"), "c") {
		t.Fatal("proposal refused")
	}
	c.step("a")
	v = m.SyncView()
	if !v.Changing || v.Named() != "b" || !slices.Equal(v.Standbys, []string{"b", "c"}) || !v.Acked(10, get) || v.Acked(11, get) {
		t.Fatalf("while changing %+v", v)
	}
	if l := c.reg.Lease(c.now); l.Sync != "b" {
		t.Fatalf("lease %s", l)
	}
	// Reachable again: the next renewal (soon, not a full interval later)
	// names c; from then on only c counts.
	c.cut["a"] = false
	c.advance(m.cfg.ObserveEvery+100*time.Millisecond, "a")
	v = m.SyncView()
	if v.Changing || v.Named() != "c" || !slices.Equal(v.Standbys, []string{"c"}) || !v.Acked(12, get) {
		t.Fatalf("after the change %+v (lease %s)", v, c.reg.Lease(c.now))
	}
	// Degrade: nobody named, and only once the witness says so.
	c.cut["a"] = true
	m.ProposeSync(c.clock("a"), "")
	c.step("a")
	if v = m.SyncView(); v.Degraded() || v.Acked(1, get) == false {
		t.Fatalf("degraded before the witness confirmed it: %+v", v)
	}
	c.cut["a"] = false
	c.advance(m.cfg.ObserveEvery+100*time.Millisecond, "a")
	if v = m.SyncView(); !v.Degraded() || v.Acked(1, get) {
		t.Fatalf("not degraded after confirmation: %+v", v)
	}
	// A degraded lease elects as in async mode: the most caught-up wins.
	c.peers(map[string]tandem.Position{"a": {Epoch: 1, Seq: 20}, "b": {Epoch: 1, Seq: 20}, "c": {Epoch: 1, Seq: 10}}, "a", "b", "c")
	c.advance(ttl+ttl/2, "c", "b")
	if w := c.writer("b", "c"); w != "b" {
		t.Fatalf("writer %q after a degraded primary died, want b", w)
	}
	// Secondaries, unknown regions and the primary itself are refused.
	if c.nodes["c"].ProposeSync(c.clock("c"), "a") || c.nodes["b"].ProposeSync(c.clock("b"), "b") || c.nodes["b"].ProposeSync(c.clock("b"), "zz") {
		t.Fatal("a bad proposal was taken")
	}
}

// A planned switchover releases the lease naming the target (caught up
// after writes stopped) as standby as well as successor: if it does not
// come, nobody but it (or the old primary, after the timeout) takes it.
func TestSyncSwitchoverNamesTarget(t *testing.T) {
	c := newCluster(t, syncMode, "a", "b", "c")
	c.bootstrap("a", "b", "c")
	c.nameStandby("a", "c")
	if err := c.nodes["a"].Switchover(c.now, "b", false); err != nil {
		t.Fatal(err)
	}
	c.step("a")
	c.nodes["a"].CaughtUp(c.now, "b")
	c.step("a")
	if l := c.reg.Lease(c.now); !l.Expired() || l.Next != "b" || l.Sync != "b" {
		t.Fatalf("released lease %s", l)
	}
	c.advance(2*ttl, "c") // b never comes
	if w := c.writer("c"); w != "" {
		t.Fatal("c took a lease released to b")
	}
	c.advance(time.Second, "b", "c")
	if w := c.writer("b", "c"); w != "b" {
		t.Fatalf("writer %q, want b", w)
	}
}

// In async mode the lease never names a standby and proposals are refused.
func TestAsyncNamesNoStandby(t *testing.T) {
	c := newCluster(t, nil, "a", "b")
	c.bootstrap("a", "b")
	if c.nodes["a"].ProposeSync(c.clock("a"), "b") {
		t.Fatal("async primary took a sync standby proposal")
	}
	c.advance(ttl, "a", "b")
	if l := c.reg.Lease(c.now); l.Sync != "" {
		t.Fatalf("async lease %s", l)
	}
	if v := c.nodes["a"].SyncView(); v.Enabled || v.Acked(0, func(string) int64 { return 1 }) {
		t.Fatalf("async view %+v", v)
	}
}

// heldRenewal returns the first renewal p sent while silenced and forgets
// the rest.
func (c *cluster) heldRenewal(p string) Action {
	c.t.Helper()
	defer delete(c.held, p)
	for _, a := range c.held[p] {
		if a.Kind == Renew {
			return a
		}
	}
	c.t.Fatalf("%s sent no renewal (held %v)", p, c.held[p])
	return Action{}
}

// A renewal the primary gave up on (no reply in time) reaches the witness
// after a newer one that changed the sync standby from b to c. It must be
// refused: landing, it would name b again while only c holds the writes
// acknowledged since, and b could then take over and lose them.
func TestSyncDelayedRenewalCannotRestoreOldStandby(t *testing.T) {
	c := newCluster(t, syncMode, "a", "b", "c")
	c.bootstrap("a", "b", "c")
	c.nameStandby("a", "b")
	m := c.nodes["a"]
	// The next renewal (naming b) is lost in the network for now.
	c.silence["a"] = true
	c.advance(m.cfg.RenewEvery, "a")
	c.silence["a"] = false
	stale := c.heldRenewal("a")
	if stale.Lease.Sync != "b" || stale.Prev.Rev == 0 {
		t.Fatalf("held renewal %v / %v", stale.Prev, stale.Lease)
	}
	// a gives up on it, then names c: confirmed, only c counts.
	if !m.ProposeSync(c.clock("a"), "c") {
		t.Fatal("proposal refused")
	}
	c.advance(m.cfg.RequestTimeout+100*time.Millisecond, "a")
	if l := c.reg.Lease(c.now); l.Sync != "c" {
		t.Fatalf("lease %s after naming c", l)
	}
	if v := m.SyncView(); v.Changing || !slices.Equal(v.Standbys, []string{"c"}) {
		t.Fatalf("after naming c: %+v", v)
	}
	// The stale renewal arrives now.
	l, err := c.reg.CompareAndSwap(c.now, stale.Prev, stale.Lease)
	if tandem.ErrorCode(err) != tandem.ECONFLICT || l.Sync != "c" {
		t.Fatalf("stale renewal: %v %v", l, err)
	}
	if l := c.reg.Lease(c.now); l.Sync != "c" {
		t.Fatalf("stale renewal changed the lease to %s", l)
	}
	// a dies; b asks first at every step. Only c may take over.
	c.peers(map[string]tandem.Position{"a": {Epoch: 1, Seq: 20}, "b": {Epoch: 1, Seq: 20}, "c": {Epoch: 1, Seq: 20}}, "b", "c")
	c.advance(ttl+ttl/2, "b", "c")
	if w := c.writer("b", "c"); w != "c" {
		t.Fatalf("writer %q after the primary died, want the standby c", w)
	}
}

// The primary's own renewal (naming c) lands late, after it gave up on
// it: its next renewal, built on the older revision, is refused. The
// primary must not demote itself: the lease is its own, so it adopts it
// (c is confirmed) and renews again at once.
func TestSyncLateOwnRenewalIsAdopted(t *testing.T) {
	c := newCluster(t, syncMode, "a", "b", "c")
	c.bootstrap("a", "b", "c")
	c.nameStandby("a", "b")
	m := c.nodes["a"]
	c.silence["a"] = true
	if !m.ProposeSync(c.clock("a"), "c") {
		t.Fatal("proposal refused")
	}
	c.step("a")
	late := c.heldRenewal("a")
	// a gives up on it and sends another (held too, given up on later).
	c.advance(m.cfg.RequestTimeout+100*time.Millisecond, "a")
	retry := c.heldRenewal("a")
	landed, err := c.reg.CompareAndSwap(c.now, late.Prev, late.Lease)
	if err != nil || landed.Sync != "c" {
		t.Fatalf("late renewal: %v %v", landed, err)
	}
	c.silence["a"] = false
	c.advance(m.cfg.RequestTimeout, "a")
	l := c.reg.Lease(c.now)
	if m.role != tandem.RolePrimary || c.writer("a") != "a" || l.Holder != "a" || l.Rev <= landed.Rev || m.lease.Rev != l.Rev {
		t.Fatalf("after the conflict: role %v, witness %s rev %d, machine rev %d", m.role, l, l.Rev, m.lease.Rev)
	}
	if v := m.SyncView(); v.Changing || v.Named() != "c" || !slices.Equal(v.Standbys, []string{"c"}) {
		t.Fatalf("after adopting: %+v", v)
	}
	if _, err := c.reg.CompareAndSwap(c.now, retry.Prev, retry.Lease); tandem.ErrorCode(err) != tandem.ECONFLICT {
		t.Fatalf("a renewal from before the adoption landed: %v", err)
	}
}

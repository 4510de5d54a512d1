package failover

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/witness"
)

const ttl = 10 * time.Second

// cluster drives machines step by step against a witness register on one
// fake clock. Witness requests are answered instantly unless the witness is
// down or the node is cut off from it.
type cluster struct {
	t       *testing.T
	now     time.Duration
	reg     witness.Register
	down    bool
	cut     map[string]bool // node cannot reach the witness
	nodes   map[string]*Machine
	log     map[string][]Action // non-witness actions per node
	silence map[string]bool     // node does not run its witness actions (hung)
	held    map[string][]Action // witness actions a silenced node sent, undelivered
	pos     map[string]tandem.Position
	off     map[string]time.Duration // node clock = witness clock + off

	amnesiac    bool // the witness lost its state
	epochWriter map[int64]string
}

func (c *cluster) clock(n string) time.Duration { return c.now + c.off[n] }

func newCluster(t *testing.T, mut func(*Config), names ...string) *cluster {
	c := &cluster{t: t, now: time.Hour, cut: map[string]bool{}, nodes: map[string]*Machine{},
		log: map[string][]Action{}, held: map[string][]Action{}, silence: map[string]bool{}, pos: map[string]tandem.Position{}, off: map[string]time.Duration{},
		epochWriter: map[int64]string{}}
	for _, n := range names {
		cfg := Config{Self: n, Regions: names, LeaseTTL: ttl, MaxLagOnFailover: 100, Cooldown: time.Minute}
		if mut != nil {
			mut(&cfg)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		c.nodes[n] = New(cfg, 0, tandem.Position{})
	}
	return c
}

// step runs one node's pending actions until it has none left (witness
// replies can produce new actions).
func (c *cluster) step(name string) {
	m := c.nodes[name]
	for range 10 {
		rd := m.Ready()
		if len(rd.Actions) == 0 {
			return
		}
		for _, a := range rd.Actions {
			if !a.Kind.IsWitness() {
				c.log[name] = append(c.log[name], a)
				continue
			}
			if c.silence[name] {
				c.held[name] = append(c.held[name], a)
				continue
			}
			if c.down || c.cut[name] {
				m.LeaseResult(c.clock(name), a.ID, tandem.Lease{}, tandem.Errorf(tandem.EUNAVAILABLE, "down"))
				continue
			}
			var l tandem.Lease
			var err error
			if a.Kind == Observe {
				l = c.reg.Lease(c.now)
			} else {
				l, err = c.reg.CompareAndSwap(c.now, a.Prev, a.Lease)
			}
			m.LeaseResult(c.clock(name), a.ID, l, err)
		}
	}
	c.t.Fatalf("%s: actions do not settle", name)
}

// advance moves the clock in small steps, ticking every live node.
func (c *cluster) advance(d time.Duration, live ...string) {
	end := c.now + d
	for c.now < end {
		c.now = min(end, c.now+100*time.Millisecond)
		report := c.now%time.Second == 0
		for _, n := range live {
			c.nodes[n].Tick(c.clock(n))
			if report {
				c.report(n, live)
			}
			c.step(n)
		}
		c.checkSafety(live)
	}
}

// checkSafety asserts invariant 1 at the current instant: a node that may
// write holds the witness's unexpired lease in its epoch.
func (c *cluster) checkSafety(live []string) {
	writers := 0
	for _, n := range live {
		e, ok := c.nodes[n].CanWrite(c.clock(n))
		if !ok {
			continue
		}
		writers++
		if prev, ok := c.epochWriter[e]; ok && prev != n {
			c.t.Fatalf("t=%s: epoch %d written by %s and %s", c.now, e, prev, n)
		}
		c.epochWriter[e] = n
		l := c.reg.Lease(c.now)
		if c.amnesiac {
			continue // the witness forgot the lease: only the weaker checks hold
		}
		if l.Holder != n || l.Epoch != e || l.Expired() {
			c.t.Fatalf("t=%s: %s may write in epoch %d but the witness holds %s", c.now, n, e, l)
		}
	}
	if writers > 1 {
		c.t.Fatalf("t=%s: %d writers", c.now, writers)
	}
}

// peers sets journal positions and has every live node learn them.
func (c *cluster) peers(pos map[string]tandem.Position, live ...string) {
	for n, p := range pos {
		c.pos[n] = p
	}
	for _, n := range live {
		c.report(n, live)
		c.step(n)
	}
}

// report gives node n the status of every other node with a known
// position (healthy when live) and its own position.
func (c *cluster) report(n string, live []string) {
	for p, at := range c.pos {
		if p != n {
			rd := c.nodes[p]
			role := tandem.RoleSecondary
			if _, ok := rd.CanWrite(c.clock(p)); ok {
				role = tandem.RolePrimary
			}
			st := PeerStatus{Name: p, Healthy: slices.Contains(live, p), Position: at, Epoch: rd.epoch, Role: role}
			c.nodes[n].Peer(c.clock(n), st)
		}
	}
	if at, ok := c.pos[n]; ok {
		c.nodes[n].Local(c.clock(n), at)
	}
}

func (c *cluster) writer(names ...string) string {
	w := ""
	for _, n := range names {
		if _, ok := c.nodes[n].CanWrite(c.clock(n)); ok {
			if w != "" {
				c.t.Fatalf("two writers: %s and %s", w, n)
			}
			w = n
		}
	}
	return w
}

func (c *cluster) actions(name string, kind ActionKind) []Action {
	var out []Action
	for _, a := range c.log[name] {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

func (c *cluster) bootstrap(names ...string) {
	c.t.Helper()
	c.advance(2*time.Second, names...)
	if w := c.writer(names...); w != names[0] {
		c.t.Fatalf("after bootstrap the writer is %q, want %s", w, names[0])
	}
}

func TestBootstrapOnlyInitialTakesFirstLease(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	// b and c start first: they must not take the first lease.
	c.advance(5*time.Second, "b", "c")
	if l := c.reg.Lease(c.now); l.Holder != "" {
		t.Fatalf("lease taken by %s before the initial primary started", l)
	}
	c.advance(2*time.Second, "a", "b", "c")
	if w := c.writer("a", "b", "c"); w != "a" {
		t.Fatalf("writer %q, want a", w)
	}
	st := c.actions("a", StartWrites)
	if len(st) != 1 || st[0].Epoch != 1 {
		t.Fatalf("a StartWrites %v", st)
	}
	for _, n := range []string{"b", "c"} {
		f := c.actions(n, Follow)
		if len(f) != 1 || f[0].Target != "a" || f[0].Epoch != 1 {
			t.Fatalf("%s Follow actions %v", n, f)
		}
	}
}

func TestPrimaryRenewsAndKeepsWriting(t *testing.T) {
	c := newCluster(t, nil, "a", "b")
	c.bootstrap("a", "b")
	for range 10 {
		c.advance(ttl, "a", "b")
		if c.writer("a", "b") != "a" {
			t.Fatalf("t=%s: a stopped writing while the witness is reachable", c.now)
		}
	}
	if n := len(c.actions("a", StopWrites)); n != 0 {
		t.Fatalf("%d StopWrites while healthy", n)
	}
}

func TestPrimaryStopsWritesBeforeLeaseCanExpire(t *testing.T) {
	c := newCluster(t, nil, "a", "b")
	c.bootstrap("a", "b")
	c.cut["a"] = true
	lastGrant := c.reg.ExpiresAt
	var stoppedAt time.Duration
	for c.now < lastGrant+ttl {
		c.advance(10*time.Millisecond, "a")
		if _, ok := c.nodes["a"].CanWrite(c.now); !ok && stoppedAt == 0 {
			stoppedAt = c.now
		}
	}
	if stoppedAt == 0 {
		t.Fatal("a never stopped writing")
	}
	// a counts from when it sent the renewal, so it must stop at least
	// Margin before the witness's expiry.
	if gap := lastGrant - stoppedAt; gap < c.nodes["a"].cfg.Margin {
		t.Fatalf("a stopped %s before the witness lease expired, want >= margin %s", gap, c.nodes["a"].cfg.Margin)
	}
	if st := c.actions("a", StopWrites); len(st) != 1 {
		t.Fatalf("StopWrites %v", st)
	}
	// Reconnected before anybody took over: the renewal fails (expired)
	// and a retakes the lease with a new epoch.
	c.cut["a"] = false
	c.advance(3*time.Second, "a")
	if c.writer("a") != "a" || c.nodes["a"].epoch != 2 {
		t.Fatalf("a did not come back as primary in epoch 2 (epoch %d)", c.nodes["a"].epoch)
	}
}

func TestPausedPrimaryRefusesWritesOnWaking(t *testing.T) {
	c := newCluster(t, nil, "a", "b")
	c.bootstrap("a", "b")
	c.peers(map[string]tandem.Position{"a": {Epoch: 1, Seq: 5}, "b": {Epoch: 1, Seq: 5}}, "a", "b")
	// a is paused (SIGSTOP): it neither ticks nor talks. b takes over.
	c.advance(3*ttl, "b")
	if c.writer("b") != "b" {
		t.Fatal("b did not take over from the paused primary")
	}
	// a wakes: before it processes any event, its gate must already say no.
	if _, ok := c.nodes["a"].CanWrite(c.now); ok {
		t.Fatal("a paused past its lease still accepts writes on waking")
	}
	c.advance(time.Second, "a", "b")
	if c.writer("a", "b") != "b" {
		t.Fatal("after waking, b must stay the only writer")
	}
	f := c.actions("a", Follow)
	if len(f) == 0 || f[len(f)-1].Target != "b" || f[len(f)-1].Epoch != 2 {
		t.Fatalf("a did not follow b in epoch 2: %v", f)
	}
	if c.nodes["a"].role != tandem.RoleSecondary {
		t.Fatalf("a role %s", c.nodes["a"].role)
	}
}

func TestClockJumpBackwardsDropsConfirmation(t *testing.T) {
	c := newCluster(t, nil, "a")
	c.bootstrap("a")
	m := c.nodes["a"]
	// Witness unreachable: the jump must stop writes until a renewal
	// sent after it succeeds.
	c.cut["a"] = true
	c.off["a"] = -30 * time.Second
	if _, ok := m.CanWrite(c.clock("a")); ok {
		t.Fatal("writes allowed right after the clock went backwards")
	}
	c.advance(time.Second, "a")
	if _, ok := m.CanWrite(c.clock("a")); ok {
		t.Fatal("writes allowed after a backward jump without a new renewal")
	}
	c.cut["a"] = false
	c.advance(time.Second, "a")
	if e, ok := m.CanWrite(c.clock("a")); !ok || e != 1 {
		t.Fatalf("a renewal after the jump did not restore writes (epoch %d)", e)
	}
}

func TestClockJumpForwardPastLease(t *testing.T) {
	c := newCluster(t, nil, "a", "b")
	c.bootstrap("a", "b")
	m := c.nodes["a"]
	c.off["a"] = 5 * ttl // a's clock leaps ahead of the witness's
	if _, ok := m.CanWrite(c.clock("a")); ok {
		t.Fatal("writes allowed after a forward jump past the lease")
	}
	// The renewal is still accepted (the witness's clock did not jump):
	// a carries on in epoch 1 after one renewal.
	c.advance(time.Second, "a")
	if _, ok := m.CanWrite(c.clock("a")); !ok || m.epoch != 1 {
		t.Fatalf("a did not renew after the jump (epoch %d)", m.epoch)
	}
	// Now the process sleeps: both clocks move past the lease.
	c.now += 5 * ttl
	if _, ok := m.CanWrite(c.clock("a")); ok {
		t.Fatal("writes allowed after sleeping past the lease")
	}
	// The lease expired at the witness: the renewal is refused and a,
	// nobody else having taken it, retakes it in a new epoch.
	c.advance(time.Second, "a")
	if _, ok := m.CanWrite(c.clock("a")); !ok || m.epoch != 2 {
		t.Fatalf("a did not retake the lease (epoch %d)", m.epoch)
	}
}

func TestMostCaughtUpSecondaryWins(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	c.bootstrap("a", "b", "c")
	c.peers(map[string]tandem.Position{"a": {Epoch: 1, Seq: 20}, "b": {Epoch: 1, Seq: 10}, "c": {Epoch: 1, Seq: 12}}, "b", "c")
	c.advance(ttl+3*time.Second, "b", "c") // a is dead
	if w := c.writer("b", "c"); w != "c" {
		t.Fatalf("writer %q, want c (most caught up)", w)
	}
	if len(c.actions("b", Follow)) != 2 || c.actions("b", Follow)[1].Target != "c" {
		t.Fatalf("b follows %v", c.actions("b", Follow))
	}
	st := c.actions("c", StartWrites)
	if len(st) != 1 || st[0].Epoch != 2 || st[0].DetectedAt == 0 || st[0].Previous != "a" || st[0].AtRisk != 8 {
		t.Fatalf("c StartWrites %+v", st)
	}
}

func TestTieGoesToEarlierRegion(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	c.bootstrap("a", "b", "c")
	c.peers(map[string]tandem.Position{"b": {Epoch: 1, Seq: 10}, "c": {Epoch: 1, Seq: 10}}, "b", "c")
	// c ticks before b at every step: it must still defer to b.
	c.advance(ttl+3*time.Second, "c", "b")
	if w := c.writer("b", "c"); w != "b" {
		t.Fatalf("writer %q, want b", w)
	}
}

func TestLowerRankedTakesOverWhenBestIsSilent(t *testing.T) {
	c := newCluster(t, nil, "a", "b", "c")
	c.bootstrap("a", "b", "c")
	c.peers(map[string]tandem.Position{"b": {Epoch: 1, Seq: 10}, "c": {Epoch: 1, Seq: 12}}, "b", "c")
	c.silence["c"] = true // c reports healthy but never reaches the witness
	c.advance(ttl+2*time.Second, "b", "c")
	if w := c.writer("b", "c"); w != "" {
		t.Fatalf("b took over before the grace period: %q", w)
	}
	c.advance(ttl, "b", "c")
	if w := c.writer("b", "c"); w != "b" {
		t.Fatalf("writer %q, want b after the grace period", w)
	}
}

func TestLaggingSecondaryNeverPromotedAutomatically(t *testing.T) {
	c := newCluster(t, func(cfg *Config) { cfg.MaxLagOnFailover = 5 }, "a", "b")
	c.bootstrap("a", "b")
	c.peers(map[string]tandem.Position{"a": {Epoch: 1, Seq: 100}, "b": {Epoch: 1, Seq: 90}}, "b")
	if rd := c.nodes["b"].Ready(); rd.Behind != 10 {
		t.Fatalf("behind %d, want 10", rd.Behind)
	}
	c.advance(5*ttl, "b")
	if w := c.writer("b"); w != "" {
		t.Fatal("b, 10 entries behind with max lag 5, was promoted")
	}
	if err := c.nodes["b"].Switchover(c.now, "b", true); err != nil {
		t.Fatal(err)
	}
	c.step("b")
	c.advance(time.Second, "b")
	if w := c.writer("b"); w != "b" {
		t.Fatal("forced promotion did not happen")
	}
}

func TestManualModeNeverPromotes(t *testing.T) {
	c := newCluster(t, func(cfg *Config) { cfg.Mode = Manual }, "a", "b")
	c.bootstrap("a", "b") // the very first lease is still taken
	c.advance(5*ttl, "b")
	if w := c.writer("b"); w != "" {
		t.Fatal("manual mode promoted b")
	}
	// --force on b while a is gone.
	if err := c.nodes["b"].Switchover(c.now, "b", true); err != nil {
		t.Fatal(err)
	}
	c.step("b")
	c.advance(time.Second, "b")
	if c.writer("b") != "b" {
		t.Fatal("forced switchover in manual mode did not promote b")
	}
}

func TestForceWaitsForLiveLease(t *testing.T) {
	c := newCluster(t, nil, "a", "b")
	c.bootstrap("a", "b")
	// The primary is alive: force on b must never break its lease.
	if err := c.nodes["b"].Switchover(c.now, "b", true); err != nil {
		t.Fatal(err)
	}
	c.step("b")
	c.advance(4*ttl, "a", "b") // checkSafety runs at every step
	if c.writer("a", "b") != "a" {
		t.Fatal("force took the lease from a live primary")
	}
	if rd := c.nodes["b"].Ready(); rd.Switchover == nil || rd.Switchover.Phase != "aborted" {
		t.Fatalf("forced switchover state %+v", rd.Switchover)
	}
}

func TestCooldownBetweenAutomaticFailovers(t *testing.T) {
	c := newCluster(t, func(cfg *Config) { cfg.Cooldown = 5 * ttl }, "a", "b", "c")
	c.bootstrap("a", "b", "c")
	c.peers(map[string]tandem.Position{"b": {Epoch: 1, Seq: 10}, "c": {Epoch: 1, Seq: 9}}, "b", "c")
	c.advance(ttl+3*time.Second, "b", "c")
	if c.writer("b", "c") != "b" {
		t.Fatal("first failover did not happen")
	}
	start := c.now
	c.advance(2*ttl, "c") // b dies right away
	if w := c.writer("c"); w != "" {
		t.Fatalf("second automatic failover %s after the first, within the cooldown", c.now-start)
	}
	c.advance(4*ttl, "c")
	if c.writer("c") != "c" {
		t.Fatal("no failover after the cooldown")
	}
}

func TestPlannedSwitchover(t *testing.T) {
	c := newCluster(t, func(cfg *Config) {
		if cfg.Self == "b" {
			cfg.Mode = Manual // a planned switchover works in manual mode too
		}
	}, "a", "b", "c")
	c.bootstrap("a", "b", "c")
	c.peers(map[string]tandem.Position{"a": {Epoch: 1, Seq: 30}, "b": {Epoch: 1, Seq: 28}, "c": {Epoch: 1, Seq: 30}}, "a", "b", "c")
	if err := c.nodes["a"].Switchover(c.now, "b", false); err != nil {
		t.Fatal(err)
	}
	c.step("a")
	if w := c.writer("a"); w != "" {
		t.Fatal("a still writes during the switchover")
	}
	cu := c.actions("a", CatchUp)
	if len(cu) != 1 || cu[0].Target != "b" || cu[0].Epoch != 1 {
		t.Fatalf("CatchUp %v", cu)
	}
	// Until b has caught up, the lease stays with a (renewed).
	c.advance(ttl, "a", "b", "c")
	if l := c.reg.Lease(c.now); l.Holder != "a" || l.Expired() {
		t.Fatalf("lease moved before catch-up: %s", l)
	}
	c.nodes["a"].CaughtUp(c.now, "b")
	c.step("a")
	if l := c.reg.Lease(c.now); l.Holder != "a" || !l.Expired() || l.Next != "b" {
		t.Fatalf("lease after release %s", l)
	}
	// c is automatic and as caught up as b, but the lease names b.
	c.nodes["c"].Poke(c.now)
	c.step("c")
	c.nodes["b"].Poke(c.now)
	c.step("b")
	if w := c.writer("a", "b", "c"); w != "b" {
		t.Fatalf("writer %q after the switchover, want b", w)
	}
	c.advance(2*ttl, "a", "b", "c")
	if w := c.writer("a", "b", "c"); w != "b" || c.nodes["b"].epoch != 2 {
		t.Fatalf("writer %q epoch %d", w, c.nodes["b"].epoch)
	}
	for _, n := range []string{"a", "c"} {
		f := c.actions(n, Follow)
		if f[len(f)-1].Target != "b" || f[len(f)-1].Epoch != 2 {
			t.Fatalf("%s follows %v", n, f)
		}
	}
	if rd := c.nodes["a"].Ready(); rd.Switchover == nil || rd.Switchover.Phase != "released" {
		t.Fatalf("a switchover state %+v", rd.Switchover)
	}
}

func TestReleasedLeaseTakenBackWhenTargetNeverTakesIt(t *testing.T) {
	c := newCluster(t, func(cfg *Config) { cfg.Mode = Manual }, "a", "b")
	c.bootstrap("a", "b")
	if err := c.nodes["a"].Switchover(c.now, "b", false); err != nil {
		t.Fatal(err)
	}
	c.step("a")
	c.nodes["a"].CaughtUp(c.now, "b")
	c.step("a")
	if l := c.reg.Lease(c.now); !l.Expired() || l.Next != "b" {
		t.Fatalf("not released: %s", l)
	}
	// b dies right then. Even in manual mode a takes its lease back once
	// the switchover timeout has passed, in a new epoch.
	c.advance(c.nodes["a"].cfg.SwitchoverTimeout/2, "a")
	if w := c.writer("a"); w != "" {
		t.Fatal("a took the lease back before the switchover timeout")
	}
	c.advance(c.nodes["a"].cfg.SwitchoverTimeout, "a")
	if w := c.writer("a"); w != "a" || c.reg.Epoch != 2 {
		t.Fatalf("writer %q lease %s", w, c.reg.Lease(c.now))
	}
}

func TestSwitchoverAbortsWhenTargetNeverCatchesUp(t *testing.T) {
	c := newCluster(t, nil, "a", "b")
	c.bootstrap("a", "b")
	if err := c.nodes["a"].Switchover(c.now, "b", false); err != nil {
		t.Fatal(err)
	}
	c.step("a")
	c.advance(c.nodes["a"].cfg.SwitchoverTimeout+time.Second, "a", "b")
	if c.writer("a", "b") != "a" {
		t.Fatal("a did not resume writes after the switchover timed out")
	}
	if rd := c.nodes["a"].Ready(); rd.Switchover == nil || rd.Switchover.Phase != "aborted" {
		t.Fatalf("state %+v", rd.Switchover)
	}
}

func TestSwitchoverErrors(t *testing.T) {
	c := newCluster(t, nil, "a", "b")
	c.bootstrap("a", "b")
	for _, tc := range []struct {
		node, target string
		force        bool
		code         string
	}{
		{"a", "zz", false, tandem.EINVALID},
		{"a", "a", false, tandem.EINVALIDSTATE},
		{"b", "b", false, tandem.EINVALIDSTATE},
		{"b", "a", false, tandem.EINVALIDSTATE},
	} {
		if err := c.nodes[tc.node].Switchover(c.now, tc.target, tc.force); tandem.ErrorCode(err) != tc.code {
			t.Errorf("%s switchover to %s: %v, want %s", tc.node, tc.target, err, tc.code)
		}
	}
}

func TestEpochFencing(t *testing.T) {
	c := newCluster(t, nil, "a", "b")
	c.bootstrap("a", "b")
	m := c.nodes["a"]
	if m.Fenced(c.now, 0, "b") {
		t.Fatal("an older epoch was accepted")
	}
	if _, ok := m.CanWrite(c.now); !ok {
		t.Fatal("an old-epoch input disturbed the primary")
	}
	// A peer claiming to be primary in an older epoch is rejected too.
	m.Peer(c.now, PeerStatus{Name: "b", Role: tandem.RolePrimary, Epoch: 0, Healthy: true})
	if rd := m.Ready(); rd.Rejected != 2 || rd.Role != tandem.RolePrimary {
		t.Fatalf("rejected %d role %s", rd.Rejected, rd.Role)
	}
	// A newer epoch seen in replication traffic demotes at once.
	if !m.Fenced(c.now, 5, "b") {
		t.Fatal("newer epoch refused")
	}
	if _, ok := m.CanWrite(c.now); ok {
		t.Fatal("a still writes after seeing epoch 5")
	}
	c.step("a")
	if f := c.actions("a", Follow); len(f) != 1 || f[0].Target != "b" || f[0].Epoch != 5 {
		t.Fatalf("Follow %v", f)
	}
	if s := c.actions("a", StopWrites); len(s) != 1 {
		t.Fatalf("StopWrites %v", s)
	}
	// The witness, still showing epoch 1, is not believed any more.
	c.advance(time.Second, "a")
	if _, ok := m.CanWrite(c.now); ok || m.epoch != 5 {
		t.Fatalf("epoch %d", m.epoch)
	}
}

func TestWitnessLosesItsState(t *testing.T) {
	c := newCluster(t, nil, "a", "b")
	c.bootstrap("a", "b")
	c.peers(map[string]tandem.Position{"a": {Epoch: 1, Seq: 4}, "b": {Epoch: 1, Seq: 4}}, "a", "b")
	c.reg = witness.Register{} // restored from an empty backup
	c.amnesiac = true
	// A fence goes up at once: a lease in epoch 1 nobody can renew.
	c.advance(time.Second, "a", "b")
	if l := c.reg.Lease(c.now); l.Holder != FenceHolder || l.Epoch != 1 || l.Expired() {
		t.Fatalf("no fence: %s", l)
	}
	for _, n := range []string{"a", "b"} {
		for _, f := range c.actions(n, Follow) {
			if f.Target == FenceHolder {
				t.Fatalf("%s follows the fence", n)
			}
		}
	}
	// Until it runs out nobody writes in a new epoch (checkSafety), then
	// a, the last primary, carries on in epoch 2.
	c.advance(ttl/2, "a", "b")
	if c.reg.Epoch != 1 {
		t.Fatalf("lease %s before the fence ran out", c.reg.Lease(c.now))
	}
	c.amnesiac = false
	c.advance(2*ttl, "a", "b")
	if w := c.writer("a", "b"); w != "a" || c.reg.Epoch != 2 {
		t.Fatalf("writer %q lease %s", w, c.reg.Lease(c.now))
	}
	if got := c.nodes["a"].Ready().Rejected + c.nodes["b"].Ready().Rejected; got == 0 {
		t.Fatal("the amnesiac witness's answers were not counted as rejected")
	}
	// a dies: the normal election follows.
	c.advance(3*ttl, "b")
	if w := c.writer("b"); w != "b" || c.reg.Epoch != 3 {
		t.Fatalf("writer %q lease %s", w, c.reg.Lease(c.now))
	}
}

func TestEmptyWitnessUnknownPrimary(t *testing.T) {
	// A region restarts knowing epoch 3 from its journal, but not who
	// holds it, and finds an empty witness: it fences epoch 3 for a lease
	// length (on the witness's clock), then takes epoch 4.
	c := newCluster(t, nil, "a", "b")
	c.nodes["b"] = New(c.nodes["b"].cfg, 3, tandem.Position{Epoch: 3, Seq: 9})
	c.amnesiac = true
	c.advance(ttl/2, "b")
	if w := c.writer("b"); w != "" || c.reg.Holder != FenceHolder || c.reg.Epoch != 3 {
		t.Fatalf("writer %q lease %s", w, c.reg.Lease(c.now))
	}
	c.advance(ttl, "b")
	if w := c.writer("b"); w != "b" || c.reg.Epoch != 4 {
		t.Fatalf("writer %q lease %s", w, c.reg.Lease(c.now))
	}
}

func TestRestartedPrimaryReadoptsItsLease(t *testing.T) {
	c := newCluster(t, nil, "a", "b")
	c.bootstrap("a", "b")
	// a restarts: a new machine that knows epoch 1 from its journal.
	c.nodes["a"] = New(c.nodes["a"].cfg, 1, tandem.Position{Epoch: 1, Seq: 3})
	c.advance(time.Second, "a", "b")
	if c.writer("a", "b") != "a" || c.nodes["a"].epoch != 1 {
		t.Fatalf("a did not re-adopt its lease (epoch %d)", c.nodes["a"].epoch)
	}
}

func TestLateReplyIsIgnored(t *testing.T) {
	cfg := Config{Self: "a", Regions: []string{"a"}, LeaseTTL: ttl}
	m := New(cfg, 0, tandem.Position{})
	m.Tick(0)
	rd := m.Ready()
	if len(rd.Actions) != 1 || rd.Actions[0].Kind != Observe {
		t.Fatalf("actions %v", rd.Actions)
	}
	obs := rd.Actions[0]
	m.LeaseResult(0, obs.ID, tandem.Lease{}, nil)
	rd = m.Ready()
	if len(rd.Actions) != 1 || rd.Actions[0].Kind != Acquire {
		t.Fatalf("actions %v", rd.Actions)
	}
	acq := rd.Actions[0]
	// No reply within RequestTimeout: the request is forgotten.
	m.Tick(m.cfg.RequestTimeout + time.Millisecond)
	m.Ready()
	m.LeaseResult(m.cfg.RequestTimeout+2*time.Millisecond, acq.ID, acq.Lease, nil)
	if _, ok := m.CanWrite(m.cfg.RequestTimeout + 3*time.Millisecond); ok {
		t.Fatal("a forgotten acquire's late reply granted writes (its send time is unknown)")
	}
}

func TestNoWitness(t *testing.T) {
	mk := func(self string) *Machine {
		cfg := Config{Self: self, Regions: []string{"a", "b"}, NoWitness: true, Mode: Manual}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		return New(cfg, 0, tandem.Position{})
	}
	a, b := mk("a"), mk("b")
	a.Tick(0)
	b.Tick(0)
	b.Peer(0, PeerStatus{Name: "a", Role: tandem.RolePrimary, Epoch: 1, Healthy: true})
	if _, ok := a.CanWrite(time.Hour); !ok {
		t.Fatal("the initial region is not writable without a witness")
	}
	if _, ok := b.CanWrite(0); ok {
		t.Fatal("b writable")
	}
	for _, a := range b.Ready().Actions {
		if a.Kind.IsWitness() {
			t.Fatalf("witness action without a witness: %v", a)
		}
	}
	if err := b.Switchover(time.Second, "b", true); err != nil {
		t.Fatal(err)
	}
	if e, ok := b.CanWrite(time.Second); !ok || e != 2 {
		t.Fatalf("forced b: epoch %d writable %v", e, ok)
	}
	if !a.Fenced(2*time.Second, 2, "b") {
		t.Fatal("fence refused")
	}
	if _, ok := a.CanWrite(2 * time.Second); ok {
		t.Fatal("a still writable after seeing epoch 2")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Self: "a", Regions: []string{"a", "b"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Config{
		{Self: "", Regions: []string{"a"}},
		{Self: "c", Regions: []string{"a", "b"}},
		{Self: "a", Regions: []string{"a", "a"}},
		{Self: "a", Regions: []string{"a"}, Mode: "sometimes"},
		{Self: "a", Regions: []string{"a"}, NoWitness: true},
		{Self: "a", Regions: []string{"a"}, LeaseTTL: time.Second, Margin: 900 * time.Millisecond},
		{Self: "a", Regions: []string{"a"}, Initial: "x"},
		{Self: "a", Regions: []string{"a", FenceHolder}},
	} {
		if err := bad.Validate(); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestActionStrings(t *testing.T) {
	for k := Acquire; k <= CatchUp; k++ {
		if strings.HasPrefix(k.String(), "action(") {
			t.Errorf("kind %d has no name", k)
		}
	}
}

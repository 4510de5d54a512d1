package failover

import (
	"container/heap"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/witness"
)

var simRuns = flag.Int("failover.sims", 200, "randomized failover simulations to run (soak: thousands)")

// The simulation runs three regions and a witness on a virtual clock with
// every fault the state machine must survive: message delays and losses
// in both directions, witness outages, processes paused for longer than the
// lease, clock rate drift, clock jumps both ways, operator switchovers and
// forced promotions at random moments. After every event it checks
// invariant 1: a region that may write holds the witness's unexpired lease
// in the epoch it writes in (so at most one region writes at any instant,
// and at most one region ever writes in a given epoch). After the faults
// heal it checks that exactly one region writes again.

type simEvent struct {
	at   time.Duration
	seq  int
	node string
	fn   func()
}

type simQueue []*simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

type simNode struct {
	name     string
	m        *Machine
	off      time.Duration // clock = off + now*(1+drift) (kept monotonic except on purpose)
	drift    float64
	pausedTo time.Duration
	deferred []func() // deliveries held while paused
	pos      tandem.Position
}

type sim struct {
	t        *testing.T
	rng      *rand.Rand
	now      time.Duration
	seq      int
	q        simQueue
	reg      witness.Register
	witDown  bool
	released bool // the last grant was a release (TTL 0)
	amnesiac bool // the witness lost its state once: holders may outlive its memory
	nodes    map[string]*simNode
	names    []string
	healing  bool
	syncMode bool             // durability sync: leases name a sync standby
	writesBy map[int64]string // epoch -> the only node that wrote in it
	writes   int
	trace    []string
}

func (s *sim) clock(n *simNode) time.Duration {
	return n.off + time.Duration(float64(s.now)*(1+n.drift))
}

func (s *sim) at(d time.Duration, node string, fn func()) {
	s.seq++
	heap.Push(&s.q, &simEvent{at: s.now + d, seq: s.seq, node: node, fn: fn})
}

func (s *sim) logf(format string, args ...any) {
	s.trace = append(s.trace, fmt.Sprintf("%8.3fs ", s.now.Seconds())+fmt.Sprintf(format, args...))
	if len(s.trace) > 60 {
		s.trace = s.trace[1:]
	}
}

func (s *sim) fail(format string, args ...any) {
	s.t.Helper()
	for _, l := range s.trace {
		s.t.Log(l)
	}
	s.t.Fatalf("t=%s: %s", s.now, fmt.Sprintf(format, args...))
}

// deliver runs fn on node n now, or when it wakes up.
func (s *sim) deliver(n *simNode, fn func()) {
	if s.now < n.pausedTo {
		n.deferred = append(n.deferred, fn)
		return
	}
	fn()
	s.drain(n)
}

func (s *sim) delay() time.Duration {
	if s.healing {
		return time.Duration(s.rng.IntN(20)) * time.Millisecond
	}
	switch s.rng.IntN(10) {
	case 0:
		return time.Duration(s.rng.IntN(8000)) * time.Millisecond // very slow
	case 1, 2:
		return time.Duration(s.rng.IntN(1500)) * time.Millisecond
	}
	return time.Duration(s.rng.IntN(50)) * time.Millisecond
}

func (s *sim) lost() bool { return !s.healing && s.rng.IntN(20) == 0 }

// drain performs the node's actions: witness requests travel to the
// witness and back with random delays and losses.
func (s *sim) drain(n *simNode) {
	rd := n.m.Ready()
	for _, a := range rd.Actions {
		s.logf("%s: %s", n.name, a)
		switch a.Kind {
		case Acquire, Renew, Release, Fence, Observe:
			if s.lost() {
				continue
			}
			a := a
			forced := n.m.forced != nil // an operator's forced promotion asked for it
			s.at(s.delay(), "", func() {
				before := s.reg.Lease(s.now)
				var l tandem.Lease
				var err error
				switch {
				case s.witDown:
					err = tandem.Errorf(tandem.EUNAVAILABLE, "witness down")
				case a.Kind == Observe:
					l = s.reg.Lease(s.now)
				default:
					l, err = s.reg.CompareAndSwap(s.now, a.Prev, a.Lease)
					if err == nil {
						s.released = a.Lease.TTL == 0
						s.checkSyncTakeover(a, before, forced)
					}
				}
				s.logf("witness: %s -> %s %v", a, l, err)
				if s.lost() {
					return
				}
				s.at(s.delay(), n.name, func() {
					s.deliver(n, func() { n.m.LeaseResult(s.clock(n), a.ID, l, err) })
				})
			})
		case CatchUp:
			target := a.Target
			s.at(time.Duration(s.rng.IntN(int(3*ttl))), n.name, func() {
				s.deliver(n, func() { n.m.CaughtUp(s.clock(n), target) })
			})
		}
	}
	s.check()
}

// checkSyncTakeover asserts the sync-mode election rule at the witness: a
// lease that names a standby is taken over only by that standby, its own
// holder, the successor a release named, or an operator's forced
// promotion.
func (s *sim) checkSyncTakeover(a Action, before tandem.Lease, forced bool) {
	if !s.syncMode || a.Kind != Acquire || before.Sync == "" || forced {
		return
	}
	h := a.Lease.Holder
	if h != before.Sync && h != before.Holder && h != before.Next {
		s.fail("%s took over %s automatically: only %s may", h, before, before.Sync)
	}
}

// check asserts invariant 1 at this instant and records a write by the
// current writer (if any) under its epoch.
func (s *sim) check() {
	writer := ""
	for _, name := range s.names {
		n := s.nodes[name]
		if s.now < n.pausedTo {
			continue // a paused process commits nothing
		}
		e, ok := n.m.CanWrite(s.clock(n))
		if !ok {
			continue
		}
		l := s.reg.Lease(s.now)
		if !s.amnesiac && (l.Holder != name || l.Epoch != e || l.Expired()) {
			s.fail("%s may write in epoch %d but the witness holds %s", name, e, l)
		}
		if writer != "" {
			s.fail("%s and %s may both write", writer, name)
		}
		writer = name
		if w, ok := s.writesBy[e]; ok && w != name {
			s.fail("epoch %d written by %s and %s", e, w, name)
		}
		s.writesBy[e] = name
		s.writes++
		n.pos = tandem.Position{Epoch: e, Seq: n.pos.Seq + 1}
		n.m.Local(s.clock(n), n.pos)
	}
}

func runSim(t *testing.T, seed uint64) {
	s := &sim{t: t, rng: rand.New(rand.NewPCG(seed, 0x7a11)), nodes: map[string]*simNode{},
		writesBy: map[int64]string{}}
	s.names = []string{"a", "b", "c", "d", "e"}[:2+s.rng.IntN(4)] // 2 to 5 regions
	manual := s.rng.IntN(8) == 0
	s.syncMode = s.rng.IntN(3) == 0
	for _, name := range s.names {
		cfg := Config{Self: name, Regions: s.names, LeaseTTL: ttl, MaxLagOnFailover: -1, Cooldown: ttl, Sync: s.syncMode}
		if manual {
			cfg.Mode = Manual // only the operator's switchovers and forced promotions move the lease
		}
		if s.rng.IntN(4) == 0 {
			cfg.MaxLagOnFailover = int64(s.rng.IntN(20))
		}
		n := &simNode{name: name, m: New(cfg, 0, tandem.Position{}),
			off:   time.Duration(s.rng.IntN(1000)) * time.Second,
			drift: (s.rng.Float64() - 0.5) / 100} // ±0.5%
		s.nodes[name] = n
	}
	// Ticks.
	var tick func(n *simNode)
	tick = func(n *simNode) {
		s.deliver(n, func() { n.m.Tick(s.clock(n)) })
		s.at(time.Duration(20+s.rng.IntN(300))*time.Millisecond, n.name, func() { tick(n) })
	}
	// Peer status: every second each node hears about the others
	// (secondaries copy the primary's position with some lag).
	var gossip func()
	gossip = func() {
		for _, a := range s.names {
			na := s.nodes[a]
			if na.m.role != tandem.RolePrimary {
				best := na.pos
				for _, b := range s.names {
					if p := s.nodes[b].pos; best.Less(p) && s.rng.IntN(3) > 0 {
						best = p
					}
				}
				if best.Seq > na.pos.Seq && !s.healing {
					best.Seq -= int64(s.rng.IntN(int(best.Seq-na.pos.Seq) + 1))
				}
				na.pos = best
			}
		}
		for _, a := range s.names {
			na := s.nodes[a]
			if s.syncMode && na.m.role == tandem.RolePrimary && s.rng.IntN(2) == 0 {
				// The primary names a standby now and then (any other
				// region, or none as when degrading).
				sb := s.names[s.rng.IntN(len(s.names))]
				if sb == a {
					sb = ""
				}
				s.deliver(na, func() { na.m.ProposeSync(s.clock(na), sb) })
			}
			for _, b := range s.names {
				if a == b {
					continue
				}
				nb := s.nodes[b]
				role := nb.m.role
				st := PeerStatus{Name: b, Healthy: s.now >= nb.pausedTo, Role: role, Epoch: nb.m.epoch, Position: nb.pos}
				if s.now < nb.pausedTo && !s.healing {
					continue // a paused peer does not answer
				}
				s.deliver(na, func() { na.m.Peer(s.clock(na), st); na.m.Local(s.clock(na), na.pos) })
			}
		}
		s.at(time.Second, "", gossip)
	}
	// Faults.
	var chaos func()
	chaos = func() {
		if s.healing {
			return
		}
		n := s.nodes[s.names[s.rng.IntN(len(s.names))]]
		switch s.rng.IntN(10) {
		case 0, 1: // pause, sometimes longer than the lease
			d := time.Duration(s.rng.IntN(int(3 * ttl)))
			if n.pausedTo < s.now+d {
				n.pausedTo = s.now + d
			}
			s.logf("%s: paused for %s", n.name, d)
			s.at(d, n.name, func() { s.wake(n) })
		case 2: // witness outage
			s.witDown = true
			d := time.Duration(s.rng.IntN(int(2 * ttl)))
			s.logf("witness down for %s", d)
			s.at(d, "", func() { s.witDown = false })
		case 3: // clock jump
			// Forward jumps at any time. A backward jump is only possible
			// while the process runs and reads its clock (a monotonic clock
			// never goes back; this models a broken one that does, visibly).
			// A clock that silently stops while the process is frozen is
			// what Node's use of CLOCK_BOOTTIME rules out.
			j := time.Duration(s.rng.IntN(int(4*ttl))) - 2*ttl
			if j < 0 && s.now < n.pausedTo {
				j = -j
			}
			n.off += j
			s.logf("%s: clock jumps %s", n.name, j)
			if j < 0 {
				n.m.Tick(s.clock(n))
				s.drain(n)
			}
		case 4: // operator
			target := s.names[s.rng.IntN(len(s.names))]
			force := s.rng.IntN(3) == 0
			s.deliver(n, func() {
				err := n.m.Switchover(s.clock(n), target, force)
				s.logf("%s: switchover to %s force=%v: %v", n.name, target, force, err)
			})
		case 6: // witness restart: the built-in witness restores every
			// lease it last granted with its full length (Server)
			if s.reg.Holder != "" && !s.released {
				s.reg.ExpiresAt = s.now + ttl
				s.logf("witness restarted: %s", s.reg.Lease(s.now))
			}
		case 7: // the witness loses its state (restored from an empty backup)
			if s.rng.IntN(4) == 0 {
				s.reg = witness.Register{}
				s.amnesiac = true
				s.logf("witness lost its state")
			}
		case 5: // a newer epoch seen in replication traffic (only real ones)
			if s.reg.Epoch > 0 {
				e, h := s.reg.Epoch, s.reg.Holder
				s.deliver(n, func() { n.m.Fenced(s.clock(n), e, h) })
			}
		}
		s.at(time.Duration(s.rng.IntN(int(ttl))), "", chaos)
	}
	for _, name := range s.names {
		n := s.nodes[name]
		s.at(time.Duration(s.rng.IntN(3000))*time.Millisecond, name, func() { tick(n) })
	}
	s.at(time.Second, "", gossip)
	s.at(2*time.Second, "", chaos)

	const chaosFor, healFor = 3 * time.Minute, 2 * time.Minute
	s.at(chaosFor, "", func() {
		s.healing = true
		s.witDown = false
		s.logf("healing")
		for _, n := range s.nodes {
			if n.pausedTo > s.now {
				n.pausedTo = s.now
				s.wake(n)
			}
		}
	})
	if manual {
		// Manual mode needs an operator: half a minute into the healing,
		// if nobody writes, one forces a promotion (as `tandem failover
		// --force` would).
		s.at(chaosFor+30*time.Second, "", func() {
			for _, name := range s.names {
				if _, ok := s.nodes[name].m.CanWrite(s.clock(s.nodes[name])); ok {
					return
				}
			}
			n := s.nodes[s.names[0]]
			err := n.m.Switchover(s.clock(n), n.name, true)
			s.logf("operator: force %s: %v", n.name, err)
			s.drain(n)
		})
	}
	for s.q.Len() > 0 {
		e := heap.Pop(&s.q).(*simEvent)
		s.now = e.at
		if s.now > chaosFor+healFor {
			break
		}
		e.fn()
	}
	// Liveness once healed: exactly one region writes, and all agree on it.
	writer := ""
	for _, name := range s.names {
		if _, ok := s.nodes[name].m.CanWrite(s.clock(s.nodes[name])); ok {
			writer = name
		}
	}
	if writer == "" {
		for _, name := range s.names {
			m := s.nodes[name].m
			s.t.Logf("%s: mode %s role %s epoch %d primary %q lease %s", name, m.cfg.Mode, m.role, m.epoch, m.primary, m.lease)
		}
		s.fail("no region accepts writes %s after the faults healed (lease %s)", healFor, s.reg.Lease(s.now))
	}
	for _, name := range s.names {
		if m := s.nodes[name].m; m.epoch != s.reg.Epoch || m.primary != writer {
			s.fail("%s thinks the primary is %q in epoch %d; it is %s in %d", name, m.primary, m.epoch, writer, s.reg.Epoch)
		}
	}
	if s.writes == 0 {
		s.fail("no writes at all")
	}
}

func (s *sim) wake(n *simNode) {
	if s.now < n.pausedTo {
		return
	}
	d := n.deferred
	n.deferred = nil
	for _, fn := range d {
		fn()
	}
	s.drain(n)
}

func TestSimulatedFaults(t *testing.T) {
	seeds := *simRuns
	if testing.Short() {
		seeds = 20
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			runSim(t, seed)
		})
	}
}

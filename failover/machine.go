package failover

import (
	"math"
	"slices"
	"time"

	"github.com/tandemml/tandem"
)

const forever = time.Duration(math.MaxInt64)

// FenceHolder holds the fence lease a region puts at a witness that lost
// its state (see LeaseResult). No region may take this name.
const FenceHolder = "tandem-fence"

// request is the witness request in flight (at most one at a time).
type request struct {
	id     uint64
	kind   ActionKind
	sentAt time.Duration
	lease  tandem.Lease // what we asked for
	prev   int64        // the Rev we expected at the witness
	// detectedAt: for an Acquire, when the old lease was first seen expired.
	detectedAt time.Duration
}

type peer struct {
	st PeerStatus
	at time.Duration
}

type switchover struct {
	target  string
	force   bool
	started time.Duration
	phase   string
}

// Machine is one region's failover state machine. It is not safe for
// concurrent use; Node serializes calls. Every method that takes now
// expects a reading of a monotonic clock (time since an arbitrary origin).
type Machine struct {
	cfg Config

	now     time.Duration // latest clock reading seen
	started bool

	role    tandem.Role
	epoch   int64  // newest epoch seen
	primary string // holder of epoch, "" if unknown

	// Primary state.
	leaseUntil    time.Duration // writes allowed strictly before this
	lastRenewSent time.Duration
	announced     bool // the last Start/StopWrites we emitted was StartWrites
	announcedE    int64
	sw            *switchover

	// Witness view.
	pending       *request
	nextID        uint64
	lease         tandem.Lease // last lease read or returned by the witness
	leaseKnown    bool
	expiredSince  time.Duration // when the current lease was first seen expired (valid if expiredSeen)
	expiredSeen   bool
	lastObserve   time.Duration
	observedOnce  bool
	epochChangeAt time.Duration
	epochChanged  bool

	self      tandem.Position
	peers     map[string]peer
	following string // primary we last emitted Follow for
	followE   int64

	forced     *switchover // forced promotion of this region
	swResult   *SwitchoverState
	detectedAt time.Duration // DetectedAt of the acquire that made us primary
	previous   string        // holder before us, for StartWrites
	heldEpoch  int64         // the last epoch in which the witness granted us the lease
	atRisk     int64         // entries known to exist that we did not hold when we took over
	actions    []Action
	rejected   int

	// Sync standby (Config.Sync; primary only). syncWant is the standby
	// asked for by ProposeSync and not yet confirmed by the witness
	// (syncChange); syncSent: a renewal carrying it went out. syncMaybe
	// lists every standby the witness may hold now: the confirmed one and
	// any sent or about to be sent.
	syncWant   string
	syncChange bool
	syncSent   bool
	syncMaybe  []string
}

// New returns a machine for cfg that starts as a secondary. epoch is the
// newest epoch this region has durably seen (at least its journal head's
// epoch) and pos its journal head: a restarted region never goes back to an
// older epoch. cfg must pass Validate.
func New(cfg Config, epoch int64, pos tandem.Position) *Machine {
	cfg = cfg.withDefaults()
	return &Machine{cfg: cfg, role: tandem.RoleSecondary, epoch: max(epoch, pos.Epoch), self: pos, peers: map[string]peer{}}
}

// Config returns the settings with defaults filled in.
func (m *Machine) Config() Config { return m.cfg }

// clock records a reading. A reading older than the last one means the
// clock went backwards: every time-based judgement made so far is void, so
// the lease confirmation is dropped (writes stop until a renewal sent after
// the jump succeeds) and intervals restart from the new reading.
func (m *Machine) clock(now time.Duration) {
	if !m.started {
		m.started = true
		m.now = now
		m.lastObserve = now - m.cfg.ObserveEvery // observe at once
		return
	}
	if now >= m.now {
		m.now = now
		return
	}
	m.now = now
	if m.leaseUntil != forever {
		m.leaseUntil = 0
	}
	m.lastRenewSent = now - m.cfg.RenewEvery // renew at once
	m.lastObserve = now - m.cfg.ObserveEvery
	if m.pending != nil && m.role == tandem.RoleCandidate {
		m.role = tandem.RoleSecondary
	}
	m.pending = nil // its sentAt is on the old scale
	if m.expiredSeen {
		m.expiredSince = now
	}
	if m.epochChanged {
		m.epochChangeAt = now
	}
	for k, p := range m.peers {
		p.at = now - m.cfg.PeerTimeout - 1 // stale
		m.peers[k] = p
	}
	if m.sw != nil {
		m.sw.started = now
	}
	if m.forced != nil {
		m.forced.started = now
	}
}

// CanWrite reports whether a write may commit at clock reading now, and in
// which epoch. It does not change the machine; the Gate calls it with a
// fresh reading just before every commit, so a process that was paused past
// its lease refuses writes on waking even before its next Tick.
func (m *Machine) CanWrite(now time.Duration) (int64, bool) {
	if now < m.now {
		return m.epoch, false
	}
	return m.epoch, m.writable(now)
}

func (m *Machine) writable(now time.Duration) bool {
	return m.role == tandem.RolePrimary && m.primary == m.cfg.Self && m.sw == nil && now < m.leaseUntil
}

// Ready returns the actions emitted since the last call, and the state.
func (m *Machine) Ready() Ready {
	rd := Ready{
		Actions: m.actions, Role: m.role, Epoch: m.epoch, Primary: m.primary,
		WritesAllowed: m.writable(m.now), Lease: m.lease, Rejected: m.rejected,
		Behind: max(0, m.maxKnown().Seq-m.self.Seq),
	}
	if m.role == tandem.RolePrimary {
		rd.WriteDeadline = m.leaseUntil
	}
	if s := m.sw; s != nil {
		rd.Switchover = &SwitchoverState{Target: s.target, Force: s.force, Phase: s.phase}
	} else if f := m.forced; f != nil {
		rd.Switchover = &SwitchoverState{Target: f.target, Force: true, Phase: f.phase}
	} else if m.swResult != nil {
		r := *m.swResult
		rd.Switchover = &r
	}
	m.actions = nil
	return rd
}

func (m *Machine) emit(a Action) { m.actions = append(m.actions, a) }

// after runs at the end of every event: announce write permission changes.
func (m *Machine) after() {
	w := m.writable(m.now)
	switch {
	case w && (!m.announced || m.announcedE != m.epoch):
		a := Action{Kind: StartWrites, Epoch: m.epoch, Reason: "lease confirmed again"}
		if m.announcedE != m.epoch {
			a.Reason, a.DetectedAt, a.Previous, a.AtRisk = "took the lease", m.detectedAt, m.previous, m.atRisk
		}
		m.announced, m.announcedE = true, m.epoch
		m.emit(a)
	case !w && m.announced:
		m.announced = false
		reason := "lease not confirmed in time"
		switch {
		case m.role != tandem.RolePrimary:
			reason = "no longer primary"
		case m.sw != nil:
			reason = "switchover to " + m.sw.target
		}
		m.emit(Action{Kind: StopWrites, Epoch: m.announcedE, Reason: reason})
	}
}

// Tick advances time: renewals, lease reads, elections and timeouts happen
// here.
func (m *Machine) Tick(now time.Duration) {
	m.clock(now)
	m.tick()
	m.after()
}

func (m *Machine) tick() {
	if m.pending != nil && m.now-m.pending.sentAt >= m.cfg.RequestTimeout {
		if m.pending.kind == Acquire && m.role == tandem.RoleCandidate {
			m.role = tandem.RoleSecondary
		}
		m.pending = nil
	}
	if m.role == tandem.RoleCandidate && m.pending == nil {
		m.role = tandem.RoleSecondary
	}
	if m.forced != nil && m.now-m.forced.started >= m.cfg.SwitchoverTimeout {
		m.swResult = &SwitchoverState{Target: m.forced.target, Force: true, Phase: "aborted",
			Error: "the lease did not become free in time"}
		m.forced = nil
	}
	if m.sw != nil && m.sw.phase == "catching-up" && m.now-m.sw.started >= m.cfg.SwitchoverTimeout {
		// Abort: resume writes if the lease is still ours.
		m.swResult = &SwitchoverState{Target: m.sw.target, Force: m.sw.force, Phase: "aborted",
			Error: "the target did not catch up in time"}
		m.sw = nil
	}
	if m.cfg.NoWitness {
		if m.role == tandem.RoleSecondary && m.epoch == 0 && m.cfg.Self == m.cfg.Initial && m.maxKnown().Epoch == 0 {
			m.role, m.leaseUntil = tandem.RolePrimary, forever
			m.newEpoch(1, m.cfg.Self)
		}
		return
	}
	switch m.role {
	case tandem.RolePrimary:
		if m.sw != nil && m.sw.phase == "releasing" && m.pending == nil {
			m.release()
			return
		}
		due := m.now-m.lastRenewSent >= m.cfg.RenewEvery ||
			(m.now >= m.leaseUntil && m.now-m.lastRenewSent >= m.cfg.ObserveEvery) || // unconfirmed: retry sooner
			(m.syncChange && (!m.syncSent || m.now-m.lastRenewSent >= m.cfg.ObserveEvery)) // a new sync standby: at once
		if m.pending == nil && due {
			m.renew()
		}
	case tandem.RoleSecondary:
		if m.pending == nil && m.leaseKnown && m.lease.Expired() {
			m.elect()
		}
		if m.pending == nil && m.now-m.lastObserve >= m.observeInterval() {
			m.observe()
		}
	}
}

// observeInterval reads the lease again when it is due to expire, or every
// ObserveEvery, whichever comes first.
func (m *Machine) observeInterval() time.Duration {
	iv := m.cfg.ObserveEvery
	if m.leaseKnown && !m.lease.Expired() && m.lease.TTL < iv {
		iv = m.lease.TTL
	}
	return iv
}

func (m *Machine) observe() {
	m.lastObserve = m.now
	m.nextID++
	m.pending = &request{id: m.nextID, kind: Observe, sentAt: m.now}
	m.emit(Action{Kind: Observe, ID: m.nextID})
}

func (m *Machine) request(kind ActionKind, prev, next tandem.Lease, detectedAt time.Duration) {
	m.nextID++
	// The expected lease carries the Rev of the lease the witness last
	// returned: a request of ours that gets delayed past a newer one can
	// then never land (tandem.Lease.Rev).
	prev = tandem.Lease{Holder: prev.Holder, Epoch: prev.Epoch, Rev: prev.Rev}
	m.pending = &request{id: m.nextID, kind: kind, sentAt: m.now, lease: next, prev: prev.Rev, detectedAt: detectedAt}
	if kind == Renew {
		m.lastRenewSent = m.now
	}
	m.emit(Action{Kind: kind, ID: m.nextID, Prev: prev, Lease: next, Target: next.Next})
}

func (m *Machine) release() {
	sync := m.lease.Sync
	if m.cfg.Sync && !m.sw.force {
		// The target caught up with every entry after writes stopped: it
		// holds every acknowledged write, and must be the one that may
		// take the lease if it does not come for it at once.
		sync = m.sw.target
	}
	m.request(Release, m.own(), tandem.Lease{Holder: m.cfg.Self, Epoch: m.epoch, Next: m.sw.target, Sync: sync}, 0)
}

// renew asks the witness to extend our lease, naming the sync standby
// asked for (if a change is pending) or the current one.
func (m *Machine) renew() {
	sync := m.lease.Sync
	if m.syncChange {
		sync, m.syncSent = m.syncWant, true
	}
	m.request(Renew, m.own(), tandem.Lease{Holder: m.cfg.Self, Epoch: m.epoch, TTL: m.cfg.LeaseTTL, Sync: sync}, 0)
}

// ProposeSync asks the witness to name region as the sync standby
// (Config.Sync, primary only) in the next renewal, which is sent at once.
// The caller (the primary's replication) must have checked that region
// holds every entry up to the journal head, and must acknowledge no write
// that some region in SyncView().Standbys lacks: from this call on, that
// list includes region until the witness confirms the change. "" names
// nobody (on_no_ack: degrade). It reports whether the proposal was taken
// (false: not primary, not sync mode, or not a region).
func (m *Machine) ProposeSync(now time.Duration, region string) bool {
	m.clock(now)
	defer m.after()
	if !m.cfg.Sync || m.cfg.NoWitness || m.role != tandem.RolePrimary ||
		(region != "" && (region == m.cfg.Self || !slices.Contains(m.cfg.Regions, region))) {
		return false
	}
	if !m.syncChange && m.lease.Sync == region {
		return true
	}
	if !m.syncChange || m.syncWant != region {
		m.syncWant, m.syncChange, m.syncSent = region, true, false
	}
	if !slices.Contains(m.syncMaybe, region) {
		m.syncMaybe = append(m.syncMaybe, region)
	}
	m.tick()
	return true
}

// SyncView is what a sync primary's replication needs to acknowledge a
// write (see Machine.SyncView).
type SyncView struct {
	// Enabled: sync durability with a witness. Otherwise nothing here
	// applies (no standby is ever named).
	Enabled bool
	// Primary: this region is primary (it holds, or held and has not
	// lost, the lease of its epoch). A write is never acknowledged
	// otherwise.
	Primary bool
	Self    string
	// Confirmed is the sync standby in the lease the witness last
	// confirmed: "" (none: async, or degraded) or Self (none named yet,
	// after a takeover) or a region.
	Confirmed string
	// Changing: a new standby was proposed and is not confirmed yet.
	Changing bool
	// Standbys lists every standby the witness may name now (Confirmed
	// and any proposed since): a write is acknowledged only when each of
	// them (other than "") has applied it.
	Standbys []string
}

// Named returns the confirmed sync standby, or "" when none is named.
func (v SyncView) Named() string {
	if v.Confirmed == v.Self {
		return ""
	}
	return v.Confirmed
}

// Degraded reports whether the witness confirmed that no standby is named
// and no change is under way: only then may a primary with on_no_ack:
// degrade acknowledge a write no standby holds.
func (v SyncView) Degraded() bool {
	return v.Enabled && v.Primary && v.Confirmed == "" && !v.Changing
}

// Acked reports whether a write at journal seq may be acknowledged under
// rule "every region the witness may name as sync standby holds it":
// applied returns what a region has applied. With no standby named (or
// only "" named) it is false.
func (v SyncView) Acked(seq int64, applied func(region string) int64) bool {
	if !v.Enabled || !v.Primary {
		return false
	}
	named := false
	for _, r := range v.Standbys {
		switch {
		case r == "":
			continue
		case r == v.Self || applied(r) < seq:
			return false
		}
		named = true
	}
	return named
}

// SyncView returns the sync standby state (meaningful in sync mode on the
// primary).
func (m *Machine) SyncView() SyncView {
	v := SyncView{Enabled: m.cfg.Sync && !m.cfg.NoWitness, Primary: m.role == tandem.RolePrimary && m.primary == m.cfg.Self, Self: m.cfg.Self,
		Confirmed: m.lease.Sync, Changing: m.syncChange}
	v.Standbys = slices.Clone(m.syncMaybe)
	return v
}

// own is the lease this region holds (or held) in its epoch, with the
// revision the witness last returned for it.
func (m *Machine) own() tandem.Lease {
	l := tandem.Lease{Holder: m.cfg.Self, Epoch: m.epoch}
	if m.leaseKnown && m.lease.Same(l) {
		l.Rev = m.lease.Rev
	}
	return l
}

// elect runs on a secondary that knows the lease has expired: it decides
// whether this region should try to take it now.
func (m *Machine) elect() {
	l := m.lease
	since := m.now - m.expiredSince
	take := false
	detected := m.expiredSince
	switch {
	case m.forced != nil:
		take = true
	case l.Holder == "" && l.Epoch == 0 && m.epoch == 0 && m.maxKnown().Epoch == 0:
		take = m.cfg.Self == m.cfg.Initial // bootstrap: only the initial primary
		detected = 0
	case l.Next == m.cfg.Self:
		take = true // planned switchover handed it to us
	case l.Holder == m.cfg.Self && l.Next != "" && since >= m.cfg.SwitchoverTimeout:
		// We handed the lease over and the target never took it: nobody
		// has written since, so take it back (in any mode).
		take = true
	case l.Holder == FenceHolder && l.Epoch == m.epoch && m.heldEpoch == m.epoch:
		// The fence put up after the witness lost its state ran out, and
		// we are the last primary we know of: carry on (in any mode).
		take = true
	case l.Holder == m.cfg.Self && l.Next == "" && l.Epoch == m.epoch:
		// Our own lease ran out (witness unreachable, process paused) and
		// nobody took it: taking it back is no failover (in any mode).
		take = true
	case m.cfg.Mode != Automatic:
	case l.Holder != m.cfg.Self && m.epochChanged && m.now-m.epochChangeAt < m.cfg.Cooldown:
		// Cooldown after a change of primary; the old holder taking its
		// own expired lease back is not a failover.
	case l.Next != "" && since < 2*m.cfg.ElectionGrace:
		// a planned successor is named: give it a head start
	case m.cfg.Sync && l.Sync != "":
		// Sync durability: only the named standby is known to hold every
		// acknowledged write. Nobody else takes the lease automatically,
		// however long it stays free (an operator can force it). After a
		// takeover the lease names its holder until the new primary has a
		// standby: then only that holder may take it back.
		take = l.Sync == m.cfg.Self
	case !m.withinLag(m.self):
	default:
		best := m.bestCandidate()
		take = best == m.cfg.Self || since >= m.cfg.ElectionGrace
	}
	if take {
		m.previous = l.Holder
		next := tandem.Lease{Holder: m.cfg.Self, Epoch: max(l.Epoch, m.maxKnownEpoch()) + 1, TTL: m.cfg.LeaseTTL}
		if m.cfg.Sync {
			// No standby yet: we alone are known to hold every
			// acknowledged write (sync writes wait until one is named).
			next.Sync = m.cfg.Self
		}
		m.role = tandem.RoleCandidate
		m.request(Acquire, l, next, detected)
	}
}

// maxKnown is the most advanced journal position this region knows of,
// its own or any peer's last report (fresh or not: a dead primary's last
// known head is exactly what a lagging secondary would lose).
func (m *Machine) maxKnown() tandem.Position {
	p := m.self
	for _, q := range m.peers {
		if p.Less(q.st.Position) {
			p = q.st.Position
		}
	}
	return p
}

func (m *Machine) maxKnownEpoch() int64 {
	e := m.epoch
	for _, q := range m.peers {
		e = max(e, q.st.Epoch, q.st.Position.Epoch)
	}
	return e
}

func (m *Machine) withinLag(p tandem.Position) bool {
	if m.cfg.MaxLagOnFailover < 0 {
		return true
	}
	return m.maxKnown().Seq-p.Seq <= m.cfg.MaxLagOnFailover
}

func (m *Machine) rank(name string) int {
	if i := slices.Index(m.cfg.Regions, name); i >= 0 {
		return i
	}
	return len(m.cfg.Regions)
}

// better reports whether candidate a should be preferred to b: the more
// advanced position wins, then the earlier region in the configured order,
// then the smaller name. Every region computes the same order.
func (m *Machine) better(a string, pa tandem.Position, b string, pb tandem.Position) bool {
	if pa.Seq != pb.Seq {
		return pa.Seq > pb.Seq
	}
	if pa.Epoch != pb.Epoch {
		return pa.Epoch > pb.Epoch
	}
	if ra, rb := m.rank(a), m.rank(b); ra != rb {
		return ra < rb
	}
	return a < b
}

// bestCandidate is the region that should take the expired lease among this
// one and the healthy, fresh, eligible peers (the old holder excluded: it
// failed to renew).
func (m *Machine) bestCandidate() string {
	best, bp := m.cfg.Self, m.self
	for name, q := range m.peers {
		if name == m.cfg.Self || name == m.lease.Holder || !q.st.Healthy ||
			m.now-q.at > m.cfg.PeerTimeout || q.st.Role == tandem.RolePrimary || !m.withinLag(q.st.Position) {
			continue
		}
		if m.better(name, q.st.Position, best, bp) {
			best, bp = name, q.st.Position
		}
	}
	return best
}

// LeaseResult reports the outcome of witness request id: the lease the
// witness returned (on success the new lease, on an ECONFLICT error the
// current one) and the error. Any other error means the outcome is
// unknown. Replies to forgotten requests are ignored.
func (m *Machine) LeaseResult(now time.Duration, id uint64, l tandem.Lease, err error) {
	m.clock(now)
	m.leaseResult(id, l, err)
	m.tick()
	m.after()
}

func (m *Machine) leaseResult(id uint64, l tandem.Lease, err error) {
	req := m.pending
	if req == nil || req.id != id {
		return
	}
	m.pending = nil
	known := err == nil || tandem.ErrorCode(err) == tandem.ECONFLICT
	if !known {
		if req.kind == Acquire {
			m.role = tandem.RoleSecondary
		}
		return
	}
	if l.Epoch < m.epoch {
		// A witness answering with an older epoch than one we have seen is
		// not believed...
		m.rejected++
		if req.kind == Acquire {
			m.role = tandem.RoleSecondary
		}
		if !l.Expired() {
			return
		}
		// ...but an expired lease in an older epoch means the witness lost
		// its state (restored from an old backup, a new etcd). Some region
		// we do not know of may still hold a lease the witness granted
		// before; it stops writing within one lease length of the loss.
		// Put a fence there: a lease in the newest epoch we know that no
		// region can renew, timed on the witness's own clock. When it runs
		// out, every earlier lease has too, and an election follows with
		// an epoch above every one seen.
		m.request(Fence, l, tandem.Lease{Holder: FenceHolder, Epoch: max(m.epoch, m.maxKnownEpoch()), TTL: m.cfg.LeaseTTL}, 0)
		return
	}

	ok := err == nil && l.Same(req.lease) && req.kind != Observe
	switch {
	case ok && req.kind == Acquire:
		m.heldEpoch = l.Epoch
		m.setLease(l)
		m.role = tandem.RolePrimary
		m.leaseUntil = req.sentAt + m.cfg.LeaseTTL - m.cfg.Margin
		m.lastRenewSent = req.sentAt
		m.forced = nil
		m.detectedAt = req.detectedAt // after() announces StartWrites
		m.atRisk = max(0, m.maxKnown().Seq-m.self.Seq)
		m.syncConfirmed(l.Sync)
	case ok && req.kind == Renew && m.role == tandem.RolePrimary:
		m.heldEpoch = l.Epoch
		m.setLease(l)
		m.leaseUntil = max(m.leaseUntil, req.sentAt+m.cfg.LeaseTTL-m.cfg.Margin)
		m.syncConfirmed(l.Sync)
	case ok && req.kind == Release:
		m.setLease(l)
		m.role = tandem.RoleSecondary
		m.leaseUntil = 0
		m.swResult = &SwitchoverState{Target: l.Next, Phase: "released"}
		m.sw = nil
		m.primary = ""
		m.syncReset()
	default:
		// An observation, or a conflict: l is the witness's current lease.
		if req.kind == Acquire {
			m.role = tandem.RoleSecondary
		}
		m.setLease(l)
		if err != nil && req.kind == Renew && m.role == tandem.RolePrimary && l.Holder == m.cfg.Self && l.Epoch == m.epoch &&
			!l.Expired() && l.Rev != req.prev {
			// Our lease, at another revision than we sent: an earlier
			// renewal of ours that we gave up on landed late. No request
			// of ours built on an older revision can land any more, so
			// the witness holds exactly l (its Sync included). Adopt it
			// and renew again at once.
			m.syncConfirmed(l.Sync)
			m.renew()
			return
		}
		if req.kind == Observe && m.role == tandem.RoleSecondary && !l.Expired() && l.Holder == m.cfg.Self {
			// The witness says we hold the lease (a restart, or an
			// acquire whose reply was lost): confirm it by renewing.
			m.role = tandem.RolePrimary
			m.leaseUntil = 0
			m.syncReset()
			m.syncMaybe = []string{l.Sync}
			m.renew()
		}
	}
}

// syncConfirmed records that the witness holds sync standby name in our
// lease: it is now the only one it may hold, unless a newer proposal is
// still to be sent.
func (m *Machine) syncConfirmed(name string) {
	if m.syncChange && m.syncWant == name {
		m.syncChange, m.syncSent, m.syncWant = false, false, ""
	}
	m.syncMaybe = []string{name}
	if m.syncChange {
		m.syncMaybe = append(m.syncMaybe, m.syncWant)
	}
}

func (m *Machine) syncReset() {
	m.syncWant, m.syncChange, m.syncSent, m.syncMaybe = "", false, false, nil
}

// setLease records a lease read from the witness (its epoch is not older
// than m.epoch) and reacts to a change of holder or epoch.
func (m *Machine) setLease(l tandem.Lease) {
	if !m.leaseKnown || !l.Same(m.lease) || l.Expired() != m.lease.Expired() {
		m.expiredSeen = l.Expired()
		m.expiredSince = m.now
	}
	m.lease, m.leaseKnown = l, true
	if holder := l.Holder; holder != FenceHolder && (l.Epoch > m.epoch || (l.Epoch == m.epoch && m.primary == "" && holder != "")) {
		m.newEpoch(l.Epoch, holder)
	} else if holder == FenceHolder && l.Epoch > m.epoch {
		m.newEpoch(l.Epoch, "")
	}
	if (m.role == tandem.RolePrimary) && (l.Holder != m.cfg.Self || l.Epoch != m.epoch || l.Expired()) {
		m.demote()
	}
	m.observedOnce = true
}

// newEpoch records that primary holds epoch (> m.epoch, or m.epoch with the
// primary newly learned).
func (m *Machine) newEpoch(epoch int64, primary string) {
	if epoch > m.epoch && m.primary != "" && primary != m.primary {
		m.epochChanged, m.epochChangeAt = true, m.now // a change of primary: cooldown starts
	}
	if epoch > m.epoch {
		if m.leaseKnown && m.lease.Epoch < epoch {
			m.leaseKnown = false // stale view: read the witness again before any election
		}
	}
	m.epoch, m.primary = epoch, primary
	if primary != m.cfg.Self && m.role != tandem.RoleSecondary {
		m.demote()
	}
	if primary != "" && primary != m.cfg.Self && (m.following != primary || m.followE != epoch) {
		m.following, m.followE = primary, epoch
		m.emit(Action{Kind: Follow, Target: primary, Epoch: epoch})
	}
}

// demote turns a primary or candidate into a secondary at once.
func (m *Machine) demote() {
	if m.role == tandem.RoleCandidate {
		m.pending = nil
	}
	m.role = tandem.RoleSecondary
	if m.leaseUntil != 0 {
		m.leaseUntil = 0
	}
	if m.sw != nil {
		m.sw = nil
	}
	m.syncReset()
}

// Peer records what this region learned about another region. A peer in a
// newer epoch fences this region (as Fenced); a claim to be primary in an
// older epoch is rejected, though the peer's position still counts.
func (m *Machine) Peer(now time.Duration, st PeerStatus) {
	m.clock(now)
	if st.Name != "" && st.Name != m.cfg.Self {
		m.peers[st.Name] = peer{st: st, at: m.now}
		switch {
		case st.Role == tandem.RolePrimary && (st.Epoch > m.epoch || (st.Epoch == m.epoch && m.primary == "")):
			m.newEpoch(st.Epoch, st.Name)
		case st.Epoch > m.epoch:
			m.newEpoch(st.Epoch, "") // our epoch is over, whoever holds the new one
		case st.Role == tandem.RolePrimary && st.Epoch < m.epoch:
			m.rejected++
		}
	}
	m.tick()
	m.after()
}

// Local records this region's own journal head.
func (m *Machine) Local(now time.Duration, pos tandem.Position) {
	m.clock(now)
	if m.self.Less(pos) {
		m.self = pos
	}
	if pos.Epoch > m.epoch {
		m.newEpoch(pos.Epoch, "")
	}
	m.after()
}

// Fenced reports that replication traffic, a forwarded write or a peer
// showed epoch (with its primary, if known). A newer epoch than ours
// demotes this region at once; an older one is rejected and reported
// false: the caller must refuse the input that carried it.
func (m *Machine) Fenced(now time.Duration, epoch int64, primary string) bool {
	m.clock(now)
	defer m.after()
	switch {
	case epoch < m.epoch:
		m.rejected++
		return false
	case epoch > m.epoch:
		m.newEpoch(epoch, primary)
	case primary != "" && m.primary == "":
		m.newEpoch(epoch, primary)
	}
	return true
}

// Switchover is an operator's command. On the primary (force or not) it
// hands the lease to target: writes stop, then (unless force) target is
// brought up to the last entry (CatchUp), then the lease is released naming
// target, which takes it with the next epoch. With force on a secondary
// whose target is itself, the region takes the lease as soon as the
// witness lets it, ignoring mode, cooldown and lag (the operator accepts the
// loss). Without a witness, force promotes at once. EINVALID for an unknown
// target, EINVALIDSTATE when this region cannot carry the command out.
func (m *Machine) Switchover(now time.Duration, target string, force bool) error {
	m.clock(now)
	defer m.after()
	if !slices.Contains(m.cfg.Regions, target) {
		return tandem.Errorf(tandem.EINVALID, "switchover: %q is not a region of this workspace", target)
	}
	switch {
	case m.role == tandem.RolePrimary && target == m.cfg.Self:
		return tandem.Errorf(tandem.EINVALIDSTATE, "switchover: %s is already the primary", target)
	case m.role == tandem.RolePrimary:
		if m.sw != nil {
			return tandem.Errorf(tandem.EINVALIDSTATE, "switchover to %s already in progress", m.sw.target)
		}
		m.sw = &switchover{target: target, force: force, started: m.now, phase: "catching-up"}
		m.after() // StopWrites before anything else
		if force {
			m.sw.phase = "releasing"
			if m.pending == nil {
				m.release()
			}
		} else {
			m.emit(Action{Kind: CatchUp, Target: target, Epoch: m.epoch})
		}
		return nil
	case target != m.cfg.Self:
		return tandem.Errorf(tandem.EINVALIDSTATE, "switchover: send it to the primary (%s), or use force on %s", m.primary, target)
	case !force:
		return tandem.Errorf(tandem.EINVALIDSTATE, "switchover: %s is not the primary; a planned switchover starts on the primary, or use force", m.cfg.Self)
	case m.cfg.NoWitness:
		m.role, m.leaseUntil, m.detectedAt = tandem.RolePrimary, forever, 0
		m.previous, m.atRisk = m.primary, max(0, m.maxKnown().Seq-m.self.Seq)
		m.newEpoch(max(m.epoch, m.maxKnownEpoch())+1, m.cfg.Self)
		return nil
	}
	m.forced = &switchover{target: target, force: true, started: m.now, phase: "waiting-lease"}
	if m.pending == nil {
		m.observe()
	}
	return nil
}

// CaughtUp reports that the switchover target holds every entry this
// primary wrote (read under the journal lock after StopWrites). The lease
// is then released to it.
func (m *Machine) CaughtUp(now time.Duration, target string) {
	m.clock(now)
	defer m.after()
	if m.sw == nil || m.sw.target != target || m.sw.phase != "catching-up" || m.role != tandem.RolePrimary {
		return
	}
	m.sw.phase = "releasing"
	if m.cfg.NoWitness {
		m.role, m.primary, m.leaseUntil = tandem.RoleSecondary, "", 0
		m.sw = nil
		return
	}
	if m.pending == nil {
		m.release()
	}
}

// Poke asks for a lease read at the next opportunity (e.g. a switchover
// target told that the lease was released to it).
func (m *Machine) Poke(now time.Duration) {
	m.clock(now)
	m.lastObserve = m.now - m.cfg.ObserveEvery
	m.tick()
	m.after()
}

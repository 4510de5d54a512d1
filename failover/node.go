package failover

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tandemml/tandem"
)

// Clock returns a monotonic reading. Tests inject fake ones.
type Clock func() time.Duration

// goClock reads Go's monotonic clock (time since the call).
func goClock() func() time.Duration {
	start := time.Now()
	return func() time.Duration { return time.Since(start) }
}

// SystemClock is the clock a Node uses by default: CLOCK_BOOTTIME on Linux
// (it counts time spent suspended), Go's monotonic clock elsewhere.
func SystemClock() Clock { return bootClock() }

// Handler performs the region-side actions of the state machine
// (StopWrites, StartWrites, Follow, CatchUp). The integration implements
// it. Node calls it from one goroutine, in order; it must return quickly
// and run long work (catch-up, rewind) in the background, reporting back
// with Node.CaughtUp and Node.Local.
type Handler interface {
	Act(ctx context.Context, a Action)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, a Action)

// Act calls f.
func (f HandlerFunc) Act(ctx context.Context, a Action) { f(ctx, a) }

// Status is what a Node reports (tandem status, the replication status
// endpoint, the X-Tandem-Role header).
type Status struct {
	Region        string           `json:"region"`
	Role          tandem.Role      `json:"role"`
	Epoch         int64            `json:"epoch"`
	Primary       string           `json:"primary,omitempty"`
	WritesAllowed bool             `json:"writes_allowed"`
	Lease         tandem.Lease     `json:"lease"`
	Mode          Mode             `json:"mode"`
	Witness       bool             `json:"witness"` // false: only manual failover is possible
	Switchover    *SwitchoverState `json:"switchover,omitempty"`
	Rejected      int              `json:"rejected_old_epoch_inputs"`
	Behind        int64            `json:"behind"` // entries other regions hold and this one lacks (at risk on --force)
}

// Node runs a Machine against a witness and a real clock. It is the
// region's tandem.Gate. All methods are safe for concurrent use.
type Node struct {
	mu    sync.Mutex
	m     *Machine
	w     tandem.Witness // nil with Config.NoWitness
	h     Handler
	clock Clock
	log   *slog.Logger

	queue  []Action // region actions waiting for the handler
	kick   chan struct{}
	status Status
	// armed is the epoch whose StartWrites the handler has completed:
	// writes open only then, so the region has stopped applying
	// replicated entries before it accepts its first write.
	armed int64
}

// NodeOptions are a Node's collaborators; zero values take defaults.
type NodeOptions struct {
	Clock  Clock        // default SystemClock()
	Logger *slog.Logger // default slog.Default()
}

// NewNode returns a Node for cfg, starting from the newest epoch the region
// has durably seen and its journal head (see New). w may be nil only with
// cfg.NoWitness. Call Run to start it. EINVALID for a bad config.
func NewNode(cfg Config, epoch int64, head tandem.Position, w tandem.Witness, h Handler, opts NodeOptions) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if w == nil && !cfg.NoWitness {
		return nil, tandem.Errorf(tandem.EINVALID, "failover: no witness configured; only manual failover (no_witness) is possible")
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if h == nil {
		h = HandlerFunc(func(context.Context, Action) {})
	}
	n := &Node{m: New(cfg, epoch, head), w: w, h: h, clock: opts.Clock,
		log: opts.Logger.With("region", cfg.Self), kick: make(chan struct{}, 1)}
	n.status = Status{Region: cfg.Self, Role: tandem.RoleSecondary, Mode: n.m.cfg.Mode, Witness: !cfg.NoWitness}
	return n, nil
}

// WriteEpoch implements tandem.Gate: the epoch to write in, or EUNAVAILABLE
// (Detail "primary" names the primary when known) when this region may not
// write now. It reads the clock itself, so a region that was paused past
// its lease refuses on waking, before any tick.
func (n *Node) WriteEpoch(ctx context.Context) (int64, error) {
	n.mu.Lock()
	e, ok := n.m.CanWrite(n.clock())
	ok = ok && n.armed == e
	primary := n.m.primary
	n.mu.Unlock()
	if ok {
		return e, nil
	}
	err := tandem.Errorf(tandem.EUNAVAILABLE, "region %s is not accepting writes (primary: %s, epoch %d)", n.m.cfg.Self, orUnknown(primary), e)
	err.Detail = map[string]string{"epoch": fmt.Sprint(e)}
	if primary != "" {
		err.Detail["primary"] = primary
	}
	return 0, err
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Status returns the state after the last event. WritesAllowed is what
// the write gate does: the machine allows writes and the handler has
// completed this epoch's StartWrites (before that a write is refused, so
// the status must not invite one).
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.status
	st.WritesAllowed = st.WritesAllowed && n.armed == st.Epoch
	return st
}

// Peer, Local, Fenced, Switchover, CaughtUp and Poke feed the machine
// (see the Machine methods of the same names).

// Peer records another region's status.
func (n *Node) Peer(st PeerStatus) {
	n.event(func(now time.Duration) { n.m.Peer(now, st) })
}

// Local records this region's journal head (after every commit or apply
// batch; cheap).
func (n *Node) Local(pos tandem.Position) {
	n.event(func(now time.Duration) { n.m.Local(now, pos) })
}

// Fenced reports an epoch seen in replication traffic or a forwarded
// write; false means it is older than the newest seen and the input that
// carried it must be refused.
func (n *Node) Fenced(epoch int64, primary string) bool {
	var ok bool
	n.event(func(now time.Duration) { ok = n.m.Fenced(now, epoch, primary) })
	return ok
}

// Switchover starts an operator's switchover (see Machine.Switchover).
func (n *Node) Switchover(target string, force bool) error {
	var err error
	n.event(func(now time.Duration) { err = n.m.Switchover(now, target, force) })
	return err
}

// CaughtUp reports that the switchover target holds every entry.
func (n *Node) CaughtUp(target string) {
	n.event(func(now time.Duration) { n.m.CaughtUp(now, target) })
}

// SyncView returns the sync standby state (see Machine.SyncView). The
// primary's replication reads it before acknowledging a sync write.
func (n *Node) SyncView() SyncView {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.m.SyncView()
}

// ProposeSync asks the witness to name region as the sync standby (see
// Machine.ProposeSync for what the caller must guarantee).
func (n *Node) ProposeSync(region string) bool {
	var ok bool
	n.event(func(now time.Duration) { ok = n.m.ProposeSync(now, region) })
	return ok
}

// Poke makes the node read the lease now.
func (n *Node) Poke() { n.event(n.m.Poke) }

func (n *Node) event(fn func(now time.Duration)) {
	n.mu.Lock()
	fn(n.clock())
	n.collect()
	n.mu.Unlock()
	n.signal()
}

func (n *Node) signal() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// collect takes the machine's Ready: witness requests start at once (they
// must be sent no earlier than the machine emitted them: the lease is
// counted from then), region actions queue for the handler. n.mu held.
func (n *Node) collect() {
	rd := n.m.Ready()
	n.status.Role, n.status.Epoch, n.status.Primary = rd.Role, rd.Epoch, rd.Primary
	n.status.WritesAllowed, n.status.Lease, n.status.Switchover, n.status.Rejected = rd.WritesAllowed, rd.Lease, rd.Switchover, rd.Rejected
	n.status.Behind = rd.Behind
	for _, a := range rd.Actions {
		if a.Kind == StartWrites && a.DetectedAt != 0 {
			a.DetectedTime = time.Now().Add(a.DetectedAt - n.clock())
		}
		if a.Kind.IsWitness() {
			go n.ask(a)
			continue
		}
		n.queue = append(n.queue, a)
	}
}

// ask performs a witness request and reports the outcome.
func (n *Node) ask(a Action) {
	ctx, cancel := context.WithTimeout(context.Background(), n.m.cfg.RequestTimeout)
	defer cancel()
	var l tandem.Lease
	var err error
	if a.Kind == Observe {
		l, err = n.w.Get(ctx)
	} else {
		l, err = n.w.CompareAndSwap(ctx, a.Prev, a.Lease)
	}
	if err != nil && tandem.ErrorCode(err) != tandem.ECONFLICT {
		n.log.Debug("witness request failed", "action", a.String(), "err", err)
	}
	n.event(func(now time.Duration) { n.m.LeaseResult(now, a.ID, l, err) })
}

// Run ticks the machine and hands region actions to the handler until ctx
// ends.
func (n *Node) Run(ctx context.Context) error {
	cfg := n.m.cfg
	every := max(min(cfg.RenewEvery, cfg.ObserveEvery)/4, 5*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	n.event(n.m.Tick)
	for {
		n.mu.Lock()
		q := n.queue
		n.queue = nil
		n.mu.Unlock()
		for _, a := range q {
			n.log.Info("failover action", "action", a.Kind.String(), "epoch", a.Epoch, "target", a.Target, "reason", a.Reason)
			n.h.Act(ctx, a)
			if a.Kind == StartWrites {
				n.mu.Lock()
				n.armed = a.Epoch
				n.mu.Unlock()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			n.event(n.m.Tick)
		case <-n.kick:
		}
	}
}

// Package leader runs a region's failover against the world. It decides
// nothing itself: when a region becomes primary, stops writing or follows
// another is decided by failover.Machine (pure), which failover.Node runs
// with a real clock against the workspace's witness. Runner starts that Node
// in a running region, feeds it this region's journal head and the other
// regions' status, and carries out what it decides: it installs the Node as
// the store's write Gate, switches the region's role (tandem.RoleBox, which
// replication, write forwarding and the status endpoint read), records each
// change of primary in the journal (`tandem history`), brings a switchover
// target up to date, and, when this region rejoins a newer primary, keeps
// its divergent tail in a divergence report and rewinds (by re-bootstrapping
// from the new primary). MachineConfig is the Machine's configuration read
// from the workspace file.
//
// HTTP (mounted at Prefix; operator calls need the workspace peer key):
//
//	GET  status                 failover.Status plus journal head (flat role/epoch/writes_allowed) [peer key or reader]
//	GET  positions?after=&limit= journal positions, for divergence checks  [peer key or reader]
//	GET  history                changes of primary (tandem.EpochRecord)  [peer key or reader]
//	GET  divergence             divergence reports kept here (summaries)      [peer key or admin]
//	GET  divergence/{id}        one report (failover.Report JSON)            [peer key or admin]
//	POST switchover             {"target": R, "force": bool}                 [peer key]
//	POST poke[?reason=new-primary] read the lease now (a switchover target;
//	                            or any region, told by a new primary)          [peer key]
//	POST replay                 {"entries": [...]} re-commit entries here    [peer key]
//	                            {"report": ID, "seqs": [...]} a report's entries [peer key or admin]
//
// "admin", "reader": a caller the region's guard (SetGuard: package auth's
// route table, tandem.ActionWorkspaceWrite, tandem.ActionStatusRead)
// admits; with authentication off, anyone.
package leader

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/tlsconf"
	"github.com/tandemml/tandem/witness"
	"github.com/tandemml/tandem/workspace"
)

// Prefix is where the failover endpoints live.
const Prefix = "/api/tandem/v1/failover/"

// HeaderEpoch carries the region's epoch on every response (and, on a
// forwarded write, the forwarder's: see replication.Frontend).
const HeaderEpoch = replication.HeaderEpoch

// Config is what a Runner needs.
type Config struct {
	Region    string
	Workspace *workspace.Workspace // must name a witness
	Key       []byte               // peer key
	Store     tandem.FailoverStore
	Roles     *tandem.RoleBox // the region's role; the driver sets it
	Log       *slog.Logger
	// OnPrimary runs (in its own goroutine) once writes are open after this
	// region became primary, e.g. to create the Default experiment.
	OnPrimary func(ctx context.Context)
	Client    *http.Client
	// TLS is the peer links' TLS client configuration, for the default
	// Client and the built-in witness's client; nil: Go's defaults.
	TLS *tls.Config
	// Witness overrides the workspace's witness (tests).
	Witness tandem.Witness
}

// Runner runs one region's failover.
type Runner struct {
	cfg   Config
	log   *slog.Logger
	node  *failover.Node
	fcfg  failover.Config
	token string
	w     tandem.Witness
	mux   *http.ServeMux

	mu  sync.Mutex
	gen int64 // incremented at every Follow: a newer one supersedes a rejoin in progress
	// followed is the primary and epoch a finished Follow (after its
	// divergence check) pointed replication at; cleared when this region
	// writes. Roles cannot tell: StopWrites already names the new primary.
	followed followMark
	peers    map[string]peerState // last known status per peer
	poked    string               // switchover target already told to take the lease
	runCtx   context.Context
	pokedAt  time.Time // a primary handed us its lease (planned switchover)
	forcedAt time.Time // an operator forced this region's promotion
	// resume: no witness, and this region was the primary when it stopped.
	resume bool
	// early is closed when a node started by New (no witness) stops;
	// stopEarly stops it.
	early     chan struct{}
	stopEarly context.CancelFunc
	// recording counts epoch records (and OnPrimary) in progress.
	recording sync.WaitGroup
	replaying sync.Mutex // one replay at a time (replay.go)
	// guard admits callers without the peer key to the status reads and
	// the divergence and replay endpoints (SetGuard).
	guard func(http.Handler) http.Handler
}

type peerState struct {
	pos   tandem.Position
	epoch int64
	role  tandem.Role
}

// StatusDoc is what GET status answers: the failover status, flat (role,
// epoch, writes_allowed at the top, as the gateway reads them), plus the
// region's journal head and URL.
type StatusDoc struct {
	failover.Status
	Head tandem.Position `json:"head"`
	URL  string          `json:"url,omitempty"`
	// LeaseExpires is the lease's expiry as this region last read it.
	LeaseExpires *time.Time `json:"lease_expires,omitempty"`
}

// Config builds the failover settings of region self from the workspace
// file: the region list in priority order (the file's primary first, then
// the file's order), the file's primary as the initial one.
func MachineConfig(ws *workspace.Workspace, self string) failover.Config {
	regions := []string{ws.Primary}
	for _, r := range ws.Regions {
		if r.Name != ws.Primary {
			regions = append(regions, r.Name)
		}
	}
	mode := failover.Manual
	if ws.Failover == "automatic" {
		mode = failover.Automatic
	}
	return failover.Config{Self: self, Regions: regions, Initial: ws.Primary, Mode: mode,
		NoWitness: ws.Witness == "", LeaseTTL: ws.LeaseTTL, MaxLagOnFailover: ws.MaxLagEntries, Cooldown: ws.Cooldown,
		Sync: ws.Durability.Mode == workspace.Sync}
}

// New opens the witness and builds the Node; it installs the Node as the
// store's gate and sets the region secondary until the machine decides.
// Call Run. EINVALID for a bad configuration.
func New(ctx context.Context, cfg Config) (*Runner, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 5 * time.Second}
		if cfg.TLS != nil {
			cfg.Client.Transport = tlsconf.Transport(cfg.TLS)
		}
	}
	ws := cfg.Workspace
	if ws == nil {
		return nil, tandem.Errorf(tandem.EINVALID, "leader: no workspace")
	}
	d := &Runner{cfg: cfg, log: cfg.Log.With("component", "failover"), peers: map[string]peerState{}, mux: http.NewServeMux()}
	if len(cfg.Key) > 0 {
		d.token = replication.Token(cfg.Key)
	}
	d.fcfg = MachineConfig(ws, cfg.Region)
	switch {
	case cfg.Witness != nil:
		d.fcfg.NoWitness = false
		d.w = cfg.Witness
	case d.fcfg.NoWitness:
		// No witness: only an operator's forced failover changes the
		// primary (status says so).
	default:
		var key string
		if strings.HasPrefix(ws.Witness, "http") {
			k, err := ws.WitnessKeyValue()
			if err != nil {
				return nil, err
			}
			key = k
		}
		var hc *http.Client // nil: the witness package's default
		if cfg.TLS != nil {
			hc = &http.Client{Transport: tlsconf.Transport(cfg.TLS)}
		}
		w, err := witness.Open(ctx, ws.Witness, witness.Options{Name: ws.Name, Key: key, HTTPClient: hc})
		if err != nil {
			return nil, fmt.Errorf("leader: witness: %w", err)
		}
		d.w = w
	}
	head, err := cfg.Store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("leader: journal head: %w", err)
	}
	epoch, err := d.savedEpoch(ctx)
	if err != nil {
		return nil, err
	}
	epoch = max(epoch, head.Epoch)
	last := ""
	if d.fcfg.NoWitness {
		// Without a witness nothing else says who was primary: the region
		// that was (as it recorded, or the file's primary for a workspace
		// that ran without failover before) resumes after a restart.
		if last, err = d.savedPrimary(ctx); err != nil {
			return nil, err
		}
		if last == "" {
			last = ws.Primary
		}
		d.resume = epoch > 0 && last == cfg.Region
	}
	node, err := failover.NewNode(d.fcfg, epoch, head, d.w, failover.HandlerFunc(d.act), failover.NodeOptions{Logger: cfg.Log})
	if err != nil {
		return nil, err
	}
	d.node = node
	rs := tandem.RoleState{Role: tandem.RoleSecondary, Epoch: epoch}
	if d.fcfg.NoWitness && last != cfg.Region {
		// Replicate from (and forward writes to) the primary this region
		// last followed until the peers say otherwise, as a static
		// secondary would.
		rs.Primary, rs.PrimaryURL = last, d.regionURL(last)
	}
	cfg.Roles.Set(rs)
	cfg.Store.SetGate(node)
	cfg.Store.OnCommit(func(e tandem.Entry) { node.Local(e.Position) })
	d.routes()
	if d.fcfg.NoWitness {
		d.startManual(ctx, epoch)
	}
	return d, nil
}

// startManual starts the node of a workspace without a witness at once,
// so that a region that is primary (the file's primary on a new
// workspace, or the region that was primary when it stopped) accepts
// writes as soon as New returns, as it would with a static role. A
// restarted primary first asks the other regions: if one is primary now
// (an operator forced a failover meanwhile), it follows that one instead;
// else it takes its role back in a new epoch.
func (d *Runner) startManual(ctx context.Context, epoch int64) {
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.stopEarly = cancel
	if d.resume {
		d.pollRound(nctx, d.pollEvery())
		if st := d.node.Status(); st.Primary == "" && st.Role != tandem.RolePrimary {
			if err := d.node.Switchover(d.cfg.Region, true); err != nil {
				d.log.Warn("no witness: resume as primary", "err", err)
			} else {
				d.log.Info("no witness: resuming as the primary this region was")
			}
		} else {
			d.log.Info("no witness: another region is primary now; following it", "primary", st.Primary, "epoch", st.Epoch)
		}
	}
	d.early = make(chan struct{})
	go func() { defer close(d.early); d.node.Run(nctx) }()
	if d.resume || (epoch == 0 && d.cfg.Region == d.fcfg.Initial) {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := d.node.WriteEpoch(nctx); err == nil {
				// Let the epoch record and OnPrimary (the Default
				// experiment) commit first, as a static primary's would
				// at open: the journal starts the same way every time.
				done := make(chan struct{})
				go func() { d.recording.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(time.Until(deadline)):
				}
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// Node is the failover node (the store's gate).
func (d *Runner) Node() *failover.Node { return d.node }

// Close closes the witness.
func (d *Runner) Close() error {
	if d.stopEarly != nil {
		d.stopEarly()
		<-d.early
	}
	if d.w == nil {
		return nil
	}
	return d.w.Close()
}

// Run runs the node and polls the other regions until ctx ends.
func (d *Runner) Run(ctx context.Context) error {
	d.mu.Lock()
	d.runCtx = ctx
	d.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.pollPeers(ctx) }()
	var err error
	if d.early != nil {
		<-ctx.Done() // the node runs since New
	} else {
		err = d.node.Run(ctx)
	}
	wg.Wait()
	return err
}

func (d *Runner) ctx() context.Context {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.runCtx == nil {
		return context.Background()
	}
	return d.runCtx
}

func (d *Runner) regionURL(name string) string {
	r, err := d.cfg.Workspace.Region(name)
	if err != nil {
		return ""
	}
	return r.URL
}

// act performs the machine's region actions. It returns quickly; long work
// runs in goroutines that report back to the node.
func (d *Runner) act(ctx context.Context, a failover.Action) {
	switch a.Kind {
	case failover.StartWrites:
		d.mu.Lock()
		d.gen++ // a rejoin in progress must not make us follow anyone now
		d.followed = followMark{}
		d.mu.Unlock()
		d.saveEpoch(ctx, a.Epoch, d.cfg.Region)
		// Primary: the follower stops (it watches Roles) before the gate
		// opens, which happens when this returns.
		d.cfg.Roles.Set(tandem.RoleState{Role: tandem.RolePrimary, Epoch: a.Epoch, Primary: d.cfg.Region, PrimaryURL: d.regionURL(d.cfg.Region)})
		if a.Reason == "took the lease" {
			d.recording.Add(1)
			go func() { defer d.recording.Done(); d.recordEpoch(ctx, a) }()
			go d.announce(ctx)
		}
	case failover.StopWrites:
		st := d.node.Status()
		if st.Role != tandem.RolePrimary && d.cfg.Roles.Current().Role == tandem.RolePrimary {
			d.cfg.Roles.Set(tandem.RoleState{Role: tandem.RoleSecondary, Epoch: st.Epoch, Primary: st.Primary, PrimaryURL: d.regionURL(st.Primary)})
		}
	case failover.Follow:
		d.saveEpoch(ctx, a.Epoch, a.Target)
		d.mu.Lock()
		d.gen++
		gen := d.gen
		followed := d.followed
		d.mu.Unlock()
		head, err := d.cfg.Store.Head(ctx)
		if err == nil && !followNeedsCheck(head, followed, a.Target, a.Epoch) {
			// Nothing can have diverged: keep replicating and forwarding
			// writes without a gap.
			d.mu.Lock()
			if d.gen == gen {
				d.followed = followMark{target: a.Target, epoch: a.Epoch}
			}
			d.mu.Unlock()
			d.cfg.Roles.Set(tandem.RoleState{Role: tandem.RoleSecondary, Epoch: a.Epoch, Primary: a.Target, PrimaryURL: d.regionURL(a.Target)})
			return
		}
		// Stop following anyone until the divergence check is done.
		d.cfg.Roles.Set(tandem.RoleState{Role: tandem.RoleSecondary, Epoch: a.Epoch})
		go d.rejoin(ctx, gen, a.Target, a.Epoch)
	case failover.CatchUp:
		go d.catchUp(ctx, a.Target)
	}
}

// recordEpoch commits the first entry of the new epoch, recording the
// change of primary, then runs OnPrimary.
func (d *Runner) recordEpoch(ctx context.Context, a failover.Action) {
	rec := tandem.EpochRecord{Epoch: a.Epoch, Primary: d.cfg.Region, Previous: a.Previous, Reason: "bootstrap", AtRisk: a.AtRisk}
	if !a.DetectedTime.IsZero() {
		rec.DetectedMS = a.DetectedTime.UnixMilli()
	}
	d.mu.Lock()
	poked, forced := time.Since(d.pokedAt) < 3*d.fcfg.LeaseTTL, time.Since(d.forcedAt) < 3*d.fcfg.LeaseTTL
	d.mu.Unlock()
	switch {
	case a.Previous == "":
	case a.Previous == d.cfg.Region:
		rec.Reason = "lease retaken"
	case forced:
		rec.Reason = "forced failover"
	case poked:
		rec.Reason = "switchover"
		rec.DetectedMS = 0
	default:
		rec.Reason = "failover"
	}
	for i := 0; i < 50 && ctx.Err() == nil; i++ {
		rec.ResumedMS = time.Now().UnixMilli()
		_, err := d.cfg.Store.RecordEpoch(ctx, rec)
		if err == nil {
			d.log.Info("writes resumed", "epoch", a.Epoch, "previous", a.Previous, "reason", rec.Reason, "at_risk", a.AtRisk)
			break
		}
		if st := d.node.Status(); st.Epoch != a.Epoch || st.Role != tandem.RolePrimary {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d.cfg.OnPrimary != nil {
		d.cfg.OnPrimary(ctx)
	}
}

// announce tells every other region to read the lease now, so that the
// secondaries follow the new primary at once instead of at their next
// lease read (under sync durability the first write waits for one of
// them) and an old primary that is still running learns it lost.
func (d *Runner) announce(ctx context.Context) {
	for _, r := range d.cfg.Workspace.Regions {
		if r.Name != d.cfg.Region {
			go d.peerPost(ctx, r.URL+Prefix+"poke?reason=new-primary", nil, nil)
		}
	}
}

func (d *Runner) savedEpoch(ctx context.Context) (int64, error) {
	v, ok, err := d.cfg.Store.FailoverState(ctx, "epoch")
	if err != nil {
		return 0, fmt.Errorf("leader: saved epoch: %w", err)
	} else if !ok {
		return 0, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

// savedPrimary is the primary this region last recorded ("" if none).
func (d *Runner) savedPrimary(ctx context.Context) (string, error) {
	v, _, err := d.cfg.Store.FailoverState(ctx, "primary")
	if err != nil {
		return "", fmt.Errorf("leader: saved primary: %w", err)
	}
	return v, nil
}

// saveEpoch persists the newest epoch seen and its primary.
func (d *Runner) saveEpoch(ctx context.Context, epoch int64, primary string) {
	err := d.cfg.Store.SetFailoverState(ctx, map[string]string{"epoch": strconv.FormatInt(epoch, 10), "primary": primary})
	if err != nil {
		d.log.Error("save epoch", "epoch", epoch, "err", err)
	}
}

// catchUp waits until target has applied every entry of this primary, then
// tells the node (planned switchover).
func (d *Runner) catchUp(ctx context.Context, target string) {
	head, err := d.cfg.Store.LockedHead(ctx)
	if err != nil {
		d.log.Error("switchover: journal head", "err", err)
		return
	}
	d.log.Info("switchover: waiting for the target to catch up", "target", target, "head", head)
	deadline := time.Now().Add(3 * d.fcfg.LeaseTTL)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		var st StatusDoc
		if err := d.peerGet(ctx, d.regionURL(target)+Prefix+"status", &st); err == nil && st.Head.Seq >= head.Seq {
			// Tell the target first that the lease is coming (history
			// records a switchover), then hand it over.
			d.peerPost(ctx, d.regionURL(target)+Prefix+"poke", nil, nil)
			d.node.CaughtUp(target)
			if !d.fcfg.NoWitness {
				go d.pokeWhenReleased(ctx, target)
			}
			if d.fcfg.NoWitness {
				// No lease to hand over: the target promotes itself
				// (epoch + 1) when told, and this region follows it.
				d.saveEpoch(ctx, head.Epoch, target)
				if err := d.peerPost(ctx, d.regionURL(target)+Prefix+"switchover", map[string]any{"target": target, "force": true}, nil); err != nil {
					d.log.Error("switchover: the target did not take over", "target", target, "err", err)
				}
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pokeWhenReleased tells the switchover target to read the lease as soon
// as the witness has released it (the poke sent with CaughtUp may reach
// the target before the release), instead of at the next peer poll.
func (d *Runner) pokeWhenReleased(ctx context.Context, target string) {
	deadline := time.Now().Add(2 * d.fcfg.LeaseTTL)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		sw := d.node.Status().Switchover
		if sw == nil || sw.Target != target || sw.Phase == "aborted" {
			return
		}
		if sw.Phase == "released" {
			d.mu.Lock()
			d.poked = target
			d.mu.Unlock()
			d.peerPost(ctx, d.regionURL(target)+Prefix+"poke", nil, nil)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pollPeers reads every other region's status about four times a lease
// interval (at most once a second) and feeds the node; it also tells a
// switchover target to take the released lease.
func (d *Runner) pollPeers(ctx context.Context) {
	every := d.pollEvery()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		d.pollRound(ctx, every)
		if sw := d.node.Status().Switchover; sw != nil && sw.Phase == "released" {
			d.mu.Lock()
			poke := d.poked != sw.Target
			d.poked = sw.Target
			d.mu.Unlock()
			if poke {
				go d.peerPost(ctx, d.regionURL(sw.Target)+Prefix+"poke", nil, nil)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *Runner) pollEvery() time.Duration {
	return min(time.Second, max(d.fcfg.LeaseTTL/8, 50*time.Millisecond))
}

// pollRound feeds the node this region's head and every other region's
// status, once.
func (d *Runner) pollRound(ctx context.Context, every time.Duration) {
	if head, err := d.cfg.Store.Head(ctx); err == nil {
		d.node.Local(head)
	}
	var wg sync.WaitGroup
	for _, r := range d.cfg.Workspace.Regions {
		if r.Name == d.cfg.Region {
			continue
		}
		wg.Add(1)
		go func(r workspace.Region) {
			defer wg.Done()
			d.pollOne(ctx, r, every)
		}(r)
	}
	wg.Wait()
}

func (d *Runner) pollOne(ctx context.Context, r workspace.Region, every time.Duration) {
	pctx, cancel := context.WithTimeout(ctx, max(every, 500*time.Millisecond))
	defer cancel()
	var st StatusDoc
	err := d.peerGet(pctx, r.URL+Prefix+"status", &st)
	d.mu.Lock()
	last := d.peers[r.Name]
	if err == nil {
		last = peerState{pos: st.Head, epoch: st.Epoch, role: st.Role}
		d.peers[r.Name] = last
	}
	d.mu.Unlock()
	ps := failover.PeerStatus{Name: r.Name, Healthy: err == nil, Role: last.role, Epoch: last.epoch, Position: last.pos}
	if err != nil {
		ps.Role = tandem.RoleSecondary // an unreachable region is not a primary we may follow
	}
	d.node.Peer(ps)
}

func (d *Runner) peerGet(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	return d.do(req, v)
}

func (d *Runner) peerPost(ctx context.Context, url string, body, v any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return d.do(req, v)
}

func (d *Runner) do(req *http.Request, v any) error {
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE, "%s: %v", req.URL.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return tandem.Errorf(tandem.EUNAVAILABLE, "%s answered %s", req.URL.Path, resp.Status)
	}
	if v == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Status is this region's failover status document.
func (d *Runner) Status(ctx context.Context) StatusDoc {
	st := StatusDoc{Status: d.node.Status(), URL: d.regionURL(d.cfg.Region)}
	st.Head, _ = d.cfg.Store.Head(ctx)
	if !st.Lease.Expired() {
		t := time.Now().Add(st.Lease.TTL).UTC()
		st.LeaseExpires = &t
	}
	return st
}

// Wrap sets the epoch header on every response, fences replication
// requests that carry an older epoch than this region's newest, and serves
// the failover endpoints itself (a secondary must not forward them).
func (d *Runner) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, replication.Prefix) && d.peer(r) {
			// Only a peer's epoch is believed: a newer one demotes this
			// region, so an unauthenticated request must not carry one.
			if e, err := strconv.ParseInt(r.URL.Query().Get("epoch"), 10, 64); err == nil && e > 0 && !d.node.Fenced(e, "") {
				writeErr(w, tandem.Errorf(tandem.EUNAVAILABLE, "request from epoch %d is older than this region's epoch: refused", e))
				return
			}
		}
		st := d.node.Status()
		w.Header().Set(HeaderEpoch, strconv.FormatInt(st.Epoch, 10))
		if strings.HasPrefix(r.URL.Path, Prefix) {
			// Region-local control calls: never forwarded to the primary.
			d.mux.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Handler serves the failover endpoints (mount at Prefix).
func (d *Runner) Handler() http.Handler { return d.mux }

func (d *Runner) routes() {
	d.mux.HandleFunc("GET "+Prefix+"status", d.guarded(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, d.Status(r.Context()))
	}))
	d.mux.HandleFunc("GET "+Prefix+"positions", d.guarded(func(w http.ResponseWriter, r *http.Request) {
		after, err1 := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		limit, err2 := strconv.Atoi(r.URL.Query().Get("limit"))
		if err := errors.Join(err1, err2); err != nil || limit <= 0 || limit > 100000 || after < 0 {
			writeErr(w, tandem.Errorf(tandem.EINVALID, "positions: after and limit (1..100000) are required integers"))
			return
		}
		ps, err := d.cfg.Store.JournalPositions(r.Context(), after, limit)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, map[string]any{"positions": ps})
	}))
	d.mux.HandleFunc("GET "+Prefix+"history", d.guarded(func(w http.ResponseWriter, r *http.Request) {
		es, err := d.cfg.Store.Epochs(r.Context())
		if err != nil {
			writeErr(w, err)
			return
		}
		if es == nil {
			es = []tandem.EpochRecord{}
		}
		writeJSON(w, 200, map[string]any{"region": d.cfg.Region, "epochs": es})
	}))
	d.mux.HandleFunc("GET "+Prefix+"divergence", d.admin(func(w http.ResponseWriter, r *http.Request) {
		reps, err := d.reports(r.Context(), "")
		if err != nil {
			writeErr(w, err)
			return
		}
		for i := range reps {
			reps[i].Entries = nil
		}
		writeJSON(w, 200, map[string]any{"region": d.cfg.Region, "reports": reps})
	}))
	d.mux.HandleFunc("GET "+Prefix+"divergence/{id}", d.admin(func(w http.ResponseWriter, r *http.Request) {
		reps, err := d.reports(r.Context(), r.PathValue("id"))
		if err != nil {
			writeErr(w, err)
			return
		}
		if len(reps) == 0 {
			writeErr(w, tandem.Errorf(tandem.ENOTFOUND, "no divergence report %q in region %s", r.PathValue("id"), d.cfg.Region))
			return
		}
		writeJSON(w, 200, reps[0])
	}))
	d.mux.HandleFunc("POST "+Prefix+"switchover", d.auth(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Target string `json:"target"`
			Force  bool   `json:"force"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeErr(w, tandem.Errorf(tandem.EINVALID, "switchover: %v", err))
			return
		}
		if req.Target == d.cfg.Region && req.Force {
			d.mu.Lock()
			d.forcedAt = time.Now()
			d.mu.Unlock()
		}
		if d.fcfg.NoWitness && req.Force && req.Target != d.cfg.Region {
			// No lease to release: the target promotes itself, and this
			// region (and every other) follows it once it sees the newer
			// epoch.
			if err := d.peerPost(r.Context(), d.regionURL(req.Target)+Prefix+"switchover", req, nil); err != nil {
				writeErr(w, err)
				return
			}
			writeJSON(w, 200, d.Status(r.Context()))
			return
		}
		if err := d.node.Switchover(req.Target, req.Force); err != nil {
			writeErr(w, err)
			return
		}
		d.log.Info("switchover requested", "target", req.Target, "force", req.Force)
		writeJSON(w, 200, d.Status(r.Context()))
	}))
	d.mux.HandleFunc("POST "+Prefix+"poke", d.auth(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("reason") != "new-primary" {
			// A primary handing its lease over (planned switchover).
			d.mu.Lock()
			d.pokedAt = time.Now()
			d.mu.Unlock()
		} else {
			// A new primary announced itself: read every region's status
			// now too (without a witness that is how the news travels).
			go d.pollRound(d.ctx(), d.pollEvery())
		}
		d.node.Poke()
		writeJSON(w, 200, map[string]bool{"ok": true})
	}))
	d.mux.HandleFunc("POST "+Prefix+"replay", d.admin(d.handleReplay))
	d.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, tandem.Errorf(tandem.ENOTFOUND, "no failover endpoint %s %s", r.Method, r.URL.Path))
	})
}

// peer reports whether r carries the workspace peer key.
func (d *Runner) peer(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return d.token != "" && ok && subtle.ConstantTimeCompare([]byte(got), []byte(d.token)) == 1
}

// SetGuard lets the divergence and replay endpoints also answer a caller
// without the peer key whom guard lets through, and makes the status
// reads need the same: the region's auth middleware, which finds these
// routes' rules (an administrator's action; a status read) in package
// auth's table, or, with authentication off, nothing. Nil (the default):
// divergence and replay need the peer key, status reads nothing. Call
// before serving.
func (d *Runner) SetGuard(guard func(http.Handler) http.Handler) { d.guard = guard }

// guarded serves the status reads (status, positions, history) to the
// peer key and to whom the guard admits (a role that reads status, with
// authentication on); without a guard, to anyone.
func (d *Runner) guarded(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.guard == nil || d.peer(r) {
			h(w, r)
			return
		}
		d.guard(h).ServeHTTP(w, r)
	}
}

// admin serves h to the peer key, or to whom the guard admits.
func (d *Runner) admin(h http.HandlerFunc) http.HandlerFunc {
	peerOnly := d.auth(h)
	return func(w http.ResponseWriter, r *http.Request) {
		if d.peer(r) || d.guard == nil {
			peerOnly(w, r)
			return
		}
		d.guard(h).ServeHTTP(w, r)
	}
}

func (d *Runner) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !d.peer(r) { // constant-time, like every key check
			writeErr(w, tandem.Errorf(tandem.EUNAUTHORIZED, "this failover endpoint needs the workspace peer key"))
			return
		}
		h(w, r)
	}
}

func (d *Runner) reports(ctx context.Context, id string) ([]failover.Report, error) {
	bodies, err := d.cfg.Store.DivergenceReports(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []failover.Report{}
	for _, body := range bodies {
		rep, err := failover.ParseReport(body)
		if err != nil {
			return nil, err
		}
		out = append(out, rep)
	}
	return out, nil
}

func writeErr(w http.ResponseWriter, err error) {
	code := tandem.ErrorCode(err)
	writeJSON(w, tandem.HTTPStatus(code), map[string]string{"error_code": tandem.MLflowName(code), "message": tandem.ErrorMessage(err)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

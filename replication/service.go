package replication

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/telemetry"
	"github.com/tandemml/tandem/workspace"
)

// Config is what a region's replication needs.
type Config struct {
	Region    string
	Workspace *workspace.Workspace // nil: a single-region server
	Key       []byte               // peer key; nil when single-region
	Store     *sqlstore.Replica    // the store as replication uses it (sqlstore/replica.go)
	Blobs     *blobstore.Store
	Roles     tandem.Roles
	Log       *slog.Logger
	Metrics   *prometheus.Registry // nil: no metrics
	Client    *http.Client         // nil: a default client
	Progress  io.Writer            // bootstrap progress between the logged milestones, at most once a second (a terminal); nil: none
	// TLS is the peer links' TLS client configuration (CA, client
	// certificate), used by the default Client and by forwarded writes;
	// nil: Go's defaults.
	TLS *tls.Config
	// Tracing exports spans of forwarded writes and of applies (nil: off).
	Tracing *telemetry.Tracing
	// TestHooks is empty in a release build (testhooks*.go).
	TestHooks
	// StandbySilent: a sync standby that has not asked for journal
	// entries for this long is replaced by a caught-up secondary even
	// when no write waits. Zero: 30s (a healthy follower asks at least
	// every 20s, its long-poll wait).
	StandbySilent time.Duration
}

// Service is one region's replication: the primary's endpoints, the
// follower loop it runs while secondary, lag accounting and metrics.
type Service struct {
	cfg   Config
	log   *slog.Logger
	token string
	mux   *http.ServeMux

	lastCommit atomic.Int64 // seq of the newest entry committed in this process

	mu        sync.Mutex
	followers map[string]*followerSeen // primary: what each secondary reported
	ackCh     chan struct{}            // closed and replaced when a follower advances
	degraded  bool
	standby   SyncStandby // nil: any secondary's acknowledgement counts (no witness)
	// detachedWait: a write's acknowledgement is still awaited after its
	// request went away (waitDetached).
	detachedWait bool

	fol *Follower
	met *metrics

	// stopping (under mu) is closed when Run returns, and replaced for a
	// later Run: the journal long-polls waiting then answer at once, so a
	// stopping primary's server does not wait out its followers' polls.
	stopping chan struct{}
}

type followerSeen struct {
	applied  tandem.Position
	lastSeen time.Time
	epoch    int64 // this primary's epoch when the follower reported: older reports say nothing about this term
}

// SyncStandby is the failover node's view of the sync standby named in
// the witness's lease (failover.Node implements it). With one set, a sync
// primary acknowledges a write only when the standby (every region the
// witness may name, during a change) has applied it.
type SyncStandby interface {
	SyncView() failover.SyncView
	ProposeSync(region string) bool
}

// SetSyncStandby makes sync acknowledgements follow the lease's sync
// standby (see SyncStandby). The region calls it once, before serving,
// when failover runs with a witness.
func (s *Service) SetSyncStandby(sb SyncStandby) {
	s.mu.Lock()
	s.standby = sb
	s.mu.Unlock()
}

// New builds the service; call Run to start following when secondary.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.StandbySilent <= 0 {
		cfg.StandbySilent = 30 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8, ResponseHeaderTimeout: 2 * time.Minute,
			TLSClientConfig: cfg.TLS, ForceAttemptHTTP2: cfg.TLS != nil}}
	}
	s := &Service{cfg: cfg, log: cfg.Log, mux: http.NewServeMux(),
		followers: map[string]*followerSeen{}, ackCh: make(chan struct{}), stopping: make(chan struct{})}
	if len(cfg.Key) > 0 {
		s.token = Token(cfg.Key)
	}
	if head, err := cfg.Store.Head(context.Background()); err == nil {
		s.lastCommit.Store(head.Seq)
	}
	cfg.Store.OnCommit(func(e tandem.Entry) {
		for {
			cur := s.lastCommit.Load()
			if e.Seq <= cur || s.lastCommit.CompareAndSwap(cur, e.Seq) {
				return
			}
		}
	})
	s.fol = newFollower(s)
	s.met = newMetrics(s, cfg.Metrics)
	s.mux.HandleFunc("GET "+Prefix+"journal", s.peer(s.handleJournal))
	s.mux.HandleFunc("GET "+Prefix+"deferred", s.peer(s.handleDeferred))
	s.mux.HandleFunc("GET "+Prefix+"blob", s.peer(s.handleBlob))
	s.mux.HandleFunc("GET "+Prefix+"superseded", s.peer(s.handleSuperseded))
	s.mux.HandleFunc("GET "+Prefix+"snapshot", s.peer(s.handleSnapshot))
	s.mux.HandleFunc("GET "+Prefix+"status", s.handleStatus)
	s.mux.HandleFunc("GET "+Prefix+"checksum", s.handleChecksum)
	s.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, tandem.Errorf(tandem.ENOTFOUND, "no replication endpoint %s %s", r.Method, r.URL.Path))
	})
	return s
}

// Handler serves the replication endpoints (mount at Prefix).
func (s *Service) Handler() http.Handler { return s.mux }

// Follower returns the secondary-side follower.
func (s *Service) Follower() *Follower { return s.fol }

// Run runs the follower whenever the region is a secondary, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	defer func() {
		s.mu.Lock()
		close(s.stopping)
		s.stopping = make(chan struct{})
		s.mu.Unlock()
	}()
	return s.fol.Run(ctx)
}

// policy returns the replication policy of kind k.
func (s *Service) policy(k tandem.Kind) workspace.KindPolicy {
	if s.cfg.Workspace == nil {
		return workspace.KindPolicy{Policy: workspace.Continuous}
	}
	return s.cfg.Workspace.Policy(k)
}

func (s *Service) peer(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r, s.token) {
			writeErr(w, tandem.Errorf(tandem.EUNAUTHORIZED, "replication endpoints need the workspace peer key"))
			return
		}
		h(w, r)
	}
}

func writeErr(w http.ResponseWriter, err error) {
	code := tandem.ErrorCode(err)
	body := map[string]any{"error_code": tandem.MLflowName(code), "message": tandem.ErrorMessage(err)}
	var te *tandem.Error
	if errors.As(err, &te) && te.Detail != nil {
		body["details"] = te.Detail
	}
	status := tandem.HTTPStatus(code)
	if code == tandem.EINVALIDSTATE {
		status = http.StatusConflict
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func qInt(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, tandem.Errorf(tandem.EINVALID, "parameter %s: %q is not an integer", name, v)
	}
	return n, nil
}

// requirePrimary answers EUNAVAILABLE (with the primary's URL) unless this
// region is primary.
func (s *Service) requirePrimary(w http.ResponseWriter) (tandem.RoleState, bool) {
	st := s.cfg.Roles.Current()
	if st.Role != tandem.RolePrimary {
		_, err := tandem.RoleGate{Roles: s.cfg.Roles}.WriteEpoch(context.Background())
		writeErr(w, err)
		return st, false
	}
	return st, true
}

const maxBatchBytes = 8 << 20

// handleJournal serves entries after a position, long-polling when there
// are none. It records the caller's progress (its "after" is what it has
// durably applied) for lag and sync acknowledgements.
func (s *Service) handleJournal(w http.ResponseWriter, r *http.Request) {
	role, ok := s.requirePrimary(w)
	if !ok {
		return
	}
	ctx := r.Context()
	after, err1 := qInt(r, "after", 0)
	afterEpoch, err2 := qInt(r, "after_epoch", 0)
	theirEpoch, err3 := qInt(r, "epoch", 0)
	limit, err4 := qInt(r, "limit", 500)
	waitMS, err5 := qInt(r, "wait", 0)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		writeErr(w, err)
		return
	}
	if theirEpoch > role.Epoch {
		writeErr(w, tandem.Errorf(tandem.EINVALIDSTATE, "the caller knows epoch %d, newer than this region's %d: this region is no longer the primary", theirEpoch, role.Epoch))
		return
	}
	if after > 0 {
		es, err := s.cfg.Store.ReadJournal(ctx, after-1, 1)
		if err != nil {
			writeErr(w, err)
			return
		}
		if len(es) == 0 || es[0].Seq != after {
			writeErr(w, tandem.Errorf(tandem.EINVALIDSTATE, "the caller has applied %d/%d but this primary's journal ends before it: histories diverged", afterEpoch, after))
			return
		} else if es[0].Epoch != afterEpoch {
			writeErr(w, tandem.Errorf(tandem.EINVALIDSTATE, "histories diverged at seq %d: the caller has epoch %d, this primary epoch %d", after, afterEpoch, es[0].Epoch))
			return
		}
	}
	if region := r.URL.Query().Get("region"); region != "" {
		s.sawFollower(region, tandem.Position{Epoch: afterEpoch, Seq: after}, role.Epoch)
	}
	if limit <= 0 || limit > 5000 {
		limit = 500
	}
	wait := min(time.Duration(waitMS)*time.Millisecond, 60*time.Second)
	s.mu.Lock()
	stopping := s.stopping
	s.mu.Unlock()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-stopping:
			cancel()
		case <-wctx.Done():
		}
	}()
	es, err := s.cfg.Store.WaitJournal(wctx, after, int(limit), wait)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if wctx.Err() == nil {
			writeErr(w, err)
			return
		}
		es = nil // this region is stopping: an empty batch, the follower polls again
	}
	head, err := s.cfg.Store.Head(ctx)
	if err != nil {
		writeErr(w, err)
		return
	}
	// Bound a response's size (and both sides' memory): at most ~8 MiB of
	// payload per batch, at least one entry.
	size := 0
	for i, e := range es {
		size += len(e.Payload)
		if i > 0 && size > maxBatchBytes {
			es = es[:i]
			break
		}
		es[i] = s.filter(e)
	}
	writeJSON(w, 200, JournalResponse{Entries: es, Head: head, Epoch: role.Epoch})
}

// filter replaces an entry of a kind that does not replicate continuously
// by a skip placeholder (payload and blobs are not shipped).
func (s *Service) filter(e tandem.Entry) tandem.Entry {
	if e.Op == tandem.OpSkip || s.policy(e.Kind).Policy == workspace.Continuous {
		return e
	}
	p, _ := json.Marshal(sqlstore.SkipPayload{Kind: e.Kind, Op: e.Op})
	return tandem.Entry{Position: e.Position, Kind: tandem.KindWorkspace, Op: tandem.OpSkip, Key: e.Key, Payload: p, Time: e.Time}
}

func (s *Service) sawFollower(region string, applied tandem.Position, epoch int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.followers[region]
	if f == nil {
		f = &followerSeen{}
		s.followers[region] = f
	}
	f.lastSeen = time.Now()
	if f.epoch != epoch || f.applied.Less(applied) || f.applied == (tandem.Position{}) {
		f.applied, f.epoch = applied, epoch
		close(s.ackCh)
		s.ackCh = make(chan struct{})
	}
	if s.standby != nil {
		// A sync primary without a standby (just promoted, or degraded)
		// names one as soon as a secondary has caught up; one whose
		// standby has gone silent (even with no write waiting: only the
		// standby may take over automatically) names another.
		if v := s.standby.SyncView(); v.Enabled {
			if !v.Primary {
				return
			}
			if cur := v.Named(); cur == "" {
				s.chooseStandby(v, 0, false)
			} else if sf := s.followers[cur]; cur != region && (sf == nil || time.Since(sf.lastSeen) > s.cfg.StandbySilent) {
				s.chooseStandby(v, math.MaxInt64, true)
			}
			return
		}
	}
	if s.degraded && applied.Seq >= s.lastCommit.Load() {
		s.degraded = false
		s.log.Info("sync durability restored", "secondary", region, "applied", applied)
	}
}

// appliedFn returns what each secondary has applied in this primary's
// current term (-1: nothing reported in it). s.mu held.
func (s *Service) appliedFn() func(region string) int64 {
	epoch := s.cfg.Roles.Current().Epoch
	return func(region string) int64 {
		if f := s.followers[region]; f != nil && f.epoch == epoch {
			return f.applied.Seq
		}
		return -1
	}
}

// chooseStandby proposes a new sync standby when none is named, or when
// the named one has not applied seq and the write has waited long
// (stale): the first region, in the workspace's order, that has applied
// everything up to the journal head right now. s.mu held: no write is
// acknowledged between this check and the proposal, and from the proposal
// on, acknowledgements need the new standby too (failover.SyncView), so
// no write acknowledged through the old standby can be missing on the new
// one.
func (s *Service) chooseStandby(v failover.SyncView, seq int64, stale bool) {
	if v.Changing || s.cfg.Workspace == nil {
		return
	}
	applied := s.appliedFn()
	cur := v.Named()
	if cur != "" && (!stale || applied(cur) >= seq) {
		return
	}
	head := s.lastCommit.Load()
	for _, r := range s.cfg.Workspace.Regions {
		if r.Name == s.cfg.Region || r.Name == cur || applied(r.Name) < head {
			continue
		}
		if s.standby.ProposeSync(r.Name) {
			s.log.Info("sync standby proposed", "standby", r.Name, "previous", v.Confirmed, "head", head)
		}
		return
	}
}

// WaitAck blocks until the write at seq is acknowledged, or timeout. With
// a SyncStandby (failover with a witness) only the sync standby the lease
// names counts (see waitStandby); without one, any secondary that applied
// seq does. It returns nil when acknowledged, nil when the service is
// degraded (async after an earlier miss, on_no_ack: degrade), and
// EUNAVAILABLE otherwise. Only a sync primary calls it.
func (s *Service) WaitAck(ctx context.Context, seq int64) error {
	s.mu.Lock()
	sb := s.standby
	s.mu.Unlock()
	if sb != nil && sb.SyncView().Enabled {
		return s.waitStandby(ctx, sb, seq)
	}
	d := s.cfg.Workspace.Durability
	t := time.NewTimer(d.Timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		if s.degraded {
			s.mu.Unlock()
			return nil
		}
		for _, f := range s.followers {
			if f.applied.Seq >= seq {
				s.mu.Unlock()
				return nil
			}
		}
		ch := s.ackCh
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			s.waitDetached(seq)
			return ctx.Err()
		case <-t.C:
			if d.OnNoAck == workspace.OnNoAckDegrade {
				s.mu.Lock()
				if !s.degraded {
					s.log.Warn("sync durability degraded to async: no secondary acknowledged in time", "seq", seq, "timeout", d.Timeout)
				}
				s.degraded = true
				s.mu.Unlock()
				s.met.degradations.Inc()
				return nil
			}
			return tandem.Errorf(tandem.EUNAVAILABLE, "the write committed on the primary (seq %d) but no secondary acknowledged it within %s (durability: sync, on_no_ack: fail)", seq, d.Timeout)
		}
	}
}

// waitDetached goes on waiting for the acknowledgement of seq after the
// request that waited for it went away (its client timed out), so that
// the timeout's consequence (on_no_ack: degrade names no standby) happens
// even when every client gives up sooner than durability.timeout: else a
// primary whose standby died would keep every write waiting for ever.
// One such wait runs at a time; each is bounded by the timeout (twice it,
// with a witness to confirm the change).
func (s *Service) waitDetached(seq int64) {
	s.mu.Lock()
	if s.detachedWait {
		s.mu.Unlock()
		return
	}
	s.detachedWait = true
	s.mu.Unlock()
	go func() {
		defer func() { s.mu.Lock(); s.detachedWait = false; s.mu.Unlock() }()
		_ = s.WaitAck(context.Background(), seq)
	}()
}

// waitStandby is WaitAck with a sync standby named in the witness's lease:
// the write is acknowledged once every region the witness may name as
// standby has applied it. A standby that keeps the write waiting is
// replaced by a caught-up secondary (after a short wait, so a healthy
// standby is not swapped for a faster one at every write); with nobody
// named, acknowledgements wait until one is. At the timeout, on_no_ack:
// fail keeps the standby and fails the write; degrade first has the
// witness name no standby, and acknowledges only once it confirmed that.
func (s *Service) waitStandby(ctx context.Context, sb SyncStandby, seq int64) error {
	d := s.cfg.Workspace.Durability
	start := time.Now()
	switchAfter := min(d.Timeout/3, 500*time.Millisecond)
	t := time.NewTimer(d.Timeout)
	defer t.Stop()
	// The witness's confirmation of a new standby does not close ackCh:
	// poll for it.
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	degrading := false
	for {
		s.mu.Lock()
		v := sb.SyncView()
		switch {
		case !v.Primary:
			s.mu.Unlock()
			return tandem.Errorf(tandem.EUNAVAILABLE, "the write committed on this region (seq %d) but it stopped being the primary before its sync standby acknowledged the write: it may be lost", seq)
		case v.Acked(seq, s.appliedFn()):
			s.mu.Unlock()
			return nil
		case v.Degraded() && d.OnNoAck == workspace.OnNoAckDegrade:
			if !s.degraded {
				s.log.Warn("sync durability degraded to async: the lease names no sync standby", "seq", seq, "timeout", d.Timeout)
			}
			s.degraded = true
			s.mu.Unlock()
			return nil
		}
		if s.degraded && v.Named() != "" {
			s.degraded = false
			s.log.Info("sync durability restored", "standby", v.Named())
		}
		if !degrading {
			s.chooseStandby(v, seq, time.Since(start) >= switchAfter)
		}
		ch := s.ackCh
		s.mu.Unlock()
		select {
		case <-ch:
		case <-poll.C:
		case <-ctx.Done():
			s.waitDetached(seq)
			return ctx.Err()
		case <-t.C:
			if d.OnNoAck == workspace.OnNoAckDegrade && !degrading {
				degrading = true
				s.mu.Lock()
				ok := sb.ProposeSync("")
				s.mu.Unlock()
				if ok {
					s.log.Warn("no sync standby acknowledged in time: naming none (on_no_ack: degrade)", "seq", seq, "timeout", d.Timeout, "standby", v.Named())
					s.met.degradations.Inc()
					t.Reset(d.Timeout) // for the witness to confirm it
					continue
				}
			}
			standby := v.Named()
			if standby == "" {
				standby = "none named yet"
			}
			return tandem.Errorf(tandem.EUNAVAILABLE, "the write committed on the primary (seq %d) but the sync standby (%s) did not acknowledge it within %s (durability: sync, on_no_ack: %s)", seq, standby, d.Timeout, d.OnNoAck)
		}
	}
}

// handleDeferred serves the real entries of one kind in (after, upto], for
// the periodic catch-up of snapshot-policy kinds.
func (s *Service) handleDeferred(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.requirePrimary(w); !ok {
		return
	}
	kind := tandem.Kind(r.URL.Query().Get("kind"))
	after, err1 := qInt(r, "after", 0)
	upto, err2 := qInt(r, "upto", 0)
	limit, err3 := qInt(r, "limit", 1000)
	if err := errors.Join(err1, err2, err3); err != nil {
		writeErr(w, err)
		return
	}
	if limit <= 0 || limit > 5000 {
		limit = 1000
	}
	var out []tandem.Entry
	for len(out) < int(limit) && after < upto {
		es, err := s.cfg.Store.ReadJournal(r.Context(), after, 1000)
		if err != nil {
			writeErr(w, err)
			return
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if e.Seq > upto || len(out) >= int(limit) {
				after = upto
				break
			}
			after = e.Seq
			if e.Kind == kind && e.Op != tandem.OpSkip {
				out = append(out, e)
			}
		}
	}
	writeJSON(w, 200, map[string]any{"entries": out, "scanned_to": after})
}

// handleBlob streams one artifact's bytes.
func (s *Service) handleBlob(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	rd, err := s.cfg.Blobs.Open(r.Context(), path)
	if err != nil {
		writeErr(w, err)
		return
	}
	defer rd.Close()
	if want := r.URL.Query().Get("sha256"); want != "" {
		w.Header().Set(HeaderSHA256, want)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(rd.Size(), 10))
	src := s.cfg.wrapBlob(path, rd)
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(w, src, buf); err != nil {
		s.log.Debug("blob send interrupted", "path", path, "err", err)
	}
}

// handleSuperseded answers whether a journal entry after "after"
// references the artifact path again (it was overwritten): then the bytes an
// earlier entry recorded are gone for good and the later entry brings the
// current ones. {"superseded_by": seq} (0: not superseded).
func (s *Service) handleSuperseded(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	after, err := qInt(r, "after", 0)
	if err != nil {
		writeErr(w, err)
		return
	}
	by, err := s.cfg.Store.SupersededBy(r.Context(), path, after)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, map[string]int64{"superseded_by": by})
}

// Status returns this region's replication status.
func (s *Service) Status(ctx context.Context) (Status, error) {
	role := s.cfg.Roles.Current()
	head, err := s.cfg.Store.Head(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("status: %w", err)
	}
	st := Status{Region: s.cfg.Region, Role: role, Head: head, Durability: workspace.Async,
		Metadata: s.cfg.Store.Backend(), Artifacts: s.cfg.Blobs.URL()}
	if ws := s.cfg.Workspace; ws != nil {
		st.Workspace = ws.Name
		st.Durability = ws.Durability.Mode
		if r, err := ws.Region(s.cfg.Region); err == nil {
			st.URL = r.URL
		}
		st.Policies = map[string]string{}
		for _, k := range tandem.Kinds {
			p := ws.Policy(k)
			st.Policies[string(k)] = string(p.Policy)
			if p.Policy == workspace.Snapshot {
				st.Policies[string(k)] += " " + p.Interval.String()
			}
		}
	}
	s.mu.Lock()
	st.Degraded = s.degraded
	if s.standby != nil {
		if v := s.standby.SyncView(); v.Enabled {
			st.Degraded = v.Degraded()
		}
	}
	seen := map[string]followerSeen{}
	for k, v := range s.followers {
		seen[k] = *v
	}
	s.mu.Unlock()
	if role.Role == tandem.RolePrimary {
		var names []string
		if s.cfg.Workspace != nil {
			for _, r := range s.cfg.Workspace.Regions {
				if r.Name != s.cfg.Region {
					names = append(names, r.Name)
				}
			}
		}
		for _, name := range names {
			fs := FollowerStatus{Region: name, PrimaryHead: head}
			if f, ok := seen[name]; ok {
				t := f.lastSeen
				fs.LastSeen = &t
				fs.Applied = f.applied
			}
			fs.LagEntries = head.Seq - fs.Applied.Seq
			fs.LagBytes, fs.LagSeconds, err = s.behind(ctx, fs.Applied.Seq, head.Seq)
			if err != nil {
				return Status{}, err
			}
			st.Followers = append(st.Followers, fs)
		}
	} else {
		self := s.fol.status(head)
		st.Self = &self
	}
	return st, nil
}

// behind measures the bytes (payload and referenced blobs) of the entries
// after applied, and the age of the oldest of them.
func (s *Service) behind(ctx context.Context, applied, head int64) (int64, float64, error) {
	if applied >= head {
		return 0, 0, nil
	}
	bytes, oldest, err := s.cfg.Store.Lag(ctx, applied)
	if err != nil {
		return 0, 0, err
	}
	age := 0.0
	if oldest > 0 {
		age = max(0, time.Since(time.UnixMilli(oldest)).Seconds())
	}
	return bytes, age, nil
}

func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.Status(r.Context())
	if err != nil {
		s.log.Error("status", "err", err)
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, st)
}

// regionURL returns a region's advertised URL.
func (s *Service) regionURL(name string) string {
	if s.cfg.Workspace == nil {
		return ""
	}
	r, err := s.cfg.Workspace.Region(name)
	if err != nil {
		return ""
	}
	return r.URL
}

// primaryURL is where this region's primary is, from Roles, falling back to
// the workspace file.
func (s *Service) primaryURL() string {
	st := s.cfg.Roles.Current()
	if st.PrimaryURL != "" {
		return strings.TrimRight(st.PrimaryURL, "/")
	}
	return s.regionURL(st.Primary)
}

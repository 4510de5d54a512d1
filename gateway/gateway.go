// Package gateway is one stable URL for stock MLflow clients in front of a
// multi-region workspace. It health-checks every region, sends writes to
// the current primary and reads to a healthy region, and retries a request
// across a failover when that cannot apply it twice.
//
// A region is found primary through its status endpoint
// (GET /api/tandem/v1/replication/status, a JSON object with "role" and
// "epoch", as failover.Status encodes them), or through the X-Tandem-Role
// and X-Tandem-Epoch headers on any of its responses. A region answers 503
// (EUNAVAILABLE) only when it refused the request without changing
// anything (it is not primary, or its lease is unconfirmed): the gateway
// then finds the new primary and sends the request again.
//
// With a witness (Config.Witness, the workspace's), the gateway also reads
// the lease: writes go to its holder, and a request in flight to a region
// the witness no longer names, or whose lease ran out as far as the
// gateway knows (by the TTL the witness last reported or, without a fresh
// witness answer, Config.LeaseTTL after the region last said it is
// primary), is given up at once: a write gets
// TEMPORARILY_UNAVAILABLE (503, which MLflow clients retry), a read goes to
// another region. A paused primary then holds clients no longer than the
// lease, as a killed one does. See decide.go.
//
// Every write carries an idempotency key (HeaderIdempotencyKey: the
// client's, or one the gateway makes) that the primary records with the
// write, so that sending it again after an unclear outcome returns the
// first answer instead of applying it twice. A write the gateway answered
// 503 after it may have reached a region is remembered for a while by its
// bytes (method, path, body, credentials, client address): a stock client
// retrying it sends the same bytes and gets the same key.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandemml/tandem"
)

// StatusPath is where a region reports its role.
const StatusPath = "/api/tandem/v1/replication/status"

// Headers a region may set on every response.
const (
	HeaderRole   = "X-Tandem-Role"   // "primary" or "secondary"
	HeaderEpoch  = "X-Tandem-Epoch"  // the region's epoch
	HeaderRegion = "X-Tandem-Region" // set by the gateway: the region that answered
	// HeaderIdempotencyKey names a write: a region that applied a write
	// with this key answers a second one with the first one's result.
	HeaderIdempotencyKey = "Idempotency-Key"
)

// Region is one backend.
type Region struct {
	Name string
	URL  string // base URL, http://host:port
}

// Config configures a Gateway. Zero values take defaults.
type Config struct {
	Regions    []Region
	CheckEvery time.Duration // health-check period; default 1s
	Timeout    time.Duration // per health check; default 2s
	// RetryFor bounds how long one request waits for a primary and is
	// retried across a failover; default 30s.
	RetryFor time.Duration
	// SpreadReads sends reads to any healthy region. By default reads go
	// to the primary while it is healthy (a stock client reads back what
	// it just wrote) and to another healthy region only without one.
	SpreadReads bool
	// MaxRetryBody: request bodies up to this size are kept so that the
	// request can be sent again; larger ones are streamed and never
	// retried once sent. Default 8 MiB.
	MaxRetryBody int64
	// Witness, when set, is read for the lease every CheckEvery (more
	// often while no region holds it); LeaseTTL is the workspace's lease
	// TTL (zero: requests are given up on the witness's word only).
	Witness  tandem.Witness
	LeaseTTL time.Duration
	// Remember bounds how long a write answered 503 after it may have
	// been applied keeps its idempotency key for a retry; default 10m.
	Remember  time.Duration
	Transport http.RoundTripper // default a clone of http.DefaultTransport
	Logger    *slog.Logger
}

type regionState struct {
	Region
	base      *url.URL
	healthy   bool
	role      string
	epoch     int64
	checkedAt time.Time
	err       string
	// primarySeen: when the region last said it is primary with writes
	// allowed.
	primarySeen time.Time
	rtt         time.Duration // smoothed round trip of the status checks
}

// Gateway is an http.Handler. Run its health checks with Run.
type Gateway struct {
	cfg   Config
	hc    *http.Client // no timeout: requests are bounded by their contexts
	log   *slog.Logger
	mu    sync.Mutex
	rs    []*regionState
	next  int // round robin for spread reads
	kick  chan struct{}
	check chan struct{} // closed and replaced after every check round
	lease leaseView
	// flights are the requests sent to a region as the primary and not
	// answered yet; abandonment cancels them.
	flights map[*inflight]struct{}
	keys    *ambiguous
}

// inflight is one request waiting on a region's answer.
type inflight struct {
	flight
	cancel context.CancelCauseFunc
}

// abandoned is the cause of a request's cancellation when the gateway
// gave up waiting on its region.
type abandoned struct{ why string }

func (a *abandoned) Error() string { return "gave up waiting: " + a.why }

// New validates cfg. EINVALID for no regions or a bad URL.
func New(cfg Config) (*Gateway, error) {
	if len(cfg.Regions) == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "gateway: no regions")
	}
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.RetryFor <= 0 {
		cfg.RetryFor = 30 * time.Second
	}
	if cfg.MaxRetryBody <= 0 {
		cfg.MaxRetryBody = 8 << 20
	}
	if cfg.Remember <= 0 {
		cfg.Remember = 10 * time.Minute
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &Gateway{cfg: cfg, hc: &http.Client{Transport: cfg.Transport, CheckRedirect: noRedirect},
		log: cfg.Logger, kick: make(chan struct{}, 1), check: make(chan struct{}),
		flights: map[*inflight]struct{}{}, keys: newAmbiguous(cfg.Remember, 10000)}
	for _, r := range cfg.Regions {
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || r.Name == "" {
			return nil, tandem.Errorf(tandem.EINVALID, "gateway: region %q has a bad URL %q", r.Name, r.URL)
		}
		g.rs = append(g.rs, &regionState{Region: r, base: u})
	}
	return g, nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Run health-checks the regions every CheckEvery (and at once when a
// request finds its target gone), reads the lease from the witness, and
// gives up the requests waiting on a region that lost it, until ctx ends.
func (g *Gateway) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if g.cfg.Witness != nil {
		wg.Go(func() { g.watchLease(ctx) })
	}
	wg.Go(func() { g.reap(ctx) })
	t := time.NewTicker(g.cfg.CheckEvery)
	defer t.Stop()
	for {
		g.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.kick:
		}
	}
}

// Check runs one round of health checks.
func (g *Gateway) Check(ctx context.Context) {
	var wg sync.WaitGroup
	for _, r := range g.rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			began := time.Now()
			role, epoch, err := g.probe(ctx, r)
			g.mu.Lock()
			defer g.mu.Unlock()
			r.checkedAt = time.Now()
			if err == nil {
				r.rtt = smoothRTT(r.rtt, r.checkedAt.Sub(began))
			}
			if err == nil && role == "primary" {
				r.primarySeen = r.checkedAt
			}
			if err != nil {
				if r.healthy {
					g.log.Warn("gateway: region unhealthy", "region", r.Name, "err", err)
				}
				r.healthy, r.role, r.err = false, "", err.Error()
				return
			}
			if r.role != role || r.epoch != epoch || !r.healthy {
				g.log.Info("gateway: region status", "region", r.Name, "role", role, "epoch", epoch)
			}
			r.healthy, r.role, r.epoch, r.err = true, role, epoch, ""
		}()
	}
	wg.Wait()
	g.mu.Lock()
	close(g.check)
	g.check = make(chan struct{})
	g.mu.Unlock()
}

func (g *Gateway) probe(ctx context.Context, r *regionState) (string, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.base.JoinPath(StatusPath).String(), nil)
	resp, err := g.hc.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("status endpoint: HTTP %d", resp.StatusCode)
	}
	role, epoch, err := parseStatus(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", 0, fmt.Errorf("status endpoint: %w", err)
	}
	if h := resp.Header.Get(HeaderRole); role == "" && h != "" {
		role = h
	}
	return role, epoch, nil
}

// parseStatus reads a region's role and epoch from its status document:
// either flat ({"role": "primary", "epoch": 3, "writes_allowed": true}, as
// failover.Status encodes it) or nested ({"role": {"role": "primary",
// "epoch": 3}}, as the replication status does). A primary that says it
// does not accept writes (lease unconfirmed, switchover) is reported as
// "primary-fenced", which gets no writes.
func parseStatus(r io.Reader) (string, int64, error) {
	var doc struct {
		Role          json.RawMessage `json:"role"`
		Epoch         int64           `json:"epoch"`
		WritesAllowed *bool           `json:"writes_allowed"`
	}
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return "", 0, err
	}
	role, epoch := "", doc.Epoch
	if len(doc.Role) > 0 && doc.Role[0] == '{' {
		var nested struct {
			Role          string `json:"role"`
			Epoch         int64  `json:"epoch"`
			WritesAllowed *bool  `json:"writes_allowed"`
		}
		if err := json.Unmarshal(doc.Role, &nested); err != nil {
			return "", 0, err
		}
		role, epoch = nested.Role, max(epoch, nested.Epoch)
		if doc.WritesAllowed == nil {
			doc.WritesAllowed = nested.WritesAllowed
		}
	} else if len(doc.Role) > 0 {
		if err := json.Unmarshal(doc.Role, &role); err != nil {
			return "", 0, err
		}
	}
	if role == "primary" && doc.WritesAllowed != nil && !*doc.WritesAllowed {
		role = "primary-fenced"
	}
	return role, epoch, nil
}

// viewLocked returns what the gateway knows now, for decide.go. Call with mu.
func (g *Gateway) viewLocked() view {
	v := view{lease: g.lease, ttl: g.cfg.LeaseTTL}
	for _, r := range g.rs {
		v.regions = append(v.regions, regionView{name: r.Name, healthy: r.healthy, role: r.role, epoch: r.epoch, primarySeen: r.primarySeen, rtt: r.rtt})
	}
	return v
}

// reqClass is what a request needs from the region that answers it.
type reqClass int

const (
	classRead  reqClass = iota // the primary while it is healthy (read your writes), else any region
	classWrite                 // the primary only
	classScore                 // the nearest healthy region: every region answers alike
)

// classOf classifies a request.
func classOf(r *http.Request) reqClass {
	switch {
	case scoring(r):
		return classScore
	case isWrite(r):
		return classWrite
	}
	return classRead
}

// pick chooses a region for a request, or nil when none fits now; for a
// request sent to the primary it also returns the epoch it is sent in.
func (g *Gateway) pick(class reqClass, avoid map[string]bool) (*regionState, bool, int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v := g.viewLocked()
	var primary, nearest *regionState
	name, epoch := v.primary(time.Now(), avoid)
	near := ""
	if class == classScore {
		near = v.nearest(avoid)
	}
	for _, r := range g.rs {
		if r.Name == name {
			primary = r
		}
		if r.Name == near {
			nearest = r
		}
	}
	if class == classScore {
		return nearest, false, 0
	}
	write := class == classWrite
	if write || (primary != nil && !g.cfg.SpreadReads) {
		return primary, primary != nil, epoch
	}
	for i := range g.rs {
		r := g.rs[(g.next+i)%len(g.rs)]
		if r.healthy && !avoid[r.Name] {
			g.next = (g.next + i + 1) % len(g.rs)
			return r, r == primary, epoch
		}
	}
	return nil, false, 0
}

// suspect marks a region as needing a new check and wakes the checker.
func (g *Gateway) suspect(r *regionState) <-chan struct{} {
	g.mu.Lock()
	r.healthy = false
	ch := g.check
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default:
	}
	return ch
}

// Status is the gateway's view, served at /api/tandem/v1/gateway/status.
type Status struct {
	Regions []RegionStatus `json:"regions"`
	Primary string         `json:"primary,omitempty"`
	// Lease is the witness's lease as last read, "holder@epoch" or
	// "expired@epoch" (empty without a witness answer).
	Lease string `json:"lease,omitempty"`
}

// RegionStatus is one region as the gateway last saw it.
type RegionStatus struct {
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	Healthy   bool      `json:"healthy"`
	Role      string    `json:"role,omitempty"`
	Epoch     int64     `json:"epoch"`
	CheckedAt time.Time `json:"checked_at"`
	Error     string    `json:"error,omitempty"`
	// RTTMillis is the smoothed round trip of its status checks, which
	// chooses the region that scores.
	RTTMillis float64 `json:"rtt_ms,omitempty"`
}

// Status returns the last health-check results.
func (g *Gateway) Status() Status {
	var st Status
	if p, _, _ := g.pick(classWrite, nil); p != nil {
		st.Primary = p.Name
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if l := g.lease; l.known {
		if l.holder != "" && time.Now().Before(l.expires) {
			st.Lease = fmt.Sprintf("%s@%d", l.holder, l.epoch)
		} else {
			st.Lease = fmt.Sprintf("expired@%d", l.epoch)
		}
	}
	for _, r := range g.rs {
		st.Regions = append(st.Regions, RegionStatus{Name: r.Name, URL: r.URL, Healthy: r.healthy, Role: r.role,
			Epoch: r.epoch, CheckedAt: r.checkedAt, Error: r.err, RTTMillis: float64(r.rtt.Microseconds()) / 1000})
	}
	return st
}

// readPosts are MLflow POST endpoints that only read.
var readPosts = []string{"/runs/search", "/experiments/search", "/registered-models/search",
	"/model-versions/search", "/logged-models/search", "/metrics/get-history-bulk-interval",
	"/experiments/search-datasets",
	"/registered-models/get-latest-versions", "/traces/search", "/traces/metrics",
	"/traces/calculate-filter-correlation", "/listKeys", "/graphql", "/ui-telemetry"}

// scoring reports whether r scores with an online endpoint (package
// serving): every region of the endpoint's placement answers it from its
// own processes, so it is a read any healthy region serves, and sending it
// again is harmless (a prediction changes nothing).
func scoring(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/endpoints/")
}

// isWrite says whether a request may change state (and must go to the primary).
func isWrite(r *http.Request) bool {
	if scoring(r) {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	case http.MethodPost:
		for _, p := range readPosts {
			if strings.HasSuffix(r.URL.Path, p) {
				return false
			}
		}
	}
	return true
}

// idempotent says whether sending the request twice is harmless.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Connection"}

// ServeHTTP routes one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/api/tandem/v1/gateway/status":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(g.Status())
		return
	case "/health":
		if st := g.Status(); st.Primary == "" && !anyHealthy(st) {
			http.Error(w, "no healthy region", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("OK"))
		return
	}
	class := classOf(r)
	write := class == classWrite
	// Keep small bodies so that the request can be sent again.
	var body []byte
	replayable := true
	if r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength >= 0 && r.ContentLength <= g.cfg.MaxRetryBody {
			b, err := io.ReadAll(io.LimitReader(r.Body, g.cfg.MaxRetryBody+1))
			if err != nil {
				writeError(w, tandem.Errorf(tandem.EINVALID, "gateway: reading the request body: %v", err))
				return
			}
			if int64(len(b)) > g.cfg.MaxRetryBody {
				writeError(w, tandem.Errorf(tandem.ELIMIT, "gateway: request body larger than announced"))
				return
			}
			body = b
		} else {
			replayable = false
		}
	}
	// Every write carries a key; one whose last answer was unclear gets
	// the key it had then.
	var fp string
	key := r.Header.Get(HeaderIdempotencyKey)
	if write && key == "" {
		if replayable {
			fp = fingerprint(r, body)
			key = g.keys.get(fp, time.Now())
		}
		if key == "" {
			key = newKey()
		}
	}
	// unclear answers a write that may have been applied with a retryable
	// error, and remembers its key for the client's retry.
	unclear := func(err error) {
		if fp != "" {
			g.keys.put(fp, key, time.Now())
		}
		writeError(w, err)
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.RetryFor)
	defer cancel()
	avoid := map[string]bool{}
	backoff := 50 * time.Millisecond
	var lastErr error
	for attempt := 0; ; attempt++ {
		target, asPrimary, epoch := g.pick(class, avoid)
		if target == nil {
			if len(avoid) > 0 {
				avoid = map[string]bool{} // every region was tried: start over after a check
			}
			select {
			case <-ctx.Done():
				msg := "gateway: no primary region is reachable"
				if !write {
					msg = "gateway: no region is reachable"
				}
				if lastErr != nil {
					msg += " (last error: " + lastErr.Error() + ")"
				}
				if attempt > 0 && write {
					unclear(tandem.Errorf(tandem.EUNAVAILABLE, "%s", msg))
				} else {
					writeError(w, tandem.Errorf(tandem.EUNAVAILABLE, "%s", msg))
				}
				return
			case <-g.waitCheck(backoff):
				backoff = min(2*backoff, time.Second)
				continue
			}
		}
		var rd io.Reader = r.Body
		if replayable {
			rd = bytes.NewReader(body)
		}
		actx, acancel := context.WithCancelCause(ctx)
		var fl *inflight
		if asPrimary {
			fl = g.fly(flight{region: target.Name, epoch: epoch}, acancel)
		}
		resp, sent, err := g.forward(actx, r, target, rd, body != nil || !replayable, key)
		g.land(fl)
		if err != nil {
			acancel(nil)
			lastErr = err
			var ab *abandoned
			if errors.As(context.Cause(actx), &ab) {
				g.log.Warn("gateway: gave up a request waiting on a region", "region", target.Name, "why", ab.why, "write", write, "path", r.URL.Path)
				avoid[target.Name] = true
				if !write && replayable {
					continue
				}
				unclear(tandem.Errorf(tandem.EUNAVAILABLE, "gateway: %s stopped being the primary while the request waited (%s); retry", target.Name, ab.why))
				return
			}
			// Retry when nothing reached the region, or when sending it
			// again is harmless and the body can be sent again.
			if replayable && (!sent || idempotent(r.Method) || scoring(r)) && ctx.Err() == nil {
				g.log.Info("gateway: retrying on another region", "region", target.Name, "err", err, "attempt", attempt+1)
				avoid[target.Name] = true
				g.suspect(target)
				continue
			}
			e := tandem.Errorf(tandem.EUNAVAILABLE, "gateway: region %s failed during the request: %v", target.Name, err)
			if write && sent {
				unclear(e)
			} else {
				writeError(w, e)
			}
			return
		}
		role := resp.Header.Get(HeaderRole)
		if resp.StatusCode == http.StatusServiceUnavailable && replayable && ctx.Err() == nil {
			// Refused without effect (not primary, lease unconfirmed):
			// find the primary again and resend.
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			acancel(nil)
			lastErr = fmt.Errorf("region %s answered 503", target.Name)
			avoid[target.Name] = true
			ch := g.suspect(target)
			select {
			case <-ch:
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		if write && role == "secondary" {
			g.suspect(target) // the answer came through, but our view is stale
		}
		if fp != "" && resp.StatusCode != http.StatusServiceUnavailable {
			g.keys.drop(fp)
		}
		g.copyResponse(w, resp, target)
		acancel(nil)
		return
	}
}

// fly registers a request sent to a region as the primary; land removes
// it once its answer arrived.
func (g *Gateway) fly(f flight, cancel context.CancelCauseFunc) *inflight {
	fl := &inflight{flight: f, cancel: cancel}
	g.mu.Lock()
	g.flights[fl] = struct{}{}
	g.mu.Unlock()
	return fl
}

func (g *Gateway) land(fl *inflight) {
	if fl == nil {
		return
	}
	g.mu.Lock()
	delete(g.flights, fl)
	g.mu.Unlock()
}

// reapEvery is how often the requests in flight are checked against what
// the gateway knows (it costs a pure function call per request).
const reapEvery = 20 * time.Millisecond

// reap gives up the requests in flight that abandon says to, until ctx
// ends.
func (g *Gateway) reap(ctx context.Context) {
	t := time.NewTicker(reapEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.reapOnce(time.Now())
	}
}

func (g *Gateway) reapOnce(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.reapLocked(now)
}

// reapLocked is reapOnce with mu held: the lease watcher gives up the
// requests waiting on a region in the same critical section in which it
// learns that region lost the lease, so no write is routed to the new
// holder before they are given up.
func (g *Gateway) reapLocked(now time.Time) {
	if len(g.flights) == 0 {
		return
	}
	v := g.viewLocked()
	for fl := range g.flights {
		if ok, why := v.abandon(fl.flight, now); ok {
			fl.cancel(&abandoned{why: why})
			delete(g.flights, fl)
		}
	}
}

// watchLease reads the lease from the witness every CheckEvery, and every
// leaseFastPoll while nobody holds a lease the gateway can route to (a
// takeover is under way), until ctx ends.
func (g *Gateway) watchLease(ctx context.Context) {
	for {
		sent := time.Now()
		rctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
		l, err := g.cfg.Witness.Get(rctx)
		cancel()
		now := time.Now()
		wait := g.cfg.CheckEvery
		g.mu.Lock()
		if err != nil {
			if g.lease.known && now.Sub(g.lease.seen) < g.cfg.CheckEvery+g.cfg.Timeout {
				g.log.Warn("gateway: witness unreachable", "err", err)
			}
		} else {
			prev := g.lease
			g.lease = leaseView{known: true, seen: now, holder: l.Holder, epoch: l.Epoch}
			if !l.Expired() {
				g.lease.expires = now.Add(l.TTL)
			}
			if prev.holder != l.Holder || prev.epoch != l.Epoch || (prev.expires.IsZero() != g.lease.expires.IsZero()) {
				g.log.Info("gateway: lease", "lease", l.String())
			}
			if l.Expired() {
				wait = min(wait, leaseFastPoll)
			}
			g.reapLocked(now)
		}
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(0, wait-time.Since(sent))):
		}
	}
}

// leaseFastPoll is the witness read period while no lease is held.
const leaseFastPoll = 100 * time.Millisecond

func anyHealthy(st Status) bool {
	for _, r := range st.Regions {
		if r.Healthy {
			return true
		}
	}
	return false
}

// waitCheck returns a channel closed after the next health-check round or
// after d, whichever comes first, and asks for a round now.
func (g *Gateway) waitCheck(d time.Duration) <-chan struct{} {
	g.mu.Lock()
	ch := g.check
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default:
	}
	out := make(chan struct{})
	go func() {
		select {
		case <-ch:
		case <-time.After(d):
		}
		close(out)
	}()
	return out
}

// forward sends r to target. sent reports whether any part of the request
// may have reached the region (false only for failures to connect).
func (g *Gateway) forward(ctx context.Context, r *http.Request, target *regionState, body io.Reader, hasBody bool, key string) (*http.Response, bool, error) {
	u := *target.base
	u.Path = strings.TrimSuffix(u.Path, "/") + r.URL.Path
	u.RawPath = ""
	u.RawQuery = r.URL.RawQuery
	if !hasBody {
		body = nil
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return nil, false, err
	}
	// No resend by net/http itself (it resends a request with an
	// Idempotency-Key when a reused connection breaks): a resend refused
	// by a primary that lost its lease would hide that the first attempt
	// may have been applied. The gateway decides every retry itself.
	out.GetBody = nil
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	if r.ContentLength > 0 {
		out.ContentLength = r.ContentLength
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		out.Header.Set("X-Forwarded-For", host)
	}
	out.Header.Set("X-Forwarded-Host", r.Host)
	if key != "" {
		out.Header.Set(HeaderIdempotencyKey, key)
	}
	resp, err := g.hc.Do(out)
	if err != nil {
		return nil, !notSent(err), err
	}
	return resp, true, nil
}

// notSent reports whether err means the request never reached the server.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

func (g *Gateway) copyResponse(w http.ResponseWriter, resp *http.Response, target *regionState) {
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, h := range hopHeaders {
		w.Header().Del(h)
	}
	w.Header().Set(HeaderRegion, target.Name)
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		g.log.Debug("gateway: response copy ended early", "region", target.Name, "err", err)
	}
}

// writeError answers in MLflow's error format.
func writeError(w http.ResponseWriter, err error) {
	code := tandem.ErrorCode(err)
	w.Header().Set("Content-Type", "application/json")
	if code == tandem.EUNAVAILABLE {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(tandem.HTTPStatus(code))
	json.NewEncoder(w).Encode(map[string]string{"error_code": tandem.MLflowName(code), "message": tandem.ErrorMessage(err)})
}

// ParseRegion parses "name=http://host:port" (the --region flag).
func ParseRegion(s string) (Region, error) {
	name, u, ok := strings.Cut(s, "=")
	if !ok || name == "" || u == "" {
		return Region{}, tandem.Errorf(tandem.EINVALID, "gateway: region %q is not name=URL", s)
	}
	return Region{Name: name, URL: u}, nil
}

package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/tlsconf"
	"github.com/tandemml/tandem/workspace"
)

// IsWrite classifies a request to a region as a write (it must reach the
// primary) or a read (any region serves it). The table:
//
//	GET, HEAD, OPTIONS                                         read
//	/api/tandem/v1/replication/..., /metrics, /health, /version  local (never forwarded)
//	/api/tandem/v1/compute/...                                  local (region-local compute)
//	/api/tandem/v1/images/...                                   local (the region's registry)
//	POST .../experiments/search, runs/search, logged-models/search,
//	     registered-models/get-latest-versions, experiments/search-datasets,
//	     traces/search, traces/batchGetInfos, datasets/search,
//	     issues/search, prompt-optimization/jobs/search          read (MLflow's POST reads)
//	POST /api/tandem/v1/online-endpoints/NAME/listKeys          read
//	POST /ajax-api/3.0/mlflow/ui-telemetry                      read (tandem keeps no UI telemetry)
//	any other POST, PUT, PATCH, DELETE under /api/, /ajax-api/  write
//
// Artifact uploads (PUT /api/2.0/mlflow-artifacts/artifacts/...) and
// multipart uploads are writes; downloads are reads.
func IsWrite(method, path string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	if local(path) {
		return false
	}
	if path == "/v1/traces" { // OTLP span ingestion writes
		return true
	}
	if !strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/ajax-api/") {
		return false
	}
	if method == http.MethodPost {
		for _, suffix := range postReads {
			if strings.HasSuffix(path, suffix) {
				return false
			}
		}
	}
	return true
}

var postReads = []string{
	"/experiments/search", "/runs/search", "/logged-models/search",
	"/registered-models/get-latest-versions", "/experiments/search-datasets",
	"/traces/search", "/traces/batchGetInfos", "/traces/metrics", "/traces/calculate-filter-correlation", "/datasets/search", "/issues/search",
	"/prompt-optimization/jobs/search",
	"/listKeys",     // online endpoint keys: any region answers (hot/hot scoring)
	"/ui-telemetry", // the MLflow UI's telemetry records: tandem keeps none
}

func local(path string) bool {
	return strings.HasPrefix(path, Prefix) || path == "/metrics" || path == "/health" || path == "/version" ||
		path == computePrefix || strings.HasPrefix(path, computePrefix+"/") || path == imagesPrefix || strings.HasPrefix(path, imagesPrefix+"/")
}

// imagesPrefix: each region keeps its own registry's copies of the
// environments' images (region/images.go); a sync is asked of the region
// that is asked.
const imagesPrefix = "/api/tandem/v1/images"

// computePrefix: compute targets belong to the region that is asked
// (each region has its own compute and quota), so their writes are served
// where they are sent, on a secondary too.
const computePrefix = "/api/tandem/v1/compute"

// Frontend wraps a region's HTTP surface with what a multi-region workspace
// needs on every request:
//   - X-Tandem-Region and X-Tandem-Role on every response;
//   - on a secondary, writes are forwarded to the primary (forward_writes,
//     the default) or refused with TEMPORARILY_UNAVAILABLE and the
//     primary's URL; after a forwarded write the secondary waits until it
//     has applied the position the primary returned (read-your-writes);
//   - on a primary, a write's response carries X-Tandem-Position, and under
//     sync durability it is held until a secondary has applied it;
//   - epoch fencing of forwarded writes: the forwarding secondary sends the
//     epoch it believes current (X-Tandem-Epoch); the receiver refuses one
//     older than the newest it has seen (TEMPORARILY_UNAVAILABLE, details
//     reason stale_epoch and its epoch), and the forwarder then learns the
//     newer epoch, waits until it knows the current primary and retries
//     (bodies up to RetryBody bytes; larger ones are not replayed and the
//     client gets the error).
type Frontend struct {
	svc     *Service
	next    http.Handler
	proxy   *httputil.ReverseProxy
	forward bool
	// RYWTimeout bounds the wait for read-your-writes after a forward.
	RYWTimeout time.Duration
	// Fence, when set, is told every epoch a forwarded write carries or
	// its answer shows (failover.Node.Fenced: a newer one demotes this
	// region at once; false means older than the newest seen, and the
	// write is refused). Nil: the epoch is compared with Roles only.
	Fence func(epoch int64, primary string) bool
	// RetryBody is the largest write body a forwarder keeps to retry after
	// a stale-epoch refusal; RetryWait bounds its wait for the new primary.
	RetryBody int64
	RetryWait time.Duration
	keys      idempotency
}

// NewFrontend wraps next.
func NewFrontend(svc *Service, next http.Handler) *Frontend {
	f := &Frontend{svc: svc, next: next, forward: true, RYWTimeout: 10 * time.Second, RetryBody: 1 << 20, RetryWait: 5 * time.Second}
	if ws := svc.cfg.Workspace; ws != nil {
		f.forward = ws.ForwardWrites
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target, _ := url.Parse(pr.In.Context().Value(primaryKey{}).(string))
			pr.SetURL(target)
			pr.Out.Host = target.Host
			pr.Out.Header.Set(HeaderForwarded, svc.cfg.Region)
			pr.Out.Header.Set(HeaderEpoch, strconv.FormatInt(svc.cfg.Roles.Current().Epoch, 10))
			// net/http resends a request with an Idempotency-Key on its
			// own when a reused connection breaks. That resend can be
			// refused (a primary that lost its lease meanwhile) after the
			// first one was applied, turning an unknown outcome into a
			// false "refused". Only the frontend's own resend (retryForward,
			// stale epoch: nothing was applied) may send a write twice.
			pr.Out.GetBody = nil
		},
		ModifyResponse: f.afterForward,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			var stale *staleEpochError
			if errors.As(err, &stale) {
				f.retryForward(w, r, stale)
				return
			}
			var moved errPrimaryChanged
			if errors.As(context.Cause(r.Context()), &moved) {
				svc.log.Warn("forward to the old primary ended: the primary changed", "path", r.URL.Path, "epoch", moved.now.Epoch)
				svc.met.refused.WithLabelValues("primary_changed").Inc()
				writeErr(w, &tandem.Error{Code: tandem.EUNAVAILABLE, Message: moved.Error(),
					Detail: map[string]string{"primary_url": svc.primaryURL(), "reason": "primary_changed"}})
				return
			}
			svc.log.Warn("forward to primary failed", "path", r.URL.Path, "err", err)
			svc.met.refused.WithLabelValues("primary_unreachable").Inc()
			writeErr(w, &tandem.Error{Code: tandem.EUNAVAILABLE,
				Message: "this region is a secondary and the primary is unreachable: " + err.Error(),
				Detail:  map[string]string{"primary_url": svc.primaryURL()}})
		},
		FlushInterval: -1,
	}
	if svc.cfg.TLS != nil {
		f.proxy.Transport = tlsconf.Transport(svc.cfg.TLS)
	}
	// Traced: the primary's span of a forwarded write is the child of this
	// region's (telemetry.Tracing.Transport is the transport itself when off).
	f.proxy.Transport = svc.cfg.Tracing.Transport(f.proxy.Transport)
	return f
}

type primaryKey struct{}

// attemptKey counts a forwarded write's stale-epoch retries; inboundKey
// keeps the client's request (the proxy's error handler sees the outgoing
// one).
type (
	attemptKey struct{}
	inboundKey struct{}
)

// staleEpochError is a receiver's stale-epoch refusal of a forwarded write.
type staleEpochError struct {
	epoch int64 // the receiver's epoch
	body  []byte
}

func (e *staleEpochError) Error() string { return "forwarded write refused: stale epoch" }

func (f *Frontend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	role := f.svc.cfg.Roles.Current()
	h := w.Header()
	h.Set(HeaderRegion, f.svc.cfg.Region)
	h.Set(HeaderRole, string(role.Role))
	if !IsWrite(r.Method, r.URL.Path) {
		f.next.ServeHTTP(w, r)
		return
	}
	if from := r.Header.Get(HeaderForwarded); from != "" {
		if err := f.checkForwardEpoch(r, from, role); err != nil {
			f.svc.met.refused.WithLabelValues("stale_epoch").Inc()
			writeErr(w, err)
			return
		}
		role = f.svc.cfg.Roles.Current()
	}
	if role.Role != tandem.RolePrimary {
		f.secondaryWrite(w, r, role)
		return
	}
	f.primaryWrite(w, r)
}

func (f *Frontend) secondaryWrite(w http.ResponseWriter, r *http.Request, role tandem.RoleState) {
	primary := f.svc.primaryURL()
	refuse := func(why string) {
		f.svc.met.refused.WithLabelValues("secondary").Inc()
		msg := "this region (" + f.svc.cfg.Region + ") is a secondary; " + why
		if primary != "" {
			msg += "; send writes to the primary at " + primary
		}
		writeErr(w, &tandem.Error{Code: tandem.EUNAVAILABLE, Message: msg,
			Detail: map[string]string{"primary_url": primary, "primary": role.Primary}})
	}
	switch {
	case !f.forward:
		refuse("it does not forward writes (forward_writes: false)")
	case primary == "":
		refuse("the primary is unknown")
	case r.Header.Get(HeaderForwarded) != "":
		refuse("a write forwarded by " + r.Header.Get(HeaderForwarded) + " is not forwarded again")
	default:
		// A write's own idempotency key (the client's or the gateway's) goes
		// on with it. The forwarder adds none of its own: with one, the
		// chaos suite saw a forwarded write answered as refused that the
		// old primary had committed (kept in its divergence report); its
		// stale-epoch resend needs no key (a stale refusal applied nothing).
		if r.GetBody == nil && r.Body != nil && r.ContentLength >= 0 && r.ContentLength <= f.RetryBody {
			// Keep the body: a stale-epoch refusal is retried.
			b, err := io.ReadAll(io.LimitReader(r.Body, f.RetryBody+1))
			if err != nil {
				writeErr(w, tandem.Errorf(tandem.EINVALID, "reading the request body: %v", err))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		}
		// A forward waits on the primary it was sent to. When this region
		// follows a new primary or becomes the primary meanwhile, that
		// primary's answer no longer matters (it may be paused or cut off
		// for good): the forward ends at once, and the client is told to
		// retry, so the write goes to the new primary instead of hanging.
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		go f.watchForward(ctx, cancel, role)
		ctx = context.WithValue(ctx, primaryKey{}, primary)
		f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, inboundKey{}, r)))
	}
}

// errPrimaryChanged ends a forward whose primary was replaced meanwhile.
type errPrimaryChanged struct{ now tandem.RoleState }

func (e errPrimaryChanged) Error() string {
	return fmt.Sprintf("the primary changed while the write was forwarded (now epoch %d, primary %s): its outcome is unknown; retry it (a write with an idempotency key is applied once)",
		e.now.Epoch, e.now.Primary)
}

// watchForward cancels a forward sent to role's primary once this region
// follows another primary in a newer epoch, or is the primary itself. A
// newer epoch of the same primary (a region learning the current epoch
// as it starts) leaves the forward alone: its stale-epoch refusal is
// retried (retryForward).
func (f *Frontend) watchForward(ctx context.Context, cancel context.CancelCauseFunc, role tandem.RoleState) {
	for {
		changed := f.svc.cfg.Roles.Changed()
		cur := f.svc.cfg.Roles.Current()
		if cur.Role == tandem.RolePrimary || (cur.Epoch > role.Epoch && cur.Primary != "" && cur.Primary != role.Primary) {
			cancel(errPrimaryChanged{now: cur})
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// checkForwardEpoch fences a forwarded write on the receiving side: it
// must carry the epoch its forwarder believes current, and that epoch must
// not be older than the newest this region has seen. A newer one tells
// this region that its own epoch is over (Fence demotes it; the store's
// gate then refuses the write).
func (f *Frontend) checkForwardEpoch(r *http.Request, from string, role tandem.RoleState) error {
	e, err := strconv.ParseInt(r.Header.Get(HeaderEpoch), 10, 64)
	if err != nil || e < 0 {
		return tandem.Errorf(tandem.EINVALID, "a write forwarded by %s must carry its epoch in %s", from, HeaderEpoch)
	}
	if e > role.Epoch {
		// The forwarder knows a newer epoch: this region is not the
		// primary of that epoch. Refuse, but do not take an
		// unauthenticated header's word for a new epoch (that would let
		// any client demote the primary): the lease and the peers tell.
		return &tandem.Error{Code: tandem.EUNAVAILABLE,
			Message: fmt.Sprintf("write forwarded by %s carries epoch %d, newer than this region's (%s) epoch %d: it is not the primary of that epoch; refused",
				from, e, f.svc.cfg.Region, role.Epoch),
			Detail: map[string]string{"reason": ReasonNewerEpoch, "epoch": strconv.FormatInt(role.Epoch, 10)}}
	}
	ok := e == role.Epoch
	if f.Fence != nil {
		ok = f.Fence(e, "") && ok // counts the refusal; never demotes (e is not newer)
	}
	if ok {
		return nil
	}
	newest := max(role.Epoch, f.svc.cfg.Roles.Current().Epoch)
	f.svc.log.Warn("refused a forwarded write from an older epoch", "from", from, "epoch", e, "newest", newest, "path", r.URL.Path)
	return &tandem.Error{Code: tandem.EUNAVAILABLE,
		Message: fmt.Sprintf("write forwarded by %s carries epoch %d, older than epoch %d this region (%s) has seen: refused; the forwarder must find the current primary",
			from, e, newest, f.svc.cfg.Region),
		Detail: map[string]string{"reason": ReasonStaleEpoch, "epoch": strconv.FormatInt(newest, 10), "primary": role.Primary}}
}

// retryForward runs after the receiver refused a forwarded write as
// stale: this region learns the receiver's newer epoch, waits until it
// knows a primary in that epoch (or newer), and forwards again; a body it
// could not keep, too many refusals or no primary in time give the client
// the refusal (TEMPORARILY_UNAVAILABLE, which MLflow clients retry).
func (f *Frontend) retryForward(w http.ResponseWriter, out *http.Request, stale *staleEpochError) {
	r, _ := out.Context().Value(inboundKey{}).(*http.Request)
	if r == nil {
		r = out
	}
	attempt, _ := r.Context().Value(attemptKey{}).(int)
	if f.Fence != nil {
		f.Fence(stale.epoch, "")
	}
	refuse := func(why string) {
		f.svc.log.Warn("forwarded write refused as stale; not retried", "path", r.URL.Path, "why", why)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write(stale.body)
	}
	if r.GetBody == nil || attempt >= 2 {
		refuse("body not kept or retried twice already")
		return
	}
	deadline := time.Now().Add(f.RetryWait)
	for {
		role := f.svc.cfg.Roles.Current()
		if role.Epoch >= stale.epoch && (role.Role == tandem.RolePrimary || f.svc.primaryURL() != "") {
			break
		}
		if time.Now().After(deadline) {
			refuse("no primary known in the newer epoch in time")
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	body, err := r.GetBody()
	if err != nil {
		refuse(err.Error())
		return
	}
	r2 := r.Clone(context.WithValue(r.Context(), attemptKey{}, attempt+1))
	r2.Body = body
	f.svc.log.Info("forwarded write refused as stale: retrying with the current primary", "path", r.URL.Path, "epoch", f.svc.cfg.Roles.Current().Epoch)
	f.ServeHTTP(w, r2)
}

// afterForward runs before the primary's response goes back to the client:
// it waits until this region has applied the write, so the client's next
// read here sees it.
func (f *Frontend) afterForward(resp *http.Response) error {
	if e, err := strconv.ParseInt(resp.Header.Get(HeaderEpoch), 10, 64); err == nil && f.Fence != nil {
		f.Fence(e, "")
	}
	resp.Header.Del(HeaderEpoch) // the client sees this region's
	if resp.StatusCode == http.StatusServiceUnavailable {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		var refusal struct {
			Details map[string]string `json:"details"`
		}
		if err == nil && json.Unmarshal(b, &refusal) == nil && refusal.Details["reason"] == ReasonStaleEpoch {
			e, _ := strconv.ParseInt(refusal.Details["epoch"], 10, 64)
			return &staleEpochError{epoch: e, body: b}
		}
	}
	resp.Header.Del(HeaderRegion)
	resp.Header.Del(HeaderRole)
	resp.Header.Set(HeaderPrimary, resp.Request.URL.Host)
	pos := parsePos(resp.Header.Get(HeaderPosition))
	if pos.Seq == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(resp.Request.Context(), f.RYWTimeout)
	defer cancel()
	store := f.svc.cfg.Store
	for {
		ch := store.Changed()
		head, err := store.Head(ctx)
		if err == nil && head.Seq >= pos.Seq {
			resp.Header.Set(HeaderRYW, "ok")
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			// The write succeeded on the primary; say that this region has
			// not caught up rather than fail it.
			resp.Header.Set(HeaderRYW, "timeout")
			return nil
		}
	}
}

// primaryWrite serves a write on the primary and stamps the response with
// the journal position; under sync durability the response waits for a
// secondary's acknowledgement. A write with an idempotency key is applied
// once (keyedWrite).
func (f *Frontend) primaryWrite(w http.ResponseWriter, r *http.Request) {
	if key := r.Header.Get(HeaderIdempotencyKey); key != "" {
		f.keyedWrite(w, r, key)
		return
	}
	f.stamped(w, r)
}

func (f *Frontend) stamped(w http.ResponseWriter, r *http.Request) {
	before := f.svc.lastCommit.Load()
	sw := &stampWriter{ResponseWriter: w, f: f, r: r, before: before}
	f.next.ServeHTTP(sw, r)
	if !sw.wrote {
		sw.WriteHeader(http.StatusOK)
	}
}

type stampWriter struct {
	http.ResponseWriter
	f       *Frontend
	r       *http.Request
	before  int64
	wrote   bool
	discard bool
}

func (s *stampWriter) WriteHeader(code int) {
	if s.wrote {
		return
	}
	s.wrote = true
	after := s.f.svc.lastCommit.Load()
	if after > s.before {
		role := s.f.svc.cfg.Roles.Current()
		s.Header().Set(HeaderPosition, tandem.Position{Epoch: role.Epoch, Seq: after}.String())
		if ws := s.f.svc.cfg.Workspace; ws != nil && ws.Durability.Mode == workspace.Sync && code < 400 {
			if err := s.f.svc.WaitAck(s.r.Context(), after); err != nil {
				s.discard = true
				s.Header().Del("Content-Length")
				writeErr(s.ResponseWriter, err)
				return
			}
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *stampWriter) Write(b []byte) (int, error) {
	if !s.wrote {
		s.WriteHeader(http.StatusOK)
	}
	if s.discard {
		return len(b), nil
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *stampWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

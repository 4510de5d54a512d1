package replication

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/workspace"
)

// IsWrite classifies a request to a region as a write (it must reach the
// primary) or a read (any region serves it). The table:
//
//	GET, HEAD, OPTIONS                                         read
//	/api/tandem/v1/replication/..., /metrics, /health, /version  local (never forwarded)
//	POST .../experiments/search, runs/search, logged-models/search,
//	     registered-models/get-latest-versions, experiments/search-datasets,
//	     traces/search, traces/batchGetInfos, datasets/search,
//	     issues/search, prompt-optimization/jobs/search          read (MLflow's POST reads)
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
	"/traces/search", "/traces/batchGetInfos", "/datasets/search", "/issues/search",
	"/prompt-optimization/jobs/search",
}

func local(path string) bool {
	return strings.HasPrefix(path, Prefix) || path == "/metrics" || path == "/health" || path == "/version"
}

// Frontend wraps a region's HTTP surface with what a multi-region workspace
// needs on every request:
//   - X-Tandem-Region and X-Tandem-Role on every response;
//   - on a secondary, writes are forwarded to the primary (forward_writes,
//     the default) or refused with TEMPORARILY_UNAVAILABLE and the
//     primary's URL; after a forwarded write the secondary waits until it
//     has applied the position the primary returned (read-your-writes);
//   - on a primary, a write's response carries X-Tandem-Position, and under
//     sync durability it is held until a secondary has applied it.
type Frontend struct {
	svc     *Service
	next    http.Handler
	proxy   *httputil.ReverseProxy
	forward bool
	// RYWTimeout bounds the wait for read-your-writes after a forward.
	RYWTimeout time.Duration
}

// NewFrontend wraps next.
func NewFrontend(svc *Service, next http.Handler) *Frontend {
	f := &Frontend{svc: svc, next: next, forward: true, RYWTimeout: 10 * time.Second}
	if ws := svc.cfg.Workspace; ws != nil {
		f.forward = ws.ForwardWrites
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target, _ := url.Parse(pr.In.Context().Value(primaryKey{}).(string))
			pr.SetURL(target)
			pr.Out.Host = target.Host
			pr.Out.Header.Set(HeaderForwarded, svc.cfg.Region)
		},
		ModifyResponse: f.afterForward,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			svc.log.Warn("forward to primary failed", "path", r.URL.Path, "err", err)
			writeErr(w, &tandem.Error{Code: tandem.EUNAVAILABLE,
				Message: "this region is a secondary and the primary is unreachable: " + err.Error(),
				Detail:  map[string]string{"primary_url": svc.primaryURL()}})
		},
		FlushInterval: -1,
	}
	return f
}

type primaryKey struct{}

func (f *Frontend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	role := f.svc.cfg.Roles.Current()
	h := w.Header()
	h.Set(HeaderRegion, f.svc.cfg.Region)
	h.Set(HeaderRole, string(role.Role))
	if !IsWrite(r.Method, r.URL.Path) {
		f.next.ServeHTTP(w, r)
		return
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
		f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), primaryKey{}, primary)))
	}
}

// afterForward runs before the primary's response goes back to the client:
// it waits until this region has applied the write, so the client's next
// read here sees it.
func (f *Frontend) afterForward(resp *http.Response) error {
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
// secondary's acknowledgement.
func (f *Frontend) primaryWrite(w http.ResponseWriter, r *http.Request) {
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

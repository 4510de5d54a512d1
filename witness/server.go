package witness

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/tandemml/tandem"
)

// The built-in witness speaks a small JSON API under /v1, every call but
// /health authenticated with "Authorization: Bearer <key>":
//
//	GET  /v1/leases/{name}      -> 200 lease
//	POST /v1/leases/{name}/cas  {"prev": lease, "next": lease}
//	                            -> 200 new lease | 409 {"error", "lease": current}
//
// A lease on the wire is {"holder", "epoch", "next", "sync", "rev", "ttl_ms"}
// (next, sync and rev omitted when empty or zero). Errors are
// {"error": {"code", "message"}} with the tandem error code.

const stateFile = "witness.json"

// wireLease is a lease as the witness API and its state file carry it.
type wireLease struct {
	Holder string `json:"holder"`
	Epoch  int64  `json:"epoch"`
	Next   string `json:"next,omitempty"`
	Sync   string `json:"sync,omitempty"`
	Rev    int64  `json:"rev,omitempty"`
	TTLms  int64  `json:"ttl_ms"`
}

func toWire(l tandem.Lease) wireLease {
	return wireLease{Holder: l.Holder, Epoch: l.Epoch, Next: l.Next, Sync: l.Sync, Rev: l.Rev, TTLms: l.TTL.Milliseconds()}
}

func (w wireLease) lease() tandem.Lease {
	return tandem.Lease{Holder: w.Holder, Epoch: w.Epoch, Next: w.Next, Sync: w.Sync, Rev: w.Rev, TTL: time.Duration(w.TTLms) * time.Millisecond}
}

type casRequest struct {
	Prev wireLease `json:"prev"`
	Next wireLease `json:"next"`
}

type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type errorBody struct {
	Error wireError  `json:"error"`
	Lease *wireLease `json:"lease,omitempty"`
}

var leaseName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// stored is one lease in the state file: TTL is the length last granted.
// On restart every lease gets that full length again from the moment the
// witness starts: a lease can only look longer after a restart, never
// shorter, so no holder is ever cut short.
//
// Rev is not the lease's revision but a ceiling above every revision the
// witness has returned: a renewal that changes nothing else raises the
// revision in memory only, and the file is rewritten (ceiling raised by
// revBatch) when the revision reaches the ceiling. After a restart the
// lease resumes at the ceiling, so no request built on a revision returned
// before the restart can match. Zero (a file from before revisions): the
// lease resumes at revision 1.
type stored struct {
	Holder string `json:"holder"`
	Epoch  int64  `json:"epoch"`
	Next   string `json:"next,omitempty"`
	Sync   string `json:"sync,omitempty"`
	Rev    int64  `json:"rev,omitempty"`
	TTLms  int64  `json:"ttl_ms"`
}

// revBatch is how far the stored revision ceiling runs ahead of the
// lease's revision: one fsync per revBatch identical renewals.
const revBatch = 1024

type stateDoc struct {
	Version int               `json:"version"`
	Leases  map[string]stored `json:"leases"`
}

// ServerOptions configure a Server.
type ServerOptions struct {
	Dir    string                 // data directory (created if missing)
	Key    string                 // shared key every client must present; required
	Logger *slog.Logger           // default slog.Default()
	Clock  func() time.Duration   // monotonic clock; default the process's
	Sync   func(dir string) error // fsyncs the directory after a rename; default syncDir (tests may count calls)
}

// Server is the built-in witness: leases for any number of workspaces,
// persisted in Dir so that they survive a restart.
type Server struct {
	mu     sync.Mutex
	opts   ServerOptions
	leases map[string]*Register
	saved  map[string]stored
	log    *slog.Logger
}

// NewServer loads the witness state from opts.Dir. EINVALID when the key is
// empty or the state file is unreadable.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Key == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "witness: a shared key is required (--key-file or TANDEM_WITNESS_KEY)")
	}
	if opts.Dir == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "witness: a data directory is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = monotonic()
	}
	if opts.Sync == nil {
		opts.Sync = syncDir
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("witness: data directory: %w", err)
	}
	s := &Server{opts: opts, leases: map[string]*Register{}, saved: map[string]stored{}, log: opts.Logger}
	b, err := os.ReadFile(filepath.Join(opts.Dir, stateFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("witness: read state: %w", err)
	default:
		var doc stateDoc
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "witness: state file %s is corrupt: %v", filepath.Join(opts.Dir, stateFile), err)
		}
		now := opts.Clock()
		for name, st := range doc.Leases {
			s.leases[name] = &Register{Holder: st.Holder, Epoch: st.Epoch, Next: st.Next, Sync: st.Sync,
				Rev: max(st.Rev, 1), ExpiresAt: now + time.Duration(st.TTLms)*time.Millisecond}
			s.saved[name] = st
		}
	}
	return s, nil
}

// Handler is the witness HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) })
	mux.HandleFunc("GET /v1/leases/{name}", s.auth(s.get))
	mux.HandleFunc("POST /v1/leases/{name}/cas", s.auth(s.cas))
	return mux
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + s.opts.Key)
	return func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			writeError(w, http.StatusUnauthorized, tandem.Errorf(tandem.EUNAUTHORIZED, "witness: missing or wrong key"), nil)
			return
		}
		if !leaseName.MatchString(r.PathValue("name")) {
			writeError(w, http.StatusBadRequest, tandem.Errorf(tandem.EINVALID, "witness: bad lease name"), nil)
			return
		}
		h(w, r)
	}
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	var l tandem.Lease
	if reg := s.leases[r.PathValue("name")]; reg != nil {
		l = reg.Lease(s.opts.Clock())
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, toWire(l))
}

// parseCAS decodes a compare-and-swap request body.
func parseCAS(body io.Reader) (prev, next tandem.Lease, err error) {
	var req casRequest
	dec := json.NewDecoder(io.LimitReader(body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return prev, next, tandem.Errorf(tandem.EINVALID, "witness: bad request body: %v", err)
	}
	if req.Next.TTLms < 0 || req.Next.TTLms > int64(24*time.Hour/time.Millisecond) {
		return prev, next, tandem.Errorf(tandem.EINVALID, "witness: ttl_ms out of range")
	}
	for _, n := range []string{req.Prev.Holder, req.Next.Holder, req.Next.Next, req.Next.Sync} {
		if n != "" && !leaseName.MatchString(n) {
			return prev, next, tandem.Errorf(tandem.EINVALID, "witness: bad region name %q", n)
		}
	}
	return req.Prev.lease(), req.Next.lease(), nil
}

func (s *Server) cas(w http.ResponseWriter, r *http.Request) {
	prev, next, err := parseCAS(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err, nil)
		return
	}
	name := r.PathValue("name")
	s.mu.Lock()
	defer s.mu.Unlock()
	reg := s.leases[name]
	if reg == nil {
		reg = &Register{}
	}
	trial := *reg
	l, err := trial.CompareAndSwap(s.opts.Clock(), prev, next)
	if err != nil {
		status := http.StatusConflict
		if tandem.ErrorCode(err) == tandem.EINVALID {
			status = http.StatusBadRequest
		}
		cur := toWire(l)
		writeError(w, status, err, &cur)
		return
	}
	old, ok := s.saved[name]
	st := stored{Holder: next.Holder, Epoch: next.Epoch, Next: next.Next, Sync: next.Sync, Rev: old.Rev, TTLms: next.TTL.Milliseconds()}
	if !ok || old != st || trial.Rev >= old.Rev {
		st.Rev = trial.Rev + revBatch
		// Durable before anyone learns of it.
		if err := s.persist(name, st); err != nil {
			s.log.Error("witness: cannot persist lease", "lease", name, "err", err)
			writeError(w, http.StatusServiceUnavailable, tandem.Errorf(tandem.EUNAVAILABLE, "witness: cannot persist"), nil)
			return
		}
		if !ok || old.Holder != st.Holder || old.Epoch != st.Epoch {
			s.log.Info("witness: lease changed hands", "lease", name, "holder", st.Holder, "epoch", st.Epoch)
		}
	}
	*reg = trial
	s.leases[name] = reg
	writeJSON(w, http.StatusOK, toWire(l))
}

// persist writes the whole state with st for name to a temporary file,
// fsyncs it, renames it into place and fsyncs the directory. s.mu held.
func (s *Server) persist(name string, st stored) error {
	doc := stateDoc{Version: 1, Leases: map[string]stored{}}
	for k, v := range s.saved {
		doc.Leases[k] = v
	}
	doc.Leases[name] = st
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.opts.Dir, stateFile, b, s.opts.Sync); err != nil {
		return err
	}
	s.saved[name] = st
	return nil
}

func writeFileAtomic(dir, name string, b []byte, sync func(string) error) error {
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("temp file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("fsync: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	return sync(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error, cur *wireLease) {
	writeJSON(w, status, errorBody{Error: wireError{Code: tandem.ErrorCode(err), Message: tandem.ErrorMessage(err)}, Lease: cur})
}

// Serve serves the witness on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("witness serving", "addr", ln.Addr().String(), "data", s.opts.Dir)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

package transfer

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/transfer/bundle"
)

// Routes of the transfer API, under tandem's API prefix.
const (
	ExportPath = "/api/tandem/v1/export"
	ImportPath = "/api/tandem/v1/import"
)

// Handler serves export and import over HTTP:
//
//	POST /api/tandem/v1/export   body: Selection as JSON
//	     200 application/gzip: the bundle as a .tar.gz archive
//	POST /api/tandem/v1/import[?dry_run=true]   body: a bundle archive (.tar or .tar.gz)
//	     200 application/x-ndjson: one Event per line, the last one with
//	     the Report or the error
//
// Errors before the response starts are JSON {"error_code", "message"}
// with the code's HTTP status, as in the rest of tandem's API.
type Handler struct {
	Exporter *Exporter
	Importer *Importer
	Log      *slog.Logger
	// TempDir holds bundles while they are built or received ("" = the
	// system default).
	TempDir string
}

// NewHandler returns the transfer API of one region.
func NewHandler(store Store, blobs *blobstore.Store, workspace, region string, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{Exporter: &Exporter{Store: store, Blobs: blobs, Workspace: workspace, Region: region},
		Importer: &Importer{Store: store, Blobs: blobs}, Log: log}
}

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+ExportPath, h.export)
	mux.HandleFunc("POST "+ImportPath, h.importBundle)
}

// Event is one line of an import's response.
type Event struct {
	Event     string    `json:"event"` // "progress", "report" or "error"
	Progress  *Progress `json:"progress,omitempty"`
	Report    *Report   `json:"report,omitempty"`
	ErrorCode string    `json:"error_code,omitempty"`
	Message   string    `json:"message,omitempty"`
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := tandem.ErrorCode(err)
	if code == tandem.EINTERNAL {
		h.Log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(tandem.HTTPStatus(code))
	json.NewEncoder(w).Encode(map[string]string{"error_code": code, "message": tandem.ErrorMessage(err)})
}

func (h *Handler) export(w http.ResponseWriter, r *http.Request) {
	var sel Selection
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sel); err != nil {
		h.writeError(w, r, tandem.Errorf(tandem.EINVALID, "export request: %v", err))
		return
	}
	if err := sel.Validate(); err != nil {
		h.writeError(w, r, err)
		return
	}
	dir, err := os.MkdirTemp(h.TempDir, "tandem-export-*")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bundle.tar.gz")
	meta, err := h.Exporter.Meta(r.Context())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	bw, err := bundle.Create(path, meta)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	st, err := h.Exporter.Export(r.Context(), bw, sel, nil)
	if err != nil {
		bw.Abort()
		h.writeError(w, r, err)
		return
	}
	if err := bw.Close(); err != nil {
		h.writeError(w, r, err)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer f.Close()
	fi, _ := f.Stat()
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	w.Header().Set("X-Tandem-Export", fmt.Sprintf("experiments=%d runs=%d metric_points=%d blobs=%d", st.Experiments, st.Runs, st.Metrics, st.Blobs))
	if _, err := io.Copy(w, f); err != nil {
		h.Log.Warn("export: client went away", "err", err)
	}
}

func (h *Handler) importBundle(w http.ResponseWriter, r *http.Request) {
	dry := r.URL.Query().Get("dry_run") == "true"
	f, err := os.CreateTemp(h.TempDir, "tandem-import-*.bundle")
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	defer os.Remove(f.Name())
	_, err = io.Copy(f, r.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		h.writeError(w, r, tandem.Errorf(tandem.EINVALID, "receiving the bundle: %v", err))
		return
	}
	br, err := bundle.Open(f.Name())
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	var mu sync.Mutex
	enc := json.NewEncoder(bw)
	send := func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(ev)
		bw.Flush()
		// Through any wrapper (Unwrap): progress must reach the client as
		// it happens, not when the import ends.
		http.NewResponseController(w).Flush()
	}
	var last time.Time
	rep, err := h.Importer.Import(r.Context(), br, ImportOptions{DryRun: dry, Progress: func(p Progress) {
		if now := time.Now(); now.Sub(last) >= 200*time.Millisecond || p.Done == p.Total {
			last = now
			send(Event{Event: "progress", Progress: &p})
		}
	}})
	if err != nil {
		code := tandem.ErrorCode(err)
		if code == tandem.EINTERNAL && !errors.Is(err, r.Context().Err()) {
			h.Log.Error("import failed", "err", err)
		}
		ev := Event{Event: "error", ErrorCode: code, Message: tandem.ErrorMessage(err), Report: rep}
		send(ev)
		return
	}
	send(Event{Event: "report", Report: rep})
}

// Package api serves tandem's own REST API under /api/tandem/v1/: the
// workspace assets managed as code (models, environments, data assets,
// datastores, components, pipelines). Every change goes through the
// metadata store's journal; asset files are written to artifact storage
// first, under assets/<kind>s/<name>/<version>/, and made visible by the
// metadata transaction that follows. Errors are JSON objects
// {"error_code": <tandem code>, "message": ...} with the code's HTTP status.
// The route table is the single source of the mux and of the OpenAPI
// document served at /api/tandem/v1/openapi.json.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/keyvault"
	"gocloud.dev/secrets"
)

// Prefix is where the API is mounted.
const Prefix = "/api/tandem/v1"

// Config is what a Server needs.
type Config struct {
	Store Store
	// Jobs is the region's job store (sqlstore.NewJobs of Store).
	Jobs  JobStore
	Blobs *blobstore.Store
	Log   *slog.Logger
	// Vault is the region's key vault; nil: one on Keeper, or (Keeper nil)
	// on the key keyvault.FromEnv(MetadataURL) names.
	Vault  *keyvault.Vault
	Keeper *secrets.Keeper
	// MetadataURL locates the default secrets key file of a SQLite region.
	MetadataURL string
	// ResolveImage, when set (the workspace names container registries),
	// resolves an environment's image tag to the digest it names now, which
	// the new version records (imagecopy.Client.Resolve).
	ResolveImage func(ctx context.Context, ref string) (string, error)
	// EnvironmentCreated, when set, is called after an environment version
	// is created (the region's image sync copies its image at once).
	EnvironmentCreated func()
	// Elsewhere are the operations other packages serve below Prefix (the
	// online endpoints), documented in this API's OpenAPI document.
	Elsewhere []DocRoute
}

// Server is tandem's API of one region.
type Server struct {
	elsewhere []DocRoute
	store     Store
	jobs      JobStore
	blobs     *blobstore.Store
	log       *slog.Logger
	vault     *keyvault.Vault
	mux       *http.ServeMux
	routes    []Route
	// createLocks serialise creates of the same asset name in this process
	// (striped by name hash), so two creates never write bytes under the
	// same version's path at once.
	createLocks [64]sync.Mutex
	lastSweep   atomic.Int64 // unix ms of the last SweepAssetUploads (assets_cleanup.go)
	runner      JobRunner    // jobs.go; nil: no runner in this region
	resolveRef  func(ctx context.Context, ref string) (string, error)
	envCreated  func()
}

// Route is one operation of the API.
type Route struct {
	Method  string
	Path    string // relative to Prefix, with {name} and {path...} wildcards
	Summary string
	Kind    tandem.AssetKind
	handler http.HandlerFunc
}

// New builds the API. A secrets key that cannot be read is logged and
// leaves the server unable to store credentials (EINVALID on such creates).
func New(cfg Config) *Server {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	s := &Server{store: cfg.Store, jobs: cfg.Jobs, blobs: cfg.Blobs, log: log, vault: cfg.Vault, mux: http.NewServeMux(), elsewhere: cfg.Elsewhere,
		resolveRef: cfg.ResolveImage, envCreated: cfg.EnvironmentCreated}
	if s.vault == nil {
		s.vault = s.openVault(cfg)
	}
	s.addRoutes()
	for _, r := range s.routes {
		s.mux.HandleFunc(r.Method+" "+Prefix+r.Path, r.handler)
	}
	s.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, tandem.Errorf(tandem.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path))
	})
	return s
}

// ServeHTTP serves the API (mount it at Prefix+"/").
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Routes lists every operation, in registration order.
func (s *Server) Routes() []Route { return s.routes }

func (s *Server) route(method, path, summary string, kind tandem.AssetKind, h http.HandlerFunc) {
	s.routes = append(s.routes, Route{Method: method, Path: path, Summary: summary, Kind: kind, handler: h})
}

// errorBody is the API's error format.
type errorBody struct {
	ErrorCode string            `json:"error_code"`
	Message   string            `json:"message"`
	Details   map[string]string `json:"details,omitempty"`
}

// writeError writes err with its code's status; internal errors are logged
// in full and shown as "Internal error.".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := tandem.ErrorCode(err)
	if code == tandem.EINTERNAL {
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body := errorBody{ErrorCode: code, Message: tandem.ErrorMessage(err)}
	var te *tandem.Error
	if errors.As(err, &te) {
		body.Details = te.Detail
	}
	writeJSON(w, tandem.HTTPStatus(code), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	buf, err := json.Marshal(v)
	if err != nil {
		status, buf = 500, []byte(`{"error_code":"internal","message":"Internal error."}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf)
	w.Write([]byte("\n"))
}

// lockName locks the create stripe of kind/name and returns its unlock.
func (s *Server) lockName(k tandem.AssetKind, name string) func() {
	h := fnv.New32a()
	h.Write([]byte(string(k) + "/" + name))
	m := &s.createLocks[h.Sum32()%uint32(len(s.createLocks))]
	m.Lock()
	return m.Unlock
}

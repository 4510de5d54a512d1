// Package region assembles one running region of a workspace: its metadata
// store, artifact store, HTTP APIs and replication. cmd/tandem wires a
// Region from flags or the workspace file; tests start Regions in-process or
// as processes.
package region

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/api"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/console"
	"github.com/tandemml/tandem/jobs"
	"github.com/tandemml/tandem/keyvault"
	"github.com/tandemml/tandem/leader"
	"github.com/tandemml/tandem/mlflowapi"
	"github.com/tandemml/tandem/mlflowui"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/serving"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/telemetry"
	"github.com/tandemml/tandem/transfer"
	"github.com/tandemml/tandem/webhook"
	"github.com/tandemml/tandem/workspace"
)

// Config is what one region needs to run.
type Config struct {
	Name         string // region name ("local" for a single-region server)
	Listen       string // host:port
	MetadataURL  string // sqlite:///... or postgres://...
	ArtifactsURL string // file:///..., s3://..., azblob://..., gs://...
	Logger       *slog.Logger

	// Workspace, when set, makes this region one of a multi-region
	// workspace: Name must be one of its regions. Nil: a single region.
	Workspace *workspace.Workspace
	// Roles, when set, is where the region's role and epoch come from (the
	// failover machinery). Nil: the workspace file's primary, statically.
	Roles tandem.Roles
	// Progress receives bootstrap progress lines (a terminal).
	Progress io.Writer
	// Auth turns on authentication and authorisation (auth.go); nil: off
	// (tandem server --no-auth, auth: {mode: off}).
	Auth *AuthConfig
	// OTLPEndpoint, when set, overrides the workspace file's
	// telemetry.otlp_endpoint (and OTEL_EXPORTER_OTLP_ENDPOINT): where this
	// region's traces go. Empty everywhere: no tracing.
	OTLPEndpoint string
	// TestHooks is empty in a release build; built with the tag
	// tandemtest it holds the test ops switch and fault injectors
	// (testops.go).
	TestHooks
	// MLflowUI is the folder of the MLflow UI's static build to serve at /
	// (mlflowui.Find resolves "auto"); empty: no UI.
	MLflowUI string
	// ScoringPython is the interpreter (its environment has mlflow and the
	// models' libraries) that runs online endpoints' scoring processes;
	// empty: this region starts none and its scoring answers 503.
	ScoringPython string
	// ScoringCache holds model files and scoring processes' folders;
	// empty: a folder under the system's temporary folder, per region.
	ScoringCache string
	// WorkDir holds the folders of the job attempts this region runs
	// (default: next to a SQLite database, else under the temporary folder).
	WorkDir string
	// Environments builds the Python environments of jobs on local compute
	// (nil: jobs that name an environment fail, saying so).
	Environments jobs.EnvBuilder
	// LocalMaxInstances is the quota of the implicit "local" compute
	// (0: the host's CPU count).
	LocalMaxInstances int
	// DriftInterval is how often the region checks its state against the
	// last applied desired state (desired.go); 0: DefaultDriftInterval.
	DriftInterval time.Duration
	// ImageSyncInterval is how often a region with a registry checks that
	// it holds every environment's image (images.go); 0:
	// DefaultImageSyncInterval.
	ImageSyncInterval time.Duration
}

// Region is one running region.
type Region struct {
	cfg         Config
	Store       *sqlstore.Store
	Blobs       *blobstore.Store
	MLflow      *mlflowapi.Server
	Replication *replication.Service
	// Roles is the one source of this region's role and epoch.
	Roles tandem.Roles
	// StaticRoles is set when Roles came from the workspace file; the
	// failover machinery (or a test) may Set it.
	StaticRoles *tandem.RoleBox
	Metrics     *prometheus.Registry
	// Leader runs failover in a multi-region workspace (nil for a single
	// region, or when Config.Roles is given).
	Leader *leader.Runner
	// Vault is the region's key vault (its workspace key, key check).
	Vault *keyvault.Vault
	// Identity and Auth are set when Config.Auth is (auth.go).
	Identity *sqlstore.IdentityStore
	Auth     *auth.Authenticator
	audit    io.Closer
	log      *slog.Logger
	mux      *http.ServeMux
	handler  http.Handler
	tls      *tls.Config // nil: plain HTTP (tls.go)
	tracing  *telemetry.Tracing
	drift    *driftChecker // desired.go
	images   *imageSync    // images.go
	// Jobs runs the workspace's jobs on this region's compute (jobs.go).
	Jobs *jobs.Runner
	// Serving runs this region's online endpoints (package serving).
	Serving   *serving.Service
	listenURL atomic.Value // string: http(s)://addr once Serve listens
}

// Open opens the stores and builds the HTTP handlers; it does not listen.
func Open(ctx context.Context, cfg Config) (*Region, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Name == "" {
		cfg.Name = "local"
	}
	var key []byte
	if ws := cfg.Workspace; ws != nil {
		if _, err := ws.Region(cfg.Name); err != nil {
			return nil, err
		}
		if len(ws.Regions) > 1 {
			k, err := ws.Key()
			if err != nil {
				return nil, err
			}
			key = k
		}
	}
	log = log.With("region", cfg.Name)
	tlsFiles, srvTLS, peerTLS, err := openTLS(cfg, log)
	if err != nil {
		return nil, err
	}
	tracing, err := openTracing(ctx, cfg)
	if err != nil {
		return nil, err
	}
	roles := cfg.Roles
	var box *tandem.RoleBox
	// In a multi-region workspace the failover machinery decides the role
	// (with a witness: leases; without: manual failover only): start as a
	// secondary that follows nobody until it knows who is primary.
	failoverMode := roles == nil && cfg.Workspace != nil && len(cfg.Workspace.Regions) > 1
	if failoverMode {
		box = tandem.NewRoleBox(tandem.RoleState{Role: tandem.RoleSecondary})
		roles = box
	} else if roles == nil {
		box = tandem.NewRoleBox(tandem.RoleState{Role: tandem.RolePrimary, Epoch: 1, Primary: cfg.Name})
		roles = box
	}
	store, err := sqlstore.Open(ctx, cfg.MetadataURL, sqlstore.Options{Logger: log, Gate: tandem.RoleGate{Roles: roles}})
	if err != nil {
		return nil, err
	}
	if box != nil && !failoverMode {
		head, err := store.Head(ctx)
		if err != nil {
			store.Close()
			return nil, err
		}
		box.Set(staticRole(cfg, head))
	}
	// A key that cannot decrypt the workspace's secrets refuses the start.
	vault, err := keyvault.OpenRegion(ctx, store, cfg.Workspace, cfg.MetadataURL, cfg.Name)
	if err != nil {
		store.Close()
		return nil, err
	}
	blobs, err := blobstore.Open(ctx, cfg.ArtifactsURL)
	if err != nil {
		store.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r := &Region{cfg: cfg, Store: store, Blobs: blobs, Roles: roles, StaticRoles: box, Metrics: reg, Vault: vault, log: log, mux: http.NewServeMux(), tls: srvTLS, tracing: tracing}
	if cfg.Auth != nil {
		r.Identity = sqlstore.NewIdentity(store) // before the leader: its promotion bootstraps the owner
	}
	r.MLflow = mlflowapi.New(store, blobs, log)
	r.MLflow.SetDeploymentsTarget(os.Getenv("MLFLOW_DEPLOYMENTS_TARGET")) // the UI's gateway-proxy, as MLflow's server reads it
	r.MLflow.SetAllowedHostSchemes(strings.Split(os.Getenv("MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES"), ","))
	r.MLflow.SetOrigin(origin(cfg))
	r.MLflow.SetWebhooks(webhook.New(webhook.FromEnv(webhook.Config{Store: store, Secrets: vault, Log: log, Metrics: reg}, os.Getenv)))
	r.MLflow.SetGatewaySecrets(vault)
	r.Replication = replication.New(replication.Config{
		Region: cfg.Name, Workspace: cfg.Workspace, Key: key, Store: store.Replica(), Blobs: blobs,
		Roles: roles, Log: log, Metrics: reg, Progress: cfg.Progress, TestHooks: cfg.replicationHooks(), TLS: peerTLS, Tracing: tracing,
	})
	if failoverMode {
		r.Leader, err = leader.New(ctx, leader.Config{Region: cfg.Name, Workspace: cfg.Workspace, Key: key,
			Store: store, Roles: box, Log: log, TLS: peerTLS, OnPrimary: func(ctx context.Context) {
				if err := r.MLflow.Bootstrap(ctx); err != nil {
					log.Warn("bootstrap after promotion", "err", err)
				}
				if err := r.bootstrapOwner(ctx); err != nil {
					log.Warn("bootstrap owner after promotion", "err", err)
				}
			}})
		if err != nil {
			r.Close()
			return nil, err
		}
		r.Replication.SetSyncStandby(r.Leader.Node()) // sync acks follow the lease's sync standby
	}
	if roles.Current().Role == tandem.RolePrimary {
		// A secondary gets experiment "0" and the rest from its primary.
		if err := r.MLflow.Bootstrap(ctx); err != nil && tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
			r.Close()
			return nil, err
		}
	}
	r.mux.HandleFunc("GET /health", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("OK"))
	})
	r.mux.HandleFunc("GET /version", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(tandem.MLflowCompat))
	})
	r.mux.HandleFunc("GET /api/tandem/v1/version", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"tandem": tandem.Version, "mlflow_api": tandem.MLflowCompat})
	})
	r.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	r.mux.Handle(replication.Prefix, r.Replication.Handler())
	if r.Leader != nil {
		r.mux.Handle(leader.Prefix, r.Leader.Handler())
	}
	r.routesTestOps() // a no-op in a release build
	r.routesDesired() // desired.go: /desired/applied, /desired/drift
	r.images = r.openImages()
	r.Jobs = r.openJobs()
	apiCfg := api.Config{Store: store, Jobs: sqlstore.NewJobs(store), Blobs: blobs, Log: log, Vault: vault}
	for _, rt := range serving.Routes() { // the online endpoints, in the API's OpenAPI document
		if !rt.Internal {
			apiCfg.Elsewhere = append(apiCfg.Elsewhere, api.DocRoute{Method: rt.Method, Path: strings.TrimPrefix(serving.APIPrefix, api.Prefix) + rt.Path, Summary: rt.Summary})
		}
	}
	if len(r.images.registries) > 0 {
		apiCfg.ResolveImage, apiCfg.EnvironmentCreated = r.images.client.Resolve, r.images.Kick
	}
	apiServer := api.New(apiCfg)
	apiServer.SetJobRunner(r.Jobs)
	r.mux.Handle(api.Prefix+"/", apiServer)
	transfer.NewHandler(store, blobs, "", cfg.Name, log).Register(r.mux) // /api/tandem/v1/{export,import}
	var peerToken string
	if len(key) > 0 {
		peerToken = replication.Token(key)
	}
	var wsRegions []string
	var quota tandem.EndpointQuota
	if cfg.Workspace != nil {
		for _, wr := range cfg.Workspace.Regions {
			wsRegions = append(wsRegions, wr.Name)
		}
		quota = cfg.Workspace.EndpointQuota()
	}
	r.Serving = serving.New(serving.Config{Region: cfg.Name, Store: store, Blobs: blobs, Vault: vault, Python: cfg.ScoringPython,
		CacheDir: cfg.ScoringCache, URL: origin(cfg).Advertised, Log: log, Metrics: reg,
		Roles: roles, PeerToken: peerToken, PeerTLS: peerTLS, // request logs: a secondary sends them to the primary
		Regions: wsRegions, Quota: quota})
	r.mux.Handle(serving.APIPrefix, r.Serving.APIHandler())     // /api/tandem/v1/online-endpoints
	r.mux.Handle(serving.APIPrefix+"/", r.Serving.APIHandler()) // .../{name}, deployments
	r.mux.Handle("/endpoints/", r.Serving.ScoringHandler())     // POST /endpoints/{name}/score|invocations
	r.mux.Handle("/api/", r.MLflow)
	r.mux.Handle("/ajax-api/", r.MLflow)
	r.mux.Handle("GET /get-artifact", r.MLflow)
	r.mux.Handle("GET /model-versions/get-artifact", r.MLflow)
	r.mux.Handle("/graphql", r.MLflow) // the MLflow UI's GraphQL (mlflowapi/graphql.go)
	if cfg.MLflowUI != "" {
		ui, err := mlflowui.New(cfg.MLflowUI)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.mux.Handle("GET /{$}", ui)
		r.mux.Handle("GET /static-files/{path...}", ui)
	}
	r.mux.Handle("POST /v1/traces", r.MLflow) // OTLP span ingestion (mlflowapi/traces_otlp.go)
	// The web console (package console) and its workspace view.
	r.mux.Handle("GET /console", console.Handler())
	r.mux.Handle("GET "+console.Prefix, console.Handler())
	wsView, err := console.Regions(console.RegionsConfig{Workspace: cfg.Workspace, Self: cfg.Name, Local: r.Replication.Status})
	if err != nil {
		r.Close()
		return nil, err
	}
	r.mux.Handle("GET "+console.RegionsPath, wsView)
	epView, epRegion, err := console.EndpointTraffic(console.EndpointsConfig{Workspace: cfg.Workspace, Self: cfg.Name, Local: r.Serving.Traffic})
	if err != nil {
		r.Close()
		return nil, err
	}
	r.mux.Handle("GET "+console.EndpointTrafficPath, epView)
	r.mux.Handle("GET "+console.RegionTrafficPath, epRegion)
	// The frontend is outermost: role headers on every response, and writes
	// leave a secondary before anything else runs.
	fe := replication.NewFrontend(r.Replication, mlflowapi.Guard(r.mux))
	r.handler = fe
	if r.Leader != nil {
		fe.Fence = r.Leader.Node().Fenced // forwarded writes carry epochs: fencing tokens
	}
	if r.handler, err = r.guard(r.handler, key); err != nil {
		r.Close()
		return nil, err
	}
	if r.Auth != nil {
		r.Serving.SetAuth(r.Auth) // aml_token endpoints check tandem tokens
	}
	if r.Leader != nil {
		// Divergence reports and replay: the peer key, or whom auth admits
		// (anyone with authentication off, as every other route).
		if r.Auth != nil {
			r.Leader.SetGuard(r.Auth.Wrap)
		} else {
			r.Leader.SetGuard(func(h http.Handler) http.Handler { return h })
		}
		r.handler = r.Leader.Wrap(r.handler)
	}
	if err := r.bootstrapOwner(ctx); err != nil {
		r.Close()
		return nil, fmt.Errorf("bootstrap owner: %w", err)
	}
	r.handler = tracing.Handler(requirePeerCerts(tlsFiles, key, r.handler))
	return r, nil
}

// staticRole is the role the workspace file gives a region: its primary is
// primary, every other region secondary; the epoch is the newest the
// region's journal has seen (at least 1).
func staticRole(cfg Config, head tandem.Position) tandem.RoleState {
	epoch := max(head.Epoch, 1)
	if cfg.Workspace == nil {
		return tandem.RoleState{Role: tandem.RolePrimary, Epoch: epoch, Primary: cfg.Name}
	}
	p, _ := cfg.Workspace.Region(cfg.Workspace.Primary)
	st := tandem.RoleState{Role: tandem.RoleSecondary, Epoch: epoch, Primary: p.Name, PrimaryURL: p.URL}
	if cfg.Name == cfg.Workspace.Primary {
		st.Role = tandem.RolePrimary
	}
	return st
}

// Handler is the region's whole HTTP surface.
func (r *Region) Handler() http.Handler { return r.handler }

// Close closes the stores.
func (r *Region) Close() error {
	var lerr error
	if r.Leader != nil {
		lerr = r.Leader.Close()
	}
	var aerr error
	if r.audit != nil {
		aerr = r.audit.Close()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	terr := r.tracing.Shutdown(sctx) // flushes the spans still buffered
	return errors.Join(lerr, aerr, terr, r.Store.Close(), r.Blobs.Close())
}

// Serve listens on cfg.Listen (or uses ln when not nil), runs replication,
// and serves until ctx ends, then shuts down gracefully.
func (r *Region) Serve(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", r.cfg.Listen); err != nil {
			return fmt.Errorf("listen %s: %w", r.cfg.Listen, err)
		}
	}
	srv := &http.Server{Handler: r.handler, ReadHeaderTimeout: 30 * time.Second, TLSConfig: r.tls}
	errc := make(chan error, 1)
	if r.tls != nil {
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	scheme := "http://"
	if r.tls != nil {
		scheme = "https://"
	}
	r.listenURL.Store(scheme + ln.Addr().String())
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.Jobs.Run(rctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); r.Replication.Run(rctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); r.drift.Run(rctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); r.images.Run(rctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); r.Serving.Run(rctx) }() // scoring processes stop when it returns
	wg.Add(1)
	go func() { defer wg.Done(); r.MLflow.Webhooks().Run(rctx) }() // webhook deliveries of this region's registry writes
	if r.Leader != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.Leader.Run(rctx) }()
	}
	defer func() { cancel(); wg.Wait() }()
	keyErr := make(chan error, 1)
	go func() { keyErr <- r.Vault.Watch(rctx) }() // the key check may arrive by replication
	st := r.Roles.Current()
	r.log.Info("serving", "addr", ln.Addr().String(), "role", st.Role, "epoch", st.Epoch,
		"metadata", r.Store.Dialect().String(), "artifacts", r.Blobs.URL())
	for keyErr != nil {
		select {
		case err := <-errc:
			return err
		case err := <-keyErr:
			if err != nil {
				r.log.Error("stopping: workspace key check failed", "err", err)
				srv.Close()
				return err
			}
			keyErr = nil // verified, or ctx ended
		case <-ctx.Done():
			keyErr = nil
		}
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		cancel()
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		return srv.Shutdown(sctx)
	}
}

// origin is where this region's client-facing URLs point: its workspace
// url, or the listen address of a single server when that names a host.
func origin(cfg Config) mlflowapi.Origin {
	var o mlflowapi.Origin
	if ws := cfg.Workspace; ws != nil {
		o.TrustedProxies = ws.TrustedProxies
		if reg, err := ws.Region(cfg.Name); err == nil {
			o.Advertised = reg.URL
		}
	} else {
		// A single server: a gateway on the same host is believed.
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if host, _, err := net.SplitHostPort(cfg.Listen); cfg.Workspace == nil && err == nil && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			o.Advertised = "http://" + cfg.Listen
		}
	}
	return o
}

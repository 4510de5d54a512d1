// Package serving runs a region's online endpoints: the mechanism behind
// tandem.OnlineEndpoint and tandem.OnlineDeployment. In every region of an
// endpoint's placement (primary and secondaries alike: scoring needs no
// primary) a Service keeps instance_count scoring processes per deployment
// alive: the stock MLflow scoring server (`python -m mlflow models serve
// --env-manager local`) started on a loopback port from the region's own
// replicated copy of the model version's files. It health-checks them
// (/ping), restarts crashed ones with backoff, rolls a changed deployment
// by starting the new processes before stopping the old, and balances
// scoring requests (POST /endpoints/{name}/score and /invocations) over the
// ready ones within max_concurrent_requests_per_instance, choosing the
// deployment with the pure router tandem.RouteRequest and mirroring with
// tandem.MirrorRequest. It reconciles from the store on a timer and after
// every commit of an endpoint or model entry (Store.OnCommit), so a
// deployment written on the primary starts in every region once it has
// replicated there. The management API (api.go) is tandem's REST API for
// endpoints; writes reach the primary through the replication frontend.
package serving

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/keyvault"
	"github.com/tandemml/tandem/tlsconf"
)

// Store is what a Service needs of its region's store (sqlstore implements
// it): the endpoints and deployments, where a model version's files are,
// the artifact index (model files, request logs), the experiment and runs
// that request logs go to, and a call after every commit (a commit of an
// endpoint or model entry starts a reconciliation).
type Store interface {
	tandem.EndpointStore
	tandem.RegistryStore
	tandem.ArtifactIndex
	tandem.TrackingStore
	// OnCommit registers fn to be called after every committed entry, in
	// commit order.
	OnCommit(fn func(tandem.Entry))
	// QuotaSettings returns the quotas tandem apply wrote (ENOTFOUND:
	// none, the region's workspace file's apply).
	QuotaSettings(ctx context.Context) (*tandem.QuotaSettings, error)
}

// Config is what a Service needs.
type Config struct {
	Region string
	Store  Store
	Blobs  *blobstore.Store
	Vault  *keyvault.Vault
	// Auth checks tandem tokens for aml_token endpoints (and nothing else:
	// the management API is guarded by the region's auth middleware). Nil:
	// the region runs without authentication, and aml_token endpoints
	// answer anyone; key endpoints always need their key.
	Auth TokenChecker
	// Python is the interpreter whose environment has mlflow (and the
	// model's libraries); empty: scoring processes are not started and
	// scoring answers 503.
	Python string
	// CacheDir holds the model files copied out of the artifact store and
	// the scoring processes' working folders.
	CacheDir string
	// URL is this region's advertised base URL, for scoring_uri; optional.
	URL     string
	Log     *slog.Logger
	Metrics prometheus.Registerer // nil: not exported
	// Reconcile is the period of the full reconciliation (default 10s);
	// commits of endpoint and model entries trigger one at once.
	Reconcile time.Duration
	// Roles tells whether this region is primary (it writes request logs
	// itself) or secondary (it sends them to the primary's URL); nil: a
	// single region, always primary.
	Roles tandem.Roles
	// PeerToken is the workspace peer token (replication.Token of the peer
	// key): a secondary sends request logs with it and the primary takes
	// them only with it. Empty: single region.
	PeerToken string
	// PeerTLS is the peer links' TLS client configuration (nil: Go's
	// defaults).
	PeerTLS *tls.Config
	// Regions are the workspace's regions (for the quota check; empty:
	// Region alone) and Quota each one's limit on scoring instances
	// (empty: no limit): a write that would exceed it is refused.
	Regions []string
	Quota   tandem.EndpointQuota
	// FlushEvery is how often buffered request logs are written (default
	// 2s); they are also written when Run ends.
	FlushEvery time.Duration
}

// TokenChecker authenticates a request's tandem credentials and decides
// action for its principal at workspace scope: nil error when allowed, an
// EUNAUTHORIZED or EFORBIDDEN *tandem.Error otherwise.
type TokenChecker interface {
	CheckAction(r *http.Request, action string) error
}

// Service runs the online endpoints of one region.
type Service struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	wake    chan struct{}

	mu        sync.Mutex
	endpoints map[string]*tandem.OnlineEndpoint // this region's view, for scoring
	deps      map[string]*deployment            // "endpoint/name" -> running deployment
	keys      map[string]openedKeys             // endpoint -> keys opened from the sealed text
	closed    bool

	trafficMu sync.Mutex
	traffic   map[string]*requestCounter // "endpoint/deployment" -> its scoring requests here (traffic.go)

	mirrors chan struct{} // bounds mirrored requests in flight
	client  *http.Client

	logs      *logBuffer        // request logs waiting to be written (requestlog.go)
	peer      *http.Client      // sends request logs to the primary
	logMu     sync.Mutex        // serialises request log appends on the primary
	logRuns   map[string]string // "endpoint/deployment" -> its run's artifact root (under logMu)
	logWarned time.Time         // the last warning of a failed flush (flushes run one at a time)
}

type openedKeys struct {
	sealed string
	keys   tandem.EndpointKeys
}

// New returns a Service; Run starts its work.
func New(cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Reconcile <= 0 {
		cfg.Reconcile = 10 * time.Second
	}
	if cfg.FlushEvery <= 0 {
		cfg.FlushEvery = 2 * time.Second
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(os.TempDir(), "tandem-serving-"+cfg.Region)
	}
	if abs, err := filepath.Abs(cfg.CacheDir); err == nil {
		cfg.CacheDir = abs
	}
	s := &Service{cfg: cfg, log: cfg.Log.With("component", "serving"), wake: make(chan struct{}, 1),
		endpoints: map[string]*tandem.OnlineEndpoint{}, deps: map[string]*deployment{}, keys: map[string]openedKeys{},
		traffic: map[string]*requestCounter{}, mirrors: make(chan struct{}, 64),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}},
		logs:   newLogBuffer(maxLogBuffer), peer: &http.Client{Transport: tlsconf.Transport(cfg.PeerTLS)}, logRuns: map[string]string{}}
	s.metrics = newMetrics(cfg.Region, cfg.Metrics)
	cfg.Store.OnCommit(func(e tandem.Entry) {
		if e.Kind == tandem.KindEndpoints || e.Kind == tandem.KindModels || e.Kind == tandem.KindArtifacts {
			s.Poke()
		}
	})
	return s
}

// SetAuth sets the token checker of aml_token endpoints (a region sets up
// its authentication after its APIs). Call it before serving.
func (s *Service) SetAuth(a TokenChecker) { s.cfg.Auth = a }

// Poke asks for a reconciliation now.
func (s *Service) Poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run reconciles until ctx ends, then stops every scoring process and
// writes the request logs still buffered.
func (s *Service) Run(ctx context.Context) {
	flushed := make(chan struct{})
	go func() { defer close(flushed); s.flushLoop(ctx) }()
	defer func() {
		s.stopAll()
		<-flushed
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		s.flushLogs(fctx)
	}()
	if n := reapOrphans(s.cfg.CacheDir); n > 0 {
		s.log.Warn("killed scoring processes left by a previous run", "count", n, "cache", s.cfg.CacheDir)
	}
	t := time.NewTicker(s.cfg.Reconcile)
	defer t.Stop()
	for {
		if err := s.reconcile(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("reconcile online endpoints", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// reconcile makes the running deployments match the store: deployments of
// endpoints this region serves run, the others stop.
func (s *Service) reconcile(ctx context.Context) error {
	eps, err := s.cfg.Store.ListEndpoints(ctx)
	if err != nil {
		return err
	}
	ds, err := s.cfg.Store.ListDeployments(ctx, "")
	if err != nil {
		return err
	}
	view := map[string]*tandem.OnlineEndpoint{}
	for _, ep := range eps {
		view[ep.Name] = ep
	}
	want := map[string]*tandem.OnlineDeployment{}
	for _, d := range ds {
		if ep := view[d.Endpoint]; ep != nil && ep.Serves(s.cfg.Region) {
			want[d.Endpoint+"/"+d.Name] = d
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.endpoints = view
	var gone []*deployment
	for k, d := range s.deps {
		if want[k] == nil {
			gone = append(gone, d)
			delete(s.deps, k)
		}
	}
	var run []*deployment
	for k, spec := range want {
		d := s.deps[k]
		if d == nil {
			d = newDeployment(s, spec)
			s.deps[k] = d
		}
		d.setSpec(spec)
		run = append(run, d)
	}
	for name := range s.keys {
		if view[name] == nil {
			delete(s.keys, name)
		}
	}
	s.mu.Unlock()
	for _, d := range gone {
		d.stop()
	}
	var errs []string
	for _, d := range run {
		if err := d.reconcile(ctx); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", d.key, err))
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// refreshView reloads the endpoints the router sees, so the region that
// took an endpoint write routes by it from the next request on.
func (s *Service) refreshView(ctx context.Context) {
	eps, err := s.cfg.Store.ListEndpoints(ctx)
	if err != nil {
		s.Poke()
		return
	}
	view := map[string]*tandem.OnlineEndpoint{}
	for _, ep := range eps {
		view[ep.Name] = ep
	}
	s.mu.Lock()
	if !s.closed {
		s.endpoints = view
	}
	s.mu.Unlock()
}

func (s *Service) stopAll() {
	s.mu.Lock()
	s.closed = true
	deps := s.deps
	s.deps = map[string]*deployment{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, d := range deps {
		wg.Add(1)
		go func() { defer wg.Done(); d.stop() }()
	}
	wg.Wait()
}

// endpoint returns this region's view of an endpoint and the running
// deployments behind it.
func (s *Service) endpoint(name string) (*tandem.OnlineEndpoint, map[string]*deployment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ep := s.endpoints[name]
	if ep == nil {
		return nil, nil
	}
	out := map[string]*deployment{}
	for k, d := range s.deps {
		if e, n, _ := strings.Cut(k, "/"); e == name {
			out[n] = d
		}
	}
	return ep, out
}

// InstanceStatus is one scoring process as this region runs it.
type InstanceStatus struct {
	ID       int    `json:"id"`
	PID      int    `json:"pid"`
	Port     int    `json:"port"`
	Model    string `json:"model"` // name:version it serves
	Ready    bool   `json:"ready"`
	Restarts int    `json:"restarts"`
	InFlight int    `json:"in_flight"`
	Served   int64  `json:"served"` // requests answered (mirrored ones included)
	Error    string `json:"error,omitempty"`
}

// DeploymentStatus is how a deployment runs in this region.
type DeploymentStatus struct {
	Region    string           `json:"region"`
	Endpoint  string           `json:"endpoint"`
	Name      string           `json:"name"`
	Ready     int              `json:"ready"`
	Wanted    int              `json:"wanted"`
	Error     string           `json:"error,omitempty"`
	Instances []InstanceStatus `json:"instances"`
	// Requests counts the scoring requests this region routed to the
	// deployment (and their rate).
	Requests RequestCounts `json:"requests"`
}

// Status reports a deployment's processes in this region; ENOTFOUND when
// this region does not run it.
func (s *Service) Status(endpoint, name string) (*DeploymentStatus, error) {
	s.mu.Lock()
	d := s.deps[endpoint+"/"+name]
	s.mu.Unlock()
	if d == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "deployment %s of online endpoint %s does not run in region %s", name, endpoint, s.cfg.Region)
	}
	st := d.status()
	st.Region = s.cfg.Region
	st.Requests = s.requestCounts(endpoint, name, time.Now())
	return st, nil
}

// Logs returns the last lines of output of a deployment's processes in
// this region (each line prefixed with its instance).
func (s *Service) Logs(endpoint, name string, lines int) (string, error) {
	s.mu.Lock()
	d := s.deps[endpoint+"/"+name]
	s.mu.Unlock()
	if d == nil {
		return "", tandem.Errorf(tandem.ENOTFOUND, "deployment %s of online endpoint %s does not run in region %s", name, endpoint, s.cfg.Region)
	}
	return d.logs(lines), nil
}

package region

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/converge"
	"github.com/tandemml/tandem/desired"
	"github.com/tandemml/tandem/plan"
)

// DefaultDriftInterval is how often a region checks its state against the
// last applied desired state when Config.DriftInterval is zero.
const DefaultDriftInterval = time.Minute

// driftChecker compares the region's actual state with the last applied
// desired state (replicated, so every region checks against the same
// record) on a timer, and keeps the result for GET /desired/drift and the
// tandem_desired_drifted_objects gauge.
type driftChecker struct {
	r        *Region
	interval time.Duration
	gauge    *prometheus.GaugeVec

	mu   sync.Mutex
	last driftReport
}

type driftReport struct {
	Region    string       `json:"region"`
	CheckedMS int64        `json:"checked_ms"`
	Applied   bool         `json:"applied"`
	Drift     []plan.Drift `json:"drift"`
	Error     string       `json:"error,omitempty"`
}

// localReader reads the region's own stores (converge.Reader).
type localReader struct{ r *Region }

func (l localReader) ListSecrets(ctx context.Context, deleted bool) ([]*tandem.Secret, error) {
	return l.r.Vault.ListSecrets(ctx, deleted)
}

func (l localReader) ListAssets(ctx context.Context, k tandem.AssetKind, name string, archived bool) ([]*tandem.Asset, error) {
	return l.r.Store.ListAssets(ctx, k, name, archived)
}

func (l localReader) Roles(ctx context.Context) ([]*tandem.RoleDefinition, error) {
	if l.r.Identity == nil {
		return nil, tandem.Errorf(tandem.ENOTIMPLEMENTED, "authentication is off: no roles")
	}
	return l.r.Identity.Roles(ctx)
}

func (l localReader) Computes(ctx context.Context) ([]*tandem.ComputeTarget, error) {
	return l.r.Jobs.Computes(ctx)
}

func (l localReader) JobSettings(ctx context.Context) (*tandem.JobSettings, error) {
	return l.r.Store.JobSettings(ctx)
}

func (l localReader) QuotaSettings(ctx context.Context) (*tandem.QuotaSettings, error) {
	return l.r.Store.QuotaSettings(ctx)
}

func (l localReader) Endpoints(ctx context.Context) ([]*tandem.OnlineEndpoint, error) {
	return l.r.Store.ListEndpoints(ctx)
}

func (l localReader) Deployments(ctx context.Context) ([]*tandem.OnlineDeployment, error) {
	return l.r.Store.ListDeployments(ctx, "")
}

func (l localReader) Assignments(ctx context.Context) ([]*tandem.RoleAssignment, error) {
	if l.r.Identity == nil {
		return nil, tandem.Errorf(tandem.ENOTIMPLEMENTED, "authentication is off: no role assignments")
	}
	return l.r.Identity.Assignments(ctx)
}

func (r *Region) routesDesired() {
	d := &driftChecker{r: r, interval: r.cfg.DriftInterval, last: driftReport{Region: r.cfg.Name, Drift: []plan.Drift{}},
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tandem_desired_drifted_objects",
			Help: "Objects of the last applied desired state that differ in this region (tandem plan explains them), by kind."},
			[]string{"region", "kind"})}
	if d.interval <= 0 {
		d.interval = DefaultDriftInterval
	}
	for _, k := range desired.Kinds {
		d.gauge.WithLabelValues(r.cfg.Name, string(k)).Set(0)
	}
	r.Metrics.MustRegister(d.gauge)
	r.drift = d
	const p = "/api/tandem/v1/desired"
	r.mux.HandleFunc("GET "+p+"/applied", func(w http.ResponseWriter, req *http.Request) {
		doc, ms, err := r.Store.DesiredApplied(req.Context())
		if err != nil {
			writeAPIError(w, err)
			return
		}
		writeAPIJSON(w, map[string]any{"applied": doc, "applied_ms": ms})
	})
	r.mux.HandleFunc("PUT "+p+"/applied", func(w http.ResponseWriter, req *http.Request) {
		var body struct {
			Applied json.RawMessage `json:"applied"`
		}
		b, err := io.ReadAll(io.LimitReader(req.Body, 32<<20))
		if err == nil {
			err = json.Unmarshal(b, &body)
		}
		var ap plan.Applied
		if err != nil || json.Unmarshal(body.Applied, &ap) != nil {
			writeAPIError(w, tandem.Errorf(tandem.EINVALID, "body must be {\"applied\": {\"objects\": [...]}}"))
			return
		}
		if err := r.Store.PutDesiredApplied(req.Context(), body.Applied); err != nil {
			writeAPIError(w, err)
			return
		}
		writeAPIJSON(w, map[string]any{})
	})
	r.mux.HandleFunc("GET "+p+"/drift", func(w http.ResponseWriter, req *http.Request) {
		d.mu.Lock()
		rep := d.last
		d.mu.Unlock()
		writeAPIJSON(w, rep)
	})
}

// Run checks at once, then every interval, until ctx ends.
func (d *driftChecker) Run(ctx context.Context) {
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		d.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *driftChecker) check(ctx context.Context) {
	rep := driftReport{Region: d.r.cfg.Name, CheckedMS: time.Now().UnixMilli(), Drift: []plan.Drift{}}
	doc, _, err := d.r.Store.DesiredApplied(ctx)
	var ap plan.Applied
	switch {
	case tandem.ErrorCode(err) == tandem.ENOTFOUND:
	case err != nil:
		rep.Error = tandem.ErrorMessage(err)
	case json.Unmarshal(doc, &ap) != nil:
		rep.Error = "the applied desired state is not readable"
	default:
		rep.Applied = true
		actual, err := converge.List(ctx, d.r.cfg.Name, localReader{d.r}, converge.Providers(d.r.regionNames()), converge.Names(nil, &ap))
		if err != nil {
			rep.Error = tandem.ErrorMessage(err)
			break
		}
		rep.Drift = plan.RegionDrift(&ap, actual)
	}
	if rep.Error != "" && ctx.Err() == nil {
		d.r.log.Warn("drift check", "err", rep.Error)
	}
	counts := map[desired.Kind]int{}
	for _, x := range rep.Drift {
		counts[x.Kind]++
	}
	for _, k := range desired.Kinds {
		d.gauge.WithLabelValues(d.r.cfg.Name, string(k)).Set(float64(counts[k]))
	}
	d.mu.Lock()
	d.last = rep
	d.mu.Unlock()
}

func writeAPIJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func writeAPIError(w http.ResponseWriter, err error) {
	code := tandem.ErrorCode(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(tandem.HTTPStatus(code))
	json.NewEncoder(w).Encode(map[string]string{"error_code": tandem.MLflowName(code), "message": tandem.ErrorMessage(err)})
}

// regionNames are the workspace's regions in file order (this one alone
// without a workspace file).
func (r *Region) regionNames() []string {
	if r.cfg.Workspace == nil {
		return []string{r.cfg.Name}
	}
	out := make([]string, len(r.cfg.Workspace.Regions))
	for i, x := range r.cfg.Workspace.Regions {
		out[i] = x.Name
	}
	return out
}

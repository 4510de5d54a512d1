package console

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/leader"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/workspace"
)

// RegionsPath is the route of the workspace view: every region's status
// as the serving region reads it. Guarded like the status endpoints
// (tandem.ActionStatusRead).
const RegionsPath = "/api/tandem/v1/regions"

// RegionsConfig is what the workspace view needs.
type RegionsConfig struct {
	// Workspace is the region's workspace file; nil for a single region
	// (then Local alone answers).
	Workspace *workspace.Workspace
	// Self is the serving region's name.
	Self string
	// Local reads the serving region's own replication status (used for a
	// single region, where there is no peer to ask).
	Local func(ctx context.Context) (replication.Status, error)
	// Timeout bounds the read of one region; 0: client.StatusTimeout.
	Timeout time.Duration
}

// RegionView is one region in the workspace view.
type RegionView struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
	// Error says why the region could not be read (unreachable, refused).
	Error       string              `json:"error,omitempty"`
	Replication *replication.Status `json:"replication,omitempty"`
	Failover    *leader.StatusDoc   `json:"failover,omitempty"`
	// Divergence lists the region's divergence reports without their
	// entries (tandem divergence show ID has them).
	Divergence      []failover.Report `json:"divergence"`
	DivergenceError string            `json:"divergence_error,omitempty"`
}

// WorkspaceView is what RegionsPath answers.
type WorkspaceView struct {
	Workspace string       `json:"workspace,omitempty"`
	Served    string       `json:"served_by"`
	ReadMS    int64        `json:"read_ms"`
	Regions   []RegionView `json:"regions"`
}

// Regions serves RegionsPath. It reads every region of the workspace at
// once, each within the timeout, with the workspace peer key (which reads
// status and nothing else); the caller was already authorised to read
// status by the region's auth middleware, and every region's status is
// readable with the same role, so the view shows no more than the caller
// could read region by region. A region that does not answer is listed
// with its error and never holds up the others.
func Regions(cfg RegionsConfig) (http.Handler, error) {
	regs, err := peers(cfg.Workspace)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = timeout(cfg.Timeout)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		view := WorkspaceView{Served: cfg.Self, ReadMS: time.Now().UnixMilli(), Regions: []RegionView{}}
		if cfg.Workspace != nil {
			view.Workspace = cfg.Workspace.Name
		}
		ctx, cancel := context.WithTimeout(r.Context(), cfg.Timeout)
		defer cancel()
		if regs == nil {
			v := RegionView{Name: cfg.Self, Divergence: []failover.Report{}}
			if cfg.Local != nil {
				st, err := cfg.Local(ctx)
				if err != nil {
					v.Error = tandem.ErrorMessage(err)
				} else {
					v.Replication, v.URL = &st, st.URL
				}
			}
			view.Regions = append(view.Regions, v)
		} else {
			view.Regions = readAll(ctx, regs)
		}
		writeJSON(w, view)
	}), nil
}

// peers reads every region of a workspace with its peer key; nil for a
// single region.
func peers(ws *workspace.Workspace) (*client.Regions, error) {
	if ws == nil || len(ws.Regions) < 2 {
		return nil, nil
	}
	return client.RegionsFromWorkspace(ws)
}

// timeout is a view's bound on reading one region (0: client.StatusTimeout).
func timeout(d time.Duration) time.Duration {
	if d == 0 {
		return client.StatusTimeout
	}
	return d
}

// writeJSON answers a view, never cached.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

// readAll reads every region's statuses and divergence reports
// concurrently.
func readAll(ctx context.Context, regs *client.Regions) []RegionView {
	out := make([]RegionView, len(regs.List))
	var wg sync.WaitGroup
	wg.Go(func() {
		for i, st := range regs.Statuses(ctx) {
			out[i].Name, out[i].URL, out[i].Error = st.Name, st.URL, st.Error
			out[i].Replication, out[i].Failover = st.Replication, st.Failover
		}
	})
	reports := make([][]failover.Report, len(regs.List))
	errs := make([]string, len(regs.List))
	for i, reg := range regs.List {
		wg.Go(func() {
			var doc struct {
				Reports []failover.Report `json:"reports"`
			}
			if err := regs.Call(ctx, "GET", reg.URL+leader.Prefix+"divergence", nil, &doc); err != nil {
				errs[i] = tandem.ErrorMessage(err)
				return
			}
			for j := range doc.Reports {
				doc.Reports[j].Entries = nil
			}
			reports[i] = doc.Reports
		})
	}
	wg.Wait()
	for i := range out {
		out[i].Divergence, out[i].DivergenceError = reports[i], errs[i]
		if out[i].Divergence == nil {
			out[i].Divergence = []failover.Report{}
		}
	}
	return out
}

package console

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/serving"
	"github.com/tandemml/tandem/workspace"
)

// EndpointTrafficPath is the route of the endpoints view: every region's
// online endpoints, with their deployments' processes and request counts
// there, as the serving region reads them. Guarded like the endpoints
// API's deployment status (tandem.ActionDeploymentsRead).
const EndpointTrafficPath = "/api/tandem/v1/endpoint-traffic"

// RegionTrafficPath is the serving region's own part of the view, which
// the view reads in every region with the workspace peer key. Guarded as a
// status read (tandem.ActionStatusRead), as /metrics is, which holds the
// same counters.
const RegionTrafficPath = EndpointTrafficPath + "/region"

// EndpointsConfig is what the endpoints view needs.
type EndpointsConfig struct {
	// Workspace is the region's workspace file; nil for a single region.
	Workspace *workspace.Workspace
	// Self is the serving region's name.
	Self string
	// Local reads the serving region's own endpoints
	// (serving.Service.Traffic).
	Local func() serving.RegionTraffic
	// Timeout bounds the read of one region; 0: client.StatusTimeout.
	Timeout time.Duration
}

// RegionTrafficView is one region in the endpoints view.
type RegionTrafficView struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
	// Error says why the region could not be read.
	Error     string                    `json:"error,omitempty"`
	Endpoints []serving.EndpointTraffic `json:"endpoints"`
}

// TrafficView is what EndpointTrafficPath answers.
type TrafficView struct {
	Served  string              `json:"served_by"`
	ReadMS  int64               `json:"read_ms"`
	Regions []RegionTrafficView `json:"regions"`
}

// EndpointTraffic returns the handlers of EndpointTrafficPath (every
// region at once, each within the timeout; a region that does not answer
// is listed with its error) and RegionTrafficPath (this region alone).
func EndpointTraffic(cfg EndpointsConfig) (view, region http.Handler, err error) {
	regs, err := peers(cfg.Workspace)
	if err != nil {
		return nil, nil, err
	}
	cfg.Timeout = timeout(cfg.Timeout)
	local := func() RegionTrafficView {
		v := RegionTrafficView{Name: cfg.Self, Endpoints: []serving.EndpointTraffic{}}
		if cfg.Local != nil {
			v.Endpoints = cfg.Local().Endpoints
		}
		return v
	}
	view = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := TrafficView{Served: cfg.Self, ReadMS: time.Now().UnixMilli()}
		if regs == nil {
			out.Regions = []RegionTrafficView{local()}
		} else {
			ctx, cancel := context.WithTimeout(r.Context(), cfg.Timeout)
			defer cancel()
			out.Regions = readTraffic(ctx, regs)
		}
		writeJSON(w, out)
	})
	region = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, local())
	})
	return view, region, nil
}

// readTraffic reads every region's RegionTrafficPath concurrently.
func readTraffic(ctx context.Context, regs *client.Regions) []RegionTrafficView {
	out := make([]RegionTrafficView, len(regs.List))
	var wg sync.WaitGroup
	for i, reg := range regs.List {
		wg.Go(func() {
			out[i] = RegionTrafficView{Name: reg.Name, URL: reg.URL}
			var v RegionTrafficView
			if err := regs.Call(ctx, "GET", reg.URL+RegionTrafficPath, nil, &v); err != nil {
				out[i].Error = tandem.ErrorMessage(err)
			} else {
				out[i].Endpoints = v.Endpoints
			}
			if out[i].Endpoints == nil {
				out[i].Endpoints = []serving.EndpointTraffic{}
			}
		})
	}
	wg.Wait()
	return out
}

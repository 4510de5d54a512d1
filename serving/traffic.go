package serving

import (
	"sort"
	"time"

	"github.com/tandemml/tandem"
)

// RateWindow is how far back a region's request rate looks.
const RateWindow = 60 * time.Second

// RequestCounts are scoring requests answered by this region since it
// started, and how many of them in the last RateWindow.
type RequestCounts struct {
	Requests     int64 `json:"requests"`
	Errors       int64 `json:"errors"`        // answered 5xx (no ready process, timeouts, model failures)
	ClientErrors int64 `json:"client_errors"` // answered 4xx (refused keys, bad bodies, overload)
	// Recent counts the requests of the last RateWindow seconds, and
	// RecentErrors their 5xx; PerSecond is Recent over the window.
	Recent       int64   `json:"recent"`
	RecentErrors int64   `json:"recent_errors"`
	PerSecond    float64 `json:"per_second"`
	WindowS      int     `json:"window_seconds"`
}

// bucket is one second of the rate window.
type bucket struct {
	sec              int64 // unix second; 0: empty
	requests, errors int64
}

// requestCounter counts one deployment's (or one endpoint's unrouted)
// requests. Not safe for concurrent use: the Service locks.
type requestCounter struct {
	total   RequestCounts
	buckets [int(RateWindow / time.Second)]bucket
}

// add counts one answered request with HTTP status code at now.
func (c *requestCounter) add(now time.Time, code int) {
	c.total.Requests++
	isErr := code >= 500
	if isErr {
		c.total.Errors++
	} else if code >= 400 {
		c.total.ClientErrors++
	}
	sec := now.Unix()
	b := &c.buckets[sec%int64(len(c.buckets))]
	if b.sec != sec {
		*b = bucket{sec: sec}
	}
	b.requests++
	if isErr {
		b.errors++
	}
}

// counts returns the totals and the rate over the window ending at now.
func (c *requestCounter) counts(now time.Time) RequestCounts {
	out := c.total
	out.WindowS = len(c.buckets)
	sec := now.Unix()
	for _, b := range c.buckets {
		if b.sec != 0 && b.sec > sec-int64(len(c.buckets)) && b.sec <= sec {
			out.Recent += b.requests
			out.RecentErrors += b.errors
		}
	}
	out.PerSecond = float64(out.Recent) / float64(out.WindowS)
	return out
}

// Sum adds o's counts to c's (an endpoint's counts are its deployments').
func (c RequestCounts) Sum(o RequestCounts) RequestCounts {
	c.Requests += o.Requests
	c.Errors += o.Errors
	c.ClientErrors += o.ClientErrors
	c.Recent += o.Recent
	c.RecentErrors += o.RecentErrors
	c.WindowS = max(c.WindowS, o.WindowS)
	if c.WindowS > 0 {
		c.PerSecond = float64(c.Recent) / float64(c.WindowS)
	}
	return c
}

// EndpointTraffic is one endpoint as this region serves it.
type EndpointTraffic struct {
	Endpoint string `json:"endpoint"`
	// Served: the region is in the endpoint's placement.
	Served bool `json:"served"`
	// Requests are all of the endpoint's scoring requests in this region:
	// its deployments' and those refused before a deployment was chosen
	// (Unrouted).
	Requests RequestCounts `json:"requests"`
	Unrouted RequestCounts `json:"unrouted"`
	// Deployments are the deployments this region runs, by name.
	Deployments []DeploymentStatus `json:"deployments"`
}

// RegionTraffic is what a region knows of its endpoints' traffic.
type RegionTraffic struct {
	Region    string            `json:"region"`
	Endpoints []EndpointTraffic `json:"endpoints"`
}

// count records one answered scoring request of an endpoint this region
// knows (deployment "": refused before one was chosen).
func (s *Service) count(endpoint, deployment string, code int, now time.Time) {
	s.trafficMu.Lock()
	defer s.trafficMu.Unlock()
	k := endpoint + "/" + deployment
	c := s.traffic[k]
	if c == nil {
		c = &requestCounter{}
		s.traffic[k] = c
	}
	c.add(now, code)
}

// requestCounts returns a deployment's counts (deployment "": the
// endpoint's unrouted requests).
func (s *Service) requestCounts(endpoint, deployment string, now time.Time) RequestCounts {
	s.trafficMu.Lock()
	defer s.trafficMu.Unlock()
	if c := s.traffic[endpoint+"/"+deployment]; c != nil {
		return c.counts(now)
	}
	return (&requestCounter{}).counts(now)
}

// Traffic reports every endpoint this region knows: its deployments'
// processes and request counts here.
func (s *Service) Traffic() RegionTraffic {
	now := time.Now()
	s.mu.Lock()
	names := make([]string, 0, len(s.endpoints))
	served := map[string]bool{}
	for n, ep := range s.endpoints {
		names = append(names, n)
		served[n] = ep.Serves(s.cfg.Region)
	}
	s.mu.Unlock()
	sort.Strings(names)
	out := RegionTraffic{Region: s.cfg.Region, Endpoints: []EndpointTraffic{}}
	for _, n := range names {
		_, deps := s.endpoint(n)
		et := EndpointTraffic{Endpoint: n, Served: served[n], Unrouted: s.requestCounts(n, "", now), Deployments: []DeploymentStatus{}}
		et.Requests = et.Unrouted
		for _, dn := range tandem.SortedKeys(deps) {
			st := deps[dn].status()
			st.Region = s.cfg.Region
			st.Requests = s.requestCounts(n, dn, now)
			et.Requests = et.Requests.Sum(st.Requests)
			et.Deployments = append(et.Deployments, *st)
		}
		out.Endpoints = append(out.Endpoints, et)
	}
	return out
}

package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/leader"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/workspace"
)

// Region is one region a verb talks to: its name (its URL while the name is
// not known) and its URL.
type Region struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Regions talks to each region of a workspace by itself, where Client
// talks to whichever endpoint answers: the status, verify and failover
// verbs and `tandem up` use it. Made from a workspace file it authorizes
// with the workspace's peer key, which the failover endpoints require.
type Regions struct {
	List []Region
	// Workspace is the file the regions came from; nil when they came
	// from URLs or a client config.
	Workspace *workspace.Workspace
	s         sender
	// keyErr is why the workspace's peer key could not be read: the
	// failover requests that need it fail with it, status reads do not.
	keyErr error
}

// Timeouts of one request to one region.
const (
	// StatusTimeout bounds the read of one region's status: a region
	// that does not answer in time (paused, cut off) is unreachable.
	StatusTimeout = 3 * time.Second
	// CallTimeout bounds a failover request (switchover, history,
	// divergence reports, replay).
	CallTimeout = 10 * time.Second
	// ChecksumTimeout bounds one checksum request (artifacts are re-read).
	ChecksumTimeout = 2 * time.Minute
)

// RegionsFromURLs asks the regions at urls (names are learnt from their
// status).
func RegionsFromURLs(urls []string) *Regions {
	r := &Regions{}
	for _, u := range urls {
		u = strings.TrimRight(u, "/")
		r.List = append(r.List, Region{Name: u, URL: u})
	}
	return r
}

// RegionsFromConfig asks the endpoints of a client config, trusting its
// ca_file. EINVALID when the CA file cannot be read.
func RegionsFromConfig(c *Config) (*Regions, error) {
	hc, err := HTTPClient(*c)
	if err != nil {
		return nil, err
	}
	r := RegionsFromURLs(c.Endpoints)
	r.s.http = hc
	r.s.token = bearerEnv(c.Auth, c.Workspace)
	return r, nil
}

// RegionsFromWorkspace asks the regions of a workspace file, with its
// peer key when it has more than one region (a key that cannot be read
// fails the failover requests, not the status reads), over the workspace's
// TLS (WorkspaceHTTPClient). An error when its TLS files cannot be read.
func RegionsFromWorkspace(ws *workspace.Workspace) (*Regions, error) {
	hc, err := WorkspaceHTTPClient(ws)
	if err != nil {
		return nil, err
	}
	r := &Regions{Workspace: ws, s: sender{http: hc}}
	for _, reg := range ws.Regions {
		r.List = append(r.List, Region{Name: reg.Name, URL: strings.TrimRight(reg.URL, "/")})
	}
	r.s.token = bearerEnv(Auth{}, ws.Name) // a single region: the user's token
	if len(ws.Regions) > 1 {
		key, err := ws.Key()
		if err != nil {
			r.keyErr = err
			return r, nil
		}
		tok := replication.Token(key)
		r.s.token = func() string { return tok }
	}
	return r, nil
}

// Region returns the region called name.
func (r *Regions) Region(name string) (Region, error) {
	if r.Workspace != nil {
		if _, err := r.Workspace.Region(name); err != nil {
			return Region{}, err
		}
	}
	for _, reg := range r.List {
		if reg.Name == name {
			return reg, nil
		}
	}
	names := make([]string, len(r.List))
	for i, reg := range r.List {
		names[i] = reg.Name
	}
	return Region{}, tandem.Errorf(tandem.ENOTFOUND, "no region %q (regions: %s)", name, strings.Join(names, ", "))
}

// within is the request path with another time bound.
func (r *Regions) within(d time.Duration) *sender {
	s := r.s
	s.timeout = d
	return &s
}

// Call sends one request to the region URL u with the workspace's peer
// key, within CallTimeout: body as JSON (nil: none), the JSON answer into
// v (nil: discarded).
func (r *Regions) Call(ctx context.Context, method, u string, body, v any) error {
	if r.keyErr != nil {
		return r.keyErr
	}
	return r.within(CallTimeout).callJSON(ctx, method, u, body, v)
}

// call is Call to one region's failover endpoint path (under
// /api/tandem/v1/failover/); an error names the region.
func (r *Regions) call(ctx context.Context, reg Region, method, path string, body, v any) error {
	err := r.Call(ctx, method, reg.URL+leader.Prefix+path, body, v)
	var te *tandem.Error
	if errors.As(err, &te) {
		return tandem.Errorf(te.Code, "%s: %s", reg.Name, te.Message)
	}
	return err
}

// RegionStatus is what one region says about itself: its replication and
// failover status, or why it could not be read.
type RegionStatus struct {
	Region
	Error       string              `json:"error,omitempty"`
	Replication *replication.Status `json:"status,omitempty"`
	// Failover is nil for a region without failover (a single-region
	// workspace) or when it could not be read.
	Failover *leader.StatusDoc `json:"-"`
}

// Statuses reads every region's replication and failover status, all at
// once, each within StatusTimeout: a region that does not answer in time
// is reported unreachable and never holds up the others. The order is
// the regions'.
func (r *Regions) Statuses(ctx context.Context) []RegionStatus {
	return r.each(ctx, func(ctx context.Context, st *RegionStatus) {
		var wg sync.WaitGroup
		var rep replication.Status
		var fo leader.StatusDoc
		var repErr, foErr error
		wg.Go(func() { repErr = r.within(StatusTimeout).getJSON(ctx, st.URL+replication.Prefix+"status", &rep) })
		wg.Go(func() { foErr = r.within(StatusTimeout).getJSON(ctx, st.URL+leader.Prefix+"status", &fo) })
		wg.Wait()
		if repErr != nil {
			st.Error = tandem.ErrorMessage(repErr)
			return
		}
		st.Replication, st.Name = &rep, rep.Region
		if foErr == nil {
			st.Failover = &fo
		}
	})
}

// FailoverStatuses reads every region's failover status, all at once,
// each within StatusTimeout.
func (r *Regions) FailoverStatuses(ctx context.Context) []RegionStatus {
	return r.each(ctx, func(ctx context.Context, st *RegionStatus) {
		var fo leader.StatusDoc
		if err := r.within(StatusTimeout).getJSON(ctx, st.URL+leader.Prefix+"status", &fo); err != nil {
			st.Error = tandem.ErrorMessage(err)
			return
		}
		st.Failover = &fo
	})
}

// each runs read for every region concurrently.
func (r *Regions) each(ctx context.Context, read func(context.Context, *RegionStatus)) []RegionStatus {
	out := make([]RegionStatus, len(r.List))
	var wg sync.WaitGroup
	for i, reg := range r.List {
		out[i].Region = reg
		wg.Go(func() { read(ctx, &out[i]) })
	}
	wg.Wait()
	return out
}

// PrimaryOf is the region that says it is primary in the newest epoch,
// by its failover status; nil when none does.
func PrimaryOf(sts []RegionStatus) *RegionStatus {
	var p *RegionStatus
	for i := range sts {
		s := sts[i].Failover
		if s != nil && s.Role == tandem.RolePrimary && (p == nil || s.Epoch > p.Failover.Epoch) {
			p = &sts[i]
		}
	}
	return p
}

// WaitHealthy waits until every region answers its health check, or d
// passes.
func (r *Regions) WaitHealthy(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(d)
	for _, reg := range r.List {
		for {
			err := r.within(StatusTimeout).getJSON(ctx, reg.URL+"/health", nil)
			if err == nil {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return tandem.Errorf(tandem.EUNAVAILABLE, "region %s did not start: %s", reg.Name, tandem.ErrorMessage(err))
			}
			if !sleep(ctx, 100*time.Millisecond) {
				return ctx.Err()
			}
		}
	}
	return nil
}

// WaitElected waits until every region names the same primary and that
// primary accepts writes, and returns its name: whichever region the
// witness (or, without one, the regions) made primary, not necessarily
// the workspace file's first primary.
func (r *Regions) WaitElected(ctx context.Context, d time.Duration) (string, error) {
	deadline := time.Now().Add(d)
	for {
		if p := r.Primary(ctx); p != "" {
			return p, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			msg := fmt.Sprintf("no primary elected within %s", d)
			if r.Workspace != nil && r.Workspace.Witness != "" {
				msg += fmt.Sprintf(": is the witness at %s reachable?", r.Workspace.Witness)
			}
			return "", tandem.Errorf(tandem.EUNAVAILABLE, "%s", msg)
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return "", tandem.Errorf(tandem.EUNAVAILABLE, "no primary elected: %v", ctx.Err())
		}
	}
}

// Primary is the primary every region names, once it accepts writes; ""
// while they do not agree (or one cannot be read).
func (r *Regions) Primary(ctx context.Context) string {
	return agreedPrimary(r.FailoverStatuses(ctx))
}

// agreedPrimary is the primary every region names, if that region says it
// is primary and accepts writes; "" otherwise.
func agreedPrimary(sts []RegionStatus) string {
	primary := ""
	for _, st := range sts {
		if st.Failover == nil || st.Failover.Primary == "" || (primary != "" && st.Failover.Primary != primary) {
			return ""
		}
		primary = st.Failover.Primary
	}
	for _, st := range sts {
		if st.Failover.Region == primary {
			if st.Failover.Role == tandem.RolePrimary && st.Failover.WritesAllowed {
				return primary
			}
			return ""
		}
	}
	return ""
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Checksum reads one region's checksums up to upto (0: its head), with
// artifact digests and per-entry detail when asked.
func (r *Regions) Checksum(ctx context.Context, base string, upto int64, artifacts, detail bool) (replication.Checksums, error) {
	q := url.Values{"upto": {fmt.Sprint(upto)}}
	if artifacts {
		q.Set("artifacts", "1")
	}
	if detail {
		q.Set("detail", "1")
	}
	var c replication.Checksums
	err := r.within(ChecksumTimeout).getJSON(ctx, base+replication.Prefix+"checksum?"+q.Encode(), &c)
	return c, err
}

// ChecksumsAtCommon reads both regions' checksums up to the lower of their
// heads, retrying until both were read at the same head (so tables
// compare) or wait passes.
func (r *Regions) ChecksumsAtCommon(ctx context.Context, a, b string, artifacts bool, wait time.Duration) (replication.Checksums, replication.Checksums, error) {
	deadline := time.Now().Add(wait)
	for {
		ha, err := r.Checksum(ctx, a, 0, false, false)
		if err != nil {
			return ha, ha, err
		}
		hb, err := r.Checksum(ctx, b, 0, false, false)
		if err != nil {
			return ha, hb, err
		}
		upto := min(ha.Head.Seq, hb.Head.Seq)
		if ha.Head == hb.Head || time.Now().After(deadline) {
			ca, err := r.Checksum(ctx, a, upto, artifacts, false)
			if err != nil {
				return ca, ca, err
			}
			cb, err := r.Checksum(ctx, b, upto, artifacts, false)
			return ca, cb, err
		}
		if !sleep(ctx, 200*time.Millisecond) {
			return ha, hb, ctx.Err()
		}
	}
}

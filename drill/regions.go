package drill

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/leader"
)

// regions is how the drill talks to its running regions: their failover
// endpoints with the workspace peer key (through package client's one
// request path), every region at once, none allowed to hold the others up.
type regions struct {
	names []string
	urls  map[string]string
	peers *client.Regions // the workspace's regions, with its peer key
	// hosts names the region at each URL's host:port. (A local drill's
	// regions do not forward writes, so its proxies need no entry.)
	hosts map[string]string
}

// add records region name at url.
func (rs *regions) add(name, rawURL string) {
	rs.names = append(rs.names, name)
	rs.urls[name] = rawURL
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		rs.hosts[u.Host] = name
	}
}

// regionAt is the region reached at host (host:port, as a forwarded
// write's X-Tandem-Primary names the primary that committed it), or host
// itself when it is none of them.
func (rs *regions) regionAt(host string) string {
	if n, ok := rs.hosts[host]; ok {
		return n
	}
	return host
}

// call sends a JSON request to a failover endpoint and decodes the
// answer into out (when not nil).
func (rs *regions) call(ctx context.Context, method, url string, body, out any) error {
	return rs.peers.Call(ctx, method, url, body, out)
}

// status reads one region's failover status, waiting at most a second.
func (rs *regions) status(ctx context.Context, name string) *leader.StatusDoc {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var st leader.StatusDoc
	if rs.call(cctx, "GET", rs.urls[name]+leader.Prefix+"status", nil, &st) != nil {
		return nil
	}
	return &st
}

// statuses asks every region at once; a paused or cut-off region is
// missing from the answer.
func (rs *regions) statuses(ctx context.Context) map[string]*leader.StatusDoc {
	out := map[string]*leader.StatusDoc{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range rs.names {
		wg.Go(func() {
			if st := rs.status(ctx, n); st != nil {
				mu.Lock()
				out[n] = st
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// primary is the first region to say it is primary and accepts writes,
// with its epoch; "" when none does. It returns as soon as one says so:
// the clients must not wait for a paused region's timeout (a stale
// answer only costs a refused write).
func (rs *regions) primary(ctx context.Context) (string, int64) {
	type answer struct {
		name string
		st   *leader.StatusDoc
	}
	ch := make(chan answer, len(rs.names))
	for _, n := range rs.names {
		go func() { ch <- answer{n, rs.status(ctx, n)} }()
	}
	for range rs.names {
		a := <-ch
		if a.st != nil && a.st.Role == tandem.RolePrimary && a.st.WritesAllowed {
			return a.name, a.st.Epoch
		}
	}
	return "", 0
}

// settled reports whether one region is primary and every other region
// names it as its primary.
func (rs *regions) settled(ctx context.Context) bool {
	p, _ := rs.primary(ctx)
	if p == "" {
		return false
	}
	sts := rs.statuses(ctx)
	for _, n := range rs.names {
		if s := sts[n]; s == nil || (n != p && s.Primary != p) {
			return false
		}
	}
	return true
}

// rejoin watches an old primary rejoin the new one as a secondary.
type rejoin struct {
	old, primary string
	// mark is the primary's head when old was first seen following it (0:
	// not yet): old has caught up once it holds that entry.
	mark int64
	// seen is what the last statuses said, for the error of a rejoin that
	// does not happen.
	seen string
}

// caughtUp reports, from one status of old and one of the primary, whether
// old follows the primary as a secondary and has caught up: it holds what
// the primary held when old was first seen following (the clients keep
// writing, so the heads of a busy workspace need never be seen close), or
// its head is within a few entries of the primary's.
func (j *rejoin) caughtUp(st, pst *leader.StatusDoc) bool {
	switch {
	case st == nil:
		j.seen = j.old + " did not answer its status"
	case pst == nil:
		j.seen = j.primary + " did not answer its status"
	default:
		j.seen = fmt.Sprintf("%s was %s following %q at entry %d, %s at entry %d", j.old, st.Role, st.Primary, st.Head.Seq, j.primary, pst.Head.Seq)
	}
	if st == nil || pst == nil || st.Role != tandem.RoleSecondary || st.Primary != j.primary {
		j.mark = 0
		return false
	}
	if j.mark == 0 {
		j.mark = pst.Head.Seq
	}
	return st.Head.Seq >= j.mark || st.Head.Seq >= pst.Head.Seq-5
}

// rejoined reports whether j.old follows j.primary as a secondary, caught
// up (rejoin.caughtUp).
func (rs *regions) rejoined(ctx context.Context, j *rejoin) bool {
	return j.caughtUp(rs.status(ctx, j.old), rs.status(ctx, j.primary))
}

// waitUntil polls cond every 50ms for at most d. EUNAVAILABLE naming what
// did not happen (and where the logs are) when it does not.
func waitUntil(ctx context.Context, d time.Duration, what, dir string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if dir == "" {
		return tandem.Errorf(tandem.EUNAVAILABLE, "drill: timed out waiting for %s", what)
	}
	return tandem.Errorf(tandem.EUNAVAILABLE, "drill: timed out waiting for %s (logs in %s)", what, dir)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// divergentReports reads the divergence reports of the named regions
// that answer, with their entries.
func (rs *regions) divergentReports(ctx context.Context, names []string) []failover.Report {
	var out []failover.Report
	for _, n := range names {
		var list struct {
			Reports []failover.Report `json:"reports"`
		}
		if rs.call(ctx, "GET", rs.urls[n]+leader.Prefix+"divergence", nil, &list) != nil {
			continue
		}
		for _, r := range list.Reports {
			var full failover.Report
			if rs.call(ctx, "GET", rs.urls[n]+leader.Prefix+"divergence/"+r.ID, nil, &full) == nil {
				out = append(out, full)
			}
		}
	}
	return out
}

func (rs *regions) String() string { return fmt.Sprint(rs.names) }

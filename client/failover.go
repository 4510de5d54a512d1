package client

import (
	"context"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/leader"
)

// FailoverOptions says which region to make primary and how.
type FailoverOptions struct {
	To string
	// Force promotes To even if the primary is unreachable or To is
	// behind (writes may be lost); Confirm is asked first.
	Force bool
	// Wait bounds the wait for To to accept writes.
	Wait time.Duration
	// Say receives progress lines (nil: none).
	Say func(format string, args ...any)
	// Confirm is asked before a forced failover, with the number of
	// journal entries at risk; false aborts. Nil confirms.
	Confirm func(risk int64) bool
}

// FailoverResult is the outcome of Failover.
type FailoverResult struct {
	// Already: To was the primary; nothing was done.
	Already bool
	Epoch   int64
	Head    tandem.Position
	Took    time.Duration
}

// Failover makes o.To the primary: without Force a planned switchover
// (writes stop on the primary, To catches up, the lease moves), with
// Force at once (through the primary if it answers, else through To). It
// returns once To accepts writes in a newer epoch.
func (r *Regions) Failover(ctx context.Context, o FailoverOptions) (FailoverResult, error) {
	say := o.Say
	if say == nil {
		say = func(string, ...any) {}
	}
	target, err := r.Region(o.To)
	if err != nil {
		return FailoverResult{}, err
	}
	sts := r.FailoverStatuses(ctx)
	p := PrimaryOf(sts)
	var ts *leader.StatusDoc
	for _, s := range sts {
		if s.Name == o.To {
			ts = s.Failover
		}
	}
	if ts == nil {
		return FailoverResult{}, tandem.Errorf(tandem.EUNAVAILABLE, "region %s is unreachable", o.To)
	}
	if p != nil && p.Name == o.To {
		return FailoverResult{Already: true, Epoch: p.Failover.Epoch, Head: p.Failover.Head}, nil
	}
	oldEpoch := ts.Epoch
	if p != nil {
		oldEpoch = max(oldEpoch, p.Failover.Epoch)
	}
	start := time.Now()
	if !o.Force {
		if p == nil {
			return FailoverResult{}, tandem.Errorf(tandem.EUNAVAILABLE, "no reachable primary: a planned switchover needs one (use --force to promote %s anyway)", o.To)
		}
		say("switchover %s -> %s: stopping writes on %s, waiting for %s to catch up (head %s)", p.Name, o.To, p.Name, o.To, p.Failover.Head)
		if err := r.call(ctx, p.Region, "POST", "switchover", map[string]any{"target": o.To}, nil); err != nil {
			return FailoverResult{}, err
		}
	} else {
		risk := ts.Behind
		if p != nil {
			risk = max(0, p.Failover.Head.Seq-ts.Head.Seq)
		}
		say("forced failover to %s: it is %d journal entries behind the most advanced known position; those may be lost", o.To, risk)
		say("(they are kept in a divergence report when the old primary rejoins: tandem divergence list)")
		if o.Confirm != nil && !o.Confirm(risk) {
			return FailoverResult{}, tandem.Errorf(tandem.EINVALID, "aborted")
		}
		via := target
		if p != nil {
			via = p.Region
		}
		if err := r.call(ctx, via, "POST", "switchover", map[string]any{"target": o.To, "force": true}, nil); err != nil {
			return FailoverResult{}, err
		}
	}
	return r.waitPrimary(ctx, target, p, oldEpoch, start, o.Wait)
}

// waitPrimary waits until target accepts writes in an epoch after
// oldEpoch, or a switchover aborts (on target or on the old primary p).
func (r *Regions) waitPrimary(ctx context.Context, target Region, p *RegionStatus, oldEpoch int64, start time.Time, wait time.Duration) (FailoverResult, error) {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		var st leader.StatusDoc
		if err := r.call(ctx, target, "GET", "status", nil, &st); err == nil {
			if st.Role == tandem.RolePrimary && st.WritesAllowed && st.Epoch > oldEpoch {
				return FailoverResult{Epoch: st.Epoch, Head: st.Head, Took: time.Since(start)}, nil
			}
			if sw := st.Switchover; sw != nil && sw.Phase == "aborted" {
				return FailoverResult{}, tandem.Errorf(tandem.EUNAVAILABLE, "switchover aborted: %s", sw.Error)
			}
		}
		if p != nil {
			var ps leader.StatusDoc
			if err := r.call(ctx, p.Region, "GET", "status", nil, &ps); err == nil && ps.Switchover != nil && ps.Switchover.Phase == "aborted" {
				return FailoverResult{}, tandem.Errorf(tandem.EUNAVAILABLE, "switchover aborted on %s: %s", p.Name, ps.Switchover.Error)
			}
		}
		if !sleep(ctx, 100*time.Millisecond) {
			return FailoverResult{}, ctx.Err()
		}
	}
	return FailoverResult{}, tandem.Errorf(tandem.EUNAVAILABLE, "%s did not become primary within %s", target.Name, wait)
}

// History is the record of every change of primary, as one region keeps
// it.
type History struct {
	Region string               `json:"region"`
	Epochs []tandem.EpochRecord `json:"epochs"`
}

// History reads the failover history from the primary, or the first
// other region that answers.
func (r *Regions) History(ctx context.Context) (History, error) {
	sts := r.FailoverStatuses(ctx)
	var urls []string
	if p := PrimaryOf(sts); p != nil {
		urls = append(urls, p.URL+leader.Prefix+"history")
	}
	for _, s := range sts {
		urls = append(urls, s.URL+leader.Prefix+"history")
	}
	var doc History
	resp, _, err := r.within(CallTimeout).sendAny(ctx, "GET", urls, nil)
	if err != nil {
		return doc, err
	}
	err = decodeAnswer(resp, "GET", resp.Request.URL.String(), &doc)
	return doc, err
}

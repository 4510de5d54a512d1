package leader

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/failover"
)

// rejoin runs after a Follow: it compares this region's journal with the
// new primary's, keeps a divergent tail in a divergence report and rewinds
// (the follower then bootstraps again from the new primary), and only then
// points replication at the new primary. A newer Follow or StartWrites
// (another generation) supersedes it.
func (d *Runner) rejoin(ctx context.Context, gen int64, target string, epoch int64) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if d.superseded(gen) {
			return
		}
		err := d.checkDivergence(ctx, target, epoch)
		if err == nil {
			break
		}
		if attempt%20 == 0 {
			d.log.Warn("rejoin: cannot compare histories with the new primary yet", "primary", target, "epoch", epoch, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen != gen {
		return
	}
	d.followed = followMark{target: target, epoch: epoch}
	d.cfg.Roles.Set(tandem.RoleState{Role: tandem.RoleSecondary, Epoch: epoch, Primary: target, PrimaryURL: d.regionURL(target)})
	d.log.Info("following the primary", "primary", target, "epoch", epoch)
}

// followMark is the primary and epoch replication follows after a
// finished Follow.
type followMark struct {
	target string
	epoch  int64
}

// followNeedsCheck decides whether a Follow of target in epoch must first
// compare this region's journal with the new primary's: always, unless the
// journal is empty or this region already follows that primary in that
// epoch through a Follow that was checked. Being told to stop writing does
// not count (a primary that lost its lease learns the new primary then,
// and its own last writes may be the ones the new primary never got).
func followNeedsCheck(head tandem.Position, followed followMark, target string, epoch int64) bool {
	if head.Seq == 0 {
		return false
	}
	return followed.target != target || followed.epoch != epoch
}

func (d *Runner) superseded(gen int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gen != gen
}

// checkDivergence finds this region's divergent tail against target's
// history (primary in epoch); when there is one it stores the report and
// rewinds the region to an empty journal so that the follower bootstraps
// from the new primary's snapshot.
func (d *Runner) checkDivergence(ctx context.Context, target string, epoch int64) error {
	store := d.cfg.Store
	head, err := store.Head(ctx)
	if err != nil || head.Seq == 0 {
		return err
	}
	base := d.regionURL(target)
	window := int64(64)
	for {
		start := max(1, head.Seq-window+1)
		local, err := store.ReadJournal(ctx, start-1, int(head.Seq-start+1))
		if err != nil {
			return err
		}
		var remote struct {
			Positions []tandem.Position `json:"positions"`
		}
		if err := d.peerGet(ctx, fmt.Sprintf("%s%spositions?after=%d&limit=%d", base, Prefix, start-1, len(local)), &remote); err != nil {
			return err
		}
		dv, err := failover.FindDivergence(local, remote.Positions, epoch)
		if err != nil && start > 1 && strings.Contains(tandem.ErrorMessage(err), "widen") {
			window *= 4
			continue
		}
		if err != nil {
			return err
		}
		if len(dv.Tail) == 0 {
			return nil
		}
		rep := failover.NewReport(d.cfg.Region, target, epoch, dv, time.Now())
		body, err := rep.Marshal()
		if err != nil {
			return err
		}
		// Rewind with the report: an empty journal and no bootstrap state
		// make the follower load the new primary's snapshot.
		if err := store.KeepDivergence(ctx, rep.ID, body); err != nil {
			return err
		}
		d.node.Rewound(tandem.Position{})
		d.log.Warn("rejoin: divergent entries kept in a divergence report; re-bootstrapping from the new primary",
			"report", rep.ID, "entries", rep.Count, "fork", rep.Fork, "head", rep.Head, "primary", target, "epoch", epoch)
		return nil
	}
}

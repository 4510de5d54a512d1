package leader

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/failover"
)

// handleReplay re-commits chosen divergent entries on the primary, each as
// a new write of its op with its payload as recorded. An entry whose
// change conflicts with the current state is reported, not applied.
// Artifact bytes are not copied: entries that reference blobs are refused.
//
// The request names the entries one of two ways. {"entries": [...]}, the
// CLI's, commits the entries sent, and needs the workspace peer key (they
// could be any journal entries). {"report": ID, "seqs": [...]} (seqs
// optional: all), the console's, replays entries of a divergence report
// as the region that keeps it (the prefix of ID) holds them, so a
// principal allowed to replay (package auth's table) replays nothing but
// a report's own entries; a region that is not the primary reads the
// report and forwards the entries to the primary with the peer key (the
// entries form is answered where it is sent: a secondary reports each
// entry refused).
//
// Replay is idempotent per divergent entry: the same tail may be kept in
// reports on several regions (failover.Distinct), and replaying both must
// not apply it twice. The region remembers, in its failover_state, the
// position each replayed entry was committed at, keyed by the entry's
// original position (one position holds one entry workspace-wide), and
// answers a second replay of it with that position and Again set.
func (d *Runner) handleReplay(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Entries []tandem.Entry `json:"entries"`
		Report  string         `json:"report"`
		Seqs    []int64        `json:"seqs"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, tandem.Errorf(tandem.EINVALID, "replay: %v", err))
		return
	}
	ctx := r.Context()
	entries := req.Entries
	switch {
	case req.Report != "" && len(req.Entries) > 0:
		writeErr(w, tandem.Errorf(tandem.EINVALID, "replay: name a report or send entries, not both"))
		return
	case req.Report == "" && !d.peer(r):
		writeErr(w, tandem.Errorf(tandem.EFORBIDDEN, "replay: entries sent with the request need the workspace peer key; name a divergence report (\"report\") instead"))
		return
	case req.Report != "":
		rep, err := d.report(ctx, req.Report)
		if err != nil {
			writeErr(w, err)
			return
		}
		entries = selectEntries(rep.Entries, req.Seqs)
		if len(entries) == 0 {
			writeErr(w, tandem.Errorf(tandem.EINVALID, "replay: report %s has none of the entries %v", req.Report, req.Seqs))
			return
		}
	}
	// Only the console's form is forwarded: the entries form (the CLI's,
	// and what a forward sends) is never sent on again, so two regions
	// that each believe the other primary cannot bounce it.
	if st := d.cfg.Roles.Current(); st.Role != tandem.RolePrimary && req.Report != "" {
		var out struct {
			Results []replayResult `json:"results"`
		}
		u := d.regionURL(st.Primary)
		if u == "" {
			writeErr(w, tandem.Errorf(tandem.EUNAVAILABLE, "replay: this region is a %s and knows no primary", st.Role))
			return
		}
		if err := d.peerPost(ctx, u+Prefix+"replay", map[string]any{"entries": entries}, &out); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, 200, map[string]any{"results": out.Results, "primary": st.Primary})
		return
	}
	writeJSON(w, 200, map[string]any{"results": d.replay(ctx, entries), "primary": d.cfg.Region})
}

type replayResult struct {
	Seq      int64           `json:"seq"`
	Op       string          `json:"op"`
	Position tandem.Position `json:"position,omitzero"`
	Again    bool            `json:"already_replayed,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// replay commits entries here, one at a time across the region.
func (d *Runner) replay(ctx context.Context, entries []tandem.Entry) []replayResult {
	d.replaying.Lock()
	defer d.replaying.Unlock()
	out := []replayResult{}
	for _, e := range entries {
		res := replayResult{Seq: e.Seq, Op: e.Op}
		if e.Op == tandem.OpSkip || e.Op == tandem.OpEpoch {
			res.Error = "not replayable"
		} else if len(e.Blobs) > 0 {
			res.Error = "references artifact bytes; replay it from the client that wrote it"
		} else if done, err := d.replayed(ctx, e.Position); err != nil {
			res.Error = tandem.ErrorMessage(err)
		} else if done != nil {
			res.Position, res.Again = *done, true
		} else if ne, err := d.cfg.Store.Replay(ctx, e); err != nil {
			res.Error = tandem.ErrorMessage(err)
		} else {
			res.Position = ne.Position
			if err := d.markReplayed(ctx, e.Position, ne.Position); err != nil {
				d.log.Error("replay: entry committed but not recorded as replayed", "entry", e.Position, "at", ne.Position, "err", err)
			}
		}
		out = append(out, res)
	}
	return out
}

// report reads divergence report id from the region that keeps it: the
// workspace region whose name, with a "-", is the longest prefix of id.
func (d *Runner) report(ctx context.Context, id string) (failover.Report, error) {
	keeper := ""
	for _, reg := range d.cfg.Workspace.Regions {
		if strings.HasPrefix(id, reg.Name+"-") && len(reg.Name) > len(keeper) {
			keeper = reg.Name
		}
	}
	missing := tandem.Errorf(tandem.ENOTFOUND, "no divergence report %q", id)
	switch keeper {
	case "":
		return failover.Report{}, missing
	case d.cfg.Region:
		reps, err := d.reports(ctx, id)
		if err != nil {
			return failover.Report{}, err
		}
		if len(reps) == 0 {
			return failover.Report{}, missing
		}
		return reps[0], nil
	}
	var rep failover.Report
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.peerGet(cctx, d.regionURL(keeper)+Prefix+"divergence/"+url.PathEscape(id), &rep); err != nil {
		return failover.Report{}, tandem.Errorf(tandem.EUNAVAILABLE, "divergence report %s from region %s: %s", id, keeper, tandem.ErrorMessage(err))
	}
	return rep, nil
}

// selectEntries is the entries whose sequence numbers are in seqs; all of
// them when seqs is empty.
func selectEntries(es []tandem.Entry, seqs []int64) []tandem.Entry {
	if len(seqs) == 0 {
		return es
	}
	var out []tandem.Entry
	for _, e := range es {
		if slices.Contains(seqs, e.Seq) {
			out = append(out, e)
		}
	}
	return out
}

func replayKey(orig tandem.Position) string {
	return fmt.Sprintf("replayed/%d/%d", orig.Epoch, orig.Seq)
}

// replayed is where the divergent entry at orig was replayed here, or nil.
func (d *Runner) replayed(ctx context.Context, orig tandem.Position) (*tandem.Position, error) {
	v, ok, err := d.cfg.Store.FailoverState(ctx, replayKey(orig))
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	} else if !ok {
		return nil, nil
	}
	var p tandem.Position
	if _, err := fmt.Sscanf(v, "%d/%d", &p.Epoch, &p.Seq); err != nil {
		return nil, fmt.Errorf("replay: bad record %q: %w", v, err)
	}
	return &p, nil
}

func (d *Runner) markReplayed(ctx context.Context, orig, at tandem.Position) error {
	return d.cfg.Store.AddFailoverState(ctx, replayKey(orig), fmt.Sprintf("%d/%d", at.Epoch, at.Seq))
}

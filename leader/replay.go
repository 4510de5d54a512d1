package leader

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
)

// handleReplay re-commits chosen divergent entries on this (primary)
// region, each as a new write of its op with its payload as recorded. An
// entry whose change conflicts with the current state is reported, not
// applied. Artifact bytes are not copied: entries that reference blobs are
// refused.
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
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, tandem.Errorf(tandem.EINVALID, "replay: %v", err))
		return
	}
	type result struct {
		Seq      int64           `json:"seq"`
		Op       string          `json:"op"`
		Position tandem.Position `json:"position,omitzero"`
		Again    bool            `json:"already_replayed,omitempty"`
		Error    string          `json:"error,omitempty"`
	}
	d.replaying.Lock()
	defer d.replaying.Unlock()
	ctx := r.Context()
	var out []result
	for _, e := range req.Entries {
		res := result{Seq: e.Seq, Op: e.Op}
		if e.Op == sqlstore.OpSkip || e.Op == sqlstore.OpEpoch {
			res.Error = "not replayable"
		} else if len(e.Blobs) > 0 {
			res.Error = "references artifact bytes; replay it from the client that wrote it"
		} else if done, err := d.replayed(ctx, e.Position); err != nil {
			res.Error = tandem.ErrorMessage(err)
		} else if done != nil {
			res.Position, res.Again = *done, true
		} else if ne, err := d.cfg.Store.Write(ctx, &sqlstore.Change{Op: e.Op, Key: e.Key, Payload: e.Payload}); err != nil {
			res.Error = tandem.ErrorMessage(err)
		} else {
			res.Position = ne.Position
			if err := d.markReplayed(ctx, e.Position, ne.Position); err != nil {
				d.log.Error("replay: entry committed but not recorded as replayed", "entry", e.Position, "at", ne.Position, "err", err)
			}
		}
		out = append(out, res)
	}
	writeJSON(w, 200, map[string]any{"results": out})
}

func replayKey(orig tandem.Position) string {
	return fmt.Sprintf("replayed/%d/%d", orig.Epoch, orig.Seq)
}

// replayed is where the divergent entry at orig was replayed here, or nil.
func (d *Runner) replayed(ctx context.Context, orig tandem.Position) (*tandem.Position, error) {
	var v string
	err := d.cfg.Store.Reader().QueryRowContext(ctx, `SELECT value FROM failover_state WHERE key = ?`, replayKey(orig)).Scan(&v)
	if sqlstore.IsNoRows(err) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	var p tandem.Position
	if _, err := fmt.Sscanf(v, "%d/%d", &p.Epoch, &p.Seq); err != nil {
		return nil, fmt.Errorf("replay: bad record %q: %w", v, err)
	}
	return &p, nil
}

func (d *Runner) markReplayed(ctx context.Context, orig, at tandem.Position) error {
	return d.cfg.Store.WriteLocal(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO failover_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`,
			replayKey(orig), fmt.Sprintf("%d/%d", at.Epoch, at.Seq))
		return err
	})
}

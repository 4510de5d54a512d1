package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tandemml/tandem"
)

// SkipPayload is the payload of a tandem.OpSkip entry: what was skipped.
type SkipPayload struct {
	Kind tandem.Kind `json:"kind"`
	Op   string      `json:"op"`
}

func (s *Store) registerReplication() {
	s.register(tandem.OpSkip, tandem.KindWorkspace, func(context.Context, *Tx, *tandem.Entry) error { return nil })
	s.registerTestOps() // testnotes*.go: nothing in a release build
}

// KindOf returns the kind an op belongs to, and whether the op is known.
func (s *Store) KindOf(op string) (tandem.Kind, bool) {
	a, ok := s.appliers[op]
	return a.kind, ok
}

// ApplyDeferred applies, on a secondary, entries it had skipped (tandem.OpSkip)
// because their kind replicates by snapshot: in one transaction each
// entry's applier runs and its journal row is replaced by the real entry.
// Entries must be in sequence order and of kinds whose tables no later
// applied entry touched (kinds own disjoint tables). An entry whose row is
// already the real op is skipped (idempotent); a row that is neither is
// EINVALIDSTATE. Called by the replication follower only.
func (s *Store) ApplyDeferred(ctx context.Context, es []tandem.Entry) (int, error) {
	if len(es) == 0 {
		return 0, nil
	}
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback()
	tx := s.newTx(sqlTx)
	if _, err := lockJournalState(ctx, tx); err != nil {
		return 0, err
	}
	n := 0
	for i := range es {
		e := es[i]
		a, ok := s.appliers[e.Op]
		if !ok {
			return 0, fmt.Errorf("apply deferred %s: unknown op %q", e.Position, e.Op)
		}
		var op string
		var epoch int64
		if err := tx.QueryRowContext(ctx, `SELECT op, epoch FROM journal WHERE seq = ?`, e.Seq).Scan(&op, &epoch); err != nil {
			return 0, fmt.Errorf("apply deferred %s: %w", e.Position, err)
		}
		if op == e.Op && epoch == e.Epoch {
			continue
		}
		if op != tandem.OpSkip || epoch != e.Epoch {
			return 0, tandem.Errorf(tandem.EINVALIDSTATE, "apply deferred %s: journal row is %s in epoch %d, not a skipped %s", e.Position, op, epoch, e.Op)
		}
		e.Kind = a.kind
		if err := a.fn(ctx, tx, &e); err != nil {
			return 0, fmt.Errorf("apply deferred %s %s: %w", e.Position, e.Op, err)
		}
		var blobs []byte
		if len(e.Blobs) > 0 {
			blobs, _ = json.Marshal(e.Blobs)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE journal SET kind = ?, op = ?, key = ?, payload = ?, blobs = ? WHERE seq = ?`,
			string(e.Kind), e.Op, e.Key, string(e.Payload), nullString(string(blobs)), e.Seq); err != nil {
			return 0, fmt.Errorf("apply deferred %s: %w", e.Position, err)
		}
		n++
	}
	if err := sqlTx.Commit(); err != nil {
		return 0, fmt.Errorf("apply deferred commit: %w", err)
	}
	s.notify()
	return n, nil
}

// ReplaceState runs fn in a write transaction outside the journal. Only the
// replication bootstrap may call it: it loads a primary's snapshot (tables,
// journal rows and journal_state) into a fresh secondary in one commit.
func (s *Store) ReplaceState(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback()
	tx := s.newTx(sqlTx)
	if _, err := lockJournalState(ctx, tx); err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	s.replaced.Add(1)
	s.notify()
	return nil
}

// WriteLocal runs fn in a write transaction for region-local tables
// (replication_*), which are not journalled.
func (s *Store) WriteLocal(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback()
	if err := fn(ctx, s.newTx(sqlTx)); err != nil {
		return err
	}
	return sqlTx.Commit()
}

// notify wakes long-polling readers without an entry (see Changed).
func (s *Store) notify() {
	s.mu.Lock()
	close(s.waiters)
	s.waiters = make(chan struct{})
	s.mu.Unlock()
}

// ApplyBatch is Apply for consecutive entries in one transaction (a
// secondary catching up commits once per batch instead of once per entry).
// Entries at or before the high-water mark are skipped; a hole or an older
// epoch fails the whole batch and changes nothing. It returns how many
// entries it applied.
func (s *Store) ApplyBatch(ctx context.Context, es []tandem.Entry) (int, error) {
	if len(es) == 0 {
		return 0, nil
	}
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback()
	tx := s.newTx(sqlTx)
	last, err := lockJournalState(ctx, tx)
	if err != nil {
		return 0, err
	}
	var applied []tandem.Entry
	for _, e := range es {
		a, ok := s.appliers[e.Op]
		switch {
		case !ok:
			return 0, fmt.Errorf("apply %s: unknown op %q (is this tandem older than the primary?)", e.Position, e.Op)
		case e.Seq <= last.Seq:
			continue
		case e.Seq != last.Seq+1:
			return 0, tandem.Errorf(tandem.EINVALIDSTATE, "apply %s: would leave a hole after %s", e.Position, last)
		case e.Epoch < last.Epoch:
			return 0, tandem.Errorf(tandem.EUNAVAILABLE, "apply %s: epoch older than applied epoch %d", e.Position, last.Epoch)
		}
		e.Kind = a.kind
		if err := a.fn(ctx, tx, &e); err != nil {
			return 0, fmt.Errorf("apply %s %s: %w", e.Position, e.Op, err)
		}
		if err := appendJournal(ctx, tx, &e); err != nil {
			return 0, err
		}
		last = e.Position
		applied = append(applied, e)
	}
	if err := sqlTx.Commit(); err != nil {
		return 0, fmt.Errorf("apply commit: %w", err)
	}
	for _, e := range applied {
		s.committed(e)
	}
	return len(applied), nil
}

package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tandemml/tandem"
)

// Change is a mutation ready to commit: the op, its kind and key, and its
// fully resolved payload (ids, times, version numbers chosen).
type Change struct {
	Op      string
	Key     string
	Payload any // marshalled to JSON; a json.RawMessage is kept as is
	Blobs   []tandem.BlobRef
}

// PrepareFunc runs inside the write transaction before the change is applied:
// it reads current state, validates the request against it (returning an
// *tandem.Error such as ENOTFOUND or EEXISTS) and returns the resolved
// change. It must not write.
type PrepareFunc func(ctx context.Context, tx *Tx) (*Change, error)

// Write commits a change whose payload needs no reading of current state.
func (s *Store) Write(ctx context.Context, c *Change) (tandem.Entry, error) {
	return s.Mutate(ctx, func(context.Context, *Tx) (*Change, error) { return c, nil })
}

// Apply applies an entry shipped from the primary, on a secondary: it is a
// no-op when the entry is at or before the high-water mark, an error when it
// would leave a hole or comes from an older epoch than the newest applied.
// The change, the journal row and the new high-water mark commit together.
// It reports whether the entry was applied (false: already present).
func (s *Store) Apply(ctx context.Context, e tandem.Entry) (bool, error) {
	a, ok := s.appliers[e.Op]
	if !ok {
		return false, fmt.Errorf("apply %s: unknown op %q (is this tandem older than the primary?)", e.Position, e.Op)
	}
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback()
	tx := s.newTx(sqlTx)
	last, err := lockJournalState(ctx, tx)
	if err != nil {
		return false, err
	}
	switch {
	case e.Seq <= last.Seq:
		return false, nil
	case e.Seq != last.Seq+1:
		return false, tandem.Errorf(tandem.EINVALIDSTATE, "apply %s: would leave a hole after %s", e.Position, last)
	case e.Epoch < last.Epoch:
		return false, tandem.Errorf(tandem.EUNAVAILABLE, "apply %s: epoch older than applied epoch %d", e.Position, last.Epoch)
	}
	e.Kind = a.kind
	if err := a.fn(ctx, tx, &e); err != nil {
		return false, fmt.Errorf("apply %s %s: %w", e.Position, e.Op, err)
	}
	if err := appendJournal(ctx, tx, &e); err != nil {
		return false, err
	}
	if err := sqlTx.Commit(); err != nil {
		return false, fmt.Errorf("apply commit: %w", err)
	}
	s.committed(e)
	return true, nil
}

// OnCommit registers fn to be called after every committed entry (primary
// writes and applied entries alike), in commit order, outside the
// transaction. Used for metrics and sync replication.
func (s *Store) OnCommit(fn func(tandem.Entry)) {
	s.mu.Lock()
	s.hooks = append(s.hooks, fn)
	s.mu.Unlock()
}

// committed wakes the waiters of Changed and runs the OnCommit hooks for
// the entries of one commit, in order.
func (s *Store) committed(es ...tandem.Entry) {
	s.mu.Lock()
	close(s.waiters)
	s.waiters = make(chan struct{})
	hooks := s.hooks
	s.mu.Unlock()
	for _, e := range es {
		for _, h := range hooks {
			h(e)
		}
	}
}

// Changed returns a channel that is closed at the next commit: long-polling
// readers wait on it.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiters
}

func marshalPayload(p any) (json.RawMessage, error) {
	switch v := p.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		return v, nil
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("marshal payload: %w", err)
		}
		return b, nil
	}
}

// lockJournalState reads the last committed position and, on PostgreSQL,
// locks its row until the transaction ends. SQLite transactions are already
// exclusive writers (_txlock=immediate).
func lockJournalState(ctx context.Context, tx *Tx) (tandem.Position, error) {
	q := `SELECT last_epoch, last_seq FROM journal_state WHERE id = 1`
	if tx.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	var p tandem.Position
	if err := tx.QueryRowContext(ctx, q).Scan(&p.Epoch, &p.Seq); err != nil {
		return p, fmt.Errorf("journal state: %w", err)
	}
	return p, nil
}

// journalArgs are the values of e's journal row, in column order.
func journalArgs(e *tandem.Entry) []any {
	var blobs []byte
	if len(e.Blobs) > 0 {
		blobs, _ = json.Marshal(e.Blobs)
	}
	return []any{e.Seq, e.Epoch, string(e.Kind), e.Op, e.Key, string(e.Payload), nullString(string(blobs)), e.Time.UnixMilli(), nullString(e.TraceParent)}
}

func appendJournal(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO journal (seq, epoch, kind, op, key, payload, blobs, created_ms, trace_parent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		journalArgs(e)...); err != nil {
		return fmt.Errorf("journal append: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE journal_state SET last_epoch = ?, last_seq = ? WHERE id = 1`, e.Epoch, e.Seq); err != nil {
		return fmt.Errorf("journal state: %w", err)
	}
	return recordKeys(ctx, tx, []*tandem.Entry{e})
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// Head returns the position of the last committed entry.
func (s *Store) Head(ctx context.Context) (tandem.Position, error) {
	var p tandem.Position
	err := s.Reader().QueryRowContext(ctx, `SELECT last_epoch, last_seq FROM journal_state WHERE id = 1`).Scan(&p.Epoch, &p.Seq)
	return p, err
}

// ReadJournal returns up to limit entries after position after, in order.
func (s *Store) ReadJournal(ctx context.Context, after int64, limit int) ([]tandem.Entry, error) {
	rows, err := s.Reader().QueryContext(ctx,
		`SELECT j.seq, j.epoch, j.kind, j.op, j.key, j.payload, j.blobs, j.created_ms, k.key, j.trace_parent FROM journal j
		 LEFT JOIN idempotency_keys k ON k.seq = j.seq WHERE j.seq > ? ORDER BY j.seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	defer rows.Close()
	var out []tandem.Entry
	for rows.Next() {
		var e tandem.Entry
		var kind, payload string
		var blobs, idem, tp sql.NullString
		var ms int64
		if err := rows.Scan(&e.Seq, &e.Epoch, &kind, &e.Op, &e.Key, &payload, &blobs, &ms, &idem, &tp); err != nil {
			return nil, err
		}
		e.IdempotencyKey, e.TraceParent = idem.String, tp.String
		e.Kind = tandem.Kind(kind)
		e.Payload = json.RawMessage(payload)
		if blobs.Valid && blobs.String != "" {
			if err := json.Unmarshal([]byte(blobs.String), &e.Blobs); err != nil {
				return nil, fmt.Errorf("read journal %d blobs: %w", e.Seq, err)
			}
		}
		e.Time = time.UnixMilli(ms).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// WaitJournal is ReadJournal that waits up to wait for an entry when there
// is none yet (long-poll).
func (s *Store) WaitJournal(ctx context.Context, after int64, limit int, wait time.Duration) ([]tandem.Entry, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		ch := s.Changed()
		es, err := s.ReadJournal(ctx, after, limit)
		if err != nil || len(es) > 0 {
			return es, err
		}
		select {
		case <-ch:
		case <-deadline.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// IsNoRows reports whether err is sql.ErrNoRows.
func IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

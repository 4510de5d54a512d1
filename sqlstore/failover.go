package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tandemml/tandem"
)

var _ tandem.FailoverStore = (*Store)(nil)

func (s *Store) registerFailover() {
	s.register(tandem.OpEpoch, tandem.KindWorkspace, applyEpoch)
}

func applyEpoch(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var r tandem.EpochRecord
	if err := json.Unmarshal(e.Payload, &r); err != nil {
		return fmt.Errorf("epoch record payload: %w", err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO epochs (epoch, primary_name, previous, reason, detected_ms, resumed_ms, at_risk, seq)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (epoch) DO NOTHING`,
		e.Epoch, r.Primary, r.Previous, r.Reason, r.DetectedMS, r.ResumedMS, r.AtRisk, e.Seq)
	return err
}

// Epochs lists the recorded changes of primary, oldest first.
func (s *Store) Epochs(ctx context.Context) ([]tandem.EpochRecord, error) {
	rows, err := s.Reader().QueryContext(ctx, `SELECT epoch, primary_name, previous, reason, detected_ms, resumed_ms, at_risk, seq FROM epochs ORDER BY epoch`)
	if err != nil {
		return nil, fmt.Errorf("epochs: %w", err)
	}
	defer rows.Close()
	var out []tandem.EpochRecord
	for rows.Next() {
		var r tandem.EpochRecord
		if err := rows.Scan(&r.Epoch, &r.Primary, &r.Previous, &r.Reason, &r.DetectedMS, &r.ResumedMS, &r.AtRisk, &r.Seq); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RecordEpoch commits rec as the OpEpoch entry of its epoch: the first
// write of a new primary. Primary only.
func (s *Store) RecordEpoch(ctx context.Context, rec tandem.EpochRecord) (tandem.Entry, error) {
	return s.Write(ctx, &Change{Op: tandem.OpEpoch, Key: strconv.FormatInt(rec.Epoch, 10), Payload: rec})
}

// Replay commits the change of an entry again (its op, key and payload)
// as a new entry of this primary: a divergent entry an operator replays.
// Primary only.
func (s *Store) Replay(ctx context.Context, e tandem.Entry) (tandem.Entry, error) {
	return s.Write(ctx, &Change{Op: e.Op, Key: e.Key, Payload: e.Payload})
}

// FailoverState returns this region's own (not replicated) failover value
// of key, and whether there is one.
func (s *Store) FailoverState(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.Reader().QueryRowContext(ctx, `SELECT value FROM failover_state WHERE key = ?`, key).Scan(&v)
	if IsNoRows(err) {
		return "", false, nil
	}
	return v, err == nil, err
}

// SetFailoverState stores every key and value of kv in this region's own
// failover state, in one local transaction, replacing what was there.
func (s *Store) SetFailoverState(ctx context.Context, kv map[string]string) error {
	return s.WriteLocal(ctx, func(ctx context.Context, tx *Tx) error {
		for k, v := range kv {
			if _, err := tx.ExecContext(ctx, `INSERT INTO failover_state (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddFailoverState stores key = value in this region's own failover state
// unless key already has a value (which is kept).
func (s *Store) AddFailoverState(ctx context.Context, key, value string) error {
	return s.WriteLocal(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO failover_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, value)
		return err
	})
}

// LockedHead reads the journal head under the journal lock: every write
// that passed the gate before it closed has committed by then.
func (s *Store) LockedHead(ctx context.Context) (tandem.Position, error) {
	var p tandem.Position
	err := s.WriteLocal(ctx, func(ctx context.Context, tx *Tx) error {
		q := `SELECT last_epoch, last_seq FROM journal_state WHERE id = 1`
		if s.Dialect() == Postgres {
			q += ` FOR UPDATE`
		}
		return tx.QueryRowContext(ctx, q).Scan(&p.Epoch, &p.Seq)
	})
	return p, err
}

// JournalPositions lists the positions of up to limit entries after seq
// after, in order (a peer compares them with its own to find a fork).
func (s *Store) JournalPositions(ctx context.Context, after int64, limit int) ([]tandem.Position, error) {
	rows, err := s.Reader().QueryContext(ctx, `SELECT epoch, seq FROM journal WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("positions: %w", err)
	}
	defer rows.Close()
	out := []tandem.Position{}
	for rows.Next() {
		var p tandem.Position
		if err := rows.Scan(&p.Epoch, &p.Seq); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// KeepDivergence stores a divergence report (its id and body) and rewinds
// this region to an empty journal, in one local transaction: with no
// journal and no bootstrap state the follower loads the new primary's
// snapshot (which replaces every replicated table) and follows from there.
func (s *Store) KeepDivergence(ctx context.Context, id string, body []byte) error {
	return s.WriteLocal(ctx, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO failover_divergence (id, created_ms, body) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			id, time.Now().UnixMilli(), string(body)); err != nil {
			return fmt.Errorf("store divergence report: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE journal_state SET last_epoch = 0, last_seq = 0 WHERE id = 1`); err != nil {
			return fmt.Errorf("rewind: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM replication_state`); err != nil {
			return fmt.Errorf("rewind: %w", err)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM replication_blobs`)
		return err
	})
}

// DivergenceReports returns the bodies of the stored divergence reports,
// oldest first; only the one of id when id is not "".
func (s *Store) DivergenceReports(ctx context.Context, id string) ([][]byte, error) {
	q := `SELECT body FROM failover_divergence ORDER BY created_ms, id`
	args := []any{}
	if id != "" {
		q = `SELECT body FROM failover_divergence WHERE id = ?`
		args = append(args, id)
	}
	rows, err := s.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("divergence reports: %w", err)
	}
	defer rows.Close()
	out := [][]byte{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		out = append(out, []byte(body))
	}
	return out, rows.Err()
}

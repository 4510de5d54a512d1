package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tandemml/tandem"
)

// opDesiredApplied records the desired state an apply completed.
const opDesiredApplied = "desired.applied"

func (s *Store) registerDesired() {
	s.register(opDesiredApplied, tandem.KindWorkspace, applyDesiredApplied)
}

type desiredPayload struct {
	Doc json.RawMessage `json:"doc"`
	MS  int64           `json:"ms"`
}

// PutDesiredApplied records doc (a plan.Applied as JSON, no secret values)
// as the last applied desired state. Primary only (EUNAVAILABLE elsewhere).
func (s *Store) PutDesiredApplied(ctx context.Context, doc json.RawMessage) error {
	if !json.Valid(doc) {
		return tandem.Errorf(tandem.EINVALID, "applied desired state: not JSON")
	}
	_, err := s.Write(ctx, &Change{Op: opDesiredApplied, Key: "desired", Payload: desiredPayload{Doc: doc, MS: nowMillis()}})
	return err
}

func applyDesiredApplied(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p desiredPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("desired payload: %w", err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO desired_applied (id, doc, applied_ms) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, applied_ms = excluded.applied_ms`, string(p.Doc), p.MS)
	return err
}

// DesiredApplied returns the last applied desired state and when it was
// recorded; ENOTFOUND before the first apply.
func (s *Store) DesiredApplied(ctx context.Context) (json.RawMessage, int64, error) {
	var doc string
	var ms int64
	err := s.Reader().QueryRowContext(ctx, `SELECT doc, applied_ms FROM desired_applied WHERE id = 1`).Scan(&doc, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, tandem.Errorf(tandem.ENOTFOUND, "no desired state has been applied yet")
	}
	if err != nil {
		return nil, 0, fmt.Errorf("desired applied: %w", err)
	}
	return json.RawMessage(doc), ms, nil
}

package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tandemml/tandem"
)

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

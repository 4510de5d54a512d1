package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/tandemml/tandem"
)

// opDrillRecord records one drill's report (kind workspace).
const opDrillRecord = "drill.record"

func (s *Store) registerDrills() {
	s.register(opDrillRecord, tandem.KindWorkspace, applyDrillRecord)
}

// MaxDrillList bounds how many drills one list returns.
const MaxDrillList = 500

// RecordDrill validates d, gives it an id and the time it is recorded,
// and journals it; by is the principal recording it ("" : unknown).
// Primary only (EUNAVAILABLE elsewhere). It returns the stored record.
func (s *Store) RecordDrill(ctx context.Context, d tandem.DrillRecord, by string) (*tandem.DrillRecord, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if err := tandem.CheckText("recorded_by", by); err != nil {
		return nil, err
	}
	// Two drills recorded in one millisecond would list in id order, not
	// in the order they were recorded: each one is at least a millisecond
	// after the newest one before it.
	var last sql.NullInt64
	if err := s.Reader().QueryRowContext(ctx, `SELECT MAX(recorded_ms) FROM drills`).Scan(&last); err != nil {
		return nil, fmt.Errorf("drills: %w", err)
	}
	d.ID, d.RecordedMS, d.RecordedBy = "drill-"+newUUIDHex()[:16], max(nowMillis(), last.Int64+1), by
	if _, err := s.Write(ctx, &Change{Op: opDrillRecord, Key: d.ID, Payload: &d}); err != nil {
		return nil, err
	}
	return &d, nil
}

func applyDrillRecord(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var d tandem.DrillRecord
	if err := decodePayload(e, &d); err != nil {
		return err
	}
	doc, err := json.Marshal(&d)
	if err != nil {
		return fmt.Errorf("drill record: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO drills (id, recorded_ms, doc) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET recorded_ms = excluded.recorded_ms, doc = excluded.doc`, d.ID, d.RecordedMS, string(doc))
	if err != nil {
		return fmt.Errorf("drill record: %w", err)
	}
	return nil
}

// Drills returns the recorded drills, newest first, at most limit (1 to
// MaxDrillList; 0 is MaxDrillList).
func (s *Store) Drills(ctx context.Context, limit int) ([]tandem.DrillRecord, error) {
	if limit == 0 {
		limit = MaxDrillList
	}
	if limit < 0 || limit > MaxDrillList {
		return nil, tandem.Errorf(tandem.EINVALID, "limit must be between 1 and %d", MaxDrillList)
	}
	rows, err := s.Reader().QueryContext(ctx, `SELECT doc FROM drills ORDER BY recorded_ms DESC, id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("drills: %w", err)
	}
	defer rows.Close()
	out := []tandem.DrillRecord{}
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("drills: %w", err)
		}
		var d tandem.DrillRecord
		if err := json.Unmarshal([]byte(doc), &d); err != nil {
			return nil, fmt.Errorf("drill %s: %w", doc[:min(len(doc), 40)], err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

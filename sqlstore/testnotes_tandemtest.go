//go:build tandemtest

package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tandemml/tandem"
)

// Test ops, built only with the tag tandemtest (scripts/test.sh builds the
// tests and the binaries they start with it): "test.note.<kind>" upserts a
// row of test_notes, so replication can be exercised in every kind with
// payloads and blobs of any size. The table is created at open by such a
// build only (migration 0021 drops it from databases an older build made).

// TestNoteKinds are the kinds test notes can be written in.
var TestNoteKinds = []tandem.Kind{tandem.KindExperiments, tandem.KindRuns, tandem.KindModels, tandem.KindArtifacts}

// TestNote is the payload of a test.note.<kind> op.
type TestNote struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Blob  string `json:"blob,omitempty"` // storage path of its blob, if any
	SHA   string `json:"sha256,omitempty"`
}

func (s *Store) registerTestOps() {
	for _, k := range TestNoteKinds {
		s.register("test.note."+string(k), k, applyTestNote)
	}
}

func (s *Store) testSchema(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS test_notes (
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    blob_path   TEXT,
    blob_sha256 TEXT,
    PRIMARY KEY (kind, key))`)
	return err
}

func applyTestNote(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var n TestNote
	if err := json.Unmarshal(e.Payload, &n); err != nil {
		return fmt.Errorf("test note payload: %w", err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO test_notes (kind, key, value, blob_path, blob_sha256) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, blob_path = excluded.blob_path, blob_sha256 = excluded.blob_sha256`,
		string(e.Kind), n.Key, n.Value, nullString(n.Blob), nullString(n.SHA))
	return err
}

package replication

import (
	"context"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

// TestEveryReplicatedTableHasAKind: every table a bootstrap snapshot
// copies is owned by a kind (sqlstore.RowKind), so a table a migration
// adds cannot leak a policy-none kind's rows to a secondary.
func TestEveryReplicatedTableHasAKind(t *testing.T) {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var names []string
	err = s.Replica().Read(ctx, func(rd sqlstore.ReplicaReader) (err error) {
		names, err = rd.Tables()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range names {
		if name == "test_notes" { // test builds only
			continue
		}
		n++
		k, ok := sqlstore.RowKind(name, func(col string) string {
			if col == "kind" && name == "assets" {
				return string(tandem.AssetEnvironment)
			}
			if col == "kind" {
				return string(tandem.KindRuns)
			}
			return ""
		})
		if !ok || k == "" {
			t.Errorf("table %s has no kind in sqlstore.RowKind", name)
		}
	}
	if n < 40 {
		t.Fatalf("only %d replicated tables listed: %v", n, names)
	}
}

// TestSkipRow: a journal row of a kept kind becomes the placeholder the
// journal stream sends: kind workspace, op skip, the kind and op in the
// payload, no blobs; position and time unchanged.
func TestSkipRow(t *testing.T) {
	cols := []string{"seq", "epoch", "kind", "op", "key", "payload", "blobs", "created_ms", "trace_parent"}
	vals := []value{toValue(int64(7)), toValue(int64(2)), toValue("models"), toValue("model.create"), toValue("m"),
		toValue(`{"name":"m"}`), toValue(`[{"path":"p","sha256":"x","size":1}]`), toValue(int64(99)), toValue("00-abc")}
	got := skipRow(cols, vals, tandem.KindModels)
	text := rowText(cols, got)
	if text("kind") != "workspace" || text("op") != tandem.OpSkip || text("payload") != `{"kind":"models","op":"model.create"}` ||
		got[6].S != nil || got[8].S != nil || *got[0].I != 7 || *got[1].I != 2 || *got[7].I != 99 || text("key") != "m" {
		t.Fatalf("skip row: %+v", got)
	}
	if rowText(cols, vals)("kind") != "models" {
		t.Fatal("skipRow changed its input")
	}
	blobs := map[string]tandem.BlobRef{}
	collectBlobs(cols, got, blobs)
	if len(blobs) != 0 {
		t.Fatalf("a skip row carries blobs: %v", blobs)
	}
}

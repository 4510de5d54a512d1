package sqlstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

func sampleDrill(fault string) tandem.DrillRecord {
	now := time.Now().UnixMilli()
	return tandem.DrillRecord{Target: tandem.DrillTargetWorkspace, StartedMS: now - 5000, FinishedMS: now, Fault: fault, Durability: "sync",
		OldPrimary: "east", NewPrimary: "west", Rounds: 1, RTOSeconds: 0.04, Acknowledged: 120, FailedBack: true, VerifyOK: true, Passed: true,
		Report: json.RawMessage(`{"fault":"` + fault + `"}`)}
}

// TestDrillRecords: a drill record is validated, journalled (kind
// workspace), listed newest first, and a replica applying the journal
// lists the same; a bad record stores nothing.
func TestDrillRecords(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			bad := sampleDrill("kill")
			bad.Missing = 2 // neither in divergence nor lost
			_, err := s.RecordDrill(ctx, bad, "ana")
			wantCode(t, err, tandem.EINVALID)
			bad = sampleDrill("flood")
			_, err = s.RecordDrill(ctx, bad, "ana")
			wantCode(t, err, tandem.EINVALID)
			bad = sampleDrill("kill")
			bad.Report = json.RawMessage(`[1]`)
			_, err = s.RecordDrill(ctx, bad, "ana")
			wantCode(t, err, tandem.EINVALID)
			if ds, err := s.Drills(ctx, 0); err != nil || len(ds) != 0 {
				t.Fatalf("after refused records: %v %v", ds, err)
			}
			first, err := s.RecordDrill(ctx, sampleDrill("kill"), "ana")
			must(t, err)
			time.Sleep(2 * time.Millisecond)
			second, err := s.RecordDrill(ctx, sampleDrill("switchover"), "")
			must(t, err)
			if first.ID == "" || first.ID == second.ID || first.RecordedBy != "ana" || first.RecordedMS == 0 {
				t.Fatalf("records %+v %+v", first, second)
			}
			ds, err := s.Drills(ctx, 0)
			must(t, err)
			if len(ds) != 2 || ds[0].ID != second.ID || ds[1].ID != first.ID || string(ds[1].Report) != `{"fault":"kill"}` {
				t.Fatalf("list (newest first) %+v", ds)
			}
			if one, err := s.Drills(ctx, 1); err != nil || len(one) != 1 || one[0].ID != second.ID {
				t.Fatalf("limit 1: %+v %v", one, err)
			}
			_, err = s.Drills(ctx, sqlstore.MaxDrillList+1)
			wantCode(t, err, tandem.EINVALID)

			replica, entries := replicate(t, s, "drill.record")
			for _, e := range entries {
				if e.Kind != tandem.KindWorkspace || e.Key == "" {
					t.Fatalf("entry %+v", e)
				}
			}
			rds, err := replica.Drills(ctx, 0)
			must(t, err)
			if len(entries) != 2 || len(rds) != 2 || rds[0].ID != second.ID || rds[1].RTOSeconds != 0.04 {
				t.Fatalf("%d entries; replica lists %+v", len(entries), rds)
			}
		})
	}
}

// replicate applies s's journal to a new SQLite store, as a secondary
// does, and returns it with the entries of op.
func replicate(t *testing.T, s *sqlstore.Store, op string) (*sqlstore.Store, []tandem.Entry) {
	t.Helper()
	ctx := context.Background()
	replica, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
	must(t, err)
	t.Cleanup(func() { replica.Close() })
	es, err := s.ReadJournal(ctx, 0, 1000)
	must(t, err)
	var out []tandem.Entry
	for _, e := range es {
		if e.Op == op {
			out = append(out, e)
		}
		if _, err := replica.Apply(ctx, e); err != nil {
			t.Fatalf("apply %s: %v", e.Op, err)
		}
	}
	return replica, out
}

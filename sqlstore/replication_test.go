//go:build tandemtest

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

func note(seq int64, key string) tandem.Entry {
	p, _ := json.Marshal(sqlstore.TestNote{Key: key, Value: "v"})
	return tandem.Entry{Position: tandem.Position{Epoch: 1, Seq: seq}, Op: "test.note.runs", Key: key, Payload: p, Time: time.UnixMilli(1000 * seq).UTC()}
}

// ApplyBatch applies in order, skips what is already applied (exactly once
// in effect), and refuses a hole or an older epoch without changing anything.
func TestApplyBatch(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s, err := sqlstore.Open(ctx, b.URL, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if n, err := s.ApplyBatch(ctx, []tandem.Entry{note(1, "a"), note(2, "b")}); err != nil || n != 2 {
				t.Fatalf("apply: %d %v", n, err)
			}
			if n, err := s.ApplyBatch(ctx, []tandem.Entry{note(1, "a"), note(2, "b"), note(3, "c")}); err != nil || n != 1 {
				t.Fatalf("re-apply: %d %v", n, err)
			}
			if _, err := s.ApplyBatch(ctx, []tandem.Entry{note(4, "d"), note(6, "f")}); tandem.ErrorCode(err) != tandem.EINVALIDSTATE {
				t.Fatalf("hole: %v", err)
			}
			old := note(4, "d")
			old.Epoch = 0
			if _, err := s.ApplyBatch(ctx, []tandem.Entry{old}); err == nil {
				t.Fatal("older epoch accepted")
			}
			head, _ := s.Head(ctx)
			var rows int
			s.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM test_notes`).Scan(&rows)
			if head.Seq != 3 || rows != 3 {
				t.Fatalf("head %v, %d rows; want 3 and 3 (failed batches change nothing)", head, rows)
			}
		})
	}
}

// A region with a journal and no bootstrap mark (primary from the start)
// is marked bootstrapped when it first follows, but not once a rewind has
// emptied its journal: then it must load the new primary's snapshot.
func TestMarkBootstrappedLosesToARewind(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s, err := sqlstore.Open(ctx, b.URL, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			r := s.Replica()
			if ok, err := r.MarkBootstrapped(ctx); err != nil || ok {
				t.Fatalf("empty journal marked: %v %v", ok, err)
			}
			if _, err := s.ApplyBatch(ctx, []tandem.Entry{note(1, "a"), note(2, "b")}); err != nil {
				t.Fatal(err)
			}
			if ok, err := r.MarkBootstrapped(ctx); err != nil || !ok {
				t.Fatalf("journal of 2 not marked: %v %v", ok, err)
			}
			if err := s.KeepDivergence(ctx, "r-e1-s1", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			if phase, _ := r.State(ctx, "bootstrap"); phase != "" {
				t.Fatalf("rewind left bootstrap %q", phase)
			}
			if ok, err := r.MarkBootstrapped(ctx); err != nil || ok {
				t.Fatalf("rewound journal marked: %v %v", ok, err)
			}
			if phase, _ := r.State(ctx, "bootstrap"); phase != "" {
				t.Fatalf("bootstrap %q after a rewind; want none (load the snapshot)", phase)
			}
		})
	}
}

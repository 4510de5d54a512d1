//go:build tandemtest

package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

func noteChange(key string) *sqlstore.Change {
	return &sqlstore.Change{Op: "test.note.runs", Key: key, Payload: sqlstore.TestNote{Key: key, Value: "v"}}
}

// A key is recorded with its write and reaches a secondary with the entry;
// a refused write records nothing; the first write of a key wins.
func TestIdempotencyKeysReplicate(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			p, err := sqlstore.Open(ctx, b.URL, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			e1, err := p.Write(sqlstore.WithIdempotencyKey(ctx, "k1"), noteChange("n1"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Write(ctx, noteChange("n2")); err != nil { // no key
				t.Fatal(err)
			}
			_, err = p.Mutate(sqlstore.WithIdempotencyKey(ctx, "k2"), func(context.Context, *sqlstore.Tx) (*sqlstore.Change, error) {
				return nil, tandem.Errorf(tandem.EEXISTS, "refused")
			})
			if tandem.ErrorCode(err) != tandem.EEXISTS {
				t.Fatal(err)
			}
			if _, err := p.Write(sqlstore.WithIdempotencyKey(ctx, "k1"), noteChange("n3")); err != nil { // same key again
				t.Fatal(err)
			}
			got, ok, err := p.IdempotentWrite(ctx, "k1")
			if err != nil || !ok || got.Seq != e1.Seq || got.Key != "n1" || got.IdempotencyKey != "k1" {
				t.Fatalf("k1: %+v %v %v (want seq %d)", got, ok, err, e1.Seq)
			}
			if _, ok, err := p.IdempotentWrite(ctx, "k2"); ok || err != nil {
				t.Fatalf("refused write's key recorded: %v %v", ok, err)
			}
			// A secondary applying the journal learns the keys.
			s2, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			es, err := p.ReadJournal(ctx, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				if _, err := s2.Apply(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			got2, ok, err := s2.IdempotentWrite(ctx, "k1")
			if err != nil || !ok || got2.Seq != e1.Seq || got2.Key != "n1" {
				t.Fatalf("on the secondary: %+v %v %v", got2, ok, err)
			}
			// ...and ships them on as a new primary would.
			es2, _ := s2.ReadJournal(ctx, e1.Seq-1, 1)
			if len(es2) != 1 || es2[0].IdempotencyKey != "k1" {
				t.Fatalf("secondary's journal: %+v", es2)
			}
		})
	}
}

// Keys are swept at every KeySweepEvery-th entry: older than KeyRetention
// by that entry's time, or more than KeyWindow entries behind it.
func TestIdempotencyKeysSwept(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s, err := sqlstore.Open(ctx, b.URL, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			at := func(seq int64, key string, d time.Duration) *tandem.Entry {
				return &tandem.Entry{Position: tandem.Position{Epoch: 1, Seq: seq}, IdempotencyKey: key, Time: t0.Add(d)}
			}
			has := func(key string) bool {
				var n int
				s.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM idempotency_keys WHERE key = ?`, key).Scan(&n)
				return n == 1
			}
			sweep := int64(sqlstore.KeySweepEvery)
			// Time: the sweep entry is 2h after "old", 30m after "recent".
			if err := sqlstore.RecordKeys(s, []*tandem.Entry{at(1, "old", 0), at(2, "recent", 90*time.Minute), at(sweep-1, "", 0)}); err != nil {
				t.Fatal(err)
			}
			if !has("old") || !has("recent") {
				t.Fatal("swept before a sweep entry")
			}
			if err := sqlstore.RecordKeys(s, []*tandem.Entry{at(sweep, "", 2*time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if has("old") || !has("recent") {
				t.Fatalf("time sweep: old %v recent %v", has("old"), has("recent"))
			}
			// Count: a sweep entry KeyWindow+ ahead drops the keys that far behind.
			far := sweep * (sqlstore.KeyWindow/sweep + 2)
			inside := far - sqlstore.KeyWindow + 1
			if err := sqlstore.RecordKeys(s, []*tandem.Entry{at(inside, "inside", 2*time.Hour), at(far, "", 2*time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if has("recent") || !has("inside") {
				t.Fatalf("count sweep: recent %v inside %v", has("recent"), has("inside"))
			}
		})
	}
}

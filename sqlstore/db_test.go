package sqlstore_test

import (
	"context"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

func TestMigrateAndRefuseNewerSchema(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s, err := sqlstore.Open(ctx, b.URL, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			head, err := s.Head(ctx)
			if err != nil || head != (tandem.Position{}) {
				t.Fatalf("head of a new store = %v, %v; want 0/0", head, err)
			}
			if _, err := s.DB().Exec(`INSERT INTO tandem_schema (name, applied_ms) VALUES ('9999_future.sql', 0)`); err != nil {
				t.Fatal(err)
			}
			s.Close()
			// Reopening twice is fine; a newer schema is refused with a clear message.
			_, err = sqlstore.Open(ctx, b.URL, sqlstore.Options{})
			if tandem.ErrorCode(err) != tandem.EINVALIDSTATE {
				t.Fatalf("open of a newer schema: err = %v; want EINVALIDSTATE", err)
			}
		})
	}
}

func TestRebindSkipsQuotedQuestionMarks(t *testing.T) {
	// rebind is internal; exercise it through a query with a literal '?'.
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s, err := sqlstore.Open(ctx, b.URL, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var got string
			if err := s.Reader().QueryRowContext(ctx, `SELECT '?' || CAST(? AS TEXT)`, "x").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != "?x" {
				t.Fatalf("got %q", got)
			}
		})
	}
}

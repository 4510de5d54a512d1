package sqlstore_test

import (
	"context"
	"strings"
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

// TestPostgresPlansEachExecution checks the session setting that keeps
// PostgreSQL from reusing a generic plan made when the tables were empty,
// and that a URL naming its own plan_cache_mode keeps it.
func TestPostgresPlansEachExecution(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		if b.Name != "postgres" {
			continue
		}
		sep := "&"
		if !strings.Contains(b.URL, "?") {
			sep = "?"
		}
		for url, want := range map[string]string{b.URL: "force_custom_plan", b.URL + sep + "plan_cache_mode=auto": "auto"} {
			s, err := sqlstore.Open(context.Background(), url, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var mode string
			if err := s.DB().QueryRow(`SHOW plan_cache_mode`).Scan(&mode); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if mode != want {
				t.Fatalf("plan_cache_mode = %q; want %q", mode, want)
			}
		}
	}
}

package sqlstore_test

import (
	"context"
	"encoding/json"
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

// TestPostgresSessionSettings checks the session settings tandem asks
// for (each execution planned with its arguments, so a generic plan made
// when the tables were empty is not reused; random reads priced as on
// SSD/cache, so a result page's child rows are read by key) and that a URL
// naming its own value keeps it.
func TestPostgresSessionSettings(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		if b.Name != "postgres" {
			continue
		}
		sep := "&"
		if !strings.Contains(b.URL, "?") {
			sep = "?"
		}
		for _, c := range []struct{ url, mode, cost string }{
			{b.URL, "force_custom_plan", "1.1"},
			{b.URL + sep + "plan_cache_mode=auto", "auto", "1.1"},
			{b.URL + sep + "random_page_cost=2.5", "force_custom_plan", "2.5"},
		} {
			s, err := sqlstore.Open(context.Background(), c.url, sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var mode, cost string
			err = s.DB().QueryRow(`SELECT current_setting('plan_cache_mode'), current_setting('random_page_cost')`).Scan(&mode, &cost)
			s.Close()
			if err != nil {
				t.Fatal(err)
			}
			if mode != c.mode || cost != c.cost {
				t.Fatalf("%s: plan_cache_mode = %q, random_page_cost = %q; want %q, %q", c.url, mode, cost, c.mode, c.cost)
			}
		}
	}
}

// TestPostgresKeyValueStatistics: PostgreSQL estimates a key/value filter
// from the pair's own frequency (extended statistics, migration 0010), not
// from the product of the two columns' frequencies. With many other keys
// in params the product is several times too small, which sent the run
// search over 100k runs to a plan 3-9 times slower.
func TestPostgresKeyValueStatistics(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		ctx := context.Background()
		s, err := sqlstore.Open(ctx, b.URL, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var n int
		if err := s.DB().QueryRow(`SELECT COUNT(*) FROM tandem_schema WHERE name = '0010_search_statistics.postgres.sql'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s: migration 0010 recorded %d times (%v); want once on every dialect", b.Name, n, err)
		}
		if b.Name != "postgres" {
			continue
		}
		for _, q := range []string{
			`INSERT INTO params SELECT md5(i::text), 'group', 'g' || (i % 10) FROM generate_series(1, 20000) i`,
			`INSERT INTO params SELECT md5(i::text), 'p' || i, (i % 7)::text FROM generate_series(1, 100000) i`,
			`ANALYZE params`,
		} {
			if _, err := s.DB().ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		var plan string
		if err := s.DB().QueryRow(`EXPLAIN (FORMAT JSON) SELECT run_id FROM params WHERE key = 'group' AND value = 'g3'`).Scan(&plan); err != nil {
			t.Fatal(err)
		}
		var doc []struct {
			Plan struct {
				Rows float64 `json:"Plan Rows"`
			} `json:"Plan"`
		}
		if err := json.Unmarshal([]byte(plan), &doc); err != nil || len(doc) != 1 {
			t.Fatalf("plan %s: %v", plan, err)
		}
		// 2,000 rows match; independent columns would estimate ~330.
		if est := doc[0].Plan.Rows; est < 1000 || est > 4000 {
			t.Fatalf("estimated %v rows for key = 'group' AND value = 'g3'; 2000 match", est)
		}
	}
}

package sqlstore

import (
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

// FuzzParseFilter checks that any filter either fails with EINVALID or
// compiles to SQL for both dialects in which every user value is a bound
// argument (the placeholder count equals the argument count), never text.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"", "metrics.acc > 0.5", "params.model = 'CNN' AND tags.team != \"blue\"",
		"metrics.`my loss` <= -1e3", "attributes.run_id IN ('a', 'b')", "run_id NOT IN ('x')",
		"params.lr IS NULL", "tags.x IS NOT NULL", "datasets.context ILIKE '%train%'",
		"attributes.start_time >= 0 and end_time < 10", "`Run name` LIKE 'a_%'",
		"name = 'it''s'", "tags.`a.b` = 'c'", "metrics.\"x y\" = 1", "status = 'FINISHED'",
		"params.p = 'x'; DROP TABLE runs", "metrics.a > 1 OR metrics.b < 2", "(metrics.a > 1)",
		"created > 5", "tags.k = '\\''", "experiment_id IN ('1','2')", "creation_time > 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		clauses, err := parseFilter(s)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("parse %q: non-EINVALID error %v", s, err)
			}
			return
		}
		if len(clauses) == 0 && strings.TrimSpace(s) != "" {
			t.Fatalf("parse %q: no clauses from a non-empty filter", s)
		}
		for _, d := range []Dialect{SQLite, Postgres} {
			for _, compile := range []func(Dialect, string) (string, []any, error){compileRunFilter, compileExperimentFilter} {
				sql, args, err := compile(d, s)
				if err != nil {
					continue
				}
				if n := strings.Count(sql, "?"); n != len(args) {
					t.Fatalf("filter %q: %d placeholders, %d args in %s", s, n, len(args), sql)
				}
				if strings.Contains(sql, ";") || strings.Contains(sql, "--") {
					t.Fatalf("filter %q leaked into SQL: %s", s, sql)
				}
			}
		}
	})
}

// FuzzParseOrderBy checks that order_by clauses never panic and compile
// with bound keys only.
func FuzzParseOrderBy(f *testing.F) {
	for _, s := range []string{"metrics.acc DESC", "params.`a b` asc", "start_time", "tags.\"x\"", "nope sideways", "metrics.a; DROP"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		joins, args, order, err := compileRunOrder([]string{s})
		if err != nil {
			return
		}
		if n := strings.Count(joins+order, "?"); n != len(args) {
			t.Fatalf("order %q: %d placeholders, %d args", s, n, len(args))
		}
		if strings.Contains(joins+order, ";") {
			t.Fatalf("order %q leaked into SQL", s)
		}
	})
}

func TestPageTokenRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 999, 50000} {
		got, err := decodePageToken(encodePageToken(n))
		if err != nil || got != n {
			t.Fatalf("token %d -> %d, %v", n, got, err)
		}
	}
}

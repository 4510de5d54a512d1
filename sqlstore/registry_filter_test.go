package sqlstore

import (
	"fmt"
	"testing"

	"github.com/tandemml/tandem"
)

func TestParseRegFilter(t *testing.T) {
	good := map[string]string{
		"":                                       "[]",
		"name = 'a'":                             "[{attribute name = [a] false}]",
		"name LIKE 'a%' and tags.`k 1` != \"v\"": "[{attribute name LIKE [a%] false} {tag k 1 != [v] false}]",
		`tags."x.y" ILIKE '%Z'`:                  "[{tag x.y ILIKE [%Z] false}]",
		"run_id IN ('a', 'b') AND version_number >= 2": "[{attribute run_id IN [a b] false} {attribute version_number >= [2] true}]",
		"run_id NOT IN ('a')":                          "[{attribute run_id NOT IN [a] false}]",
		"params.lr = '0.1'":                            "[{param lr = [0.1] false}]",
		"attributes.name = 'it''s'":                    "[{attribute name = [it's] false}]",
	}
	for in, want := range good {
		got, err := parseRegFilter(in)
		if err != nil {
			t.Errorf("parse %q: %v", in, err)
			continue
		}
		if s := fmt.Sprint(got); s != want {
			if len(got) == 0 && want == "[]" {
				continue
			}
			t.Errorf("parse %q = %s; want %s", in, s, want)
		}
	}
	for _, in := range []string{
		"name", "name =", "name = 'a' OR name = 'b'", "name ~ 'a'", "bogus.x = 'a'", "name = 'a",
		"name IN 'a'", "name = ('a')", "name = 'a' AND", "tags. = 'a'", "name ! 'a'", "(name = 'a')",
	} {
		if _, err := parseRegFilter(in); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("parse %q: err = %v; want EINVALID", in, err)
		}
	}
}

func TestRegLikeToGlob(t *testing.T) {
	for in, want := range map[string]string{"a%": "a*", "_b": "?b", "a*b?[c": "a[*]b[?][[]c"} {
		if got := regLikeToGlob(in); got != want {
			t.Errorf("regLikeToGlob(%q) = %q; want %q", in, got, want)
		}
	}
}

// FuzzRegFilter: the parser never panics, and what it accepts has at least
// one value per condition and a known operator.
func FuzzRegFilter(f *testing.F) {
	for _, s := range []string{"name = 'a'", "name LIKE 'a%' AND tags.k = 'v'", "tags.`a b` != \"c\"",
		"run_id IN ('x','y')", "version_number > -1", "name = 'it''s'", "params.p ILIKE '%'", "a NOT IN ('b')", "(", "'", "`"} {
		f.Add(s)
	}
	ops := map[string]bool{"=": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true, "LIKE": true, "ILIKE": true, "IN": true, "NOT IN": true}
	f.Fuzz(func(t *testing.T, s string) {
		conds, err := parseRegFilter(s)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("parse %q: non-EINVALID error %v", s, err)
			}
			return
		}
		for _, c := range conds {
			if !ops[c.Op] || c.Key == "" || (len(c.Values) == 0 && c.Op != "IN" && c.Op != "NOT IN") {
				t.Fatalf("parse %q: bad condition %+v", s, c)
			}
		}
	})
}

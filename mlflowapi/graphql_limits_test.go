package mlflowapi

import (
	"fmt"
	"strings"
	"testing"
)

func TestGraphQLBounds(t *testing.T) {
	b := graphqlBounds{rootFields: 10, aliases: 10}
	roots := func(n int) string {
		var q strings.Builder
		q.WriteString("query {")
		for i := range n {
			fmt.Fprintf(&q, " r%d: mlflowGetExperiment(input: {experimentId: \"0\"}) { experiment { name } }", i)
		}
		q.WriteString(" }")
		return q.String()
	}
	nested := func(depth int) string {
		return strings.Repeat("a { ", depth-1) + "b" + strings.Repeat(" }", depth-1)
	}
	for _, c := range []struct{ name, query, want string }{
		{"ten root fields", roots(10), ""},
		{"eleven root fields", roots(11), "GraphQL queries should have at most 10 root fields, got 11 root fields. To increase the limit, set the MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS environment variable."},
		{"aliases on one level", "{ x { " + strings.Repeat("f: a ", 0) + aliased(11) + " } }", "GraphQL queries should have at most 10 aliases, got 11 aliases."},
		{"aliases split over sibling fragments", "{ x { ...A ...B } } fragment A on T { " + aliased(6) + " } fragment B on T { " + aliasedFrom(6, 6) + " }", "got 12 aliases"},
		{"inline fragments count on their level", "{ x { ... on T { " + aliased(6) + " } ... on U { " + aliasedFrom(6, 5) + " } } }", "got 11 aliases"},
		{"aliases on different levels do not add up", "{ x { " + aliased(6) + " y { " + aliased(6) + " } } }", ""},
		{"depth ten", "{ " + nested(10) + " }", ""},
		{"depth eleven", "{ " + nested(11) + " }", "Query exceeds maximum depth of 10"},
		{"a fragment that spreads itself ends at the depth limit", "{ ...A } fragment A on Q { a { ...A } }", "Query exceeds maximum depth of 10"},
		{"fragments that expand exponentially end at the selection limit", "{ ...F0 } " + expanding(9), "Query exceeds maximum total selections of 1000"},
		{"not GraphQL", "{ a(", "Expected"},
	} {
		got := b.check(c.query)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: check = %q, want %q", c.name, got, c.want)
		}
	}
	// The environment raises the limits, as MLflow's does.
	t.Setenv(envGraphQLMaxRootFields, "20")
	t.Setenv(envGraphQLMaxAliases, "nonsense")
	if b := graphqlBoundsFromEnv(); b.rootFields != 20 || b.aliases != 10 || b.check("{ "+strings.Repeat("a ", 11)+"}") != "" || b.check(roots(11)) == "" {
		t.Fatalf("bounds from the environment: %+v", b)
	}
}

func aliased(n int) string { return aliasedFrom(0, n) }

func aliasedFrom(start, n int) string {
	var s strings.Builder
	for i := start; i < start+n; i++ {
		fmt.Fprintf(&s, "a%d: name ", i)
	}
	return s.String()
}

// expanding is fragments F0..Fn where each spreads the next twice under
// two fields, so F0 expands to about 4^n fields.
func expanding(n int) string {
	var s strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&s, "fragment F%d on Q { a { ...F%d } b { ...F%d } } ", i, i+1, i+1)
	}
	fmt.Fprintf(&s, "fragment F%d on Q { leaf } ", n)
	return s.String()
}

func FuzzGraphQLBounds(f *testing.F) {
	for _, q := range []string{"{ a }", "{ x { ...A } } fragment A on T { a: b ...A }", "query Q($v: Int) { a(x: $v) @skip(if: true) { b } }", "{ " + strings.Repeat("a { ", 20), "mutation { m }"} {
		f.Add(q)
	}
	b := graphqlBounds{rootFields: 10, aliases: 10}
	f.Fuzz(func(t *testing.T, q string) {
		b.check(q) // must return, without panicking, on any input
	})
}

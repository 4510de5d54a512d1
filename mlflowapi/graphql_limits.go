package mlflowapi

import (
	"fmt"
	"os"
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// What a GraphQL query may ask for, as MLflow's server bounds it: at most
// graphqlMaxDepth levels and graphqlMaxSelections fields once fragments
// are expanded, and, by default, 10 root fields (each one a read of the
// store) and 10 aliases on one level; MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS
// and MLFLOW_SERVER_GRAPHQL_MAX_ALIASES raise the last two, as they do for
// MLflow.
const (
	graphqlMaxSelections     = 1000
	graphqlDefaultRootFields = 10
	graphqlDefaultAliases    = 10
	envGraphQLMaxRootFields  = "MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS"
	envGraphQLMaxAliases     = "MLFLOW_SERVER_GRAPHQL_MAX_ALIASES"
)

// graphqlBounds are the root field and alias limits of one server.
type graphqlBounds struct{ rootFields, aliases int }

func graphqlBoundsFromEnv() graphqlBounds {
	b := graphqlBounds{rootFields: graphqlDefaultRootFields, aliases: graphqlDefaultAliases}
	if n, err := strconv.Atoi(os.Getenv(envGraphQLMaxRootFields)); err == nil && n > 0 {
		b.rootFields = n
	}
	if n, err := strconv.Atoi(os.Getenv(envGraphQLMaxAliases)); err == nil && n > 0 {
		b.aliases = n
	}
	return b
}

// check scans query before it runs and returns why it is refused, or "".
// Fields of inline fragments and fragment spreads count on the level
// they are spread into (aliases split over sibling fragments add up); a
// fragment is expanded once per level, and the depth and selection
// limits end a fragment that spreads itself.
func (b graphqlBounds) check(query string) string {
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		return err.Error()
	}
	type level struct {
		set   ast.SelectionSet
		depth int
	}
	roots, selections := 0, 0
	maxAliases := 0
	for _, op := range doc.Operations {
		stack := []level{{set: op.SelectionSet, depth: 1}}
		for len(stack) > 0 {
			l := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if l.depth > graphqlMaxDepth {
				return fmt.Sprintf("Query exceeds maximum depth of %d", graphqlMaxDepth)
			}
			fields, aliases := collectFields(l.set, doc.Fragments)
			maxAliases = max(maxAliases, aliases)
			for _, f := range fields {
				if l.depth == 1 {
					roots++
				}
				selections++
				if selections > graphqlMaxSelections {
					return fmt.Sprintf("Query exceeds maximum total selections of %d", graphqlMaxSelections)
				}
				if len(f.SelectionSet) > 0 {
					stack = append(stack, level{set: f.SelectionSet, depth: l.depth + 1})
				}
			}
		}
	}
	switch {
	case roots > b.rootFields:
		return limitMessage(b.rootFields, roots, "root fields", envGraphQLMaxRootFields)
	case maxAliases > b.aliases:
		return limitMessage(b.aliases, maxAliases, "aliases", envGraphQLMaxAliases)
	}
	return ""
}

func limitMessage(limit, got int, what, env string) string {
	return fmt.Sprintf("GraphQL queries should have at most %d %s, got %d %s. To increase the limit, set the %s environment variable.", limit, what, got, what, env)
}

// collectFields returns the fields of one level, with those of its inline
// fragments and fragment spreads (each fragment once), and how many of
// them are aliased.
func collectFields(set ast.SelectionSet, frags ast.FragmentDefinitionList) ([]*ast.Field, int) {
	var out []*ast.Field
	aliases := 0
	seen := map[string]bool{}
	queue := append(ast.SelectionSet(nil), set...)
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		switch x := s.(type) {
		case *ast.Field:
			out = append(out, x)
			if x.Alias != "" && x.Alias != x.Name {
				aliases++
			}
		case *ast.InlineFragment:
			queue = append(queue, x.SelectionSet...)
		case *ast.FragmentSpread:
			if seen[x.Name] {
				continue
			}
			seen[x.Name] = true
			if d := frags.ForName(x.Name); d != nil {
				queue = append(queue, d.SelectionSet...)
			}
		}
	}
	return out, aliases
}

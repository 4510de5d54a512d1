package tracemetrics

import (
	"strings"
	"unicode"
)

// The filter grammar of QueryTraceMetrics, one clause per filter string:
//
//	filter := ident "=" value
//	ident  := "trace" "." ( "status" | ("tag" | "metadata") "." key )
//	        | "span" "." ( "name" | "status" | "type" )
//	        | "assessment" "." ( "name" | "type" )
//	key    := anything up to the comparator; `backticks` or quotes are removed
//	value  := 'string' | "string"

// entities lists, per view, each entity and whether it needs a key, in
// MLflow's order.
var filterEntities = []struct {
	view     string
	entities []string
	keyed    map[string]bool
}{
	{"trace", []string{"status", "tag", "metadata"}, map[string]bool{"tag": true, "metadata": true}},
	{"span", []string{"name", "status", "type"}, nil},
	{"assessment", []string{"name", "type"}, nil},
}

// ParseFilter parses one filter clause, with MLflow's messages (EINVALID).
func ParseFilter(s string) (Filter, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return Filter{}, invalid("Invalid filter: '%s'. Expected one filter clause.", s)
	}
	ident, rest, err := scanIdent(in)
	if err != nil {
		return Filter{}, err
	}
	rest = strings.TrimLeft(rest, " \t\r\n")
	op := ""
	for _, c := range []string{"!=", "<=", ">=", "=", "<", ">"} {
		if strings.HasPrefix(rest, c) {
			op = c
			break
		}
	}
	if op == "" {
		word := rest
		if i := strings.IndexFunc(rest, unicode.IsSpace); i >= 0 {
			word = rest[:i]
		}
		switch up := strings.ToUpper(word); up {
		case "LIKE", "ILIKE", "IN", "IS":
			op = up
		default:
			return Filter{}, invalid("Invalid filter: '%s'. Expected one filter clause.", s)
		}
		rest = rest[len(word):]
	} else {
		rest = rest[len(op):]
	}
	f, err := identFields(ident)
	if err != nil {
		return Filter{}, err
	}
	if op != "=" {
		return Filter{}, invalid("Invalid comparator: '%s', only '=' operator is supported", op)
	}
	value, tail, err := scanValue(strings.TrimLeft(rest, " \t\r\n"), f.Entity)
	if err != nil {
		return Filter{}, err
	}
	if tail = strings.TrimSpace(tail); tail != "" {
		word := tail
		if i := strings.IndexFunc(tail, unicode.IsSpace); i >= 0 {
			word = tail[:i]
		}
		return Filter{}, invalid("Invalid clause(s) in filter string: %s", word)
	}
	f.Value = value
	return f, nil
}

// scanIdent reads the identifier at the start of s (quoted parts may hold
// anything) and returns it and what follows.
func scanIdent(s string) (string, string, error) {
	var b strings.Builder
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '`' || c == '"' || c == '\'' {
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return "", "", invalid("Invalid filter: '%s'. Expected one filter clause.", s)
			}
			b.WriteString(s[i : i+j+2])
			i += j + 2
			continue
		}
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '=' || c == '!' || c == '<' || c == '>' {
			break
		}
		b.WriteByte(c)
		i++
	}
	if b.Len() == 0 {
		return "", "", invalid("Invalid filter: '%s'. Expected one filter clause.", s)
	}
	return b.String(), s[i:], nil
}

// identFields checks an identifier against the views and their entities.
func identFields(ident string) (Filter, error) {
	parts := splitIdent(ident, 3)
	if len(parts) < 2 {
		return Filter{}, invalid("Invalid identifier '%s'. Columns should be specified as 'trace.<key>', 'span.<key>', 'assessment.<key>'.", ident)
	}
	view := strings.Trim(parts[0], "`")
	idx := -1
	for i, v := range filterEntities {
		if v.view == view {
			idx = i
		}
	}
	if idx < 0 {
		return Filter{}, invalid("Invalid view type '%s'. Valid values are dict_keys(['trace', 'span', 'assessment'])", view)
	}
	fe := filterEntities[idx]
	entity := parts[1]
	known := false
	for _, e := range fe.entities {
		known = known || e == entity
	}
	if !known {
		return Filter{}, invalid("Invalid entity '%s' specified for view type '%s'. Valid entities are %s", entity, view, pyList(fe.entities))
	}
	f := Filter{View: view, Entity: entity}
	switch {
	case fe.keyed[entity] && len(parts) < 3:
		return Filter{}, invalid("Filtering by %s requires a key, e.g. '%s.%s.<key> = <value>'", entity, view, entity)
	case !fe.keyed[entity] && len(parts) == 3:
		return Filter{}, invalid("Filtering by %s does not require a key, use '%s.%s' instead", entity, view, entity)
	case len(parts) == 3:
		k := parts[2]
		if len(k) >= 2 && (k[0] == '"' || k[0] == '\'') && k[len(k)-1] == k[0] {
			k = k[1 : len(k)-1]
		}
		f.Key = strings.Trim(k, "`")
	}
	return f, nil
}

// splitIdent splits on dots outside quotes, into at most n parts.
func splitIdent(s string, n int) []string {
	var parts []string
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '`' || c == '"' || c == '\'':
			quote = c
		case c == '.' && len(parts) < n-1:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// scanValue reads a quoted string value.
func scanValue(s, entity string) (string, string, error) {
	if s == "" || (s[0] != '\'' && s[0] != '"') {
		word := s
		if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
			word = s[:i]
		}
		return "", "", invalid("Expected a quoted string value for %s value (e.g. 'my-value'). Got value %s", entity, word)
	}
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] == q {
			if i+1 < len(s) && s[i+1] == q { // a doubled quote stands for itself
				b.WriteByte(q)
				i++
				continue
			}
			return b.String(), s[i+1:], nil
		}
		b.WriteByte(s[i])
	}
	return "", "", invalid("Expected a quoted string value for %s value (e.g. 'my-value'). Got value %s", entity, s)
}

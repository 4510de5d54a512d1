package sqlstore

import (
	"strings"
	"unicode"

	"github.com/tandemml/tandem"
)

// The registry's search filters (registered models, model versions, logged
// models) follow MLflow's grammar:
//
//	filter     := condition ( AND condition )*
//	condition  := identifier operator value
//	identifier := [entity "."] key        entity: tags, params, metrics, attributes, attribute, attr
//	key        := word | `backticked` | "double quoted"
//	operator   := = != < <= > >= LIKE ILIKE IN | NOT IN
//	value      := 'string' | "string" | number | ( 'a', 'b', ... )
//
// Each search decides which identifiers and operators it allows.

// regCond is one parsed condition of a registry filter.
type regCond struct {
	Entity string // "attribute", "tag", "param", "metric"
	Key    string
	Op     string // upper case
	Values []string
	Number bool // the value was a number literal
}

const maxRegFilterLen = 10000

// parseRegFilter parses a filter string. An empty filter has no
// conditions. Errors are EINVALID with MLflow-like messages.
func parseRegFilter(filter string) ([]regCond, error) {
	if len(filter) > maxRegFilterLen {
		return nil, tandem.Errorf(tandem.EINVALID, "Invalid filter string: longer than %d characters", maxRegFilterLen)
	}
	toks, err := regLex(filter)
	if err != nil {
		return nil, err
	}
	var out []regCond
	i := 0
	bad := func(msg string) error {
		return tandem.Errorf(tandem.EINVALID, "Invalid filter '%s': %s", filter, msg)
	}
	for i < len(toks) {
		if len(out) > 0 {
			if toks[i].kind != regWord || !strings.EqualFold(toks[i].text, "AND") {
				return nil, bad("expected AND between conditions")
			}
			i++
			if i >= len(toks) {
				return nil, bad("expected a condition after AND")
			}
		}
		// identifier
		if toks[i].kind != regWord && toks[i].kind != regQuotedIdent {
			return nil, bad("expected an identifier, got '" + toks[i].text + "'")
		}
		var c regCond
		ident := toks[i]
		i++
		c.Entity, c.Key = "attribute", ident.text
		if ident.kind == regWord {
			if dot := strings.IndexByte(ident.text, '.'); dot >= 0 {
				ent, rest := ident.text[:dot], ident.text[dot+1:]
				e, ok := regEntity(ent)
				if !ok {
					return nil, bad("invalid entity type '" + ent + "'")
				}
				c.Entity = e
				if rest == "" {
					// tags.`key with spaces` or tags."key"
					if i < len(toks) && toks[i].kind == regQuotedIdent {
						rest = toks[i].text
						i++
					} else {
						return nil, bad("expected a key after '" + ent + ".'")
					}
				}
				c.Key = rest
			}
		}
		if c.Key == "" {
			return nil, bad("empty identifier")
		}
		// operator
		if i >= len(toks) {
			return nil, bad("expected an operator after '" + c.Key + "'")
		}
		op := toks[i]
		i++
		switch {
		case op.kind == regOp:
			c.Op = op.text
		case op.kind == regWord && strings.EqualFold(op.text, "NOT"):
			if i < len(toks) && toks[i].kind == regWord && strings.EqualFold(toks[i].text, "IN") {
				c.Op = "NOT IN"
				i++
			} else {
				return nil, bad("expected IN after NOT")
			}
		case op.kind == regWord && (strings.EqualFold(op.text, "LIKE") || strings.EqualFold(op.text, "ILIKE") || strings.EqualFold(op.text, "IN")):
			c.Op = strings.ToUpper(op.text)
		default:
			return nil, bad("invalid operator '" + op.text + "'")
		}
		// value
		if i >= len(toks) {
			return nil, bad("expected a value after '" + c.Op + "'")
		}
		v := toks[i]
		i++
		switch v.kind {
		case regString:
			c.Values = []string{v.text}
		case regNumber:
			c.Values, c.Number = []string{v.text}, true
		case regList:
			c.Values = v.list
		default:
			return nil, bad("expected a value, got '" + v.text + "'")
		}
		if (c.Op == "IN" || c.Op == "NOT IN") != (v.kind == regList) {
			return nil, bad("'" + c.Op + "' needs a value of the right shape (a parenthesised list only with IN / NOT IN)")
		}
		out = append(out, c)
	}
	return out, nil
}

func regEntity(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "tags", "tag":
		return "tag", true
	case "params", "param", "parameters", "parameter":
		return "param", true
	case "metrics", "metric":
		return "metric", true
	case "attributes", "attribute", "attr":
		return "attribute", true
	}
	return "", false
}

type regTokKind int

const (
	regWord regTokKind = iota
	regQuotedIdent
	regString
	regNumber
	regOp
	regList
)

type regTok struct {
	kind regTokKind
	text string
	list []string
}

func regLex(s string) ([]regTok, error) {
	var toks []regTok
	bad := func(msg string) error {
		return tandem.Errorf(tandem.EINVALID, "Invalid filter '%s': %s", s, msg)
	}
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"':
			str, n, ok := regQuoted(s[i:], c)
			if !ok {
				return nil, bad("unterminated string")
			}
			kind := regString
			// "key" right after "tags." is an identifier, as MLflow allows.
			if c == '"' && len(toks) > 0 && toks[len(toks)-1].kind == regWord && strings.HasSuffix(toks[len(toks)-1].text, ".") {
				kind = regQuotedIdent
			}
			toks = append(toks, regTok{kind: kind, text: str})
			i += n
		case c == '`':
			end := strings.IndexByte(s[i+1:], '`')
			if end < 0 {
				return nil, bad("unterminated backtick")
			}
			toks = append(toks, regTok{kind: regQuotedIdent, text: s[i+1 : i+1+end]})
			i += end + 2
		case c == '(':
			var list []string
			j := i + 1
			for {
				for j < len(s) && s[j] == ' ' {
					j++
				}
				if j >= len(s) {
					return nil, bad("unterminated list")
				}
				if s[j] != '\'' && s[j] != '"' {
					return nil, bad("list values must be quoted strings")
				}
				str, n, ok := regQuoted(s[j:], s[j])
				if !ok {
					return nil, bad("unterminated string in list")
				}
				list = append(list, str)
				j += n
				for j < len(s) && s[j] == ' ' {
					j++
				}
				if j < len(s) && s[j] == ',' {
					j++
					continue
				}
				if j < len(s) && s[j] == ')' {
					j++
					break
				}
				return nil, bad("expected ',' or ')' in list")
			}
			toks = append(toks, regTok{kind: regList, list: list, text: s[i:j]})
			i = j
		case c == '=' || c == '!' || c == '<' || c == '>':
			if i+1 < len(s) && s[i+1] == '=' && c != '=' {
				toks = append(toks, regTok{kind: regOp, text: s[i : i+2]})
				i += 2
			} else if c == '!' {
				return nil, bad("invalid operator '!'")
			} else {
				toks = append(toks, regTok{kind: regOp, text: s[i : i+1]})
				i++
			}
		case c == '-' || c == '+' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' || s[j] == '-' || s[j] == '+') {
				j++
			}
			toks = append(toks, regTok{kind: regNumber, text: s[i:j]})
			i = j
		case c == '_' || c < 0x80 && unicode.IsLetter(rune(c)):
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] == '.' || s[j] == '-' || s[j] < 0x80 && (unicode.IsLetter(rune(s[j])) || unicode.IsDigit(rune(s[j])))) {
				j++
			}
			toks = append(toks, regTok{kind: regWord, text: s[i:j]})
			i = j
		default:
			return nil, bad("unexpected character '" + string(c) + "'")
		}
	}
	return toks, nil
}

// regQuoted reads a quoted string starting at s[0] == q, where a doubled
// quote or a backslash escapes the quote. It returns the unquoted text and
// the number of bytes read.
func regQuoted(s string, q byte) (string, int, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == q:
			b.WriteByte(q)
			i++
		case s[i] == q && i+1 < len(s) && s[i+1] == q:
			b.WriteByte(q)
			i++
		case s[i] == q:
			return b.String(), i + 1, true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, false
}

// regLikeSQL returns the SQL of "col LIKE ?" with MLflow's semantics: LIKE
// is case-sensitive and ILIKE is not, on both databases. On SQLite, whose
// LIKE ignores ASCII case, a case-sensitive LIKE is LIKE plus an exact
// match of the pattern translated to GLOB.
func regLikeSQL(d Dialect, col, op string, pattern string) (string, []any) {
	if op == "ILIKE" {
		return "LOWER(" + col + ") LIKE LOWER(?)", []any{pattern}
	}
	if d == Postgres {
		return col + " LIKE ?", []any{pattern}
	}
	return col + " GLOB ?", []any{regLikeToGlob(pattern)}
}

// regLikeToGlob turns a LIKE pattern (% and _) into a GLOB pattern, escaping
// GLOB's own metacharacters with brackets.
func regLikeToGlob(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch r {
		case '%':
			b.WriteByte('*')
		case '_':
			b.WriteByte('?')
		case '*', '?', '[':
			b.WriteByte('[')
			b.WriteRune(r)
			b.WriteByte(']')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

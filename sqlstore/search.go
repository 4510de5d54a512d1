package sqlstore

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode"

	"github.com/tandemml/tandem"
)

// This file parses MLflow's search filter grammar, shared by runs and
// experiments:
//
//	filter     := "" | comparison { AND comparison }
//	comparison := ident op value | ident IS [NOT] NULL | ident [NOT] IN ( value {, value} )
//	ident      := [type "."] key        type: metric(s) param(s) parameter(s) tag(s)
//	                                     attribute(s) attr run dataset(s)
//	key        := word | `quoted` | "quoted"
//	op         := = != < <= > >= LIKE ILIKE
//	value      := 'string' | "string" | number
//
// An identifier without a type is an attribute. The parser only builds the
// clause list; what is valid for runs and experiments is checked by the
// compilers in search_runs.go and search_experiments.go.

// Entity types of an identifier, named as MLflow names them.
const (
	entMetric    = "metric"
	entParam     = "parameter"
	entTag       = "tag"
	entAttribute = "attribute"
	entDataset   = "dataset"
)

var entityAliases = map[string]string{
	"metric": entMetric, "metrics": entMetric,
	"param": entParam, "params": entParam, "parameter": entParam, "parameters": entParam,
	"tag": entTag, "tags": entTag,
	"attribute": entAttribute, "attributes": entAttribute, "attr": entAttribute, "run": entAttribute,
	"dataset": entDataset, "datasets": entDataset,
}

// clause is one comparison of a filter.
type clause struct {
	Type   string   // entMetric, ...
	Key    string   // metric name, tag key, attribute name
	Op     string   // "=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"
	Str    string   // string value
	Num    float64  // numeric value
	IsNum  bool     // the value was a number literal
	List   []string // values of IN / NOT IN
	quoted bool     // the value was a quoted string
}

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tQuotedIdent // `...`
	tDQ          // "..."
	tSQ          // '...'
	tNum
	tOp
	tLParen
	tRParen
	tComma
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func invalidFilter(format string, args ...any) error {
	return tandem.Errorf(tandem.EINVALID, format, args...)
}

// lex splits a filter or order_by string into tokens.
func lex(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, token{tLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")", i})
			i++
		case c == ',':
			out = append(out, token{tComma, ",", i})
			i++
		case c == '=' || c == '<' || c == '>' || c == '!':
			j := i + 1
			if j < len(s) && (s[j] == '=' || (c == '<' && s[j] == '>')) {
				j++
			}
			op := s[i:j]
			if op == "!" || op == "<>" {
				return nil, invalidFilter("Invalid comparator '%s' in search expression", op)
			}
			out = append(out, token{tOp, op, i})
			i = j
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			var b strings.Builder
			closed := false
			for j < len(s) {
				if s[j] == '\\' && j+1 < len(s) && c != '`' {
					b.WriteByte(s[j+1])
					j += 2
					continue
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c { // doubled quote
						b.WriteByte(c)
						j += 2
						continue
					}
					closed = true
					j++
					break
				}
				b.WriteByte(s[j])
				j++
			}
			if !closed {
				return nil, invalidFilter("Invalid filter: unterminated quoted string starting at position %d", i)
			}
			k := map[byte]tokKind{'\'': tSQ, '"': tDQ, '`': tQuotedIdent}[c]
			out = append(out, token{k, b.String(), i})
			i = j
		case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
			j := i
			if c == '-' || c == '+' {
				j++
			}
			start := j
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' ||
				((s[j] == '-' || s[j] == '+') && j > start && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			if j < len(s) && isWordByte(s[j]) && c != '-' && c != '+' {
				// a word that starts with a digit, such as a key "1abc"
				for j < len(s) && isWordByte(s[j]) {
					j++
				}
				out = append(out, token{tWord, s[i:j], i})
				i = j
				continue
			}
			// Out of range is ±Inf or 0, as Python's float() reads it.
			if _, err := strconv.ParseFloat(s[i:j], 64); err != nil && !errors.Is(err, strconv.ErrRange) || j == start {
				return nil, invalidFilter("Invalid number '%s' in search expression", s[i:j])
			}
			out = append(out, token{tNum, s[i:j], i})
			i = j
		case isWordByte(c) || c >= 0x80:
			j := i
			for j < len(s) && (isWordByte(s[j]) || s[j] >= 0x80) {
				j++
			}
			w := s[i:j]
			for _, r := range w {
				if r >= 0x80 && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
					return nil, invalidFilter("Invalid character in search expression: %q", w)
				}
			}
			out = append(out, token{tWord, w, i})
			i = j
		default:
			return nil, invalidFilter("Invalid character '%c' in search expression at position %d", c, i)
		}
	}
	return append(out, token{tEOF, "", len(s)}), nil
}

func isWordByte(c byte) bool {
	return c == '_' || c == '.' || c == ':' || c == '/' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token { t := p.toks[p.i]; p.i++; return t }
func (p *parser) keyword(w string) bool {
	t := p.peek()
	if t.kind == tWord && strings.EqualFold(t.text, w) {
		p.i++
		return true
	}
	return false
}

// parseFilter parses a filter string into its AND-ed clauses.
func parseFilter(s string) ([]clause, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	var out []clause
	for {
		c, err := p.comparison()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		if p.peek().kind == tEOF {
			return out, nil
		}
		if !p.keyword("AND") {
			t := p.peek()
			if t.kind == tWord && strings.EqualFold(t.text, "OR") {
				return nil, invalidFilter("Invalid clause(s) in filter string: OR is not supported; only AND")
			}
			return nil, invalidFilter("Invalid filter '%s': expected AND at position %d", s, t.pos)
		}
	}
}

// identifier reads "type.key", "type.`key`", "key" or "`key`".
func (p *parser) identifier() (typ, key string, err error) {
	t := p.next()
	switch t.kind {
	case tQuotedIdent, tDQ:
		return entAttribute, t.text, nil
	case tWord:
	default:
		return "", "", invalidFilter("Invalid identifier at position %d: expected a key such as metrics.acc", t.pos)
	}
	dot := strings.IndexByte(t.text, '.')
	if dot < 0 {
		return entAttribute, t.text, nil
	}
	prefix, rest := t.text[:dot], t.text[dot+1:]
	typ, ok := entityAliases[strings.ToLower(prefix)]
	if !ok {
		return "", "", invalidFilter("Invalid entity type '%s'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']", prefix)
	}
	if rest == "" {
		q := p.next()
		if q.kind != tQuotedIdent && q.kind != tDQ {
			return "", "", invalidFilter("Invalid identifier '%s': the key is missing", t.text)
		}
		return typ, q.text, nil
	}
	return typ, rest, nil
}

func (p *parser) comparison() (clause, error) {
	typ, key, err := p.identifier()
	if err != nil {
		return clause{}, err
	}
	if key == "" {
		return clause{}, invalidFilter("Invalid identifier: empty key")
	}
	c := clause{Type: typ, Key: key}
	t := p.next()
	switch {
	case t.kind == tOp:
		c.Op = t.text
	case t.kind == tWord && (strings.EqualFold(t.text, "LIKE") || strings.EqualFold(t.text, "ILIKE")):
		c.Op = strings.ToUpper(t.text)
	case t.kind == tWord && strings.EqualFold(t.text, "IS"):
		if p.keyword("NOT") {
			c.Op = "IS NOT NULL"
		} else {
			c.Op = "IS NULL"
		}
		if !p.keyword("NULL") {
			return c, invalidFilter("Invalid filter: expected NULL after IS")
		}
		return c, nil
	case t.kind == tWord && strings.EqualFold(t.text, "IN"):
		c.Op = "IN"
	case t.kind == tWord && strings.EqualFold(t.text, "NOT"):
		if !p.keyword("IN") {
			return c, invalidFilter("Invalid filter: expected IN after NOT")
		}
		c.Op = "NOT IN"
	default:
		return c, invalidFilter("Invalid comparison clause for key '%s': expected a comparator at position %d", key, t.pos)
	}
	if c.Op == "IN" || c.Op == "NOT IN" {
		if p.next().kind != tLParen {
			return c, invalidFilter("While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list.")
		}
		for {
			v := p.next()
			if v.kind != tSQ && v.kind != tDQ {
				return c, invalidFilter("While parsing a list in the query, expected string value, punctuation, or whitespace, but got different type in list: %s", v.text)
			}
			c.List = append(c.List, v.text)
			sep := p.next()
			if sep.kind == tRParen {
				break
			}
			if sep.kind != tComma {
				return c, invalidFilter("While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list.")
			}
		}
		return c, nil
	}
	v := p.next()
	switch v.kind {
	case tSQ, tDQ:
		c.Str, c.quoted = v.text, true
	case tNum:
		f, _ := strconv.ParseFloat(v.text, 64)
		c.Str, c.Num, c.IsNum = v.text, f, true
	default:
		return c, invalidFilter("Invalid value at position %d for key '%s': expected a quoted string or a number", v.pos, key)
	}
	return c, nil
}

// orderKey is one parsed order_by clause.
type orderKey struct {
	Type string
	Key  string
	Asc  bool
}

// parseOrderBy parses "type.key [ASC|DESC]".
func parseOrderBy(s string) (orderKey, error) {
	toks, err := lex(s)
	if err != nil {
		return orderKey{}, invalidFilter("Invalid order_by clause '%s'. Could not be parsed.", s)
	}
	p := &parser{toks: toks}
	typ, key, err := p.identifier()
	if err != nil || key == "" {
		return orderKey{}, invalidFilter("Invalid order_by clause '%s'. Could not be parsed.", s)
	}
	o := orderKey{Type: typ, Key: key, Asc: true}
	if p.keyword("DESC") {
		o.Asc = false
	} else if p.keyword("ASC") {
	}
	if p.peek().kind != tEOF {
		return o, invalidFilter("Invalid order_by clause '%s'. Could not be parsed.", s)
	}
	return o, nil
}

// likeToGlob turns a SQL LIKE pattern into an SQLite GLOB pattern, which is
// case-sensitive like MLflow's LIKE (MLflow sets case_sensitive_like).
func likeToGlob(p string) string {
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

// strCompare writes "col OP ?" for a string comparison in the dialect and
// appends its arguments.
func strCompare(d Dialect, col string, c clause, args *[]any) string {
	switch c.Op {
	case "LIKE":
		if d == SQLite {
			*args = append(*args, likeToGlob(c.Str))
			return col + " GLOB ?"
		}
		*args = append(*args, c.Str)
		return col + " LIKE ?"
	case "ILIKE":
		*args = append(*args, c.Str)
		if d == SQLite {
			return "LOWER(" + col + ") LIKE LOWER(?)"
		}
		return col + " ILIKE ?"
	case "IN", "NOT IN":
		ph := make([]string, len(c.List))
		for i, v := range c.List {
			ph[i] = "?"
			*args = append(*args, v)
		}
		return col + " " + c.Op + " (" + strings.Join(ph, ", ") + ")"
	default: // = and !=
		*args = append(*args, c.Str)
		return col + " " + c.Op + " ?"
	}
}

// pageToken is the opaque page token of searches: base64 of JSON.
type pageToken struct {
	Offset int `json:"offset"`
}

func encodePageToken(offset int) string {
	b, _ := json.Marshal(pageToken{Offset: offset})
	return base64.StdEncoding.EncodeToString(b)
}

// decodePageToken reads a token made by encodePageToken; anything else is
// EINVALID.
func decodePageToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return 0, tandem.Errorf(tandem.EINVALID, "Invalid page token, could not base64-decode")
	}
	var pt map[string]any
	if err := json.Unmarshal(raw, &pt); err != nil {
		return 0, tandem.Errorf(tandem.EINVALID, "Invalid page token, decoded value=%s", raw)
	}
	off, ok := pt["offset"].(float64)
	if !ok {
		return 0, tandem.Errorf(tandem.EINVALID, "Invalid page token, parsed value=%s", raw)
	}
	if off < 0 || off != float64(int(off)) || off > 1e9 {
		return 0, tandem.Errorf(tandem.EINVALID, "Invalid page token, offset must be a non-negative integer: %v", off)
	}
	return int(off), nil
}

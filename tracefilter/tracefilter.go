// Package tracefilter parses MLflow's search_traces filter and order_by
// grammar into clauses a store compiles to its own query language:
//
//	filter     := "" | comparison { AND comparison }
//	comparison := ident op value | ident IS [NOT] NULL | ident [NOT] IN ( 'v' {, 'v'} )
//	ident      := [entity "."] key        entity: trace attribute(s) tag(s) metadata
//	                                       request_metadata span feedback expectation
//	key        := word | `quoted` | "quoted"
//	op         := = != < <= > >= LIKE ILIKE
//	value      := 'string' | "string" | number
//
// An identifier without an entity is an attribute. The checks of what each
// entity allows follow MLflow's SearchTraceUtils; errors are EINVALID.
package tracefilter

import (
	"errors"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
)

// Entities, as MLflow names them.
const (
	Attribute   = "attribute"
	Tag         = "tag"
	Metadata    = "request_metadata"
	Span        = "span"
	Feedback    = "feedback"
	Expectation = "expectation"
)

var entities = map[string]string{
	"attribute": Attribute, "attributes": Attribute, "trace": Attribute,
	"tag": Tag, "tags": Tag,
	"metadata": Metadata, "request_metadata": Metadata,
	"span": Span, "feedback": Feedback, "expectation": Expectation,
}

// Attribute keys after MLflow's aliasing (timestamp -> timestamp_ms, ...).
var attributeAliases = map[string]string{
	"request_id": "request_id", "trace_id": "request_id",
	"timestamp": "timestamp_ms", "timestamp_ms": "timestamp_ms",
	"execution_time": "execution_time_ms", "execution_time_ms": "execution_time_ms",
	"end_time": "end_time_ms", "end_time_ms": "end_time_ms",
	"status": "status", "client_request_id": "client_request_id",
	"name": "name", "run_id": "run_id", "text": "text", "experiment_id": "experiment_id",
	"prompt": "prompt",
}

// orderOnly are the attribute keys an order_by may name but a filter may
// not, as MLflow has them.
var orderOnly = map[string]bool{"experiment_id": true}

// LinkedPrompts is the tag key that the attribute prompt stands for: a
// filter on it matches the prompt versions linked to a trace.
const LinkedPrompts = "mlflow.linkedPrompts"

// Numeric attributes compare with < <= > >= = !=.
var numeric = map[string]bool{"timestamp_ms": true, "execution_time_ms": true, "end_time_ms": true}

// Clause is one comparison.
type Clause struct {
	Entity string
	Key    string
	Op     string // = != < <= > >= LIKE ILIKE IN, NOT IN, IS NULL, IS NOT NULL
	Str    string
	Num    float64
	IsNum  bool
	List   []string
}

// Order is one order_by key.
type Order struct {
	Entity string
	Key    string
	Asc    bool
}

func invalid(format string, args ...any) error {
	return tandem.Errorf(tandem.EINVALID, format, args...)
}

// Parse parses a filter string.
func Parse(s string) ([]Clause, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	var out []Clause
	for {
		c, err := p.comparison()
		if err != nil {
			return nil, err
		}
		if err := check(&c); err != nil {
			return nil, err
		}
		out = append(out, c)
		if p.peek().kind == tEOF {
			return out, nil
		}
		if !p.word("AND") {
			if p.peek().kind == tWord && strings.EqualFold(p.peek().text, "OR") {
				return nil, invalid("Invalid clause(s) in filter string: OR is not supported; only AND")
			}
			return nil, invalid("Invalid filter '%s': expected AND at position %d", s, p.peek().pos)
		}
	}
}

// ParseOrder parses one order_by entry ("timestamp_ms DESC").
func ParseOrder(s string) (Order, error) {
	toks, err := lex(s)
	if err != nil {
		return Order{}, invalid("Invalid order_by clause '%s'. Could not be parsed.", s)
	}
	p := &parser{toks: toks}
	ent, key, err := p.identifier()
	if err != nil {
		return Order{}, invalid("Invalid order_by clause '%s'. Could not be parsed.", s)
	}
	o := Order{Entity: ent, Key: key, Asc: true}
	if p.word("DESC") {
		o.Asc = false
	} else {
		p.word("ASC")
	}
	if p.peek().kind != tEOF {
		return o, invalid("Invalid order_by clause '%s'. Could not be parsed.", s)
	}
	switch ent {
	case Tag, Metadata:
	case Attribute:
		k, ok := attributeAliases[key]
		if !ok || k == "text" || k == "client_request_id" {
			return o, invalid("Invalid order_by entity `%s` with key `%s`", ent, key)
		}
		o.Key = k
	default:
		return o, invalid("Invalid order_by entity `%s` with key `%s`", ent, key)
	}
	return o, nil
}

func check(c *Clause) error {
	switch c.Entity {
	case Attribute:
		k, ok := attributeAliases[c.Key]
		if !ok || orderOnly[k] {
			return invalid("Invalid attribute key '%s' specified.", c.Key)
		}
		c.Key = k
		if k == "prompt" {
			c.Entity, c.Key = Tag, LinkedPrompts
			return checkPrompt(c)
		}
		switch {
		case numeric[k]:
			if !c.IsNum || !oneOf(c.Op, "=", "!=", "<", "<=", ">", ">=") {
				return invalid("Invalid comparator '%s' or value for numeric attribute '%s'; expected a number", c.Op, k)
			}
		case k == "text":
			if !oneOf(c.Op, "LIKE", "ILIKE") {
				return invalid("Invalid comparator '%s' for full text search, only LIKE and ILIKE are supported.", c.Op)
			}
		case (k == "name" || k == "run_id") && oneOf(c.Op, "IS NULL", "IS NOT NULL"):
			// a tag and a metadata key underneath, which may be absent
		default:
			if !oneOf(c.Op, "=", "!=", "LIKE", "ILIKE", "IN", "NOT IN") {
				return invalid("Invalid comparator '%s' not one of '['!=', '=', 'IN', 'NOT IN', 'LIKE', 'ILIKE']' for attribute '%s'", c.Op, k)
			}
		}
	case Tag, Metadata:
		if c.Entity == Tag && c.Key == LinkedPrompts {
			return checkPrompt(c)
		}
		if !oneOf(c.Op, "=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL") {
			return invalid("Invalid comparator '%s' not one of '['!=', '=', 'LIKE', 'ILIKE', 'IS NULL', 'IS NOT NULL']' for %s '%s'", c.Op, c.Entity, c.Key)
		}
	case Span:
		if !oneOf(c.Key, "name", "type", "status", "content") && !strings.HasPrefix(c.Key, "attributes.") {
			return invalid("Invalid span attribute '%s'. Supported attributes: name, type, status, content, attributes.<key>.", c.Key)
		}
		if !oneOf(c.Op, "=", "!=", "LIKE", "ILIKE", "IN", "NOT IN") {
			return invalid("Invalid comparator '%s' for span attribute '%s'", c.Op, c.Key)
		}
	case Feedback, Expectation:
		if !oneOf(c.Op, "=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL") {
			return invalid("Invalid comparator '%s' for %s '%s'", c.Op, c.Entity, c.Key)
		}
	}
	return nil
}

// checkPrompt checks a filter on linked prompts: only = with a value
// NAME/VERSION.
func checkPrompt(c *Clause) error {
	if c.Op != "=" {
		return invalid(`Invalid comparator '%s' for prompts filter. Only '=' is supported with format: prompt = "name/version"`, c.Op)
	}
	if strings.Count(c.Str, "/") != 1 || c.IsNum {
		return invalid(`Invalid prompts filter value '%s'. Expected format: prompt = "name/version"`, c.Str)
	}
	return nil
}

func oneOf(s string, set ...string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tQuotedIdent // `key`
	tSQ          // 'string'
	tDQ          // "string"
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
			if j < len(s) && s[j] == '=' {
				j++
			}
			op := s[i:j]
			if op == "!" {
				return nil, invalid("Invalid filter: unexpected '!' at position %d", i)
			}
			if op == "==" {
				op = "="
			}
			out = append(out, token{tOp, op, i})
			i = j
		case c == '\'' || c == '"' || c == '`':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, invalid("Invalid filter: unterminated quote at position %d", i)
			}
			k := map[byte]tokKind{'\'': tSQ, '"': tDQ, '`': tQuotedIdent}[c]
			out = append(out, token{k, s[i+1 : i+1+j], i})
			i += j + 2
		case c == '-' || c == '.' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' || (s[j] == '-' || s[j] == '+') && (s[j-1] == 'e' || s[j-1] == 'E')) {
				j++
			}
			// Out of range is ±Inf or 0, as Python's float() reads it.
			if _, err := strconv.ParseFloat(s[i:j], 64); err != nil && !errors.Is(err, strconv.ErrRange) {
				return nil, invalid("Invalid number '%s' at position %d", s[i:j], i)
			}
			out = append(out, token{tNum, s[i:j], i})
			i = j
		case isWord(c):
			j := i
			for j < len(s) && (isWord(s[j]) || s[j] == '.') {
				j++
			}
			out = append(out, token{tWord, s[i:j], i})
			i = j
		default:
			return nil, invalid("Invalid filter: unexpected character %q at position %d", c, i)
		}
	}
	return append(out, token{tEOF, "", len(s)}), nil
}

func isWord(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}
func (p *parser) word(w string) bool {
	if t := p.peek(); t.kind == tWord && strings.EqualFold(t.text, w) {
		p.i++
		return true
	}
	return false
}

// identifier reads entity.key, entity.`key`, key or `key`. Span keys keep
// their dotted rest (span.attributes.x).
func (p *parser) identifier() (string, string, error) {
	t := p.next()
	switch t.kind {
	case tQuotedIdent, tDQ:
		return Attribute, t.text, nil
	case tWord:
	default:
		return "", "", invalid("Invalid identifier at position %d: expected a key such as tags.`x`", t.pos)
	}
	prefix, rest, dotted := strings.Cut(t.text, ".")
	if !dotted {
		return Attribute, t.text, nil
	}
	ent, ok := entities[strings.ToLower(prefix)]
	if !ok {
		return "", "", invalid("Invalid entity type '%s'. Valid values are ['attribute', 'expectation', 'feedback', 'request_metadata', 'span', 'tag']", prefix)
	}
	if rest == "" || strings.HasSuffix(rest, ".") {
		q := p.next()
		if q.kind != tQuotedIdent && q.kind != tDQ {
			return "", "", invalid("Invalid identifier '%s': the key is missing", t.text)
		}
		rest += q.text
	}
	if rest == "" {
		return "", "", invalid("Invalid identifier: empty key")
	}
	return ent, rest, nil
}

func (p *parser) comparison() (Clause, error) {
	ent, key, err := p.identifier()
	if err != nil {
		return Clause{}, err
	}
	c := Clause{Entity: ent, Key: key}
	t := p.next()
	switch {
	case t.kind == tOp:
		c.Op = t.text
	case t.kind == tWord && (strings.EqualFold(t.text, "LIKE") || strings.EqualFold(t.text, "ILIKE")):
		c.Op = strings.ToUpper(t.text)
	case t.kind == tWord && strings.EqualFold(t.text, "IS"):
		c.Op = "IS NULL"
		if p.word("NOT") {
			c.Op = "IS NOT NULL"
		}
		if !p.word("NULL") {
			return c, invalid("Invalid filter: expected NULL after IS")
		}
		return c, nil
	case t.kind == tWord && strings.EqualFold(t.text, "IN"):
		c.Op = "IN"
	case t.kind == tWord && strings.EqualFold(t.text, "NOT"):
		if !p.word("IN") {
			return c, invalid("Invalid filter: expected IN after NOT")
		}
		c.Op = "NOT IN"
	default:
		return c, invalid("Invalid comparison clause for key '%s': expected a comparator at position %d", key, t.pos)
	}
	if c.Op == "IN" || c.Op == "NOT IN" {
		if p.next().kind != tLParen {
			return c, invalid("While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list.")
		}
		for {
			v := p.next()
			if v.kind != tSQ && v.kind != tDQ {
				return c, invalid("While parsing a list in the query, expected string value, punctuation, or whitespace, but got different type in list: %s", v.text)
			}
			c.List = append(c.List, v.text)
			sep := p.next()
			if sep.kind == tRParen {
				break
			}
			if sep.kind != tComma {
				return c, invalid("While parsing a list in the query, expected a non-empty list of string values, but got ill-formed list.")
			}
		}
		return c, nil
	}
	v := p.next()
	switch v.kind {
	case tSQ, tDQ:
		c.Str = v.text
	case tNum:
		c.Num, _ = strconv.ParseFloat(v.text, 64)
		c.Str, c.IsNum = v.text, true
	default:
		return c, invalid("Invalid value at position %d for key '%s': expected a quoted string or a number", v.pos, key)
	}
	return c, nil
}

// Package strictjson decodes the JSON of API requests strictly: one JSON
// object and nothing after it, no key twice in an object, valid UTF-8, and
// every value of the JSON type its field has. Its errors name a field by its
// JSON path (tags[0].key), never by a Go name or type, so that each HTTP
// layer can word them for its own API (mlflowapi in MLflow's words, api in
// tandem's).
//
// Decode checks the body (Check) and then decodes it with encoding/json,
// so what it accepts decodes exactly as encoding/json decodes it; only a
// refused body is decoded a second time, by this package's own reflective
// decoder, to find the field and value its message names.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects in a body.
const MaxDepth = 200

// Kind says what is wrong with a request.
type Kind int

const (
	Malformed Kind = iota // not JSON, not UTF-8, too deep
	Trailing              // something after the JSON object
	NotObject             // the body is JSON but not an object
	Duplicate             // a key appears twice in one object
	WrongType             // a value of the wrong JSON type (or refused by its field's UnmarshalJSON)
	Unknown               // a key the request does not have (DisallowUnknown)
)

// Error is a request the decoder refused.
type Error struct {
	Kind Kind
	// Path is the JSON path of the field ("name", "tags[0].key"); "" for
	// the body itself.
	Path string
	// Value is the offending value for WrongType, as Parse returns values
	// (string, json.Number, bool, nil, []any, map[string]any).
	Value any
	// Want is the JSON type the field takes ("string", "integer",
	// "number", "boolean", "array", "object"), "" when a field's own
	// UnmarshalJSON refused the value.
	Want string
	// Detail describes a Malformed body (the parser's words and where).
	Detail string
}

func (e *Error) Error() string {
	switch e.Kind {
	case Trailing:
		return "malformed JSON request: unexpected data after the JSON object"
	case NotObject:
		return "malformed JSON request: the body must be a JSON object"
	case Duplicate:
		return fmt.Sprintf("malformed JSON request: key '%s' appears more than once", e.Path)
	case WrongType:
		if e.Want == "" {
			return fmt.Sprintf("invalid value %s for '%s'", FormatValue(e.Value), e.Path)
		}
		return fmt.Sprintf("invalid value %s for '%s': expected %s, got %s", FormatValue(e.Value), e.Path, Article(e.Want), Article(TypeOf(e.Value)))
	case Unknown:
		return fmt.Sprintf("unknown field '%s'", e.Path)
	}
	return "malformed JSON request: " + e.Detail
}

// TypeOf is the JSON type name of a parsed value: "string", "integer"
// (a number without fraction or exponent), "number", "boolean", "null",
// "array" or "object".
func TypeOf(v any) string {
	switch v := v.(type) {
	case string:
		return "string"
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return "number"
		}
		return "integer"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "null"
}

// Article prefixes a JSON type name with "a" or "an".
func Article(t string) string {
	if strings.ContainsAny(t[:1], "aeiou") {
		return "an " + t
	}
	return "a " + t
}

// maxShown bounds how much of a value an error message repeats.
const maxShown = 200

// FormatValue writes a parsed value as compact JSON (object keys sorted),
// cut to a few hundred bytes.
func FormatValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	if len(b) > maxShown {
		cut := maxShown
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		return string(b[:cut]) + "..."
	}
	return string(b)
}

// Options change how Decode treats keys.
type Options struct {
	// DisallowUnknown refuses keys the target struct has no field for.
	DisallowUnknown bool
	// Prefix is prepended to error paths (for decoding a part of a larger
	// document, e.g. "asset.spec").
	Prefix string
}

// Parse reads body as exactly one JSON value, refusing invalid UTF-8,
// duplicate keys, nesting deeper than MaxDepth and anything after the
// value. Numbers are json.Number, objects map[string]any, arrays []any.
func Parse(body []byte) (any, error) {
	if !utf8.Valid(body) {
		return nil, &Error{Kind: Malformed, Detail: "the body is not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	v, err := parseValue(dec, "", 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &Error{Kind: Trailing}
	}
	return v, nil
}

func malformed(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &Error{Kind: Malformed, Detail: fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)}
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Kind: Malformed, Detail: "unexpected end of the body"}
	}
	return &Error{Kind: Malformed, Detail: err.Error()}
}

func parseValue(dec *json.Decoder, path string, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, &Error{Kind: Malformed, Detail: fmt.Sprintf("nested more than %d levels deep", MaxDepth)}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, malformed(err)
	}
	switch tok {
	case json.Delim('{'):
		obj := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, malformed(err)
			}
			k, ok := kt.(string)
			if !ok {
				return nil, &Error{Kind: Malformed, Detail: "an object key is not a string"}
			}
			kp := join(path, k)
			if _, dup := obj[k]; dup {
				return nil, &Error{Kind: Duplicate, Path: kp}
			}
			v, err := parseValue(dec, kp, depth+1)
			if err != nil {
				return nil, err
			}
			obj[k] = v
		}
		if _, err := dec.Token(); err != nil { // '}'
			return nil, malformed(err)
		}
		return obj, nil
	case json.Delim('['):
		arr := []any{}
		for i := 0; dec.More(); i++ {
			v, err := parseValue(dec, path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return nil, malformed(err)
		}
		return arr, nil
	}
	return tok, nil // string, json.Number, bool or nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Decode checks body strictly (see Check), refuses anything but a JSON
// object, and decodes it into the struct v points to with encoding/json
// (DisallowUnknownFields with Options.DisallowUnknown). An empty or
// all-space body is {}. Errors are *Error: when encoding/json refuses the
// body, it is decoded again, slowly, to name the field and value.
func Decode(body []byte, v any, opt Options) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := Check(body); err != nil {
		if e, ok := err.(*Error); ok && e.Path != "" {
			e.Path = join(opt.Prefix, e.Path)
		}
		return err
	}
	if body[0] != '{' {
		return &Error{Kind: NotObject, Path: opt.Prefix}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if opt.DisallowUnknown {
		dec.DisallowUnknownFields()
	}
	stdErr := dec.Decode(v)
	if stdErr == nil {
		return nil
	}
	fresh := reflect.New(reflect.TypeOf(v).Elem()).Interface()
	tree, err := Parse(body)
	if err == nil {
		err = DecodeValue(tree, fresh, opt)
	}
	if err != nil {
		return err
	}
	return fromStd(stdErr, opt.Prefix)
}

// fromStd words an encoding/json refusal that the slow decoder did not
// reproduce (it should not happen; this keeps Go names out regardless).
func fromStd(err error, prefix string) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &Error{Kind: WrongType, Path: join(prefix, te.Field), Value: te.Value}
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if name, err := strconv.Unquote(f); err == nil {
			return &Error{Kind: Unknown, Path: join(prefix, name)}
		}
	}
	return &Error{Kind: Malformed, Detail: "the request could not be read"}
}

// DecodeValue stores a value returned by Parse (a JSON object) in the
// struct v points to.
func DecodeValue(tree any, v any, opt Options) error {
	if _, ok := tree.(map[string]any); !ok {
		return &Error{Kind: NotObject, Path: opt.Prefix}
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("strictjson: Decode needs a non-nil pointer")
	}
	d := decoder{opt: opt}
	return d.assign(opt.Prefix, tree, rv.Elem())
}

// DecodeQuery stores a query string in the struct v points to, as the JSON
// object of strings it stands for: a key whose field is a slice takes all
// its values, any other key its first. (Numeric fields must accept strings,
// as proto3 JSON allows: see the Int64 types of the API packages.)
func DecodeQuery(q url.Values, v any) error {
	slices := map[string]bool{}
	t := reflect.TypeOf(v).Elem()
	for name, idx := range fieldsOf(t) {
		if ft := t.FieldByIndex(idx).Type; ft.Kind() == reflect.Slice && !isUnmarshaler(ft) {
			slices[name] = true
		}
	}
	obj := map[string]any{}
	for k, vs := range q {
		if slices[k] {
			arr := make([]any, len(vs))
			for i, s := range vs {
				arr[i] = s
			}
			obj[k] = arr
		} else if len(vs) > 0 {
			obj[k] = vs[0]
		}
	}
	return DecodeValue(obj, v, Options{})
}

type decoder struct {
	opt   Options
	cache map[reflect.Type]map[string][]int
}

func (d *decoder) fields(t reflect.Type) map[string][]int {
	f, ok := d.cache[t]
	if !ok {
		if d.cache == nil {
			d.cache = map[reflect.Type]map[string][]int{}
		}
		f = fieldsOf(t)
		d.cache[t] = f
	}
	return f
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func isUnmarshaler(t reflect.Type) bool { return reflect.PointerTo(t).Implements(unmarshalerType) }

func (d *decoder) wrong(path string, val any, want string) error {
	return &Error{Kind: WrongType, Path: path, Value: val, Want: want}
}

func (d *decoder) assign(path string, val any, rv reflect.Value) error {
	t := rv.Type()
	if t.Kind() != reflect.Pointer && isUnmarshaler(t) && rv.CanAddr() {
		raw, err := json.Marshal(val)
		if err != nil {
			return d.wrong(path, val, "")
		}
		if err := rv.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(raw); err != nil {
			return d.wrong(path, val, "")
		}
		return nil
	}
	if val == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if rv.IsNil() {
			rv.Set(reflect.New(t.Elem()))
		}
		return d.assign(path, val, rv.Elem())
	case reflect.Interface:
		if t.NumMethod() != 0 {
			return d.wrong(path, val, "")
		}
		rv.Set(reflect.ValueOf(plain(val)))
	case reflect.String:
		s, ok := val.(string)
		if !ok {
			return d.wrong(path, val, "string")
		}
		rv.SetString(s)
	case reflect.Bool:
		b, ok := val.(bool)
		if !ok {
			return d.wrong(path, val, "boolean")
		}
		rv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := val.(json.Number)
		i, err := strconv.ParseInt(string(n), 10, 64)
		if !ok || err != nil || rv.OverflowInt(i) {
			return d.wrong(path, val, "integer")
		}
		rv.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := val.(json.Number)
		u, err := strconv.ParseUint(string(n), 10, 64)
		if !ok || err != nil || rv.OverflowUint(u) {
			return d.wrong(path, val, "integer")
		}
		rv.SetUint(u)
	case reflect.Float32, reflect.Float64:
		n, ok := val.(json.Number)
		f, err := strconv.ParseFloat(string(n), 64)
		if !ok || err != nil || rv.OverflowFloat(f) {
			return d.wrong(path, val, "number")
		}
		rv.SetFloat(f)
	case reflect.Slice:
		arr, ok := val.([]any)
		if !ok {
			return d.wrong(path, val, "array")
		}
		s := reflect.MakeSlice(t, len(arr), len(arr))
		for i, x := range arr {
			if err := d.assign(path+"["+strconv.Itoa(i)+"]", x, s.Index(i)); err != nil {
				return err
			}
		}
		rv.Set(s)
	case reflect.Map:
		obj, ok := val.(map[string]any)
		if !ok || t.Key().Kind() != reflect.String {
			return d.wrong(path, val, "object")
		}
		m := reflect.MakeMapWithSize(t, len(obj))
		for _, k := range sortedKeys(obj) {
			e := reflect.New(t.Elem()).Elem()
			if err := d.assign(join(path, k), obj[k], e); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
		rv.Set(m)
	case reflect.Struct:
		obj, ok := val.(map[string]any)
		if !ok {
			return d.wrong(path, val, "object")
		}
		fields := d.fields(t)
		for _, k := range sortedKeys(obj) {
			idx, ok := fields[k]
			if !ok { // encoding/json falls back to a case-insensitive match
				for name, i := range fields {
					if strings.EqualFold(name, k) {
						idx, ok = i, true
						break
					}
				}
			}
			if !ok {
				if d.opt.DisallowUnknown {
					return &Error{Kind: Unknown, Path: join(path, k)}
				}
				continue
			}
			f, err := fieldByIndex(rv, idx)
			if err != nil {
				return d.wrong(join(path, k), obj[k], "")
			}
			if err := d.assign(join(path, k), obj[k], f); err != nil {
				return err
			}
		}
	default:
		return d.wrong(path, val, "")
	}
	return nil
}

// fieldByIndex is rv.FieldByIndex, allocating nil embedded pointers.
func fieldByIndex(rv reflect.Value, idx []int) (reflect.Value, error) {
	for i, x := range idx {
		if i > 0 && rv.Kind() == reflect.Pointer {
			if rv.IsNil() {
				if !rv.CanSet() {
					return reflect.Value{}, errors.New("unexported embedded pointer")
				}
				rv.Set(reflect.New(rv.Type().Elem()))
			}
			rv = rv.Elem()
		}
		rv = rv.Field(x)
	}
	return rv, nil
}

// fieldsOf maps the JSON names of t's fields to their index paths, the
// fields of embedded structs without a json name included (a field of t
// itself wins over an embedded one of the same name).
func fieldsOf(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	var embedded [][]int
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, []int{i})
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = []int{i}
	}
	for _, e := range embedded {
		ft := t.Field(e[0]).Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		for name, idx := range fieldsOf(ft) {
			if _, taken := out[name]; !taken {
				out[name] = append(append([]int{}, e...), idx...)
			}
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// plain turns a parsed value into what encoding/json stores in an any:
// numbers as float64.
func plain(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, _ := v.Float64()
		return f
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = plain(x)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = plain(x)
		}
		return out
	}
	return v
}

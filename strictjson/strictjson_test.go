package strictjson

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

type num struct{ V int64 }

func (n *num) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		b = []byte(s)
	}
	return json.Unmarshal(b, &n.V)
}

type probeEmbedded struct {
	ID   string `json:"run_id"`
	Skip string `json:"-"`
}

type tag struct {
	Key   *string `json:"key"`
	Value string  `json:"value"`
}

type probeBody struct {
	probeEmbedded
	Name  string            `json:"name"`
	Max   num               `json:"max_results"`
	Tags  []tag             `json:"tags"`
	Attrs map[string]string `json:"attrs"`
	Flag  bool              `json:"flag"`
	Ratio float64           `json:"ratio"`
	Count int32             `json:"count"`
	Any   any               `json:"any"`
	IDs   []string          `json:"ids"`
}

func decodeErr(t *testing.T, body string, opt Options) *Error {
	t.Helper()
	var r probeBody
	err := Decode([]byte(body), &r, opt)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Decode(%s) = %v, want *Error", body, err)
	}
	return e
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		kind       Kind
		path, want string
	}{
		{"trailing object", `{"name":"a"} {"name":"b"}`, Trailing, "", ""},
		{"trailing garbage", `{"name":"a"}x`, Trailing, "", ""},
		{"trailing bracket", `{"name":"a"}}`, Trailing, "", ""},
		{"duplicate key", `{"name":"a","name":"b"}`, Duplicate, "name", ""},
		{"duplicate nested", `{"tags":[{"key":"k","key":"j"}]}`, Duplicate, "tags[0].key", ""},
		{"array body", `[1]`, NotObject, "", ""},
		{"string body", `"x"`, NotObject, "", ""},
		{"null body", `null`, NotObject, "", ""},
		{"truncated", `{"name": `, Malformed, "", ""},
		{"trailing comma", `{"name":"x",}`, Malformed, "", ""},
		{"bad utf8", "{\"name\":\"a\xff\"}", Malformed, "", ""},
		{"number for string", `{"name":31}`, WrongType, "name", "string"},
		{"embedded field", `{"run_id":31}`, WrongType, "run_id", "string"},
		{"string for bool", `{"flag":"yes"}`, WrongType, "flag", "boolean"},
		{"float for int", `{"count":1.5}`, WrongType, "count", "integer"},
		{"overflow", `{"count":99999999999}`, WrongType, "count", "integer"},
		{"object for array", `{"tags":{}}`, WrongType, "tags", "array"},
		{"nested type", `{"tags":[{"key":"k"},{"key":5}]}`, WrongType, "tags[1].key", "string"},
		{"map value", `{"attrs":{"a":1}}`, WrongType, "attrs.a", "string"},
		{"unmarshaler refuses", `{"max_results":"ten"}`, WrongType, "max_results", ""},
		{"array item", `{"ids":["a",2]}`, WrongType, "ids[1]", "string"},
		{"too deep", `{"any":` + strings.Repeat("[", MaxDepth+2) + strings.Repeat("]", MaxDepth+2) + `}`, Malformed, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := decodeErr(t, tc.body, Options{})
			if e.Kind != tc.kind || e.Path != tc.path || e.Want != tc.want {
				t.Fatalf("got kind %d path %q want %q (%v); want kind %d path %q want %q", e.Kind, e.Path, e.Want, e, tc.kind, tc.path, tc.want)
			}
			for _, goName := range []string{"strictjson", "probeBody", "probeEmbedded", "int32", "main.", "Go "} {
				if strings.Contains(e.Error(), goName) {
					t.Fatalf("message %q shows Go name %q", e.Error(), goName)
				}
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	body := `{"run_id":"r","name":"n","max_results":"7","tags":[{"key":"k","value":"v"},{"key":null}],
		"attrs":{"a":"b"},"flag":true,"ratio":0.5,"count":-3,"any":{"x":[1,"y"]},"ids":["a","b"],"unknown":{"z":1}}`
	var r probeBody
	if err := Decode([]byte(body), &r, Options{}); err != nil {
		t.Fatal(err)
	}
	k := "k"
	want := probeBody{probeEmbedded: probeEmbedded{ID: "r"}, Name: "n", Max: num{7}, Tags: []tag{{Key: &k, Value: "v"}, {}},
		Attrs: map[string]string{"a": "b"}, Flag: true, Ratio: 0.5, Count: -3,
		Any: map[string]any{"x": []any{1.0, "y"}}, IDs: []string{"a", "b"}}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got %+v\nwant %+v", r, want)
	}
	// Empty bodies are {}; null leaves a field as it is.
	r = probeBody{Name: "keep"}
	if err := Decode([]byte("  \n"), &r, Options{}); err != nil || r.Name != "keep" {
		t.Fatalf("empty body: %v %+v", err, r)
	}
	if err := Decode([]byte(`{"name":null}`), &r, Options{}); err != nil || r.Name != "keep" {
		t.Fatalf("null: %v %+v", err, r)
	}
}

func TestDisallowUnknownAndPrefix(t *testing.T) {
	e := decodeErr(t, `{"name":"a","nope":1}`, Options{DisallowUnknown: true, Prefix: "asset"})
	if e.Kind != Unknown || e.Path != "asset.nope" {
		t.Fatalf("got %+v", e)
	}
	e = decodeErr(t, `{"tags":[{"key":1}]}`, Options{Prefix: "asset.spec"})
	if e.Path != "asset.spec.tags[0].key" {
		t.Fatalf("got %+v", e)
	}
	e = decodeErr(t, `{"a":1,"a":2}`, Options{Prefix: "asset"})
	if e.Kind != Duplicate || e.Path != "asset.a" {
		t.Fatalf("got %+v", e)
	}
}

func TestDecodeQuery(t *testing.T) {
	var r probeBody
	q := url.Values{"ids": {"a", "b"}, "name": {"first", "second"}, "max_results": {"12"}}
	if err := DecodeQuery(q, &r); err != nil {
		t.Fatal(err)
	}
	if r.Name != "first" || r.Max.V != 12 || !reflect.DeepEqual(r.IDs, []string{"a", "b"}) {
		t.Fatalf("got %+v", r)
	}
	err := DecodeQuery(url.Values{"flag": {"true"}}, &r)
	if e := (*Error)(nil); !errors.As(err, &e) || e.Path != "flag" || e.Want != "boolean" {
		t.Fatalf("got %v", err)
	}
}

func TestErrorWords(t *testing.T) {
	e := &Error{Kind: WrongType, Path: "run_id", Value: json.Number("31"), Want: "string"}
	if got := e.Error(); got != "invalid value 31 for 'run_id': expected a string, got an integer" {
		t.Fatal(got)
	}
	long := &Error{Kind: WrongType, Path: "x", Value: strings.Repeat("é", 300), Want: "integer"}
	if len(long.Error()) > 2*maxShown {
		t.Fatalf("long value not cut: %d bytes", len(long.Error()))
	}
}

package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzParse checks Parse against encoding/json: what Parse accepts is valid
// JSON that encoding/json reads to the same value; what it refuses as
// malformed, encoding/json refuses too; trailing data is true of the input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"name":"a"}`, `{"name":"a"} {"name":"b"}`, `{"a":1,"a":2}`, `{"a":{"b":1,"b":2}}`,
		`[1,2,{"x":null}]`, `{"name": `, `{"name":"x",}`, "{\"a\":\"\xff\"}", `"str"`, `1e400`,
		`{"tags":[{"key":"k","value":"v"}],"max_results":"10","v":-0.5e3}`, ` {"a":true} `, `{"a":1}}`,
		`{"\u0061":1,"a":2}`, `{"":1}`, `[[[[[]]]]]`, `{"a":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Parse(b)
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("Parse(%q) error %T is not *Error", b, err)
		}
		var std any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		stdErr := dec.Decode(&std)
		switch {
		case err == nil:
			if stdErr != nil {
				t.Fatalf("Parse accepted %q, encoding/json: %v", b, stdErr)
			}
			if !json.Valid(b) {
				t.Fatalf("Parse accepted invalid JSON %q", b)
			}
			if !reflect.DeepEqual(v, std) {
				t.Fatalf("Parse(%q) = %#v, encoding/json %#v", b, v, std)
			}
		case e.Kind == Malformed:
			if json.Valid(b) && e.Detail != "the body is not valid UTF-8" && !bytes.Contains([]byte(e.Detail), []byte("nested")) {
				t.Fatalf("Parse called valid JSON %q malformed: %v", b, err)
			}
		case e.Kind == Trailing:
			if stdErr != nil || !dec.More() && json.Valid(b) {
				t.Fatalf("Parse called %q trailing: std %v", b, stdErr)
			}
		case e.Kind == Duplicate && stdErr == nil:
			// encoding/json kept one of the two; written out again, the
			// value has each key once and must parse.
			again, _ := json.Marshal(std)
			if _, err := Parse(again); err != nil {
				t.Fatalf("Parse(%q) (rewritten from %q): %v", again, b, err)
			}
		}
	})
}

// FuzzDecode checks that Decode never panics and that what it decodes,
// encoding/json decodes to the same struct.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"run_id":"r","name":"n","tags":[{"key":"k","value":"v"}],"attrs":{"a":"b"},"flag":true,"ratio":1.5,"count":3}`,
		`{"count":1e2}`, `{"tags":[null]}`, `{"attrs":null}`, `{"any":[1,{"a":"b"}]}`, `{"ids":["x"]}`,
		`{"max_results":"7"}`, `{"run_id":31}`, `{"name":"a"} {}`, `{"Name":"b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got probeBody
		if err := Decode(b, &got, Options{}); err != nil {
			return
		}
		var std map[string]any
		if json.Unmarshal(b, &std) != nil {
			if len(bytes.TrimSpace(b)) == 0 {
				return
			}
			t.Fatalf("Decode accepted %q, encoding/json cannot read it", b)
		}
		for k := range std {
			if k != "" && !isField(k) {
				delete(std, k) // unknown keys are ignored by both, case-folded ones only by Decode
			}
		}
		clean, _ := json.Marshal(std)
		var want probeBody
		if err := json.Unmarshal(clean, &want); err != nil {
			t.Fatalf("Decode accepted %q, encoding/json refused it: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode(%q) = %+v, encoding/json %+v", b, got, want)
		}
	})
}

func isField(k string) bool {
	_, ok := fieldsOf(reflect.TypeFor[probeBody]())[k]
	return ok
}

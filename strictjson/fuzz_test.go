package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzParse checks Parse against encoding/json and Check: what Parse accepts is valid
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
		if cerr := Check(b); (cerr == nil) != (err == nil) {
			t.Fatalf("Check(%q) = %v, Parse: %v", b, cerr, err)
		} else if cerr != nil && json.Valid(b) && cerr.(*Error).Kind != e.Kind {
			t.Fatalf("Check(%q) = %v, Parse: %v", b, cerr, err)
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

// FuzzDecode checks that Decode never panics, that what it accepts
// encoding/json decodes to the same struct, and that when it refuses a
// body encoding/json cannot read, its own decoder finds why (so the
// message names the field).
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"run_id":"r","name":"n","tags":[{"key":"k","value":"v"}],"attrs":{"a":"b"},"flag":true,"ratio":1.5,"count":3}`,
		`{"count":1e2}`, `{"tags":[null]}`, `{"attrs":null}`, `{"any":[1,{"a":"b"}]}`, `{"ids":["x"]}`,
		`{"max_results":"7"}`, `{"run_id":31}`, `{"name":"a"} {}`, `{"Name":"b"}`, `{"NAME":5}`, `{"tags":[{"key":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got probeBody
		err := Decode(b, &got, Options{})
		var std probeBody
		stdErr := json.Unmarshal(b, &std)
		if err == nil {
			if stdErr != nil && len(bytes.TrimSpace(b)) > 0 {
				t.Fatalf("Decode accepted %q, encoding/json: %v", b, stdErr)
			}
			if stdErr == nil && !reflect.DeepEqual(got, std) {
				t.Fatalf("Decode(%q) = %+v, encoding/json %+v", b, got, std)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Decode(%q) error %T is not *Error", b, err)
		}
		if e.Kind == Malformed && e.Detail == "the request could not be read" {
			t.Fatalf("Decode(%q): its own decoder did not find what encoding/json refused (%v)", b, stdErr)
		}
	})
}

package strictjson

import (
	"encoding/json"
	"testing"
)

func TestQuoteNonFinite(t *testing.T) {
	for in, want := range map[string]string{
		`{"value": NaN, "timestamp": 1}`:                    `{"value": "NaN", "timestamp": 1}`,
		`{"value":Infinity}`:                                `{"value":"Infinity"}`,
		`{"metrics": [{"value": -Infinity}, {"value": 1}]}`: `{"metrics": [{"value": "-Infinity"}, {"value": 1}]}`,
		`[NaN,Infinity ,-Infinity]`:                         `["NaN","Infinity" ,"-Infinity"]`,
		`{"key": "NaN Infinity", "value": 2}`:               `{"key": "NaN Infinity", "value": 2}`,
		`{"key": "a\"NaN", "value": NaN}`:                   `{"key": "a\"NaN", "value": "NaN"}`,
		`{"NaN": 1}`:                                        `{"NaN": 1}`,
		`{"value": NaNx}`:                                   `{"value": NaNx}`,
		`{"value": xNaN}`:                                   `{"value": xNaN}`,
		`{"value": 1}`:                                      `{"value": 1}`,
	} {
		if got := string(QuoteNonFinite([]byte(in))); got != want {
			t.Errorf("QuoteNonFinite(%s) = %s, want %s", in, got, want)
		}
	}
}

// What it returns is valid JSON whenever what it was given is, apart from
// the three words; it never changes a body that was valid JSON.
func FuzzQuoteNonFinite(f *testing.F) {
	for _, s := range []string{`{"value": NaN}`, `[-Infinity, "\"NaN"]`, `{"a": "\\", "b": Infinity}`, `NaN`, `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := QuoteNonFinite([]byte(s))
		if json.Valid([]byte(s)) && string(out) != s {
			t.Fatalf("changed valid JSON %q into %q", s, out)
		}
	})
}

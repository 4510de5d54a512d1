package mlflowsource

import (
	"encoding/json"
	"testing"
)

func TestQuoteNonFinite(t *testing.T) {
	in := `{"metrics":[{"value":NaN,"key":"NaN \"Infinity\""},{"value":-Infinity},{"value":Infinity},{"value":1.5}]}`
	want := `{"metrics":[{"value":"NaN","key":"NaN \"Infinity\""},{"value":"-Infinity"},{"value":"Infinity"},{"value":1.5}]}`
	if got := string(quoteNonFinite([]byte(in))); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// FuzzQuoteNonFinite: valid JSON stays valid and unchanged.
func FuzzQuoteNonFinite(f *testing.F) {
	f.Add(`{"a":"NaN","b":[1,2,"x\"NaN"]}`)
	f.Add(`"Infinity"`)
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			quoteNonFinite([]byte(s))
			return
		}
		if got := string(quoteNonFinite([]byte(s))); got != s {
			t.Fatalf("valid JSON changed: %q -> %q", s, got)
		}
	})
}

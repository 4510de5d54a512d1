package mlflowapi

import (
	"encoding/json"
	"testing"
)

// TestPythonStr: prompt-lab values become strings as Python's str() shows
// them, which is what MLflow stores.
func TestPythonStr(t *testing.T) {
	for in, want := range map[string]string{
		`"x"`: "x", `2`: "2", `12345678901234567890`: "12345678901234567890", `0.5`: "0.5", `1.0`: "1.0",
		`1e2`: "100.0", `1e-7`: "1e-07", `1.5e16`: "1.5e+16", `123456789012345.0`: "123456789012345.0",
		`0.0001`: "0.0001", `-2.5`: "-2.5", `true`: "True", `false`: "False", `null`: "None",
		`["a", 1, true]`: "['a', 1, True]", `{"k": "it's"}`: `{'k': "it's"}`,
	} {
		var p pyStr
		if err := json.Unmarshal([]byte(in), &p); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if string(p) != want {
			t.Errorf("str(%s) = %q, want %q", in, p, want)
		}
	}
}

// TestJSONTruthy: the fields MLflow requires are refused when Python
// would call them false.
func TestJSONTruthy(t *testing.T) {
	for in, want := range map[string]bool{``: false, `null`: false, `""`: false, `0`: false, `0.0`: false, `false`: false,
		`[]`: false, `{}`: false, `"a"`: true, `1`: true, `[1]`: true, `{"a":1}`: true, `true`: true} {
		if got := jsonTruthy(json.RawMessage(in)); got != want {
			t.Errorf("truthy(%s) = %v", in, got)
		}
	}
}

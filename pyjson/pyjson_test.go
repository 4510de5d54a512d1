package pyjson

import "testing"

// The expected texts are what Python 3's json.dumps writes for the same
// values.
func TestDumps(t *testing.T) {
	for _, c := range []struct {
		in            string
		ascii, floats bool
		want          string
	}{
		{`{"b":1,"a":[true,null,"x"]}`, true, false, `{"b": 1, "a": [true, null, "x"]}`},
		{`{"b":1,"a":2.50}`, true, true, `{"b": 1.0, "a": 2.5}`},
		{`[1e16, 0.0001, 0.00001, -0]`, true, true, `[1e+16, 0.0001, 1e-05, -0.0]`},
		{`"é\u0001\"\\/ 😀"`, true, false, `"\u00e9\u0001\"\\/ \ud83d\ude00"`},
		{`"é😀"`, false, false, `"é😀"`},
		{`{}`, true, false, `{}`},
		{`[]`, true, false, `[]`},
		{`"\u007f"`, true, false, `"\u007f"`},
	} {
		got, err := Dumps([]byte(c.in), c.ascii, c.floats)
		if err != nil || got != c.want {
			t.Errorf("Dumps(%s): got %s %v, want %s", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`{"a":`, `[1] [2]`, ``} {
		if _, err := Dumps([]byte(bad), true, false); err == nil {
			t.Errorf("Dumps(%q) accepted", bad)
		}
	}
}

func FuzzDumps(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x"]}`, `"é"`, `null`, `[{}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		Dumps(b, true, true) // must not panic
	})
}

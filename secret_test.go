package tandem

import (
	"strings"
	"testing"
)

func TestParseSecretRef(t *testing.T) {
	for _, c := range []struct {
		in, name string
		ref, bad bool
	}{
		{"${{secrets.lake-key}}", "lake-key", true, false},
		{"  ${{ secrets.a1 }} ", "a1", true, false},
		{"plain-value", "", false, false},
		{"", "", false, false},
		{"$notaref", "", false, false},
		{"${{secrets.lake-key}", "", false, true},
		{"${{parent.inputs.x}}", "", false, true},
		{"${{secrets.}}", "", false, true},
		{"${{secrets.bad_name}}", "", false, true},
	} {
		name, ref, err := ParseSecretRef(c.in)
		if name != c.name || ref != c.ref || (err != nil) != c.bad {
			t.Errorf("ParseSecretRef(%q) = %q %v %v", c.in, name, ref, err)
		}
		if err != nil && strings.Contains(err.Error(), c.in) {
			t.Errorf("error quotes the value: %v", err)
		}
	}
	if n, ok, _ := ParseSecretRef(SecretRefString("k-1")); !ok || n != "k-1" {
		t.Fatal("SecretRefString does not round-trip")
	}
}

func FuzzParseSecretRef(f *testing.F) {
	for _, s := range []string{"${{secrets.a}}", "${{ secrets.a-b }}", "${{", "}}", "x", "${{secrets.}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, ok, err := ParseSecretRef(s)
		if ok {
			if err != nil || ValidateSecretName(name) != nil {
				t.Fatalf("%q: ref %q with err %v", s, name, err)
			}
			if n2, ok2, _ := ParseSecretRef(SecretRefString(name)); !ok2 || n2 != name {
				t.Fatalf("%q: no round trip", s)
			}
		} else if name != "" {
			t.Fatalf("%q: name without ref", s)
		}
	})
}

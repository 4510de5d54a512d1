package assetyaml_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
)

// FuzzLoad: the loader never panics, and whatever it accepts writes a
// canonical form that loads back to the same canonical form.
func FuzzLoad(f *testing.F) {
	for file := range examples {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("name: x\nimage: y\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, kind := range tandem.AssetKinds {
			a, err := assetyaml.Load("fuzz.yaml", data, kind)
			if err != nil {
				if tandem.ErrorCode(err) != tandem.EINVALID {
					t.Fatalf("kind %s: error code %s: %v", kind, tandem.ErrorCode(err), err)
				}
				continue
			}
			out, err := assetyaml.Marshal(a)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			a2, err := assetyaml.Load("canonical.yaml", out, kind)
			if err != nil {
				t.Fatalf("kind %s: canonical form does not load: %v\n%s", kind, err, out)
			}
			out2, err := assetyaml.Marshal(a2)
			if err != nil || !bytes.Equal(out, out2) {
				t.Fatalf("kind %s: canonical form not stable:\n%s\n---\n%s", kind, out, out2)
			}
		}
	})
}

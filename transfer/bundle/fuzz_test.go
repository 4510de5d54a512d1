package bundle

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// smallBundle returns the bytes of a small archive bundle (plain tar or gzip).
func smallBundle(t testing.TB, name string) []byte {
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	w, err := Create(path, Meta{Source: "tandem"})
	if err != nil {
		t.Fatal(err)
	}
	w.AddObject(KindExperiment, "1", Experiment{ExperimentID: "1", Name: "e"})
	w.AddBlob("run/r", "f.txt", "1/r/artifacts/f.txt", strings.NewReader("hello"))
	w.AddObject(KindRun, "r", Run{RunID: "r", ExperimentID: "1", Metrics: []Metric{{Key: "m", Value: 1}}})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParseManifest: no input makes the manifest parser panic, and what it
// accepts only names safe paths.
func FuzzParseManifest(f *testing.F) {
	sha := strings.Repeat("0", 64)
	f.Add([]byte(`{"format":"tandem-bundle","version":1,"created":"2026-01-01T00:00:00Z","items":[]}`))
	f.Add([]byte(`{"format":"tandem-bundle","version":1,"created":"2026-01-01T00:00:00Z","items":[` +
		`{"kind":"run","id":"r","path":"objects/run/r.json","sha256":"` + sha + `","size":3},` +
		`{"kind":"blob","id":"a/b","owner":"run/r","path":"blobs/1/r/artifacts/a/b","sha256":"` + sha + `","size":0}]}`))
	f.Add([]byte(`{"format":"tandem-bundle","version":2}`))
	f.Add([]byte(`{"format":"tandem-bundle","version":1,"items":[{"kind":"blob","path":"../x"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		for _, it := range m.Items {
			if CheckPath(it.Path) != nil || strings.Contains(it.Path, "..") && strings.Contains("/"+it.Path+"/", "/../") {
				t.Fatalf("accepted unsafe path %q", it.Path)
			}
		}
	})
}

// FuzzReadArchive: any archive bytes are either refused with an error by
// Open/Verify, or every item Walk hands over matches the manifest. Never a
// panic, never a file outside the archive read.
func FuzzReadArchive(f *testing.F) {
	f.Add(smallBundle(f, "a.tar"))
	f.Add(smallBundle(f, "a.tgz"))
	good := smallBundle(f, "b.tar")
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "in.tar")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path)
		if err != nil {
			return
		}
		if err := r.Verify(context.Background()); err != nil {
			return
		}
		n := 0
		err = r.Walk(context.Background(), func(it Item, body io.Reader) error {
			n++
			if it.Kind != KindBlob {
				var v map[string]any
				_ = Decode(body, &v)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("verified bundle failed to walk: %v", err)
		}
		if n != len(r.Manifest().Items) {
			t.Fatalf("walked %d of %d items", n, len(r.Manifest().Items))
		}
	})
}

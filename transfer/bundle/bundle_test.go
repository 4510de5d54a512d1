package bundle

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

// sample writes a small bundle at path: one experiment, one run with a NaN
// metric point and two artifact files, one registered model and a version.
func sample(t testing.TB, path string) []Item {
	t.Helper()
	w, err := Create(path, Meta{Workspace: "ws", Region: "eastus", Source: "tandem", Position: &tandem.Position{Epoch: 2, Seq: 7}})
	if err != nil {
		t.Fatal(err)
	}
	end := int64(2000)
	if _, err := w.AddObject(KindExperiment, "1", Experiment{ExperimentID: "1", Name: "exp", LifecycleStage: "active", CreationTime: 1}); err != nil {
		t.Fatal(err)
	}
	for p, body := range map[string]string{"model/MLmodel": "flavors: {}\n", "a b/c.txt": strings.Repeat("x", 70000)} {
		if _, err := w.AddBlob("run/r1", p, "1/r1/artifacts/"+p, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	run := Run{RunID: "r1", ExperimentID: "1", Status: "FINISHED", StartTime: 1000, EndTime: &end, LifecycleStage: "active",
		Params: []KV{{"lr", "0.1"}}, Metrics: []Metric{{Key: "loss", Value: Float(math.NaN()), Timestamp: 5, Step: 0}, {Key: "loss", Value: 0.5, Timestamp: 6, Step: 1}}}
	if _, err := w.AddObject(KindRun, "r1", run); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddObject(KindModelVersion, "m/1", ModelVersion{Name: "m", Version: "1", RunID: "r1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddObject(KindRegisteredModel, "m", RegisteredModel{Name: "m/x", Aliases: []Alias{{"prod", "1"}}}); err != nil {
		t.Fatal(err)
	}
	items := w.Items()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return items
}

func TestRoundTrip(t *testing.T) {
	for _, name := range []string{"dir", "b.tar", "b.tar.gz"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			sample(t, path)
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			m := r.Manifest()
			if m.Workspace != "ws" || m.Position == nil || m.Position.Seq != 7 || len(m.Items) != 6 {
				t.Fatalf("manifest: %+v", m)
			}
			// Dependency order: experiment, blobs, run, registered model, version.
			var kinds []string
			for _, it := range m.Items {
				kinds = append(kinds, string(it.Kind))
			}
			if got := strings.Join(kinds, ","); got != "experiment,blob,blob,run,registered_model,model_version" {
				t.Fatalf("order %s", got)
			}
			if err := r.Verify(context.Background()); err != nil {
				t.Fatal(err)
			}
			var run Run
			var blobBytes int64
			err = r.Walk(context.Background(), func(it Item, body io.Reader) error {
				switch it.Kind {
				case KindRun:
					return Decode(body, &run)
				case KindBlob:
					n, err := io.Copy(io.Discard, body)
					blobBytes += n
					return err
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(run.Metrics) != 2 || !math.IsNaN(float64(run.Metrics[0].Value)) || *run.EndTime != 2000 {
				t.Fatalf("run %+v", run)
			}
			if blobBytes != 70000+12 {
				t.Fatalf("blob bytes %d", blobBytes)
			}
		})
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o644)
	if _, err := Create(dir, Meta{}); tandem.ErrorCode(err) != tandem.EEXISTS {
		t.Fatalf("non-empty folder: %v", err)
	}
	p := filepath.Join(t.TempDir(), "a.tgz")
	os.WriteFile(p, nil, 0o644)
	if _, err := Create(p, Meta{}); tandem.ErrorCode(err) != tandem.EEXISTS {
		t.Fatalf("existing archive: %v", err)
	}
}

func TestFolderTamper(t *testing.T) {
	cases := map[string]func(t *testing.T, dir string, items []Item){
		"object byte changed": func(t *testing.T, dir string, items []Item) {
			p := filepath.Join(dir, "objects/run/r1.json")
			b, _ := os.ReadFile(p)
			b = bytes.Replace(b, []byte(`"lr"`), []byte(`"LR"`), 1)
			os.WriteFile(p, b, 0o644)
		},
		"blob byte changed": func(t *testing.T, dir string, items []Item) {
			p := filepath.Join(dir, "blobs/1/r1/artifacts/a b/c.txt")
			b, _ := os.ReadFile(p)
			b[len(b)-1] = 'y'
			os.WriteFile(p, b, 0o644)
		},
		"blob truncated": func(t *testing.T, dir string, items []Item) {
			os.Truncate(filepath.Join(dir, "blobs/1/r1/artifacts/a b/c.txt"), 100)
		},
		"blob missing": func(t *testing.T, dir string, items []Item) {
			os.Remove(filepath.Join(dir, "blobs/1/r1/artifacts/model/MLmodel"))
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "b")
			items := sample(t, dir)
			damage(t, dir, items)
			r, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			err = r.Verify(context.Background())
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("damaged bundle verified: %v", err)
			}
			t.Log(err)
		})
	}
	dir := filepath.Join(t.TempDir(), "b")
	sample(t, dir)
	os.Remove(filepath.Join(dir, "manifest.json"))
	if _, err := Open(dir); tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), "manifest.json") {
		t.Fatalf("no manifest: %v", err)
	}
}

func TestArchiveTruncatedAndTampered(t *testing.T) {
	for _, name := range []string{"b.tar", "b.tgz"} {
		path := filepath.Join(t.TempDir(), name)
		sample(t, path)
		good, _ := os.ReadFile(path)
		// Every truncation is refused, by Open or by Verify.
		step := len(good) / 40
		for cut := 0; cut < len(good)-1024; cut += step {
			os.WriteFile(path, good[:cut], 0o644)
			if err := openVerify(path); err == nil {
				t.Fatalf("%s cut at %d of %d: accepted", name, cut, len(good))
			} else if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("%s cut at %d: error is not EINVALID: %v", name, cut, err)
			}
		}
		if name == "b.tar" {
			// Flip one byte inside the large blob's data.
			bad := append([]byte(nil), good...)
			i := bytes.Index(bad, []byte(strings.Repeat("x", 1000)))
			bad[i+10] = 'z'
			os.WriteFile(path, bad, 0o644)
			if err := openVerify(path); err == nil || !strings.Contains(err.Error(), "altered") {
				t.Fatalf("tampered blob: %v", err)
			}
		}
	}
}

func openVerify(path string) error {
	r, err := Open(path)
	if err != nil {
		return err
	}
	return r.Verify(context.Background())
}

func TestParseManifestRefuses(t *testing.T) {
	sha := strings.Repeat("a", 64)
	item := func(extra string) string {
		return `{"format":"tandem-bundle","version":1,"created":"2026-01-01T00:00:00Z","items":[` + extra + `]}`
	}
	bad := map[string]string{
		"format":       `{"format":"zip","version":1,"items":[]}`,
		"newer":        `{"format":"tandem-bundle","version":99,"items":[]}`,
		"unknown kind": item(`{"kind":"job","id":"1","path":"objects/job/1.json","sha256":"` + sha + `","size":1}`),
		"escape":       item(`{"kind":"run","id":"1","path":"objects/run/../../etc/passwd","sha256":"` + sha + `","size":1}`),
		"absolute":     item(`{"kind":"run","id":"1","path":"/etc/passwd","sha256":"` + sha + `","size":1}`),
		"bad sha":      item(`{"kind":"run","id":"1","path":"objects/run/1.json","sha256":"xyz","size":1}`),
		"negative":     item(`{"kind":"run","id":"1","path":"objects/run/1.json","sha256":"` + sha + `","size":-1}`),
		"orphan blob":  item(`{"kind":"blob","id":"f","owner":"run/9","path":"blobs/f","sha256":"` + sha + `","size":1}`),
		"dup": item(`{"kind":"run","id":"1","path":"objects/run/1.json","sha256":"` + sha + `","size":1},` +
			`{"kind":"run","id":"1","path":"objects/run/2.json","sha256":"` + sha + `","size":1}`),
		"trailing":        item(``) + `{}`,
		"asset id escape": item(`{"kind":"asset","id":"environment/../x","path":"objects/asset/a.json","sha256":"` + sha + `","size":1}`),
		"asset owner escape": item(`{"kind":"asset","id":"environment/e/1","path":"objects/asset/a.json","sha256":"` + sha + `","size":1},` +
			`{"kind":"blob","id":"f","owner":"asset/environment/e/1/..","path":"blobs/f","sha256":"` + sha + `","size":1}`),
		"asset owner missing": item(`{"kind":"blob","id":"f","owner":"asset/environment/e/1","path":"blobs/f","sha256":"` + sha + `","size":1}`),
	}
	for name, m := range bad {
		if _, err := ParseManifest([]byte(m)); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("%s: accepted or wrong error: %v", name, err)
		}
	}
	if _, err := ParseManifest([]byte(item(`{"kind":"run","id":"1","path":"objects/run/1.json","sha256":"` + sha + `","size":1}`))); err != nil {
		t.Fatal(err)
	}
	// An asset's files are blobs it owns.
	if _, err := ParseManifest([]byte(item(`{"kind":"blob","id":"conda.yaml","owner":"asset/environment/e/1","path":"blobs/assets/environments/e/1/conda.yaml","sha256":"` + sha + `","size":1},` +
		`{"kind":"asset","id":"environment/e/1","path":"objects/asset/a.json","sha256":"` + sha + `","size":1}`))); err != nil {
		t.Fatal(err)
	}
}

func TestObjectFileNames(t *testing.T) {
	for _, id := range []string{"a/b", "..", ".", "x\x01y", strings.Repeat("é", 300), "C:x"} {
		p := "objects/run/" + objectFileName(id)
		if err := CheckPath(p); err != nil {
			t.Errorf("id %q -> %q: %v", id, p, err)
		}
	}
}

func TestWriteTarAndExtract(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	sample(t, src)
	r, err := Open(src)
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "x.tar")
	f, _ := os.Create(tarPath)
	if err := r.WriteTar(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ar, err := Open(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := ar.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := ar.Extract(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	if err := openVerify(out); err != nil {
		t.Fatal(err)
	}
}

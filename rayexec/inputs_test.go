package rayexec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func TestEntrypointWithInputs(t *testing.T) {
	spec := tandem.LaunchSpec{ID: "j", Command: `python count.py "$TANDEM_INPUTS"/rows`,
		Inputs: []tandem.LaunchInput{{Name: "rows", ArtifactPath: "3/abc/artifacts/outputs/rows"},
			{Name: "notes", FilesPath: "/api/tandem/v1/data/notes/versions/1/files/", Files: []tandem.AssetFile{{Path: "n.txt", Size: 2, SHA256: "ab"}}}}}
	want := `exec python _tandem_outputs.py --inputs _tandem_inputs.json -- 'python count.py "$TANDEM_INPUTS"/rows'`
	if got := entrypoint(spec); got != want {
		t.Fatalf("inputs only:\n%s\nwant\n%s", got, want)
	}
	extra := extraFiles(spec)
	if string(extra[uploaderName]) != string(uploaderScript) {
		t.Fatal("no wrapper in the package")
	}
	var doc struct {
		Inputs []inputEntry `json:"inputs"`
	}
	if err := json.Unmarshal(extra[inputsName], &doc); err != nil {
		t.Fatal(err)
	}
	wantDoc := []inputEntry{{Name: "rows", ArtifactPath: "3/abc/artifacts/outputs/rows"},
		{Name: "notes", FilesPath: "/api/tandem/v1/data/notes/versions/1/files/", Files: []tandem.AssetFile{{Path: "n.txt", Size: 2, SHA256: "ab"}}}}
	if !reflect.DeepEqual(doc.Inputs, wantDoc) {
		t.Fatalf("%s holds %s", inputsName, extra[inputsName])
	}
	// With outputs too: both.
	spec.Outputs, spec.OutputsArtifactPath = []tandem.LaunchOutput{{Name: "model"}}, "3/abc/artifacts/outputs"
	if got := entrypoint(spec); !strings.HasPrefix(got, "exec python _tandem_outputs.py --inputs _tandem_inputs.json --path 3/abc/artifacts/outputs --output model -- ") {
		t.Fatalf("inputs and outputs: %s", got)
	}
	// Without inputs, no list in the package.
	spec.Inputs = nil
	if _, ok := extraFiles(spec)[inputsName]; ok {
		t.Fatal("an inputs list without inputs")
	}
}

func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestWrapperDownloadsInputs(t *testing.T) {
	const files = "/api/tandem/v1/data/rows/versions/2/files/"
	newProxy := func() (*proxy, string) {
		p := &proxy{files: map[string]string{}, auth: map[string]string{}, api: map[string]string{}}
		p.files["4/r1/artifacts/outputs/rows/a.txt"] = "1\n2\n"
		p.files["4/r1/artifacts/outputs/rows/part/b.bin"] = "\x00\x01"
		p.files["4/r1/artifacts/outputs/report/r.json"] = `{"n": 2}`
		p.api[files+"rows/x.txt"] = "x\n"
		p.api[files+"rows/sub dir/y.txt"] = "yy\n"
		srv := httptest.NewServer(p)
		t.Cleanup(srv.Close)
		return p, srv.URL
	}
	asset := tandem.LaunchInput{Name: "data", FilesPath: files, Files: []tandem.AssetFile{
		{Path: "rows/x.txt", Size: 2, SHA256: digest("x\n")}, {Path: "rows/sub dir/y.txt", Size: 3, SHA256: digest("yy\n")}}}
	inputs := []tandem.LaunchInput{{Name: "rows", ArtifactPath: "4/r1/artifacts/outputs/rows"},
		{Name: "report", ArtifactPath: "4/r1/artifacts/outputs/report/r.json", File: true}, asset}

	t.Run("downloads every input before the command, removes them after", func(t *testing.T) {
		p, url := newProxy()
		spec := tandem.LaunchSpec{Inputs: inputs, Command: `cat ` + tandem.InputRef("rows", "a.txt") + ` ` + tandem.InputRef("rows", "part/b.bin") +
			` ` + tandem.InputRef("report", "r.json") + ` ` + tandem.InputRef("data", "rows/x.txt") + ` ` + tandem.InputRef("data", "rows/sub dir/y.txt") +
			` && echo && echo "folder=$TANDEM_INPUTS"`}
		code, out := runWrapped(t, spec, url)
		if code != 0 || !strings.HasPrefix(out, "1\n2\n\x00\x01{\"n\": 2}x\nyy\n") {
			t.Fatalf("exit %d: %q", code, out)
		}
		checkJobFolder(t, out, "tandem-inputs-")
		for _, g := range p.gets {
			if !strings.HasSuffix(g, " Bearer tok-1") {
				t.Fatalf("a download without the token: %s", g)
			}
		}
		if len(p.files) != 3 {
			t.Fatalf("an attempt with inputs only uploaded something: %v", p.files)
		}
	})

	t.Run("a file that differs from the asset's fails the job before the command", func(t *testing.T) {
		p, url := newProxy()
		p.api[files+"rows/x.txt"] = "X\n"
		marker := t.TempDir() + "/ran"
		spec := tandem.LaunchSpec{Inputs: []tandem.LaunchInput{asset}, Command: "touch " + marker}
		code, out := runWrapped(t, spec, url)
		if code != 1 || !strings.Contains(out, "tandem: downloading input data: file rows/x.txt arrived with 2 bytes and another digest") {
			t.Fatalf("exit %d: %s", code, out)
		}
		if _, err := os.Stat(marker); !os.IsNotExist(err) {
			t.Fatal("the command ran without its input")
		}
	})

	t.Run("a missing input fails the job before the command", func(t *testing.T) {
		_, url := newProxy()
		spec := tandem.LaunchSpec{Inputs: []tandem.LaunchInput{{Name: "gone", ArtifactPath: "4/r1/artifacts/outputs/gone.txt", File: true}}, Command: "echo the-command-ran"}
		code, out := runWrapped(t, spec, url)
		if code != 1 || !strings.Contains(out, "tandem: downloading input gone") || !strings.Contains(out, "404") || strings.Contains(out, "the-command-ran") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
}

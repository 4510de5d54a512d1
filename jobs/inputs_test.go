package jobs

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

// TestLaunchInputs: what an attempt on Ray downloads itself, and what
// each ${{inputs.NAME}} becomes, input kind by input kind.
func TestLaunchInputs(t *testing.T) {
	rows := &tandem.Asset{Kind: tandem.AssetData, Name: "rows", Version: "3",
		Files: []tandem.AssetFile{{Path: "rows/a.txt", Size: 4, SHA256: "aa"}, {Path: "rows/deep/b.txt", Size: 2, SHA256: "bb"}}}
	notes := &tandem.Asset{Kind: tandem.AssetData, Name: "notes", Version: "1", Files: []tandem.AssetFile{{Path: "notes.txt", Size: 1, SHA256: "cc"}}}
	cases := []struct {
		name  string
		in    dataInput
		code  string
		want  []tandem.LaunchInput // downloaded by the attempt
		value string               // else one shell word, as it is
		ref   string               // or shell text
		err   string
	}{
		{name: "a literal", in: dataInput{kind: inputValue, value: "0.5"}, code: "src", value: "0.5"},
		{name: "a URL", in: dataInput{kind: inputValue, value: "https://example.com/d.csv"}, code: "src", value: "https://example.com/d.csv"},
		{name: "a step's output", in: dataInput{kind: inputArtifacts, artifacts: "4/r1/artifacts/outputs/rows"}, code: "src",
			want: []tandem.LaunchInput{{Name: "x", ArtifactPath: "4/r1/artifacts/outputs/rows"}}, ref: `"$TANDEM_INPUTS"/x`},
		{name: "a registered uri_file output", in: dataInput{kind: inputArtifacts, artifacts: "4/r1/artifacts/outputs/report/r e.json", file: true}, code: "src",
			want: []tandem.LaunchInput{{Name: "x", ArtifactPath: "4/r1/artifacts/outputs/report/r e.json", File: true}}, ref: `"$TANDEM_INPUTS"/'x/r e.json'`},
		{name: "a data asset's folder", in: dataInput{kind: inputAssetFiles, asset: rows, sub: "rows"}, code: "src",
			want: []tandem.LaunchInput{{Name: "x", FilesPath: "/api/tandem/v1/data/rows/versions/3/files/", Files: rows.Files}}, ref: `"$TANDEM_INPUTS"/x/rows`},
		{name: "a data asset's file", in: dataInput{kind: inputAssetFiles, asset: notes, sub: "notes.txt"}, code: "",
			want: []tandem.LaunchInput{{Name: "x", FilesPath: "/api/tandem/v1/data/notes/versions/1/files/", Files: notes.Files}}, ref: `"$TANDEM_INPUTS"/x/notes.txt`},
		{name: "a file in the code folder", in: dataInput{kind: inputCode, value: "src/conf/one.txt"}, code: "src", value: "conf/one.txt"},
		{name: "the code folder itself", in: dataInput{kind: inputCode, value: "src"}, code: "src", value: "."},
		{name: "no code folder: the whole snapshot travels", in: dataInput{kind: inputCode, value: "data/a.csv"}, code: "", value: "data/a.csv"},
		{name: "outside the code folder", in: dataInput{kind: inputCode, value: "data/a.csv"}, code: "src", err: "./data/a.csv is outside the code folder ./src"},
		{name: "a sibling with the code folder's prefix", in: dataInput{kind: inputCode, value: "src2/a.csv"}, code: "src", err: "outside the code folder"},
	}
	for _, c := range cases {
		values, refs := map[string]string{}, map[string]string{}
		got, err := launchInputs(map[string]dataInput{"x": c.in}, c.code, values, refs)
		if c.err != "" {
			if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want EINVALID with %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: downloads %+v (%v), want %+v", c.name, got, err, c.want)
		}
		if v, ok := values["inputs.x"]; ok != (c.ref == "") || v != c.value {
			t.Errorf("%s: value %q (%v), want %q", c.name, v, ok, c.value)
		}
		if r := refs["inputs.x"]; r != c.ref {
			t.Errorf("%s: ref %q, want %q", c.name, r, c.ref)
		}
	}

	// Several: in name order; the command binds each as decided.
	values, refs := map[string]string{}, map[string]string{}
	got, err := launchInputs(map[string]dataInput{
		"b": {kind: inputAssetFiles, asset: notes, sub: "notes.txt"},
		"a": {kind: inputArtifacts, artifacts: "4/r1/artifacts/outputs/rows"},
		"c": {kind: inputValue, value: "x y"}}, "src", values, refs)
	if err != nil || len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" {
		t.Fatalf("downloads %+v %v", got, err)
	}
	if cmd := bindCommand("run ${{inputs.a}} ${{inputs.b}} ${{inputs.c}}", values, refs); cmd != `run "$TANDEM_INPUTS"/a "$TANDEM_INPUTS"/b/notes.txt 'x y'` {
		t.Fatalf("command %s", cmd)
	}
}

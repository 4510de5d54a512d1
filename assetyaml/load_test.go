package assetyaml_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
)

var examples = map[string]tandem.AssetKind{
	"environment.yaml":       tandem.AssetEnvironment,
	"environment-image.yaml": tandem.AssetEnvironment,
	"data.yaml":              tandem.AssetData,
	"datastore.yaml":         tandem.AssetDatastore,
	"component.yaml":         tandem.AssetComponent,
	"pipeline.yaml":          tandem.AssetPipeline,
	"model.yaml":             tandem.AssetModel,
}

// TestExamplesRoundTrip loads each example, writes it canonically, loads
// that again: the canonical bytes are a fixed point.
func TestExamplesRoundTrip(t *testing.T) {
	for file, kind := range examples {
		t.Run(file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			a, err := assetyaml.Load(file, b, kind)
			if err != nil {
				t.Fatal(err)
			}
			out, err := assetyaml.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			a2, err := assetyaml.Load("canonical", out, kind)
			if err != nil {
				t.Fatalf("reload canonical: %v\n%s", err, out)
			}
			out2, _ := assetyaml.Marshal(a2)
			if !bytes.Equal(out, out2) {
				t.Fatalf("canonical form is not stable:\n%s\n---\n%s", out, out2)
			}
			if strings.Contains(string(out), "c2VjcmV0") {
				t.Fatalf("credentials in canonical YAML:\n%s", out)
			}
		})
	}
}

func TestDetails(t *testing.T) {
	load := func(file string, kind tandem.AssetKind) *tandem.Asset {
		b, _ := os.ReadFile(filepath.Join("testdata", file))
		a, err := assetyaml.Load(file, b, kind)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	env := load("environment.yaml", tandem.AssetEnvironment).Spec.(*tandem.Environment)
	if env.Build.Path != "docker" || env.CondaFile != "conda.yaml" || env.InferenceConfig.ScoringRoute.Port != 5001 {
		t.Fatalf("environment = %+v", env)
	}
	img := load("environment-image.yaml", tandem.AssetEnvironment).Spec.(*tandem.Environment)
	if !strings.HasPrefix(img.ImageDigest, "sha256:0123") {
		t.Fatalf("image digest not recorded: %+v", img)
	}
	ds := load("datastore.yaml", tandem.AssetDatastore).Spec.(*tandem.Datastore)
	if !ds.Shared || ds.Credentials["account_key"] == "" {
		t.Fatalf("datastore = %+v", ds)
	}
	if got := ds.Resolve("datasets/iris"); got != "https://mlstorage.blob.core.windows.net/training/datasets/iris" {
		t.Fatalf("resolve = %s", got)
	}
	c := load("component.yaml", tandem.AssetComponent)
	if c.Version != "2" || *c.Spec.(*tandem.Component).Inputs["epochs"].Default != "10" {
		t.Fatalf("component = %+v", c)
	}
	p := load("pipeline.yaml", tandem.AssetPipeline).Spec.(*tandem.Pipeline)
	if p.Inputs["epochs"].Type != "integer" || p.Jobs["train"].Inputs["data"] != "${{parent.jobs.prep.outputs.clean}}" ||
		p.Jobs["evaluate"].InputPorts["test_data"].Mode != "download" || p.Jobs["evaluate"].Inputs["threshold"] != "0.9" ||
		p.Jobs["evaluate"].OutputPorts["report"].Type != "uri_folder" || p.Jobs["evaluate"].Component != "evaluate.yaml" {
		t.Fatalf("pipeline = %+v", p)
	}
}

// TestErrorsNameFileLineColumn: each bad file fails with file:line:col (or
// file: for whole-asset checks) and a message naming the problem.
func TestErrorsNameFileLineColumn(t *testing.T) {
	cases := []struct {
		kind tandem.AssetKind
		yaml string
		want string
	}{
		{tandem.AssetEnvironment, "name: e\nimagee: x\n", "bad.yaml:2:1: unknown field \"imagee\""},
		{tandem.AssetEnvironment, "name: e\nimage: x\nbuild:\n  path: d\n  context: y\n", "bad.yaml:5:3: unknown field \"context\" in build"},
		{tandem.AssetEnvironment, "name: e\nimage: [a, b]\n", "bad.yaml:2:8: expected a string, got a list"},
		{tandem.AssetEnvironment, "name: e\nimage: x\ninference_config:\n  scoring_route:\n    path: /s\n    port: abc\n", "bad.yaml:6:11: expected an integer"},
		{tandem.AssetEnvironment, "name: e\n", "bad.yaml: environment: one of image or build is required"},
		{tandem.AssetEnvironment, "name: e\nname: f\nimage: x\n", "bad.yaml:2:1: environment: field \"name\" is repeated"},
		{tandem.AssetData, "name: d\ntype: uri_folder\npath: ../outside\n", "bad.yaml:3:7: local path \"../outside\" must be inside"},
		{tandem.AssetData, "name: d\ntype: table\npath: x\n", "data: type must be uri_file, uri_folder or mltable"},
		{tandem.AssetDatastore, "name: s\ntype: s3\nbucket: b\nversion: 1\n", "bad.yaml:4:1: unknown field \"version\""},
		{tandem.AssetDatastore, "name: s\ntype: s3\nbucket: b\ncredentials:\n  password: x\n", "credential \"password\" is not one of"},
		{tandem.AssetComponent, "name: c\ntype: command\nenvironment: azureml:e:1\ncommand: run ${{inputs.nope}}\n", "no such input"},
		{tandem.AssetComponent, "name: c\ntype: command\nenvironment: azureml:e:1\ncommand: x\ninputs:\n  n:\n    type: integer\n    default: ten\n", "default \"ten\" is not a valid integer"},
		{tandem.AssetPipeline, "name: p\ntype: pipeline\njobs:\n  a:\n    type: command\n    component: azureml:c:1\n    inputs:\n      x: ${{parent.inputs.missing}}\n", "no such input"},
		{tandem.AssetPipeline, "name: p\ntype: pipeline\njobs:\n  a:\n    type: command\n    component: azureml:c:1\n    inputs:\n      x: ${{parent.foo}}\n", "bad.yaml:8:10: jobs.a.inputs.x: binding"},
		{tandem.AssetPipeline, "name: p\ntype: pipeline\njobs:\n  a:\n    type: command\n    component: azureml:c:1\n    inputs:\n      x: ${{parent.jobs.b.outputs.o}}\n  b:\n    type: command\n    component: azureml:c:1\n    inputs:\n      x: ${{parent.jobs.a.outputs.o}}\n", "cycle"},
		{tandem.AssetModel, "name: m\npath: x\n---\nname: n\n", "bad.yaml:3:1: one asset per file"},
		{tandem.AssetModel, "name: &a m\npath: *a\n", "anchors and aliases"},
		{tandem.AssetModel, "name: m\npath: x\n  bad: indent\n", "bad.yaml: "},
		{tandem.AssetModel, "", "bad.yaml: empty file"},
		{tandem.AssetModel, "name: latest-model\nversion: latest\npath: x\n", "\"latest\" is reserved"},
	}
	for _, c := range cases {
		_, err := assetyaml.Load("bad.yaml", []byte(c.yaml), c.kind)
		if err == nil {
			t.Errorf("%q loaded; want error %q", c.yaml, c.want)
			continue
		}
		if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(tandem.ErrorMessage(err), c.want) {
			t.Errorf("%q: error %q (code %s); want it to contain %q", c.yaml, tandem.ErrorMessage(err), tandem.ErrorCode(err), c.want)
		}
	}
}

func TestCollectFiles(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "docker", "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "docker", "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "docker", "sub", "a.txt"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(dir, "conda.yaml"), []byte("name: x\n"), 0o644)
	env := &tandem.Environment{Build: &tandem.BuildContext{Path: "docker"}, CondaFile: "conda.yaml"}
	files, err := assetyaml.CollectFiles(dir, env)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Path)
	}
	if strings.Join(got, ",") != "conda.yaml,docker/Dockerfile,docker/sub/a.txt" {
		t.Fatalf("files = %v", got)
	}
	os.MkdirAll(filepath.Join(dir, "empty"), 0o755)
	if _, err := assetyaml.CollectFiles(dir, &tandem.Data{Type: "uri_folder", Path: "empty"}); err == nil {
		t.Fatal("empty folder accepted")
	}
}

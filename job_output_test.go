package tandem_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func TestValidateOutputAsset(t *testing.T) {
	cases := []struct {
		typ, name, version string
		want               string // "" = valid
	}{
		{"uri_folder", "clean", "", ""},
		{"uri_file", "report", "3", ""},
		{"mltable", "table", "2024.1", ""},
		{"mlflow_model", "iris", "", ""},
		{"mlflow_model", "iris", "7", ""},
		{"uri_folder", "", "1", "a version needs a name"},
		{"uri_folder", "-x", "", "invalid name"},
		{"uri_file", "d", "latest", "invalid version"},
		{"mlflow_model", "iris", "v1", "version number"},
		{"mlflow_model", "iris", "0", "version number"},
		{"custom_model", "m", "", "cannot be registered"},
		{"triton_model", "m", "", "cannot be registered"},
	}
	for _, c := range cases {
		err := tandem.ValidateOutputAsset(c.typ, c.name, c.version)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %q %q: %v", c.typ, c.name, c.version, err)
		case c.want != "" && (err == nil || tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %q %q: got %v, want %q", c.typ, c.name, c.version, err, c.want)
		}
	}
	if tandem.OutputAssetKind("uri_file") != tandem.AssetData || tandem.OutputAssetKind("mlflow_model") != tandem.AssetModel || tandem.OutputAssetKind("custom_model") != "" {
		t.Fatal("OutputAssetKind")
	}
}

// TestJobSpecOutputAssets: a command job's named outputs, and a
// pipeline's step outputs named in the step or through the pipeline
// output they bind; unnamed ones are not listed.
func TestJobSpecOutputAssets(t *testing.T) {
	cmd := tandem.JobSpec{Type: "command", Command: "x ${{outputs.a}}", Outputs: map[string]*tandem.JobOutput{
		"a": {Type: "uri_folder", Name: "clean", Version: "1"}, "b": {Type: "uri_folder"}, "m": {Type: "mlflow_model", Name: "iris"}}}
	if err := cmd.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []tandem.OutputAsset{{Where: "outputs.a", Type: "uri_folder", Name: "clean", Version: "1"}, {Where: "outputs.m", Type: "mlflow_model", Name: "iris"}}
	if got := cmd.OutputAssets(); !reflect.DeepEqual(got, want) {
		t.Fatalf("command: %+v", got)
	}
	p := &tandem.Pipeline{Type: "pipeline", Outputs: map[string]*tandem.Port{"final": {Type: "uri_file", Name: "report", Version: "2"}, "plain": {Type: "uri_folder"}},
		Jobs: map[string]*tandem.PipelineStep{
			"prep": {Type: "command", Component: "azureml:prep:1", OutputPorts: map[string]*tandem.Port{"clean": {Type: "uri_folder", Name: "clean-data"}}},
			"eval": {Type: "command", Component: "azureml:eval:1", Outputs: map[string]string{"r": "${{parent.outputs.final}}", "p": "${{parent.outputs.plain}}"}},
		}}
	spec := tandem.JobSpec{Type: "pipeline", Pipeline: p}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	want = []tandem.OutputAsset{{Where: "jobs.eval.outputs.r", Type: "uri_file", Name: "report", Version: "2"}, {Where: "jobs.prep.outputs.clean", Type: "uri_folder", Name: "clean-data"}}
	if got := spec.OutputAssets(); !reflect.DeepEqual(got, want) {
		t.Fatalf("pipeline: %+v", got)
	}
	// The checks apply to a spec sent straight to the API, too.
	bad := cmd
	bad.Outputs = map[string]*tandem.JobOutput{"a": {Type: "custom_model", Name: "m"}}
	if err := bad.Validate(); tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), `output "a"`) {
		t.Fatalf("custom_model named: %v", err)
	}
	p.Jobs["prep"].OutputPorts["clean"].Version = "latest"
	if err := spec.Validate(); tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), "latest") {
		t.Fatalf("step output version latest: %v", err)
	}
	p.Jobs["prep"].OutputPorts["clean"].Version = ""
	p.Jobs["prep"].OutputPorts = nil
	p.Jobs["prep"].InputPorts = map[string]*tandem.Port{"raw": {Type: "uri_folder", Path: "azureml:raw:1", Name: "x"}}
	if err := spec.Validate(); tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), "an input has none") {
		t.Fatalf("named input: %v", err)
	}
}

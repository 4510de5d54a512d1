package tandem

import (
	"reflect"
	"strings"
	"testing"
)

func inlinePipeline() *Pipeline {
	return &Pipeline{
		Type:   "pipeline",
		Inputs: map[string]*Port{"raw": {Type: "uri_folder", Path: "azureml:iris:1"}},
		Jobs: map[string]*PipelineStep{
			"prep": {Type: "command", Inline: &Component{
				Type: "command", Code: "src", Environment: "azureml:env:1",
				Command: "python prep.py ${{inputs.raw}} ${{outputs.clean}}",
				Inputs:  map[string]*Port{"raw": {Type: "uri_folder"}},
				Outputs: map[string]*Port{"clean": {Type: "uri_folder"}},
			}, Inputs: map[string]string{"raw": "${{parent.inputs.raw}}"}},
			"train": {Type: "command", Component: "azureml:train:1",
				Inputs: map[string]string{"data": "${{parent.jobs.prep.outputs.clean}}"}},
		},
	}
}

func TestPipelineInlineStep(t *testing.T) {
	if err := inlinePipeline().Validate(); err != nil {
		t.Fatal(err)
	}
	if got := inlinePipeline().LocalPaths(); !reflect.DeepEqual(got, []string{"src"}) {
		t.Fatalf("local paths = %v", got)
	}
	for _, c := range []struct {
		name string
		edit func(p *Pipeline)
		want string
	}{
		{"both", func(p *Pipeline) { p.Jobs["prep"].Component = "azureml:prep:1" }, "not both"},
		{"bad command", func(p *Pipeline) { p.Jobs["prep"].Inline.Command = "echo ${{inputs.nope}}" }, "jobs.prep: component: command uses ${{inputs.nope}}"},
		{"no environment", func(p *Pipeline) { p.Jobs["prep"].Inline.Environment = "" }, "environment"},
		{"unknown input", func(p *Pipeline) { p.Jobs["prep"].Inputs["extra"] = "1" }, "jobs.prep.inputs.extra: the inline component has no such input"},
		{"unknown output", func(p *Pipeline) {
			p.Jobs["prep"].OutputPorts = map[string]*Port{"more": {Type: "uri_folder"}}
		}, "jobs.prep.outputs.more: the inline component has no such output"},
		{"neither", func(p *Pipeline) { p.Jobs["prep"].Inline = nil }, "component is required"},
	} {
		p := inlinePipeline()
		c.edit(p)
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

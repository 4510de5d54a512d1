package assetyaml_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
)

// jobExamples are the job files under testdata/jobs (shared with the
// lead's integration tests).
var jobExamples = []string{
	"hello-world.yml",
	"sklearn-train.yml",
	"pipeline-three-steps.yml",
	"hello-pipeline-io.yml",
	"pipeline-components.yml",
}

func loadJobFile(t *testing.T, file string, sets ...string) *tandem.JobSpec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "jobs", file))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := assetyaml.LoadJob(file, b, sets)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

func ptr(s string) *string { return &s }

func TestLoadJobHelloWorld(t *testing.T) {
	got := loadJobFile(t, "hello-world.yml")
	want := &tandem.JobSpec{
		Type:        "command",
		Command:     `echo "hello world"`,
		Environment: "azureml:AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest",
		Compute:     "cpu-cluster",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestLoadJobTraining(t *testing.T) {
	got := loadJobFile(t, "sklearn-train.yml")
	want := &tandem.JobSpec{
		Type:           "command",
		Name:           "iris-train-01",
		DisplayName:    "Train an iris classifier",
		ExperimentName: "iris",
		Description:    "Trains a scikit-learn classifier on the iris data set and registers the\nmodel it produces.\n",
		Tags:           map[string]string{"team": "ml", "framework": "sklearn"},
		Command: "python train.py --data ${{inputs.iris}} --test ${{inputs.test_csv}} --C ${{inputs.C}}" +
			" --kernel ${{inputs.kernel}} --epochs ${{inputs.epochs}} --model ${{outputs.model}}" +
			" --checkpoints ${{ outputs.checkpoints }}",
		Code:        "src",
		Environment: "azureml:sklearn-env:3",
		Inputs: map[string]*tandem.JobInput{
			"iris":     {Type: "uri_folder", Path: "azureml:iris:1", Mode: "ro_mount"},
			"test_csv": {Type: "uri_file", Path: "data/test.csv", Mode: "download"},
			"C":        {Value: ptr("0.8")},
			"kernel":   {Value: ptr("rbf")},
			"epochs":   {Type: "integer", Value: ptr("20")},
		},
		Outputs: map[string]*tandem.JobOutput{
			"model":       {Type: "mlflow_model", Name: "iris-classifier", Version: "7"},
			"checkpoints": {Type: "uri_folder", Checkpoint: true},
			"logs":        {Type: "uri_folder"},
		},
		EnvironmentVariables: map[string]string{"MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "true", "SEED": "42"},
		Compute:              "cpu-cluster",
		InstanceCount:        1,
		TimeoutSeconds:       3600,
		Priority:             assetyaml.PriorityHigh,
		Resubmit:             &tandem.ResubmitPolicy{Policy: tandem.ResubmitAlways, MaxAttempts: 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestLoadJobPipeline(t *testing.T) {
	got := loadJobFile(t, "pipeline-three-steps.yml")
	if got.Type != "pipeline" || got.Name != "iris-pipeline-01" || got.DisplayName != "Prepare, train, evaluate" ||
		got.ExperimentName != "iris" || got.Compute != "cpu-cluster" || got.Priority != 5 ||
		got.Tags["stage"] != "dev" || got.Description == "" ||
		!reflect.DeepEqual(got.Resubmit, &tandem.ResubmitPolicy{Policy: tandem.ResubmitOnRegionFailure, MaxAttempts: 2}) {
		t.Fatalf("job fields: %+v", got)
	}
	p := got.Pipeline
	if p.Type != "pipeline" || p.DisplayName != got.DisplayName || p.ExperimentName != "iris" {
		t.Fatalf("pipeline fields: %+v", p)
	}
	if !reflect.DeepEqual(p.Settings, map[string]string{"continue_on_step_failure": "false", "default_datastore": "azureml:workspaceblobstore"}) {
		t.Fatalf("settings = %v", p.Settings)
	}
	if p.Inputs["raw"].Path != "azureml:iris:1" || p.Inputs["epochs"].Type != "integer" || *p.Inputs["epochs"].Default != "20" ||
		p.Outputs["trained"].Type != "mlflow_model" {
		t.Fatalf("pipeline ports: %+v %+v", p.Inputs, p.Outputs)
	}
	if len(p.Jobs) != 3 {
		t.Fatalf("steps: %v", tandem.SortedKeys(p.Jobs))
	}
	prep, train, eval := p.Jobs["prep"], p.Jobs["train"], p.Jobs["evaluate"]
	for name, s := range p.Jobs {
		if s.Type != "command" || s.Component != "" || s.Inline == nil || s.Inline.Code != "src" {
			t.Fatalf("step %s: %+v", name, s)
		}
	}
	// prep: written in the step; its ports come from the step's inputs
	// and outputs.
	if prep.Inline.Environment != "azureml:sklearn-env@latest" || prep.Inputs["raw"] != "${{parent.inputs.raw}}" ||
		prep.Inline.Inputs["raw"].Type != "uri_folder" || prep.OutputPorts["clean"].Type != "uri_folder" ||
		prep.Inline.Outputs["clean"].Type != "uri_folder" {
		t.Fatalf("prep: %+v inline %+v", prep, prep.Inline)
	}
	// train: data from prep, a pipeline literal, a literal of its own, an
	// output bound to the pipeline's (typed by it).
	wantIn := map[string]string{"data": "${{parent.jobs.prep.outputs.clean}}", "epochs": "${{parent.inputs.epochs}}", "lr": "0.01"}
	if !reflect.DeepEqual(train.Inputs, wantIn) || train.Outputs["model"] != "${{parent.outputs.trained}}" ||
		train.Compute != "gpu-cluster" || train.Inline.DisplayName != "Train" {
		t.Fatalf("train: %+v", train)
	}
	types := map[string]string{}
	for n, port := range train.Inline.Inputs {
		types["in."+n] = port.Type
	}
	for n, port := range train.Inline.Outputs {
		types["out."+n] = port.Type
	}
	if !reflect.DeepEqual(types, map[string]string{"in.data": "uri_folder", "in.epochs": "integer", "in.lr": "number", "out.model": "mlflow_model"}) {
		t.Fatalf("train's derived ports: %v", types)
	}
	if !strings.HasPrefix(train.Inline.Command, "python train.py --data ${{inputs.data}}") {
		t.Fatalf("train command %q", train.Inline.Command)
	}
	// evaluate: an inline component mapping with its own declared ports.
	if eval.Inline.Inputs["threshold"].Type != "number" || *eval.Inline.Inputs["threshold"].Default != "0.9" ||
		eval.Inputs["model"] != "${{parent.jobs.train.outputs.model}}" || eval.OutputPorts["report"].Mode != "upload" {
		t.Fatalf("evaluate: %+v inline %+v", eval, eval.Inline)
	}
	if lp := p.LocalPaths(); !reflect.DeepEqual(lp, []string{"src", "src", "src"}) {
		t.Fatalf("local paths = %v", lp)
	}
}

func TestLoadJobPipelineExamples(t *testing.T) {
	io := loadJobFile(t, "hello-pipeline-io.yml")
	if io.Compute != "cpu-cluster" || io.Pipeline.Settings["default_compute"] != "cpu-cluster" {
		t.Fatalf("default compute: %q %v", io.Compute, io.Pipeline.Settings)
	}
	w := io.Pipeline.Jobs["world_job"]
	if w.Inline.Inputs["world_input"].Type != "uri_folder" || io.Pipeline.Jobs["hello_job"].Inline.Outputs["world_output"] == nil {
		t.Fatalf("hello-pipeline-io: %+v", io.Pipeline.Jobs)
	}
	c := loadJobFile(t, "pipeline-components.yml")
	prep, train := c.Pipeline.Jobs["prep"], c.Pipeline.Jobs["train"]
	if prep.Type != "command" || prep.Component != "azureml:prep@latest" || prep.Inline != nil ||
		train.Component != "train.yaml" || train.Compute != "gpu-cluster" {
		t.Fatalf("component steps: %+v %+v", prep, train)
	}
	if lp := c.Pipeline.LocalPaths(); !reflect.DeepEqual(lp, []string{"train.yaml"}) {
		t.Fatalf("local paths = %v", lp)
	}
	// A data input of a component step defaults to uri_folder; an empty
	// component with a command is an inline step.
	y := "type: pipeline\njobs:\n  a:\n    component: azureml:c:1\n    inputs:\n      d:\n        path: ./data\n" +
		"  b:\n    component:\n    command: echo\n    environment: azureml:e:1\n"
	spec, err := assetyaml.LoadJob("job.yml", []byte(y), nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := spec.Pipeline.Jobs["a"], spec.Pipeline.Jobs["b"]; a.InputPorts["d"].Type != "uri_folder" || a.InputPorts["d"].Path != "data" || b.Inline == nil || b.Component != "" {
		t.Fatalf("steps: %+v %+v", a, b)
	}
}

// TestLoadJobErrors: each mistake is EINVALID naming the file, line and
// column of the node at fault (or the --set that made it).
func TestLoadJobErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		sets       []string
		want       string // prefix of the message
	}{
		{"unknown field", "command: x\nfoo: 1\n", nil, "job.yml:2:1: unknown field \"foo\" in command job (allowed: $schema,"},
		{"command list", "command: [a]\n", nil, "job.yml:1:10: expected a string, got a list"},
		{"tags list", "command: x\ntags: [a]\n", nil, "job.yml:2:7: tags must be a mapping of strings"},
		{"missing input", "command: echo ${{inputs.missing}}\n", nil, "job.yml:1:10: command uses ${{inputs.missing}}, but there is no input"},
		{"foo binding", "command: echo ${{foo}}\n", nil, "job.yml:1:10: command: ${{foo}} must be ${{inputs.NAME}} or"},
		{"missing output", "inputs:\n  a: 1\ncommand: echo ${{inputs.a}} ${{outputs.nope}}\n", nil, "job.yml:3:10: command uses ${{outputs.nope}}, but there is no output"},
		{"unterminated", "command: echo ${{inputs.x\ninputs:\n  x: 1\n", nil, "job.yml:1:10: command: a ${{ is not closed by }}"},
		{"no command", "environment: azureml:e:1\n", nil, "job.yml:1:1: command is required"},
		{"inline env", "command: x\nenvironment:\n  image: python:3.11\n", nil, "job.yml:3:3: environment: an inline environment is not supported;"},
		{"bad env ref", "command: x\nenvironment: azureml:env\n", nil, "job.yml:2:14: environment: reference \"azureml:env\" must be"},
		{"code ref", "command: x\ncode: azureml:code:1\n", nil, "job.yml:2:7: code \"azureml:code:1\": only a local folder is supported"},
		{"code dot", "command: x\ncode: ./\n", nil, "job.yml:2:7: code \"./\": name a folder below the job file's folder"},
		{"code outside", "command: x\ncode: ../src\n", nil, "job.yml:2:7: code: local path \"../src\" must be inside the YAML file's"},
		{"input null", "command: x\ninputs:\n  a:\n", nil, "job.yml:3:5: inputs.a: empty value; give a literal, {type, path,"},
		{"input binding", "command: x\ninputs:\n  a: ${{parent.inputs.x}}\n", nil, "job.yml:3:6: inputs.a: a command job's input is a literal or data,"},
		{"input no path", "command: x\ninputs:\n  a:\n    type: uri_file\n", nil, "job.yml:4:5: inputs.a needs a path (data) or a value (a literal)"},
		{"input bad type", "command: x\ninputs:\n  a:\n    type: uri_blob\n    path: ./d\n", nil, "job.yml:4:11: inputs.a.type must be one of uri_folder, uri_file,"},
		{"input bad mode", "command: x\ninputs:\n  a:\n    path: ./d\n    mode: rw_mount\n", nil, "job.yml:5:11: inputs.a.mode must be one of ro_mount, download,"},
		{"input value and path", "command: x\ninputs:\n  a:\n    value: 1\n    path: ./d\n", nil, "job.yml:5:11: inputs.a: an input has a value (a literal) or a path"},
		{"input value not int", "command: x\ninputs:\n  a:\n    type: integer\n    value: 1.5\n", nil, "job.yml:5:12: inputs.a.value \"1.5\" is not a valid integer"},
		{"input list", "command: x\ninputs:\n  a: [1]\n", nil, "job.yml:3:6: inputs.a must be a literal or a mapping, got a list"},
		{"input name", "command: x\ninputs:\n  1x: 1\n", nil, "job.yml:3:3: inputs: input \"1x\": names use letters, digits and '_',"},
		{"input unknown key", "command: x\ninputs:\n  a:\n    path: ./d\n    optional: true\n", nil, "job.yml:5:5: unknown field \"optional\" in inputs.a (allowed: mode,"},
		{"output path", "command: x\noutputs:\n  o:\n    path: azureml://datastores/x/paths/y\n", nil, "job.yml:4:5: outputs.o.path: a custom output location is not"},
		{"output type", "command: x\noutputs:\n  o:\n    type: integer\n", nil, "job.yml:4:11: outputs.o.type must be one of uri_folder, uri_file,"},
		{"output mode", "command: x\noutputs:\n  o:\n    mode: ro_mount\n", nil, "job.yml:4:11: outputs.o.mode must be one of rw_mount, upload, got"},
		{"output checkpoint model", "command: x\noutputs:\n  o:\n    type: mlflow_model\n    checkpoint: true\n", nil, "job.yml:5:17: outputs.o.checkpoint: a checkpoint output is a"},
		{"output version no name", "command: x\noutputs:\n  o:\n    version: 1\n", nil, "job.yml:4:14: outputs.o.version: a version needs a name (the asset"},
		{"output model version", "command: x\noutputs:\n  o:\n    type: mlflow_model\n    name: m\n    version: v2\n", nil, "job.yml:6:14: outputs.o.version: an mlflow_model output's version is the registered model's version number, got \"v2\""},
		{"output custom model name", "command: x\noutputs:\n  o:\n    type: custom_model\n    name: m\n", nil, "job.yml:5:11: outputs.o.name: a custom_model output cannot be registered"},
		{"output data bad name", "command: x\noutputs:\n  o:\n    name: -d\n", nil, "job.yml:4:11: outputs.o.name: invalid name \"-d\""},
		{"output data latest", "command: x\noutputs:\n  o:\n    type: uri_file\n    name: d\n    version: latest\n", nil, "job.yml:6:14: outputs.o.version: invalid version \"latest\""},
		{"p step output custom name", "type: pipeline\njobs:\n  a:\n    command: echo ${{outputs.o}}\n    environment: azureml:e:1\n    outputs:\n      o:\n        type: triton_model\n        name: m\n", nil, "job.yml:9:15: jobs.a.outputs.o.name: a triton_model output cannot be"},
		{"p output version no name", "type: pipeline\noutputs:\n  r:\n    version: 3\njobs:\n  a:\n    command: echo ${{outputs.o}}\n    environment: azureml:e:1\n    outputs:\n      o: ${{parent.outputs.r}}\n", nil, "job.yml:4:14: outputs.r.version: a version needs a name"},
		{"output scalar", "command: x\noutputs:\n  o: folder\n", nil, "job.yml:3:6: outputs.o must be a mapping"},
		{"instance_type", "command: x\nresources:\n  instance_count: 2\n  instance_type: Standard_NC6\n", nil, "job.yml:4:3: resources.instance_type: not supported: tandem runs a"},
		{"instance_count 0", "command: x\nresources:\n  instance_count: 0\n", nil, "job.yml:3:19: resources.instance_count must be at least 1, got 0"},
		{"timeout negative", "command: x\nlimits:\n  timeout: -1\n", nil, "job.yml:3:12: limits.timeout is in seconds and cannot be negative,"},
		{"timeout text", "command: x\nlimits:\n  timeout: 1h\n", nil, "job.yml:3:12: expected an integer, got \"1h\""},
		{"distribution mpi", "command: x\ndistribution:\n  type: mpi\n  process_count_per_instance: 2\n", nil, "job.yml:3:9: distribution type mpi needs an MPI launcher (mpirun)"},
		{"distribution tensorflow per instance", "command: x\ndistribution:\n  type: tensorflow\n  process_count_per_instance: 2\n", nil, "job.yml:4:31: distribution tensorflow has no process_count_per_instance"},
		{"distribution pytorch workers", "command: x\ndistribution:\n  type: pytorch\n  worker_count: 2\n", nil, "job.yml:4:17: distribution pytorch has no worker_count"},
		{"distribution tensorflow workers 0", "command: x\ndistribution:\n  type: tensorflow\n  worker_count: 0\n", nil, "job.yml:4:17: distribution.worker_count must be at least 1"},
		{"distribution tensorflow ps -1", "command: x\ndistribution:\n  type: tensorflow\n  parameter_server_count: -1\n", nil, "job.yml:4:27: distribution.parameter_server_count must be at least 0"},
		{"distribution no type", "command: x\ndistribution:\n  process_count_per_instance: 2\n", nil, "job.yml:3:3: distribution.type is required (pytorch or tensorflow)"},
		{"distribution count 0", "command: x\ndistribution:\n  type: pytorch\n  process_count_per_instance: 0\n", nil, "job.yml:4:31: distribution.process_count_per_instance must be at least 1"},
		{"distribution in pipeline", "type: pipeline\ndistribution:\n  type: pytorch\njobs:\n  a:\n    command: echo\n    environment: azureml:e:1\n", nil, "job.yml:2:1: distribution: a pipeline job has no distribution of its own"},
		{"identity", "command: x\nidentity:\n  type: user_identity\n", nil, "job.yml:2:1: identity: not supported: a job runs with a token scoped"},
		{"resubmit policy", "command: x\nresubmit:\n  policy: sometimes\n", nil, "job.yml:3:11: resubmit.policy must be always, on_region_failure or"},
		{"resubmit attempts", "command: x\nresubmit:\n  max_attempts: 0\n", nil, "job.yml:3:17: resubmit.max_attempts counts attempts in all, the first"},
		{"priority word", "command: x\npriority: urgent\n", nil, "job.yml:2:11: priority must be an integer (higher starts first) or"},
		{"priority twice", "command: x\npriority: 3\nqueue_settings:\n  priority: low\n", nil, "job.yml:4:13: priority is already set at line 2: use priority or"},
		{"queue priority number", "command: x\nqueue_settings:\n  priority: 3\n", nil, "job.yml:3:13: queue_settings.priority must be low, medium or high,"},
		{"job_tier", "command: x\nqueue_settings:\n  job_tier: Spot\n", nil, "job.yml:3:3: queue_settings.job_tier: not supported: tandem has no"},
		{"bad name", "name: -bad\ncommand: x\n", nil, "job.yml:1:7: name: job name \"-bad\": use letters, digits, '-' and '_',"},
		{"p step checkpoint model", "type: pipeline\njobs:\n  a:\n    command: echo ${{outputs.o}}\n    environment: azureml:e:1\n    outputs:\n      o:\n        type: mlflow_model\n        checkpoint: true\n", nil, "job.yml:9:21: jobs.a.outputs.o.checkpoint: a checkpoint output is a uri_folder, not mlflow_model"},
		{"p step checkpoint not bool", "type: pipeline\njobs:\n  a:\n    command: echo ${{outputs.o}}\n    environment: azureml:e:1\n    outputs:\n      o:\n        checkpoint: often\n", nil, "job.yml:8:21:"},
		{"p checkpoint input", "type: pipeline\njobs:\n  a:\n    command: echo ${{inputs.i}}\n    environment: azureml:e:1\n    inputs:\n      i:\n        type: uri_folder\n        path: ./d\n        checkpoint: true\n", nil, "job.yml:10:9: unknown field \"checkpoint\""},
		{"sweep", "type: sweep\ncommand: x\n", nil, "job.yml:1:7: type sweep: tandem runs command and pipeline jobs only"},
		{"bogus type", "type: bogus\n", nil, "job.yml:1:7: type must be command or pipeline, got \"bogus\""},
		{"jobs in command", "command: x\njobs:\n  a:\n    command: y\n", nil, "job.yml:2:1: jobs: a field of pipeline jobs: add type: pipeline"},
		{"alias", "command: &c x\ndescription: *c\n", nil, "job.yml:1:10: YAML anchors and aliases are not supported in asset"},
		{"two docs", "command: x\n---\ncommand: y\n", nil, "job.yml:2:1: one job per file: a second YAML document starts here"},
		{"scalar root", "hello\n", nil, "job.yml:1:1: a job file must be a mapping, got a scalar"},
		{"env var name", "command: x\nenvironment_variables:\n  \"A=B\": 1\n", nil, "job.yml:3:3: environment_variables: \"A=B\" is not a variable name"},
		{"repeated key", "command: x\ncommand: y\n", nil, "job.yml:2:1: command job: field \"command\" is repeated"},
		{"p missing parent input", "type: pipeline\njobs:\n  a:\n    command: echo ${{outputs.o}}\n    environment: azureml:e:1\n    outputs:\n      o:\n  b:\n    command: echo ${{inputs.i}}\n    environment: azureml:e:1\n    inputs:\n      i: ${{parent.inputs.nope}}\n", nil, "job.yml:12:10: jobs.b.inputs.i binds ${{parent.inputs.nope}}, but the"},
		{"p missing step", "type: pipeline\njobs:\n  a:\n    command: echo ${{outputs.o}}\n    environment: azureml:e:1\n    outputs:\n      o:\n  b:\n    command: echo ${{inputs.i}}\n    environment: azureml:e:1\n    inputs:\n      i: ${{parent.jobs.c.outputs.o}}\n", nil, "job.yml:12:10: jobs.b.inputs.i binds an output of step \"c\", which"},
		{"p missing step output", "type: pipeline\njobs:\n  a:\n    command: echo ${{outputs.o}}\n    environment: azureml:e:1\n    outputs:\n      o:\n  b:\n    command: echo ${{inputs.i}}\n    environment: azureml:e:1\n    inputs:\n      i: ${{parent.jobs.a.outputs.x}}\n", nil, "job.yml:12:10: jobs.b.inputs.i binds ${{parent.jobs.a.outputs.x}},"},
		{"p self", "type: pipeline\njobs:\n  a:\n    command: echo ${{outputs.o}}\n    environment: azureml:e:1\n    outputs:\n      o:\n  b:\n    command: echo ${{inputs.i}} ${{outputs.o}}\n    environment: azureml:e:1\n    inputs:\n      i: ${{parent.jobs.b.outputs.o}}\n    outputs:\n      o:\n", nil, "job.yml:12:10: jobs.b.inputs.i: a step cannot bind its own output"},
		{"p output literal", "type: pipeline\njobs:\n  a:\n    command: echo ${{outputs.o}}\n    environment: azureml:e:1\n    outputs:\n      o: ./out\n", nil, "job.yml:7:10: jobs.a.outputs.o: a step output binds"},
		{"p input binds output", "type: pipeline\noutputs:\n  r:\njobs:\n  a:\n    command: echo ${{inputs.i}}\n    environment: azureml:e:1\n    inputs:\n      i: ${{parent.outputs.r}}\n", nil, "job.yml:9:10: jobs.a.inputs.i: an input cannot bind a pipeline output"},
		{"p bad binding syntax", "type: pipeline\njobs:\n  a:\n    command: echo ${{inputs.i}}\n    environment: azureml:e:1\n    inputs:\n      i: ${{parent.foo}}\n", nil, "job.yml:7:10: jobs.a.inputs.i: binding \"${{parent.foo}}\" must be"},
		{"p step cmd missing input", "type: pipeline\njobs:\n  a:\n    command: echo ${{inputs.nope}}\n    environment: azureml:e:1\n", nil, "job.yml:4:14: jobs.a.command uses ${{inputs.nope}}, but there is no"},
		{"p step cmd parent", "type: pipeline\ninputs:\n  x: 1\njobs:\n  a:\n    command: echo ${{parent.inputs.x}}\n    environment: azureml:e:1\n", nil, "job.yml:6:14: jobs.a.command: ${{parent.inputs.x}} must be"},
		{"p step no env", "type: pipeline\njobs:\n  a:\n    command: echo hi\n", nil, "job.yml:3:3: jobs.a: an inline step needs an environment"},
		{"p step inline env", "type: pipeline\njobs:\n  a:\n    command: echo hi\n    environment:\n      image: python\n", nil, "job.yml:6:7: jobs.a.environment: an inline environment is not"},
		{"p step ref and command", "type: pipeline\njobs:\n  a:\n    component: azureml:c:1\n    command: echo hi\n", nil, "job.yml:5:5: jobs.a.command: a step that runs component \"azureml:c:1\""},
		{"p step mapping and command", "type: pipeline\njobs:\n  a:\n    component:\n      command: echo\n      environment: azureml:e:1\n    command: echo hi\n", nil, "job.yml:7:5: jobs.a.command: an inline component is written either as"},
		{"p step nothing", "type: pipeline\njobs:\n  a:\n    compute: cpu\n", nil, "job.yml:3:3: jobs.a: a step needs a component (azureml:NAME:VERSION,"},
		{"p comp unknown input", "type: pipeline\njobs:\n  a:\n    component:\n      command: echo\n      environment: azureml:e:1\n    inputs:\n      x: 1\n", nil, "job.yml:8:7: jobs.a.inputs.x: the step's component has no input \"x\""},
		{"p comp required input", "type: pipeline\njobs:\n  a:\n    component:\n      command: echo ${{inputs.x}}\n      environment: azureml:e:1\n      inputs:\n        x:\n          type: string\n", nil, "job.yml:3:3: jobs.a: input \"x\" of the step's component is required"},
		{"p comp cmd missing", "type: pipeline\njobs:\n  a:\n    component:\n      command: echo ${{inputs.x}}\n      environment: azureml:e:1\n", nil, "job.yml:5:16: jobs.a.command uses ${{inputs.x}}, but there is no"},
		{"p comp unknown field", "type: pipeline\njobs:\n  a:\n    component:\n      command: echo\n      environment: azureml:e:1\n      resources: {}\n", nil, "job.yml:7:7: unknown field \"resources\" in jobs.a.component (allowed:"},
		{"p step sweep", "type: pipeline\njobs:\n  a:\n    type: sweep\n    command: echo\n    environment: azureml:e:1\n", nil, "job.yml:4:11: jobs.a.type: steps are command steps, got \"sweep\""},
		{"p step unknown", "type: pipeline\njobs:\n  a:\n    command: echo\n    environment: azureml:e:1\n    resources:\n      instance_count: 2\n", nil, "job.yml:6:5: unknown field \"resources\" in jobs.a (allowed: code,"},
		{"p settings unknown", "type: pipeline\nsettings:\n  default_environment: azureml:e:1\njobs:\n  a:\n    command: echo\n    environment: azureml:e:1\n", nil, "job.yml:3:3: unknown field \"default_environment\" in settings"},
		{"p settings bool", "type: pipeline\nsettings:\n  continue_on_step_failure: maybe\njobs:\n  a:\n    command: echo\n    environment: azureml:e:1\n", nil, "job.yml:3:29: expected true or false, got \"maybe\""},
		{"p compute differs", "type: pipeline\ncompute: azureml:a\nsettings:\n  default_compute: azureml:b\njobs:\n  a:\n    command: echo\n    environment: azureml:e:1\n", nil, "job.yml:4:20: settings.default_compute \"b\" and compute \"a\" (line 2)"},
		{"p no jobs", "type: pipeline\ndisplay_name: x\n", nil, "job.yml:1:1: jobs is required: a pipeline job has at least one step"},
		{"p empty jobs", "type: pipeline\njobs: {}\n", nil, "job.yml:2:7: jobs is required: a pipeline job has at least one step"},
		{"p top command", "type: pipeline\ncommand: echo\njobs:\n  a:\n    command: echo\n    environment: azureml:e:1\n", nil, "job.yml:2:1: command: a pipeline job has no command of its own: put"},
		{"p cycle", "type: pipeline\njobs:\n  a:\n    command: echo ${{inputs.i}} ${{outputs.o}}\n    environment: azureml:e:1\n    inputs:\n      i: ${{parent.jobs.b.outputs.o}}\n    outputs:\n      o:\n  b:\n    command: echo ${{inputs.i}} ${{outputs.o}}\n    environment: azureml:e:1\n    inputs:\n      i: ${{parent.jobs.a.outputs.o}}\n    outputs:\n      o:\n", nil, "job.yml:14:10: jobs.b.inputs.i: the steps form a cycle: a -> b -> a"},
		{"p output unknown pipeline", "type: pipeline\njobs:\n  a:\n    command: echo ${{outputs.o}}\n    environment: azureml:e:1\n    outputs:\n      o: ${{parent.outputs.r}}\n", nil, "job.yml:7:10: jobs.a.outputs.o binds ${{parent.outputs.r}}, but the"},
		{"p bad name", "type: pipeline\nname: a/b\njobs:\n  a:\n    command: echo\n    environment: azureml:e:1\n", nil, "job.yml:2:7: name: job name \"a/b\": use letters, digits, '-' and '_',"},
		{"set no eq", "command: x\n", []string{"compute"}, "job.yml: --set compute: expected key.path=value"},
		{"set empty seg", "command: x\n", []string{"inputs..x=1"}, "job.yml: --set inputs..x=1: empty name in the key path \"inputs..x\""},
		{"set through scalar", "command: x\n", []string{"command.x=1"}, "job.yml: --set command.x=1: command is a scalar (line 1), not a"},
		{"set through list", "command: x\ntags: [a]\n", []string{"tags.x=1"}, "job.yml: --set tags.x=1: tags is a list (line 2), not a mapping"},
		{"set bad int", "command: x\n", []string{"resources.instance_count=abc"}, "job.yml: --set resources.instance_count=abc: expected an integer, got"},
		{"set unknown", "command: x\n", []string{"foo=1"}, "job.yml: --set foo=1: unknown field \"foo\" in command job (allowed:"},
		{"set nested unknown", "command: x\n", []string{"resources.gpus=1"}, "job.yml: --set resources.gpus=1: unknown field \"gpus\" in resources"},
		{"set bad binding", "command: x\n", []string{"command=echo ${{inputs.nope}}"}, "job.yml: --set command=echo ${{inputs.nope}}: command uses"},
		{"set refused", "command: x\n", []string{"resources.instance_type=Standard_NC6"}, "job.yml: --set resources.instance_type=Standard_NC6:"},
		{"set scalar root", "hello\n", []string{"a=1"}, "job.yml: --set a=1: the file's top level is a scalar (line 1), not a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec, err := assetyaml.LoadJob("job.yml", []byte(c.yaml), c.sets)
			if err == nil {
				t.Fatalf("accepted: %+v", spec)
			}
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("code %s: %v", tandem.ErrorCode(err), err)
			}
			if !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("error\n  %v\nwant prefix\n  %s", err, c.want)
			}
		})
	}
}

func TestLoadJobSet(t *testing.T) {
	base := "command: python train.py --lr ${{inputs.lr}}\ninputs:\n  lr: 0.01\n  data:\n    type: uri_folder\n    path: azureml:iris:1\ntags:\n  a: b\n"
	load := func(sets ...string) *tandem.JobSpec {
		t.Helper()
		spec, err := assetyaml.LoadJob("job.yml", []byte(base), sets)
		if err != nil {
			t.Fatal(err)
		}
		return spec
	}
	if s := load(); *s.Inputs["lr"].Value != "0.01" || s.Compute != "" || s.InstanceCount != 0 {
		t.Fatalf("without sets: %+v", s)
	}
	s := load("inputs.lr=0.1", "environment_variables.SEED=1", "compute=azureml:gpu", "resources.instance_count=2",
		"inputs.data.path=azureml:iris:2", "inputs.epochs=5", `tags.build="007"`, "tags.a=", "limits.timeout=60",
		"command=python train.py --lr ${{inputs.lr}} --epochs ${{inputs.epochs}} # keep: a comment-looking tail")
	if *s.Inputs["lr"].Value != "0.1" || *s.Inputs["epochs"].Value != "5" || s.Inputs["data"].Path != "azureml:iris:2" ||
		s.Inputs["data"].Type != "uri_folder" {
		t.Fatalf("inputs: %+v %+v", s.Inputs["lr"], s.Inputs["data"])
	}
	if s.EnvironmentVariables["SEED"] != "1" || s.Compute != "gpu" || s.InstanceCount != 2 || s.TimeoutSeconds != 60 {
		t.Fatalf("sets not applied: %+v", s)
	}
	if s.Tags["build"] != "007" || s.Tags["a"] != "" {
		t.Fatalf("tags = %v", s.Tags)
	}
	if s.Command != "python train.py --lr ${{inputs.lr}} --epochs ${{inputs.epochs}} # keep: a comment-looking tail" {
		t.Fatalf("command = %q", s.Command)
	}
	// A later --set of the same key wins; a value can replace a mapping.
	if s := load("inputs.lr=0.2", "inputs.lr=0.3", "inputs.data=literal"); *s.Inputs["lr"].Value != "0.3" || *s.Inputs["data"].Value != "literal" {
		t.Fatalf("repeated set: %+v %+v", s.Inputs["lr"], s.Inputs["data"])
	}
	// Through a pipeline's steps.
	p := loadJobFile(t, "pipeline-three-steps.yml", "jobs.train.compute=azureml:big", "inputs.epochs=50", "settings.continue_on_step_failure=true")
	if p.Pipeline.Jobs["train"].Compute != "big" || *p.Pipeline.Inputs["epochs"].Default != "50" ||
		p.Pipeline.Settings["continue_on_step_failure"] != "true" {
		t.Fatalf("pipeline sets: %+v %v", p.Pipeline.Jobs["train"], p.Pipeline.Settings)
	}
	// A typed value: a --set of a literal input keeps its YAML type.
	p = loadJobFile(t, "pipeline-three-steps.yml", "jobs.train.inputs.lr=1e-3")
	if p.Pipeline.Jobs["train"].Inline.Inputs["lr"].Type != "number" {
		t.Fatalf("lr port %+v", p.Pipeline.Jobs["train"].Inline.Inputs["lr"])
	}
}

// TestLoadJobExamplesValidate: every example passes the spec's own
// validation (LoadJob checks it, this guards the guarantee).
func TestLoadJobExamplesValidate(t *testing.T) {
	for _, f := range jobExamples {
		if err := loadJobFile(t, f).Validate(); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

// TestJobExamplesFiles: the local paths the examples name exist under
// testdata/jobs (integration tests run them), and the local component
// file loads.
func TestJobExamplesFiles(t *testing.T) {
	dir := filepath.Join("testdata", "jobs")
	for _, f := range jobExamples {
		spec := loadJobFile(t, f)
		var local []string
		if spec.Code != "" {
			local = append(local, spec.Code)
		}
		for _, in := range spec.Inputs {
			if tandem.IsLocalPath(in.Path) {
				local = append(local, in.Path)
			}
		}
		if spec.Pipeline != nil {
			local = append(local, spec.Pipeline.LocalPaths()...)
		}
		for _, p := range local {
			if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "train.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := assetyaml.Load("train.yaml", b, tandem.AssetComponent); err != nil {
		t.Fatal(err)
	}
}

// TestPipelineAssetAfterJobChanges: the asset loader takes Azure ML's
// empty outputs (a uri_folder) and keeps refusing inline steps, which only
// job files have (Marshal has no form for them).
func TestPipelineAssetAfterJobChanges(t *testing.T) {
	y := "name: p\ntype: pipeline\noutputs:\n  o:\njobs:\n  a:\n    type: command\n    component: azureml:c:1\n    outputs:\n      x:\n"
	a, err := assetyaml.Load("p.yaml", []byte(y), tandem.AssetPipeline)
	if err != nil {
		t.Fatal(err)
	}
	p := a.Spec.(*tandem.Pipeline)
	if p.Outputs["o"].Type != "uri_folder" || p.Jobs["a"].OutputPorts["x"].Type != "uri_folder" {
		t.Fatalf("empty outputs: %+v %+v", p.Outputs, p.Jobs["a"].OutputPorts)
	}
	y = "name: p\ntype: pipeline\njobs:\n  a:\n    type: command\n    command: echo\n"
	_, err = assetyaml.Load("p.yaml", []byte(y), tandem.AssetPipeline)
	if err == nil || !strings.HasPrefix(err.Error(), `p.yaml:6:5: unknown field "command" in jobs.a`) {
		t.Fatalf("inline step in a pipeline asset: %v", err)
	}
}

func TestLoadJobDistribution(t *testing.T) {
	spec, err := assetyaml.LoadJob("job.yml", []byte("command: python train.py\nresources:\n  instance_count: 2\ndistribution:\n  type: pytorch\n  process_count_per_instance: 3\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(spec.Distribution, &tandem.Distribution{Type: "pytorch", ProcessCountPerInstance: 3}) || spec.Processes() != 6 {
		t.Fatalf("distribution %+v, %d processes", spec.Distribution, spec.Processes())
	}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	spec, err = assetyaml.LoadJob("job.yml", []byte("command: x\ndistribution:\n  type: pytorch\n"), []string{"distribution.process_count_per_instance=4"})
	if err != nil || spec.Distribution.ProcessCountPerInstance != 4 || spec.Processes() != 4 {
		t.Fatalf("--set: %+v %v", spec, err)
	}
	// TensorFlow: workers (instance_count when not given) and parameter
	// servers.
	spec, err = assetyaml.LoadJob("job.yml", []byte("command: x\nresources:\n  instance_count: 3\ndistribution:\n  type: tensorflow\n  parameter_server_count: 1\n"), nil)
	if err != nil || spec.Processes() != 4 || spec.Validate() != nil {
		t.Fatalf("tensorflow: %+v %v", spec, err)
	}
	spec, err = assetyaml.LoadJob("job.yml", []byte("command: x\ndistribution:\n  type: tensorflow\n  worker_count: 2\n"), []string{"distribution.parameter_server_count=2"})
	if err != nil || !reflect.DeepEqual(spec.Distribution, &tandem.Distribution{Type: "tensorflow", WorkerCount: 2, ParameterServerCount: 2}) || spec.Processes() != 4 {
		t.Fatalf("tensorflow --set: %+v %v", spec, err)
	}
}

// TestLoadJobPipelineCheckpoint: a step's output (written in the step or
// declared by an inline component) may be its checkpoint folder; it
// round-trips through the job's YAML form.
func TestLoadJobPipelineCheckpoint(t *testing.T) {
	src := `type: pipeline
jobs:
  train:
    command: python train.py --ckpt ${{outputs.ckpt}}
    environment: azureml:e:1
    outputs:
      ckpt:
        checkpoint: true
  score:
    component:
      type: command
      command: python score.py --state ${{outputs.state}}
      environment: azureml:e:1
      outputs:
        state:
          type: uri_folder
          checkpoint: true
`
	spec, err := assetyaml.LoadJob("job.yml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	train, score := spec.Pipeline.Jobs["train"], spec.Pipeline.Jobs["score"]
	if !train.OutputPorts["ckpt"].Checkpoint || !train.Inline.Outputs["ckpt"].Checkpoint || train.Inline.Outputs["ckpt"].Type != "uri_folder" {
		t.Fatalf("train: %+v inline %+v", train.OutputPorts["ckpt"], train.Inline.Outputs["ckpt"])
	}
	if !score.Inline.Outputs["state"].Checkpoint {
		t.Fatalf("score: %+v", score.Inline.Outputs["state"])
	}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	// A component asset's checkpoint output round-trips through its
	// canonical YAML.
	comp := "name: trainer\nversion: \"1\"\ntype: command\ncommand: python t.py --ckpt ${{outputs.ckpt}}\nenvironment: azureml:e:1\noutputs:\n  ckpt:\n    type: uri_folder\n    checkpoint: true\n"
	a, err := assetyaml.Load("c.yml", []byte(comp), tandem.AssetComponent)
	if err != nil {
		t.Fatal(err)
	}
	b, err := assetyaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	again, err := assetyaml.Load("again.yml", b, tandem.AssetComponent)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !again.Spec.(*tandem.Component).Outputs["ckpt"].Checkpoint {
		t.Fatalf("the checkpoint did not round-trip:\n%s", b)
	}
}

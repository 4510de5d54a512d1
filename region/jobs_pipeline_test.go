package region_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
	"github.com/tandemml/tandem/client"
)

const pipelineYAML = `type: pipeline
experiment_name: pipelines
settings:
  continue_on_step_failure: false
jobs:
  prep:
    command: python prep.py ${{outputs.out}}
    code: ./src
    environment: azureml:stdlib:1
    outputs:
      out:
  train:
    command: python train.py ${{inputs.data}} ${{outputs.model}}
    code: ./src
    environment: azureml:stdlib:1
    inputs:
      data: ${{parent.jobs.prep.outputs.out}}
    outputs:
      model:
  evaluate:
    command: python evaluate.py ${{inputs.model}}
    code: ./src
    environment: azureml:stdlib:1
    inputs:
      model: ${{parent.jobs.train.outputs.model}}
`

const failingPipelineYAML = `type: pipeline
settings:
  continue_on_step_failure: %s
jobs:
  broken:
    command: python -c "import sys; sys.exit(5)"
    environment: azureml:stdlib:1
    outputs:
      out:
  after_broken:
    command: python -c "print('never')"
    environment: azureml:stdlib:1
    inputs:
      data: ${{parent.jobs.broken.outputs.out}}
  independent:
    command: python -c "import time; time.sleep(2); print('independent done')"
    environment: azureml:stdlib:1
`

// setupPipelines registers an environment built from a conda file (a
// virtualenv with no packages: its python runs the steps) and writes the
// steps' code.
func setupPipelines(t *testing.T, c *client.Client) (dir string) {
	t.Helper()
	dir = t.TempDir()
	writeFile(t, dir, "src/prep.py", "import os, sys\nos.makedirs(sys.argv[1], exist_ok=True)\nopen(os.path.join(sys.argv[1], 'data.txt'), 'w').write('1 2 3')\nprint('prepared')\n")
	writeFile(t, dir, "src/train.py", "import os, sys\nn = sum(int(x) for x in open(os.path.join(sys.argv[1], 'data.txt')).read().split())\nopen(os.path.join(sys.argv[2], 'model.txt'), 'w').write(str(n))\nprint('trained', n, 'with', sys.executable)\n")
	writeFile(t, dir, "src/evaluate.py", "import os, sys\nprint('score=' + open(os.path.join(sys.argv[1], 'model.txt')).read())\n")
	writeFile(t, dir, "env/conda.yaml", "name: stdlib\ndependencies:\n  - python=3\n  - pip\n")
	writeFile(t, dir, "env/environment.yaml", "name: stdlib\nversion: \"1\"\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\nconda_file: conda.yaml\n")
	envFile := filepath.Join(dir, "env", "environment.yaml")
	b, _ := os.ReadFile(envFile)
	env, err := assetyaml.Load(envFile, b, tandem.AssetEnvironment)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAsset(context.Background(), env, filepath.Dir(envFile)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadJob(t *testing.T, dir, name, text string) *tandem.JobSpec {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := assetyaml.LoadJob(p, []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestPipelineJobPassesDataBetweenSteps: three steps, each a child run of
// the pipeline's run, run in dependency order in a virtualenv built from
// the environment's conda file; an output of one step is the next one's
// input.
func TestPipelineJobPassesDataBetweenSteps(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs python3")
	}
	r, c, _, _ := jobRegion(t, 2)
	ctx := context.Background()
	dir := setupPipelines(t, c)
	spec := loadJob(t, dir, "pipeline.yml", pipelineYAML)
	spec.Name = "three-steps"
	if _, err := c.SubmitJob(ctx, spec, dir); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, "three-steps", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobCompleted || len(j.Attempts) != 3 {
		t.Fatalf("pipeline: %s %q, %d attempts", j.Status, j.Message, len(j.Attempts))
	}
	order := []string{}
	for _, a := range j.Attempts {
		if a.Status != tandem.AttemptCompleted || a.RunID == j.RunID {
			t.Fatalf("step attempt %+v", a)
		}
		order = append(order, a.Step)
		run, err := r.Store.GetRun(ctx, a.RunID)
		if err != nil {
			t.Fatal(err)
		}
		parent := ""
		for _, tg := range run.Tags {
			if tg.Key == "mlflow.parentRunId" {
				parent = tg.Value
			}
		}
		if parent != j.RunID || run.Info.Status != "FINISHED" {
			t.Fatalf("step %s's run: parent %q status %s", a.Step, parent, run.Info.Status)
		}
	}
	if strings.Join(order, ",") != "prep,train,evaluate" {
		t.Fatalf("steps ran in order %v", order)
	}
	logs, err := c.JobLogs(ctx, "three-steps", 0) // the newest attempt: evaluate
	if err != nil || !strings.Contains(logs.Data, "score=6") {
		t.Fatalf("evaluate's output %+v %v", logs, err)
	}
	run, _ := r.Store.GetRun(ctx, j.RunID)
	if run.Info.Status != "FINISHED" {
		t.Fatalf("pipeline run %s", run.Info.Status)
	}
}

// TestPipelineStepFailure: with continue_on_step_failure true the
// independent step still completes and the step after the failed one never
// runs; the pipeline fails. With false, the pipeline fails at once and no
// step after the failure is started.
func TestPipelineStepFailure(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs python3")
	}
	_, c, _, _ := jobRegion(t, 1) // one instance: the steps run one at a time
	ctx := context.Background()
	dir := setupPipelines(t, c)
	for _, cont := range []string{"true", "false"} {
		spec := loadJob(t, dir, "fail.yml", strings.Replace(failingPipelineYAML, "%s", cont, 1))
		spec.Name = "fail-continue-" + cont
		if _, err := c.SubmitJob(ctx, spec, dir); err != nil {
			t.Fatal(err)
		}
		j := waitJob(t, c, spec.Name, func(j *tandem.Job) bool { return j.Status.Terminal() })
		steps := map[string]tandem.AttemptStatus{}
		for _, a := range j.Attempts {
			steps[a.Step] = a.Status
		}
		if j.Status != tandem.JobFailed || steps["broken"] != tandem.AttemptFailed || !strings.Contains(j.Message, "step broken") {
			t.Fatalf("continue=%s: %s %q %v", cont, j.Status, j.Message, steps)
		}
		if _, ran := steps["after_broken"]; ran {
			t.Fatalf("continue=%s: the step after the failed one ran: %v", cont, steps)
		}
		// broken sorts before independent: with one instance it runs first.
		if cont == "true" && steps["independent"] != tandem.AttemptCompleted {
			t.Fatalf("continue=true: independent step %v", steps)
		}
		if cont == "false" && steps["independent"] == tandem.AttemptCompleted {
			t.Fatalf("continue=false: independent step ran after the failure: %v", steps)
		}
	}
}

package region_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/raytest"
)

// TestCommandJobOnRay: the command job of TestCommandJobRunsAsMLflowRun,
// on a compute of type ray (a real Ray head node on loopback): the job is
// sent through Ray's job submission API with its code as the working
// directory and tandem's environment (tracking URI, run id, token); its
// process logs into its run; its output comes back through tandem.
func TestCommandJobOnRay(t *testing.T) {
	ray := raytest.Start(t)
	r, c, _, _ := jobRegion(t, 2)
	ctx := context.Background()
	if _, err := c.PutCompute(ctx, &tandem.ComputeTarget{Name: "ray", Type: tandem.ComputeRay, Address: ray.Address, MaxInstances: 1}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "src/train.py", logScript)
	lr := "0.5"
	spec := &tandem.JobSpec{Type: "command", Name: "on-ray", Code: "./src", Compute: "azureml:ray",
		Command: "python3 train.py ${{inputs.lr}} ${{outputs.model}}",
		Inputs:  map[string]*tandem.JobInput{"lr": {Value: &lr}}, Outputs: map[string]*tandem.JobOutput{"model": {}}}
	if _, err := c.SubmitJob(ctx, spec, dir); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, "on-ray", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobCompleted || j.Attempts[0].Compute != "ray" {
		logs, _ := c.JobLogs(ctx, "on-ray", 0)
		t.Fatalf("job on ray: %+v; logs %+v", j, logs)
	}
	run, err := r.Store.GetRun(ctx, j.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Metrics) != 1 || run.Metrics[0].Value != 0.5 {
		t.Fatalf("metrics %+v", run.Metrics)
	}
	logs, err := c.JobLogs(ctx, "on-ray", 0)
	if err != nil || !strings.Contains(logs.Data, "trained with 0.5") {
		t.Fatalf("logs %+v %v", logs, err)
	}
}

func writeFile(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

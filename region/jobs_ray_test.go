package region_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/jobs"
	"github.com/tandemml/tandem/raytest"
	"github.com/tandemml/tandem/sqlstore"
)

// TestCommandJobOnRay: the command job of TestCommandJobRunsAsMLflowRun,
// on a compute of type ray (a real Ray head node on loopback): the job is
// sent through Ray's job submission API with its code as the working
// directory and tandem's environment (tracking URI, run id, token); its
// process logs into its run. Its outputs are folders of its own on the
// worker, not on the region's host, and the job uploads them itself to
// its run's artifacts: the files arrive with their bytes, the data output
// registers a data asset and the mlflow_model output a model version, and
// the region's attempt folder has no outputs at all.
func TestCommandJobOnRay(t *testing.T) {
	ray := raytest.Start(t)
	workDir := t.TempDir()
	r, c, _, _ := jobRegionAt(t, 2, workDir)
	ctx := context.Background()
	if _, err := c.PutCompute(ctx, &tandem.ComputeTarget{Name: "ray", Type: tandem.ComputeRay, Address: ray.Address, MaxInstances: 1}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "src/train.py", logScript)
	writeFile(t, dir, "src/extra.py", `import os, sys
model, data = sys.argv[1], sys.argv[2]
open(os.path.join(model, "MLmodel"), "w").write("flavors: {}\n")
os.makedirs(os.path.join(data, "part"))
open(os.path.join(data, "part", "b.bin"), "wb").write(bytes(range(256)))
print("outputs in", os.path.dirname(model), os.environ["AZUREML_OUTPUT_data"] == data)
`)
	lr := "0.5"
	spec := &tandem.JobSpec{Type: "command", Name: "on-ray", Code: "./src", Compute: "azureml:ray",
		Command: "python3 train.py ${{inputs.lr}} ${{outputs.model}} && python3 extra.py ${{outputs.model}} ${{outputs.data}}",
		Inputs:  map[string]*tandem.JobInput{"lr": {Value: &lr}},
		Outputs: map[string]*tandem.JobOutput{"model": {Type: "mlflow_model", Name: "ray-model"}, "data": {Type: "uri_folder", Name: "ray-data"}}}
	if _, err := c.SubmitJob(ctx, spec, dir); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, "on-ray", func(j *tandem.Job) bool { return j.Status.Terminal() })
	logs, err := c.JobLogs(ctx, "on-ray", 0)
	if j.Status != tandem.JobCompleted || j.Attempts[0].Compute != "ray" {
		t.Fatalf("job on ray: %+v; logs %+v %v", j, logs, err)
	}
	run, err := r.Store.GetRun(ctx, j.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Metrics) != 1 || run.Metrics[0].Value != 0.5 {
		t.Fatalf("metrics %+v", run.Metrics)
	}
	if err != nil || !strings.Contains(logs.Data, "trained with 0.5") {
		t.Fatalf("logs %+v %v", logs, err)
	}

	// The outputs were on the worker, in a temporary folder of the job's.
	m := regexp.MustCompile(`outputs in (\S+) True`).FindStringSubmatch(logs.Data)
	if m == nil || !strings.Contains(m[1], "tandem-outputs-") || strings.HasPrefix(m[1], workDir) {
		t.Fatalf("the job's output folders: %q; logs:\n%s", m, logs.Data)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Fatalf("the job's output folder %s is left: %v", m[1], err)
	}
	// The region made no output folder of the attempt's.
	attempt := filepath.Join(workDir, "jobs", "on-ray", "_", "1")
	if _, err := os.Stat(filepath.Join(attempt, "code")); err != nil {
		t.Fatalf("the attempt's folder is not where the test looks: %v", err)
	}
	if _, err := os.Stat(filepath.Join(attempt, "outputs")); !os.IsNotExist(err) {
		t.Fatalf("the region made an outputs folder for a Ray attempt: %v", err)
	}

	// They arrived in the run's artifacts, with their bytes.
	root, err := jobs.ArtifactKey(run.Info.ArtifactURI)
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"model/result.txt": "lr=0.5", "model/MLmodel": "flavors: {}\n", "data/part/b.bin": string(allBytes())} {
		key := root + "/outputs/" + rel
		if _, err := sqlstore.GetArtifact(ctx, r.Store.Reader(), key); err != nil {
			t.Fatalf("artifact outputs/%s: %v", rel, err)
		}
		rd, err := r.Blobs.Open(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rd)
		rd.Close()
		if err != nil || string(b) != want {
			t.Fatalf("artifact outputs/%s holds %q (%v), want %q", rel, b, err, want)
		}
	}
	// And were registered from there.
	_, d := dataAsset(t, r, "ray-data", "1")
	if d.Path != "runs:/"+j.RunID+"/outputs/data" {
		t.Fatalf("ray-data:1 = %+v", d)
	}
	mv, err := r.Store.GetModelVersion(ctx, "ray-model", 1)
	if err != nil || mv.RunID != j.RunID || !strings.HasSuffix(mv.Source, "/outputs/model") {
		t.Fatalf("ray-model version 1: %+v %v", mv, err)
	}
}

func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
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

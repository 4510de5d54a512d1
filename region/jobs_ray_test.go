package region_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/jobs"
	"github.com/tandemml/tandem/raytest"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
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
	workDir := t.TempDir()
	r, c := rayRegion(t, workDir)
	ctx := context.Background()
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

// countLines counts the lines of the files its arguments name (a file, or
// every file of a folder), prints where each input was, and logs the total
// as the metric "lines" into its run (stdlib only, with the job's token).
const countLines = `import json, os, sys, urllib.request
n = 0
for i, p in enumerate(sys.argv[1:]):
    print("input %d at %s" % (i, os.path.abspath(p)), flush=True)
    files = [p] if os.path.isfile(p) else sorted(os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs)
    for f in files:
        n += len(open(f).read().splitlines())
req = urllib.request.Request(os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/runs/log-metric", method="POST",
    data=json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "key": "lines", "value": n, "timestamp": 1, "step": 0}).encode(),
    headers={"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]})
urllib.request.urlopen(req).read()
print("lines", n)
`

// rayPipelineYAML: make writes a folder of 2 files (3 + 2 lines) on the
// worker, registered as ray-rows:1; count reads it as its input.
const rayPipelineYAML = `type: pipeline
experiment_name: ray-inputs
settings:
  default_compute: azureml:ray
jobs:
  make:
    command: python3 make.py ${{outputs.rows}}
    code: ./src
    environment: azureml:stdlib:1
    outputs:
      rows: {type: uri_folder, name: ray-rows, version: "1"}
  count:
    command: python3 count.py ${{inputs.rows}}
    code: ./src
    environment: azureml:stdlib:1
    inputs:
      rows: ${{parent.jobs.make.outputs.rows}}
`

const makeRows = `import os, sys
out = sys.argv[1]
os.makedirs(os.path.join(out, "part"))
open(os.path.join(out, "a.txt"), "w").write("1\n2\n3\n")
open(os.path.join(out, "part", "b.txt"), "w").write("4\n5\n")
`

// rayRegion is a job region with a compute "ray" on a real Ray head node.
func rayRegion(t *testing.T, workDir string) (*region.Region, *client.Client) {
	t.Helper()
	ray := raytest.Start(t)
	r, c, _, _ := jobRegionAt(t, 2, workDir)
	if _, err := c.PutCompute(context.Background(), &tandem.ComputeTarget{Name: "ray", Type: tandem.ComputeRay, Address: ray.Address, MaxInstances: 1}); err != nil {
		t.Fatal(err)
	}
	return r, c
}

// metric is the value of the run's metric key (-1 when it has none).
func metric(t *testing.T, r *region.Region, runID, key string) float64 {
	t.Helper()
	run, err := r.Store.GetRun(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range run.Metrics {
		if m.Key == key {
			return m.Value
		}
	}
	return -1
}

// inputPaths are the folders the count script says its inputs were in,
// checked to be none of the region's: the job read copies of its own.
func inputPaths(t *testing.T, logs, workDir string, n int) []string {
	t.Helper()
	var out []string
	for _, m := range regexp.MustCompile(`input \d+ at (\S+)`).FindAllStringSubmatch(logs, -1) {
		if strings.HasPrefix(m[1], workDir) {
			t.Errorf("the job read its input from the region's folder %s", m[1])
		}
		out = append(out, m[1])
	}
	if len(out) != n {
		t.Fatalf("%d inputs in the logs, want %d:\n%s", len(out), n, logs)
	}
	return out
}

// noStagedInputs: the region copied no input of the attempt onto its host.
func noStagedInputs(t *testing.T, attempt string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(attempt, "code")); err != nil {
		t.Fatalf("the attempt's folder is not where the test looks: %v", err)
	}
	if _, err := os.Stat(filepath.Join(attempt, "inputs")); !os.IsNotExist(err) {
		t.Fatalf("the region staged inputs on its host for a Ray attempt: %v", err)
	}
}

// TestPipelineOnRayPassesData: a two-step pipeline on Ray compute. The
// first step's output is written and uploaded by the job on its worker;
// the second step downloads it itself, from the run's artifacts through
// the region's artifact proxy, into a folder of its own (not the region's),
// and logs how many lines it read. The output registered as a data asset
// (runs:/RUN/outputs/rows) is then read the same way by a command job.
func TestPipelineOnRayPassesData(t *testing.T) {
	workDir := t.TempDir()
	r, c := rayRegion(t, workDir)
	ctx := context.Background()
	dir := setupPipelines(t, c) // the environment stdlib:1 (no packages)
	writeFile(t, dir, "src/make.py", makeRows)
	writeFile(t, dir, "src/count.py", countLines)
	spec := loadJob(t, dir, "pipeline.yml", rayPipelineYAML)
	spec.Name = "ray-pipe"
	if _, err := c.SubmitJob(ctx, spec, dir); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, "ray-pipe", func(j *tandem.Job) bool { return j.Status.Terminal() })
	logs, _ := c.JobLogs(ctx, "ray-pipe", 0) // the newest attempt: count
	if j.Status != tandem.JobCompleted || len(j.Attempts) != 2 {
		t.Fatalf("pipeline on ray: %s %q %+v; logs:\n%s", j.Status, j.Message, j.Attempts, logs.Data)
	}
	count := j.LastAttempt("count")
	if count.Compute != "ray" {
		t.Fatalf("count ran on %q", count.Compute)
	}
	if n := metric(t, r, count.RunID, "lines"); n != 5 {
		t.Fatalf("count logged lines=%v, want 5; logs:\n%s", n, logs.Data)
	}
	in := inputPaths(t, logs.Data, workDir, 1)[0]
	if !strings.Contains(in, "tandem-inputs-") {
		t.Fatalf("the input was at %s, not in a folder of the job's", in)
	}
	if _, err := os.Stat(in); !os.IsNotExist(err) {
		t.Fatalf("the job's input folder %s is left: %v", in, err)
	}
	noStagedInputs(t, filepath.Join(workDir, "jobs", "ray-pipe", "count", "1"))

	// The registered output, as a command job's input.
	_, d := dataAsset(t, r, "ray-rows", "1")
	if d.Path != "runs:/"+j.LastAttempt("make").RunID+"/outputs/rows" {
		t.Fatalf("ray-rows:1 = %+v", d)
	}
	use := &tandem.JobSpec{Type: "command", Name: "ray-use-rows", Code: "./src", Compute: "azureml:ray",
		Command: "python3 count.py ${{inputs.rows}}",
		Inputs:  map[string]*tandem.JobInput{"rows": {Type: "uri_folder", Path: "azureml:ray-rows:1"}}}
	if _, err := c.SubmitJob(ctx, use, dir); err != nil {
		t.Fatal(err)
	}
	u := waitJob(t, c, "ray-use-rows", func(j *tandem.Job) bool { return j.Status.Terminal() })
	logs, _ = c.JobLogs(ctx, "ray-use-rows", 0)
	if u.Status != tandem.JobCompleted || metric(t, r, u.RunID, "lines") != 5 {
		t.Fatalf("ray-use-rows: %s %q, lines=%v; logs:\n%s", u.Status, u.Message, metric(t, r, u.RunID, "lines"), logs.Data)
	}
	inputPaths(t, logs.Data, workDir, 1)
	noStagedInputs(t, filepath.Join(workDir, "jobs", "ray-use-rows", "_", "1"))
}

// TestCommandJobOnRayReadsDataAssets: a command job on Ray reads a data
// asset uploaded from a local folder (azureml:NAME:1), one uploaded from
// a local file, and a file of its own code folder: the first two it
// downloads itself from the region's asset API, the last travels with its
// code. It logs the lines it read.
func TestCommandJobOnRayReadsDataAssets(t *testing.T) {
	workDir := t.TempDir()
	r, c := rayRegion(t, workDir)
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, dir, "src/count.py", countLines)
	writeFile(t, dir, "src/conf/one.txt", "only\n")
	writeFile(t, dir, "data/rows/a.txt", "1\n2\n3\n4\n")
	writeFile(t, dir, "data/rows/deep/b.txt", "5\n6\n7\n")
	writeFile(t, dir, "data/notes.txt", "x\ny\n")
	writeFile(t, dir, "data/rows.yml", "name: rows\nversion: \"1\"\ntype: uri_folder\npath: ./rows\n")
	writeFile(t, dir, "data/notes.yml", "name: notes\nversion: \"1\"\ntype: uri_file\npath: ./notes.txt\n")
	for _, f := range []string{"rows.yml", "notes.yml"} {
		p := filepath.Join(dir, "data", f)
		b, _ := os.ReadFile(p)
		a, err := assetyaml.Load(p, b, tandem.AssetData)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateAsset(ctx, a, filepath.Dir(p)); err != nil {
			t.Fatal(err)
		}
	}
	spec := &tandem.JobSpec{Type: "command", Name: "ray-assets", Code: "./src", Compute: "azureml:ray",
		Command: "python3 count.py ${{inputs.rows}} ${{inputs.notes}} ${{inputs.conf}}",
		Inputs: map[string]*tandem.JobInput{
			"rows":  {Type: "uri_folder", Path: "azureml:rows:1"},
			"notes": {Type: "uri_file", Path: "azureml:notes:1"},
			"conf":  {Type: "uri_file", Path: "./src/conf/one.txt"}}}
	if _, err := c.SubmitJob(ctx, spec, dir); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, "ray-assets", func(j *tandem.Job) bool { return j.Status.Terminal() })
	logs, _ := c.JobLogs(ctx, "ray-assets", 0)
	if j.Status != tandem.JobCompleted {
		t.Fatalf("ray-assets: %s %q; logs:\n%s", j.Status, j.Message, logs.Data)
	}
	if n := metric(t, r, j.RunID, "lines"); n != 4+3+2+1 {
		t.Fatalf("the job logged lines=%v, want 10; logs:\n%s", n, logs.Data)
	}
	paths := inputPaths(t, logs.Data, workDir, 3)
	if !strings.HasSuffix(paths[0], "/rows") || !strings.HasSuffix(paths[1], "/notes.txt") || !strings.HasSuffix(paths[2], "/conf/one.txt") {
		t.Fatalf("input paths %q", paths)
	}
	if !strings.Contains(paths[0], "tandem-inputs-") || !strings.Contains(paths[1], "tandem-inputs-") {
		t.Fatalf("the data assets were at %q, not in a folder of the job's", paths[:2])
	}
	noStagedInputs(t, filepath.Join(workDir, "jobs", "ray-assets", "_", "1"))
}

// sklearnTrain is a training script that uses only the stock mlflow
// client and scikit-learn, as a data scientist writes it: it logs into the
// job's run (MLFLOW_RUN_ID), saves the model as the job's mlflow_model
// output, and prints its predictions for the first rows.
const sklearnTrain = `import sys, mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
C, out = float(sys.argv[1]), sys.argv[2]
X, y = load_iris(return_X_y=True)
with mlflow.start_run():
    mlflow.log_param("C", C)
    clf = LogisticRegression(C=C, max_iter=500).fit(X, y)
    mlflow.log_metric("accuracy", clf.score(X, y))
    mlflow.sklearn.save_model(clf, out)
    print("predictions", ",".join(str(int(p)) for p in clf.predict(X[:20])), flush=True)
`

// TestSklearnJobOnRay: the stock client's scikit-learn training on a Ray
// compute, end to end: the job logs its param and metric into its run,
// its mlflow_model output becomes a model version, and the stock
// mlflow.pyfunc.load_model of that version (from the region, with a
// token) predicts what the job's model predicted.
func TestSklearnJobOnRay(t *testing.T) {
	ray := raytest.Start(t)
	if err := exec.Command(filepath.Join(filepath.Dir(raytest.Bin(t)), "python"), "-c", "import mlflow.sklearn, sklearn").Run(); err != nil {
		t.Fatalf("the Ray venv has no mlflow and scikit-learn (scripts/ray.sh installs them): %v", err)
	}
	venv := mlflowtest.Venv(t)
	r, c, base, owner := jobRegionAt(t, 2, t.TempDir())
	ctx := context.Background()
	if _, err := c.PutCompute(ctx, &tandem.ComputeTarget{Name: "ray", Type: tandem.ComputeRay, Address: ray.Address, MaxInstances: 1}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "src/train.py", sklearnTrain)
	c0 := "0.5"
	spec := &tandem.JobSpec{Type: "command", Name: "iris-on-ray", Code: "./src", Compute: "azureml:ray",
		Command: "python train.py ${{inputs.C}} ${{outputs.model}}",
		Inputs:  map[string]*tandem.JobInput{"C": {Value: &c0}},
		Outputs: map[string]*tandem.JobOutput{"model": {Type: "mlflow_model", Name: "ray-iris"}}}
	if _, err := c.SubmitJob(ctx, spec, dir); err != nil {
		t.Fatal(err)
	}
	j := waitJobFor(t, c, "iris-on-ray", 4*time.Minute, func(j *tandem.Job) bool { return j.Status.Terminal() })
	logs, lerr := c.JobLogs(ctx, "iris-on-ray", 0)
	if lerr != nil {
		t.Logf("job logs: %v", lerr)
	}
	if j.Status != tandem.JobCompleted || j.Attempts[0].Compute != "ray" {
		t.Fatalf("job: %+v; logs:\n%s", j, logs.Data)
	}
	run, err := r.Store.GetRun(ctx, j.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Params) != 1 || run.Params[0].Value != "0.5" {
		t.Fatalf("params %+v", run.Params)
	}
	if acc := metric(t, r, j.RunID, "accuracy"); acc < 0.9 || acc > 1 {
		t.Fatalf("accuracy %v", acc)
	}
	m := regexp.MustCompile(`predictions (\S+)`).FindStringSubmatch(logs.Data)
	if m == nil {
		t.Fatalf("no predictions in the logs:\n%s", logs.Data)
	}
	mv, err := r.Store.GetModelVersion(ctx, "ray-iris", 1)
	if err != nil || mv.RunID != j.RunID {
		t.Fatalf("ray-iris version 1: %+v %v", mv, err)
	}
	load := exec.Command(filepath.Join(venv, "bin", "python"), "-c", `import mlflow.pyfunc
from sklearn.datasets import load_iris
X, _ = load_iris(return_X_y=True)
m = mlflow.pyfunc.load_model("models:/ray-iris/1")
print(",".join(str(int(p)) for p in m.predict(X[:20])))`)
	load.Env = append(os.Environ(), "MLFLOW_TRACKING_URI="+base, "MLFLOW_TRACKING_TOKEN="+owner)
	out, err := load.CombinedOutput()
	if err != nil {
		t.Fatalf("pyfunc.load_model: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if got := lines[len(lines)-1]; got != m[1] {
		t.Fatalf("the loaded model predicts %s, the job's predicted %s", got, m[1])
	}
}

// TestDistributedJobOnRay: a pytorch-distributed command job on a ray
// compute runs its ranks as one Ray job, spread by Ray, each with
// torch.distributed's variables meeting at the address Ray placed rank 0
// at; every rank logs into the job's one run.
func TestDistributedJobOnRay(t *testing.T) {
	ray := raytest.Start(t)
	r, c, _, _ := jobRegionAt(t, 2, t.TempDir())
	ctx := context.Background()
	if _, err := c.PutCompute(ctx, &tandem.ComputeTarget{Name: "ray", Type: tandem.ComputeRay, Address: ray.Address, MaxInstances: 2}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, dir, "src/rank.py", `import json, os, urllib.request
rank, world = os.environ["RANK"], os.environ["WORLD_SIZE"]
req = urllib.request.Request(os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/runs/log-metric", method="POST",
    data=json.dumps({"run_id": os.environ["MLFLOW_RUN_ID"], "key": "rank" + rank, "value": float(world), "timestamp": 1, "step": 0}).encode(),
    headers={"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]})
urllib.request.urlopen(req).read()
print("rank", rank, "of", world, "meets at", os.environ["MASTER_ADDR"] + ":" + os.environ["MASTER_PORT"])
`)
	spec := &tandem.JobSpec{Type: "command", Name: "dist-ray", Code: "./src", Compute: "azureml:ray", Command: "python3 rank.py",
		InstanceCount: 2, Distribution: &tandem.Distribution{Type: tandem.DistributionPyTorch, ProcessCountPerInstance: 1}}
	if _, err := c.SubmitJob(ctx, spec, dir); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, "dist-ray", func(j *tandem.Job) bool { return j.Status.Terminal() })
	logs, err := c.JobLogs(ctx, "dist-ray", 0)
	if err != nil || j.Status != tandem.JobCompleted {
		t.Fatalf("job: %+v; logs %+v %v", j, logs, err)
	}
	m := regexp.MustCompile(`rank 1 of 2 meets at (\S+)`).FindStringSubmatch(logs.Data)
	if m == nil || strings.Contains(m[1], "{{") || !strings.Contains(logs.Data, "all 2 ranks succeeded") {
		t.Fatalf("logs:\n%s", logs.Data)
	}
	run, err := r.Store.GetRun(ctx, j.RunID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mt := range run.Metrics {
		got[mt.Key] = mt.Value
	}
	if got["rank0"] != 2 || got["rank1"] != 2 {
		t.Fatalf("metrics %v", got)
	}
}

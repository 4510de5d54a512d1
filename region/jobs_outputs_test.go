package region_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/regiontest"
)

// makeData writes a folder output (two files) and a file output.
const makeData = `import os, sys
clean, report = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(clean, "part"), exist_ok=True)
open(os.path.join(clean, "a.csv"), "w").write("x,y\n1,2\n")
open(os.path.join(clean, "part", "b.csv"), "w").write("x,y\n3,4\n")
open(os.path.join(report, "report.json"), "w").write('{"rows": 2}')
print("made data")
`

// makeJob runs makeData: clean registers clean-data:1, report the next
// version of data-report, scratch nothing.
const makeJob = `name: make-data
code: ./src
command: python3 make.py ${{outputs.clean}} ${{outputs.report}}
outputs:
  clean: {type: uri_folder, name: clean-data, version: "1"}
  report: {type: uri_file, name: data-report}
  scratch: {type: uri_folder}
`

// readData reads what the registered outputs hold, as a later job's
// inputs.
const readData = `import os, sys
folder, file = sys.argv[1], sys.argv[2]
print("folder files:", sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs))
print("a.csv:", open(os.path.join(folder, "a.csv")).read().splitlines()[1])
print("file:", os.path.basename(file), open(file).read())
`

func dataAsset(t *testing.T, r *region.Region, name, version string) (*tandem.Asset, *tandem.Data) {
	t.Helper()
	a, err := r.Store.GetAsset(context.Background(), tandem.AssetData, name, version)
	if err != nil {
		t.Fatalf("data %s:%s: %v", name, version, err)
	}
	return a, a.Spec.(*tandem.Data)
}

// TestJobDataOutputsRegisterDataAssets: a command job's uri_folder output
// with a name and version and its uri_file output with a name only are
// registered, once it completes, as data asset versions whose paths are
// the outputs in the job's run artifacts; a later job takes them as
// azureml:NAME:VERSION inputs and reads the files. A job that would
// register a version that exists is refused before anything is created;
// a uri_file output holding two files fails the attempt, saying so, and
// registers nothing.
func TestJobDataOutputsRegisterDataAssets(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs python3")
	}
	r, c, _, _ := jobRegion(t, 2)
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, dir, "src/make.py", makeData)
	writeFile(t, dir, "src/read.py", readData)
	spec := loadJob(t, dir, "make.yml", makeJob)
	if _, err := c.SubmitJob(ctx, spec, dir); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, "make-data", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobCompleted {
		t.Fatalf("make-data: %s %q", j.Status, j.Message)
	}
	a, d := dataAsset(t, r, "clean-data", "1")
	if d.Type != "uri_folder" || d.Path != "runs:/"+j.RunID+"/outputs/clean" || a.Tags["tandem.job"] != "make-data" || a.Tags["tandem.output"] != "clean" {
		t.Fatalf("clean-data:1 = %+v %+v", a, d)
	}
	_, d = dataAsset(t, r, "data-report", "1") // no version given: the first
	if d.Type != "uri_file" || d.Path != "runs:/"+j.RunID+"/outputs/report/report.json" {
		t.Fatalf("data-report:1 = %+v", d)
	}
	if list, err := r.Store.ListAssets(ctx, tandem.AssetData, "", true); err != nil || len(list) != 2 {
		t.Fatalf("data assets: %d %v (an unnamed output registers nothing)", len(list), err)
	}

	// A later job reads them as data inputs.
	use := loadJob(t, dir, "use.yml", `name: use-data
code: ./src
command: python3 read.py ${{inputs.folder}} ${{inputs.file}}
inputs:
  folder: {type: uri_folder, path: azureml:clean-data:1}
  file: {type: uri_file, path: azureml:data-report@latest}
`)
	if _, err := c.SubmitJob(ctx, use, dir); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, "use-data", func(j *tandem.Job) bool { return j.Status.Terminal() })
	logs, err := c.JobLogs(ctx, "use-data", 0)
	if err != nil || j.Status != tandem.JobCompleted {
		t.Fatalf("use-data: %s %q; logs %+v %v", j.Status, j.Message, logs, err)
	}
	for _, want := range []string{"folder files: ['a.csv', 'part/b.csv']", "a.csv: 1,2", `file: report.json {"rows": 2}`} {
		if !strings.Contains(logs.Data, want) {
			t.Errorf("use-data logs lack %q:\n%s", want, logs.Data)
		}
	}

	// The same version again: refused, nothing created.
	spec.Name = "make-again"
	_, err = c.SubmitJob(ctx, spec, dir)
	if tandem.ErrorCode(err) != tandem.EEXISTS || !strings.Contains(err.Error(), "outputs.clean: data clean-data version 1 already exists") {
		t.Fatalf("existing version: %v", err)
	}
	if _, err := c.Job(ctx, "make-again"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("a refused job exists: %v", err)
	}

	// A uri_file output with two files: the attempt fails, nothing is
	// registered.
	two := loadJob(t, dir, "two.yml", `name: two-files
command: python3 -c "import sys; open(sys.argv[1] + '/a', 'w').write('a'); open(sys.argv[1] + '/b', 'w').write('b')" ${{outputs.f}}
outputs:
  f: {type: uri_file, name: one-file}
`)
	if _, err := c.SubmitJob(ctx, two, dir); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, "two-files", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobFailed || !strings.Contains(j.Attempts[0].Reason, "outputs: output f is a uri_file but the job wrote 2 files") {
		t.Fatalf("two files: %s %q %+v", j.Status, j.Message, j.Attempts[0])
	}
	if _, err := r.Store.GetAsset(ctx, tandem.AssetData, "one-file", ""); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("one-file registered: %v", err)
	}
}

// TestPipelineStepOutputsRegisterDataAssets: a step output named in the
// step, and one bound to a named pipeline output, are registered as data
// asset versions pointing at the step's child run; an unnamed step output
// is not.
func TestPipelineStepOutputsRegisterDataAssets(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs python3")
	}
	r, c, _, _ := jobRegion(t, 2)
	ctx := context.Background()
	dir := setupPipelines(t, c)
	spec := loadJob(t, dir, "pipeline.yml", `type: pipeline
name: named-steps
outputs:
  final: {type: uri_folder, name: trained, version: "3"}
jobs:
  prep:
    command: python prep.py ${{outputs.out}}
    code: ./src
    environment: azureml:stdlib:1
    outputs:
      out: {type: uri_folder, name: prepared}
  train:
    command: python train.py ${{inputs.data}} ${{outputs.model}}
    code: ./src
    environment: azureml:stdlib:1
    inputs:
      data: ${{parent.jobs.prep.outputs.out}}
    outputs:
      model: ${{parent.outputs.final}}
  evaluate:
    command: python evaluate.py ${{inputs.model}} ${{outputs.unnamed}}
    code: ./src
    environment: azureml:stdlib:1
    inputs:
      model: ${{parent.jobs.train.outputs.model}}
    outputs:
      unnamed:
`)
	if _, err := c.SubmitJob(ctx, spec, dir); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, "named-steps", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobCompleted {
		t.Fatalf("pipeline: %s %q", j.Status, j.Message)
	}
	runs := map[string]string{}
	for _, a := range j.Attempts {
		runs[a.Step] = a.RunID
	}
	_, d := dataAsset(t, r, "prepared", "1")
	if d.Path != "runs:/"+runs["prep"]+"/outputs/out" || runs["prep"] == j.RunID {
		t.Fatalf("prepared:1 = %+v (prep's run %s)", d, runs["prep"])
	}
	_, d = dataAsset(t, r, "trained", "3")
	if d.Path != "runs:/"+runs["train"]+"/outputs/model" {
		t.Fatalf("trained:3 = %+v (train's run %s)", d, runs["train"])
	}
	if list, err := r.Store.ListAssets(ctx, tandem.AssetData, "", true); err != nil || len(list) != 2 {
		t.Fatalf("data assets: %d %v", len(list), err)
	}
}

// TestDataOutputReplicates: a data output registered on the primary is a
// data asset in the secondary too, and the files its path names are in
// the secondary's own artifact store with the primary's bytes.
func TestDataOutputReplicates(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs python3")
	}
	w := regiontest.Start(t, regiontest.Options{})
	c, err := client.New(client.Config{Workspace: "test", Endpoints: []string{w.URLs[0]}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, dir, "src/make.py", makeData)
	spec := loadJob(t, dir, "make.yml", makeJob)
	if _, err := c.SubmitJob(ctx, spec, dir); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, "make-data", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobCompleted {
		t.Fatalf("make-data: %s %q", j.Status, j.Message)
	}
	west := w.Regions[1]
	deadline := time.Now().Add(time.Minute)
	var d *tandem.Data
	for {
		a, err := west.Store.GetAsset(ctx, tandem.AssetData, "clean-data", "1")
		if err == nil {
			d = a.Spec.(*tandem.Data)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("west never got clean-data:1: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d.Path != "runs:/"+j.RunID+"/outputs/clean" {
		t.Fatalf("west's clean-data:1 = %+v", d)
	}
	// Its files, through the path, in west's own store.
	root, files, ok, err := west.Store.ModelFiles(ctx, d.Path)
	for err == nil && ok && len(files) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		root, files, ok, err = west.Store.ModelFiles(ctx, d.Path)
	}
	if err != nil || !ok || len(files) != 2 {
		t.Fatalf("west's files under %s: %+v %v %v", d.Path, files, ok, err)
	}
	rd, err := west.Blobs.Open(ctx, root+"/a.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if b, _ := io.ReadAll(rd); string(b) != "x,y\n1,2\n" {
		t.Fatalf("west's a.csv = %q", b)
	}
}

// TestModelOutputVersion: an mlflow_model output's version is honoured
// when it is the model's next number, and fails the attempt, saying what
// the next is, when it is not.
func TestModelOutputVersion(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs python3")
	}
	r, c, _, _ := jobRegion(t, 2)
	ctx := context.Background()
	job := func(name, version string) *tandem.Job {
		spec := &tandem.JobSpec{Type: "command", Name: name,
			Command: `python3 -c "import sys; open(sys.argv[1] + '/MLmodel', 'w').write('flavors: {}')" ${{outputs.model}}`,
			Outputs: map[string]*tandem.JobOutput{"model": {Type: "mlflow_model", Name: "versioned", Version: version}}}
		if _, err := c.SubmitJob(ctx, spec, t.TempDir()); err != nil {
			t.Fatal(err)
		}
		return waitJob(t, c, name, func(j *tandem.Job) bool { return j.Status.Terminal() })
	}
	if j := job("v1", "1"); j.Status != tandem.JobCompleted {
		t.Fatalf("v1: %s %q", j.Status, j.Message)
	}
	mv, err := r.Store.GetModelVersion(ctx, "versioned", 1)
	if err != nil || !strings.HasSuffix(mv.Source, "/outputs/model") {
		t.Fatalf("versioned 1: %+v %v", mv, err)
	}
	if j := job("v3", "3"); j.Status != tandem.JobFailed || !strings.Contains(j.Attempts[0].Reason, "model versioned's next version is 2, not 3") {
		t.Fatalf("v3: %s %q %+v", j.Status, j.Message, j.Attempts[0])
	}
	if j := job("next", ""); j.Status != tandem.JobCompleted {
		t.Fatalf("next: %s %q", j.Status, j.Message)
	}
	if _, err := r.Store.GetModelVersion(ctx, "versioned", 2); err != nil {
		t.Fatalf("versioned 2: %v", err)
	}
}

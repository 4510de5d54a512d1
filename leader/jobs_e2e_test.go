//go:build tandemtest

package leader_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/api"
	"github.com/tandemml/tandem/assetyaml"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/jobs"
)

// ckptScript counts steps 0..N-1, one every 0.2 s, logging metric "step"
// into its run and keeping the next step in its checkpoint folder; a
// resubmitted attempt starts from the checkpoint it finds.
const ckptScript = `import json, os, sys, time, urllib.request
base, run = os.environ["MLFLOW_TRACKING_URI"], os.environ["MLFLOW_RUN_ID"]
ckpt = os.path.join(os.environ["TANDEM_CHECKPOINT_DIR"], "next")
start = int(open(ckpt).read()) if os.path.exists(ckpt) else 0
print("attempt", os.environ["TANDEM_JOB_ATTEMPT"], "resuming from step", start, flush=True)
for step in range(start, int(sys.argv[1])):
    body = json.dumps({"run_id": run, "key": "step", "value": step, "timestamp": int(time.time() * 1000), "step": step}).encode()
    try:
        urllib.request.urlopen(urllib.request.Request(base + "/api/2.0/mlflow/runs/log-metric", data=body,
            method="POST", headers={"Content-Type": "application/json"}), timeout=2).read()
    except Exception as e:
        print("log failed:", e, flush=True)
    with open(ckpt + ".tmp", "w") as f:
        f.write(str(step + 1))
    os.replace(ckpt + ".tmp", ckpt)
    time.sleep(0.2)
print("done", flush=True)
`

// failoverPipeline is a pipeline whose second step runs long enough to
// be cut by the failover; it keeps its progress in a checkpoint output,
// so its next attempt resumes where the last upload left it.
const failoverPipeline = `type: pipeline
experiment_name: failover
jobs:
  prep:
    environment: azureml:stdlib:1
    command: python -c "import os, sys; os.makedirs(sys.argv[1], exist_ok=True); open(os.path.join(sys.argv[1], 'd.txt'), 'w').write('x')" ${{outputs.out}}
    outputs:
      out:
  train:
    environment: azureml:stdlib:1
    command: >-
      python -c "import os, sys, time; p = os.path.join(sys.argv[2], 'next'); s = int(open(p).read()) if os.path.exists(p) else 0;
      print('reading', sys.argv[1], 'resuming from step', s, flush=True);
      [(time.sleep(0.2), open(p + '.t', 'w').write(str(i + 1)), os.replace(p + '.t', p)) for i in range(s, 100)]; print('done')"
      ${{inputs.data}} ${{outputs.ckpt}}
    inputs:
      data: ${{parent.jobs.prep.outputs.out}}
    outputs:
      ckpt:
        checkpoint: true
`

func (c *cluster) submitJob(region string, spec *tandem.JobSpec, files map[string]string) (*tandem.Job, error) {
	req := api.CreateJobRequest{Job: spec}
	for p, content := range files {
		req.Files = append(req.Files, api.UploadFile{Path: p, Content: base64.StdEncoding.EncodeToString([]byte(content))})
	}
	body, _ := json.Marshal(req)
	resp, err := hc.Post(c.urls[region]+"/api/tandem/v1/jobs", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		return nil, fmt.Errorf("%s: %s", resp.Status, b)
	}
	var j tandem.Job
	return &j, json.Unmarshal(b, &j)
}

func (c *cluster) job(region, name string) (*tandem.Job, error) {
	resp, err := hc.Get(c.urls[region] + "/api/tandem/v1/jobs/" + name)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s", resp.Status)
	}
	var j tandem.Job
	return &j, json.NewDecoder(resp.Body).Decode(&j)
}

// metricSteps returns the steps of metric "step" the region has for run.
func (c *cluster) metricSteps(region, run string) []int {
	resp, err := hc.Get(c.urls[region] + "/api/2.0/mlflow/metrics/get-history?metric_key=step&max_results=10000&run_id=" + run)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out struct {
		Metrics []struct {
			Step int `json:"step"`
		} `json:"metrics"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	var steps []int
	for _, m := range out.Metrics {
		steps = append(steps, m.Step)
	}
	return steps
}

func (c *cluster) artifact(region, path string) (string, bool) {
	resp, err := hc.Get(c.urls[region] + "/api/2.0/mlflow-artifacts/artifacts/" + path)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode == 200
}

// alivePid: the process exists and is not a zombie (an orphan reparented
// to an init that does not reap stays one).
func alivePid(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i > 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// handlePid reads the pid out of a local executor's handle
// (local1:folder:pid:start).
func handlePid(h string) int {
	parts := strings.Split(h, ":")
	if len(parts) < 4 {
		return 0
	}
	pid, _ := strconv.Atoi(parts[len(parts)-2])
	return pid
}

// TestJobResubmittedAfterFailover is the failover test for jobs:
// a long job with a checkpoint output runs on the primary (east); east is
// killed; the new primary (west) marks attempt 1 Interrupted and runs
// attempt 2 on its own local compute, from the last checkpoint that
// reached it; the job completes in the same MLflow run, whose metric
// history continues rather than restarting from step 0; when east comes
// back as a secondary, the orphaned process of attempt 1 is stopped. A
// pipeline cut in its second step resumes there on west: its first step
// is not run again, and its second runs with the first's output.
// Both durability modes.
func TestJobResubmittedAfterFailover(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs python3")
	}
	for name, durability := range map[string]string{"async": "{mode: async}", "sync": "{mode: sync, timeout: 3s, on_no_ack: degrade}"} {
		t.Run(name, func(t *testing.T) { jobFailover(t, durability) })
	}
}

func jobFailover(t *testing.T, durability string) {
	c := newCluster(t, durability, nil, "east", "west")
	c.startWitness()
	c.startRegion("east")
	c.startRegion("west")
	waitFor(t, 60*time.Second, "east primary, west following", func() (bool, string) {
		p, _ := c.primary()
		st, err := status(c.urls["west"])
		return p == "east" && err == nil && st.Role.String() == "secondary", p
	})
	const steps = 150 // 30 s of work
	spec := &tandem.JobSpec{Type: "command", Name: "long-train", Code: "src", ExperimentName: "failover",
		Command: "python3 count.py " + strconv.Itoa(steps),
		Outputs: map[string]*tandem.JobOutput{"ckpt": {Type: "uri_folder", Checkpoint: true}}}
	j, err := c.submitJob("east", spec, map[string]string{"src/count.py": ckptScript})
	if err != nil {
		t.Fatal(err)
	}
	// Running on east, a checkpoint of at least step 10 replicated to west.
	var first *tandem.JobAttempt
	waitFor(t, 60*time.Second, "attempt 1 running on east with a checkpoint on west", func() (bool, string) {
		jj, err := c.job("west", j.Name)
		if err != nil || len(jj.Attempts) != 1 {
			return false, fmt.Sprint(err)
		}
		first = jj.Attempts[0]
		v, ok := c.artifact("west", jj.ExperimentID+"/"+jj.RunID+"/artifacts/outputs/ckpt/next")
		n, _ := strconv.Atoi(v)
		return first.Status == tandem.AttemptRunning && first.Region == "east" && ok && n >= 10, fmt.Sprintf("%s %q", first.Status, v)
	})
	// A job on a compute only east has: tandem status warns that west
	// could not take it over.
	req, _ := http.NewRequest("PUT", c.urls["east"]+"/api/tandem/v1/compute/gpu", strings.NewReader(`{"type":"local","max_instances":1}`))
	if resp, err := hc.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("create compute gpu on east: %v %v", resp, err)
	}
	if _, err := c.submitJob("east", &tandem.JobSpec{Type: "command", Name: "on-gpu", Command: "sleep 120", Compute: "gpu"}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "tandem status warns about west's compute", func() (bool, string) {
		out, _ := c.cli("status", "--workspace", c.config)
		return strings.Contains(out, `capacity: west has no compute "gpu"`), out
	})
	// A pipeline in its second step: prep has finished, train runs.
	envDir := t.TempDir()
	for name, content := range map[string]string{"conda.yaml": "name: stdlib\ndependencies:\n  - python=3\n  - pip\n",
		"environment.yaml": "name: stdlib\nversion: \"1\"\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\nconda_file: conda.yaml\n"} {
		if err := os.WriteFile(filepath.Join(envDir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	envFile := filepath.Join(envDir, "environment.yaml")
	envYAML, _ := os.ReadFile(envFile)
	envSpec, err := assetyaml.Load(envFile, envYAML, tandem.AssetEnvironment)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(client.Config{Workspace: "ws", Endpoints: []string{c.urls["east"]}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateAsset(context.Background(), envSpec, envDir); err != nil {
		t.Fatalf("environment create: %v", err)
	}
	pipe, err := assetyaml.LoadJob("pipeline.yml", []byte(failoverPipeline), nil)
	if err != nil {
		t.Fatal(err)
	}
	pj, err := c.submitJob("east", pipe, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the pipeline's train step running on east, a checkpoint of it on west", func() (bool, string) {
		jj, err := c.job("west", pj.Name)
		if err != nil {
			return false, err.Error()
		}
		prep, train := jj.LastAttempt("prep"), jj.LastAttempt("train")
		if prep == nil || prep.Status != tandem.AttemptCompleted || train == nil || train.Status != tandem.AttemptRunning || train.RunID == "" {
			return false, fmt.Sprintf("prep %+v train %+v", prep, train)
		}
		v, _ := c.artifact("west", jj.ExperimentID+"/"+train.RunID+"/artifacts/outputs/ckpt/next")
		n, _ := strconv.Atoi(v)
		return n >= 5, fmt.Sprintf("train's checkpoint on west: %q", v)
	})
	oldPid := handlePid(first.Handle)
	if oldPid == 0 {
		t.Fatalf("handle %q", first.Handle)
	}
	killed := time.Now()
	c.kill("east")

	var second *tandem.JobAttempt
	waitFor(t, 60*time.Second, "attempt 2 running on west", func() (bool, string) {
		jj, err := c.job("west", j.Name)
		if err != nil || len(jj.Attempts) < 2 {
			return false, fmt.Sprint(err)
		}
		second = jj.Attempts[1]
		return second.Status == tandem.AttemptRunning || second.Status.Terminal(), string(second.Status)
	})
	t.Logf("%s: attempt 2 running on west %s after the kill", durability, time.Since(killed).Round(time.Millisecond))
	jj, _ := c.job("west", j.Name)
	if a := jj.Attempts[0]; a.Status != tandem.AttemptInterrupted || !strings.Contains(a.Reason, "lost the primary role") {
		t.Fatalf("attempt 1: %+v", a)
	}
	if second.Region != "west" || second.N != 2 || second.Epoch <= first.Epoch || second.RunID != j.RunID {
		t.Fatalf("attempt 2: %+v (attempt 1 %+v)", second, first)
	}
	waitFor(t, 90*time.Second, "job completed on west", func() (bool, string) {
		jj, err := c.job("west", j.Name)
		if err != nil {
			return false, err.Error()
		}
		if jj.Status == tandem.JobCompleted {
			return true, ""
		}
		tail, _ := filepath.Glob(filepath.Join(c.dir, "west", "work-west", "attempts", "long-train-2-*", "output.log"))
		var out []byte
		if len(tail) == 1 {
			out, _ = os.ReadFile(tail[0])
			if len(out) > 600 {
				out = out[len(out)-600:]
			}
		}
		return false, fmt.Sprintf("%s %s; %d steps; attempt 2 output: %s", jj.Status, jj.Message, len(c.metricSteps("west", j.RunID)), out)
	})
	// The pipeline resumed on west from its unfinished step: prep ran once,
	// train's attempt 2 ran on west with prep's output, and it completed.
	waitFor(t, 90*time.Second, "the pipeline completed on west", func() (bool, string) {
		jj, err := c.job("west", pj.Name)
		if err != nil {
			return false, err.Error()
		}
		return jj.Status == tandem.JobCompleted, fmt.Sprintf("%s %s", jj.Status, jj.Message)
	})
	pjj, _ := c.job("west", pj.Name)
	var preps, trains []*tandem.JobAttempt
	for _, a := range pjj.Attempts {
		switch a.Step {
		case "prep":
			preps = append(preps, a)
		case "train":
			trains = append(trains, a)
		}
	}
	if len(preps) != 1 || preps[0].Region != "east" {
		t.Fatalf("prep ran again after the failover: %+v", preps)
	}
	if len(trains) != 2 || trains[0].Status != tandem.AttemptInterrupted || trains[1].Region != "west" || trains[1].Status != tandem.AttemptCompleted {
		t.Fatalf("train's attempts: %+v", trains)
	}
	if log, ok := c.artifact("west", pjj.ExperimentID+"/"+pjj.RunID+"/artifacts/user_logs/"+jobs.LogName(trains[1])); !ok ||
		!strings.Contains(log, "reading ") || !strings.Contains(log, "resuming from step ") || strings.Contains(log, "resuming from step 0\n") || !strings.Contains(log, "done") {
		t.Fatalf("train's attempt 2 log (it resumes from its checkpoint, not from step 0): %q", log)
	}
	// The job on gpu was resubmitted too, and failed clearly on west.
	if g, err := c.job("west", "on-gpu"); err != nil || g.Status != tandem.JobFailed || !strings.Contains(g.Message, `compute "gpu" does not exist`) {
		t.Fatalf("on-gpu after the failover: %+v %v", g, err)
	}
	// Attempt 2 resumed from the checkpoint, not from step 0.
	log, ok := c.artifact("west", j.ExperimentID+"/"+j.RunID+"/artifacts/user_logs/std_log_attempt_2.txt")
	if !ok || strings.Contains(log, "resuming from step 0\n") || !strings.Contains(log, "resuming from step") || !strings.Contains(log, "done") {
		t.Fatalf("attempt 2's log: %q", log)
	}
	// The same run holds every step, the last ones from attempt 2.
	got := map[int]bool{}
	for _, s := range c.metricSteps("west", j.RunID) {
		got[s] = true
	}
	for s := 0; s < steps; s++ {
		if !got[s] && s > 10 { // steps logged while east was dying may be lost with it
			t.Fatalf("step %d missing from the run's history (%d steps)", s, len(got))
		}
	}
	// East comes back as a secondary and stops attempt 1's orphan.
	c.startRegion("east")
	waitFor(t, 60*time.Second, "attempt 1's process stopped", func() (bool, string) {
		return !alivePid(oldPid), ""
	})
	// Nothing of attempt 1 overwrote the completed job on either region.
	waitFor(t, 30*time.Second, "east shows the job completed", func() (bool, string) {
		jj, err := c.job("east", j.Name)
		if err != nil {
			return false, err.Error()
		}
		return jj.Status == tandem.JobCompleted && len(jj.Attempts) == 2, string(jj.Status)
	})
}

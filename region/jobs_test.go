package region_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/storetest"
)

// jobRegion serves one region with authentication and its job runner, and
// returns a client holding the owner's token.
func jobRegion(t *testing.T, maxLocal int) (*region.Region, *client.Client, string, string) {
	t.Helper()
	return jobRegionAt(t, maxLocal, t.TempDir())
}

// jobRegionAt is jobRegion with the attempts' folders in workDir.
func jobRegionAt(t *testing.T, maxLocal int, workDir string) (*region.Region, *client.Client, string, string) {
	t.Helper()
	owner, _, err := auth.NewToken("", "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := region.Open(ctx, region.Config{Name: "local", MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: storetest.FileURL(t),
		Auth: &region.AuthConfig{BootstrapToken: owner}, WorkDir: workDir, LocalMaxInstances: maxLocal})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; r.Close() })
	base := "http://" + ln.Addr().String()
	t.Setenv("TANDEM_TEST_JOB_TOKEN", owner)
	c, err := client.New(client.Config{Workspace: "ws", Endpoints: []string{base}, Auth: client.Auth{Type: "bearer_env", TokenEnv: "TANDEM_TEST_JOB_TOKEN"}})
	if err != nil {
		t.Fatal(err)
	}
	return r, c, base, owner
}

func waitJob(t *testing.T, c *client.Client, name string, ok func(*tandem.Job) bool) *tandem.Job {
	t.Helper()
	return waitJobFor(t, c, name, 60*time.Second, ok)
}

// waitJobFor is waitJob with its own patience (a job that installs or
// trains for a while).
func waitJobFor(t *testing.T, c *client.Client, name string, patience time.Duration, ok func(*tandem.Job) bool) *tandem.Job {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		j, err := c.Job(context.Background(), name)
		if err == nil && ok(j) {
			return j
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(j, "", " ")
			t.Fatalf("job %s: condition not reached; last %s (err %v)", name, b, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runArtifact reads a file of the job's run through the MLflow artifact
// proxy.
func runArtifact(t *testing.T, base, token string, j *tandem.Job, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/2.0/mlflow-artifacts/artifacts/"+j.ExperimentID+"/"+j.RunID+"/artifacts/"+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A training script that logs to its own run through the MLflow REST API
// with the environment tandem gives it (no mlflow package needed here: the
// stock client's test is in python/tests).
const logScript = `import json, os, sys, urllib.request
base = os.environ["MLFLOW_TRACKING_URI"]
run = os.environ["MLFLOW_RUN_ID"]
req = urllib.request.Request(base + "/api/2.0/mlflow/runs/log-metric", method="POST",
    data=json.dumps({"run_id": run, "key": "loss", "value": float(sys.argv[1]), "timestamp": 1, "step": 0}).encode(),
    headers={"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]})
urllib.request.urlopen(req).read()
def call(path, body):
    req = urllib.request.Request(base + "/api/2.0/mlflow/" + path, method="POST", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]})
    try:
        return urllib.request.urlopen(req).status
    except urllib.error.HTTPError as e:
        return e.code
# The token is restricted to the job's experiment: reads anywhere, writes
# only there.
if os.environ.get("OTHER_RUN"):
    print("probe search", call("experiments/search", {"max_results": 10}))
    print("probe other-run", call("runs/log-metric", {"run_id": os.environ["OTHER_RUN"], "key": "x", "value": 1, "timestamp": 1, "step": 0}))
    print("probe create-experiment", call("experiments/create", {"name": "made-by-a-job"}))
out = sys.argv[2]
open(os.path.join(out, "result.txt"), "w").write("lr=" + sys.argv[1])
print("trained with", sys.argv[1], "in", os.path.basename(os.getcwd()))
`

// TestCommandJobRunsAsMLflowRun: a command job with code, a literal
// input and an output runs on local compute; its process logs a metric
// into the job's run with the token and run id tandem gave it; its output
// lands in the run's artifacts, its stdout in user_logs; the run ends
// FINISHED and the token is revoked.
func TestCommandJobRunsAsMLflowRun(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs python3")
	}
	r, c, base, owner := jobRegion(t, 2)
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "src", "train.py"), []byte(logScript), 0o644); err != nil {
		t.Fatal(err)
	}
	lr := "0.25"
	spec := &tandem.JobSpec{Type: "command", Name: "train-1", Code: "./src", ExperimentName: "jobs-test",
		Command: "python3 train.py ${{inputs.lr}} ${{outputs.model}}",
		Inputs:  map[string]*tandem.JobInput{"lr": {Value: &lr}}, Outputs: map[string]*tandem.JobOutput{"model": {Type: "uri_folder"}},
		Tags: map[string]string{"team": "search"}}
	// A run in another experiment, which the job's token may not write.
	otherExp, err := r.Store.CreateExperiment(ctx, "not-the-jobs", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := r.Store.CreateRun(ctx, tandem.CreateRunInput{ExperimentID: otherExp})
	if err != nil {
		t.Fatal(err)
	}
	spec.EnvironmentVariables = map[string]string{"OTHER_RUN": other}
	j, err := c.SubmitJob(ctx, spec, dir)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != tandem.JobQueued || j.RunID == "" {
		t.Fatalf("submitted: %+v", j)
	}
	j = waitJob(t, c, "train-1", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobCompleted || len(j.Attempts) != 1 || j.Attempts[0].Status != tandem.AttemptCompleted {
		b, _ := json.Marshal(j)
		t.Fatalf("job did not complete: %s", b)
	}
	run, err := r.Store.GetRun(ctx, j.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if run.Info.Status != "FINISHED" || len(run.Metrics) != 1 || run.Metrics[0].Value != 0.25 {
		t.Fatalf("run: status %s metrics %+v", run.Info.Status, run.Metrics)
	}
	tags := map[string]string{}
	for _, tg := range run.Tags {
		tags[tg.Key] = tg.Value
	}
	if tags["team"] != "search" || tags["tandem.job"] != "train-1" || tags["mlflow.runName"] != "train-1" {
		t.Fatalf("run tags %v", tags)
	}
	// Output and logs in the run's artifacts, through the MLflow API.
	if code, body := runArtifact(t, base, owner, j, "outputs/model/result.txt"); code != 200 || body != "lr=0.25" {
		t.Fatalf("output artifact: %d %q", code, body)
	}
	if code, body := runArtifact(t, base, owner, j, "user_logs/std_log.txt"); code != 200 || !strings.Contains(body, "trained with 0.25 in src") {
		t.Fatalf("log artifact: %d %q", code, body)
	}
	logs, err := c.JobLogs(ctx, "train-1", 0)
	if err != nil || !strings.Contains(logs.Data, "trained with 0.25") {
		t.Fatalf("job logs: %+v %v", logs, err)
	}
	for _, want := range []string{"probe search 200", "probe other-run 403", "probe create-experiment 403"} {
		if !strings.Contains(logs.Data, want) {
			t.Errorf("job logs lack %q: %s", want, logs.Data)
		}
	}
	// The attempt's token was revoked when it ended.
	tok, err := r.Identity.Token(ctx, j.Attempts[0].TokenID)
	if err != nil || tok.RevokedMS == 0 {
		t.Fatalf("attempt token %+v %v: not revoked", tok, err)
	}
}

// TestJobFailureQuotaAndCancel: a failing command fails the job with its
// exit code; with one local instance a second job queues, saying why,
// until the first is canceled; unknown compute and environment are
// refused or failed clearly.
func TestJobFailureQuotaAndCancel(t *testing.T) {
	_, c, _, _ := jobRegion(t, 1)
	ctx := context.Background()
	fail, err := c.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Command: "echo about to fail; exit 3"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, fail.Name, func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobFailed || !strings.Contains(j.Message, "exit code 3") || *j.Attempts[0].ExitCode != 3 {
		t.Fatalf("failing job: %+v", j)
	}
	long, err := c.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Name: "long", Command: "sleep 60"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, c, long.Name, func(j *tandem.Job) bool { return j.Status == tandem.JobRunning })
	if _, err := c.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Name: "next", Command: "echo next"}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, "next", func(j *tandem.Job) bool { return strings.Contains(j.Message, "quota") })
	if j.Status != tandem.JobQueued || len(j.Attempts) != 0 {
		t.Fatalf("next should wait: %+v", j)
	}
	info, err := c.GetCompute(ctx, "local")
	if err != nil || info.InUse != 1 || !strings.Contains(info.Queued["next"], `compute "local" quota: 1 of 1`) {
		t.Fatalf("compute show: %+v %v", info, err)
	}
	if _, err := c.CancelJob(ctx, "long"); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, "long", func(j *tandem.Job) bool { return len(j.Attempts) == 1 && j.Attempts[0].Status.Terminal() })
	if j.Status != tandem.JobCanceled || j.Attempts[0].Status != tandem.AttemptCanceled {
		t.Fatalf("canceled: %+v", j)
	}
	waitJob(t, c, "next", func(j *tandem.Job) bool { return j.Status == tandem.JobCompleted })

	// Bad references: refused before anything is created.
	_, err = c.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Name: "noenv", Command: "true", Environment: "azureml:missing:1"}, t.TempDir())
	if tandem.ErrorCode(err) != tandem.ENOTFOUND || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("unknown environment: %v", err)
	}
	if _, err := c.Job(ctx, "noenv"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("a refused job exists: %v", err)
	}
	_, err = c.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Name: "bad", Command: "echo ${{inputs.nope}}"}, t.TempDir())
	if tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("bad binding: %v", err)
	}
	// An unknown compute is a clear failure of the job.
	gpu, err := c.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Command: "true", Compute: "azureml:gpu"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, gpu.Name, func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobFailed || !strings.Contains(j.Message, `compute "gpu" does not exist`) {
		t.Fatalf("unknown compute: %+v", j)
	}
	// A declared compute with its own quota.
	if _, err := c.PutCompute(ctx, &tandem.ComputeTarget{Name: "gpu", Type: tandem.ComputeLocal, MaxInstances: 2}); err != nil {
		t.Fatal(err)
	}
	cs, err := c.ListCompute(ctx)
	if err != nil || len(cs) != 2 {
		t.Fatalf("compute list: %+v %v", cs, err)
	}
}

// restartable returns a function that opens and serves one region on the
// same database, artifacts and work folder each time it is called, with
// a stop function and a client holding the owner's token.
func restartable(t *testing.T) func() (stop func(), c *client.Client, base, owner string) {
	t.Helper()
	owner, _, err := auth.NewToken("", "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	meta, arts, work := storetest.SQLiteURL(t), storetest.FileURL(t), t.TempDir()
	t.Setenv("TANDEM_TEST_JOB_TOKEN", owner)
	return func() (func(), *client.Client, string, string) {
		ctx, cancel := context.WithCancel(context.Background())
		r, err := region.Open(ctx, region.Config{Name: "local", MetadataURL: meta, ArtifactsURL: arts,
			Auth: &region.AuthConfig{BootstrapToken: owner}, WorkDir: work})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- r.Serve(ctx, ln) }()
		base := "http://" + ln.Addr().String()
		c, err := client.New(client.Config{Workspace: "ws", Endpoints: []string{base},
			Auth: client.Auth{Type: "bearer_env", TokenEnv: "TANDEM_TEST_JOB_TOKEN"}})
		if err != nil {
			t.Fatal(err)
		}
		return func() { cancel(); <-done; r.Close() }, c, base, owner
	}
}

// TestJobSurvivesTandemRestart: tandem is stopped while a job runs (its
// process lives on, in its own process group); the restarted region finds
// the attempt again by its handle and follows it to the end: one attempt,
// Completed, its whole output in the logs.
func TestJobSurvivesTandemRestart(t *testing.T) {
	serve := restartable(t)
	stop, c, _, _ := serve()
	ctx := context.Background()
	if _, err := c.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Name: "survivor", Command: "echo before; sleep 3; echo after"}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	waitJob(t, c, "survivor", func(j *tandem.Job) bool { return j.Status == tandem.JobRunning })
	stop()
	stop, c, _, _ = serve()
	defer stop()
	j := waitJob(t, c, "survivor", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobCompleted || len(j.Attempts) != 1 {
		t.Fatalf("after a restart: %+v", j)
	}
	logs, err := c.JobLogs(ctx, "survivor", 0)
	if err != nil || !strings.Contains(logs.Data, "before") || !strings.Contains(logs.Data, "after") {
		t.Fatalf("logs %+v %v", logs, err)
	}
}

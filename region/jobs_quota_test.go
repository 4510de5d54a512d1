package region_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/regiontest"
)

// TestWorkspaceJobsSection: workspace.yaml's jobs.max_instances bounds
// what the primary runs at once over all its compute: with a quota of 1
// and two computes of 4, a second job waits, saying why in job show and
// compute show, until the first ends; a job needing more than the quota
// fails, saying so. jobs.resubmit is recorded with a job that sets no
// policy, and applied; a job's own policy wins.
func TestWorkspaceJobsSection(t *testing.T) {
	w := regiontest.Start(t, regiontest.Options{Extra: "jobs: {max_instances: 1, resubmit: {policy: always, max_attempts: 2}}\n"})
	c, err := client.New(client.Config{Workspace: "test", Endpoints: []string{w.URLs[0]}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.PutCompute(ctx, &tandem.ComputeTarget{Name: "cpu", Type: tandem.ComputeLocal, MaxInstances: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Name: "first", Command: "sleep 60"}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	waitJob(t, c, "first", func(j *tandem.Job) bool { return j.Status == tandem.JobRunning })
	if _, err := c.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Name: "second", Command: "echo second", Compute: "azureml:cpu"}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	const why = "workspace quota (jobs.max_instances): 1 of 1 instances in use, needs 1"
	j := waitJob(t, c, "second", func(j *tandem.Job) bool { return j.Message != "" })
	if j.Status != tandem.JobQueued || j.Message != why || len(j.Attempts) != 0 {
		t.Fatalf("second should wait for the workspace quota: %+v", j)
	}
	info, err := c.GetCompute(ctx, "cpu")
	if err != nil || info.InUse != 0 || info.Queued["second"] != why || info.WorkspaceMaxInstances != 1 || info.WorkspaceInUse != 1 {
		t.Fatalf("compute show cpu: %+v %v", info, err)
	}
	big := &tandem.JobSpec{Type: "command", Name: "big", Command: "true", Compute: "cpu", InstanceCount: 2}
	if _, err := c.SubmitJob(ctx, big, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, "big", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobFailed || !strings.Contains(j.Message, "needs 2 instances; the workspace quota (jobs.max_instances) allows at most 1") {
		t.Fatalf("big: %+v", j)
	}
	if _, err := c.CancelJob(ctx, "first"); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, "second", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobCompleted {
		t.Fatalf("second after the first ended: %+v", j)
	}

	// The workspace's resubmit default: a failing job is tried twice.
	if _, err := c.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Name: "flaky", Command: "exit 2"}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, "flaky", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobFailed || len(j.Attempts) != 2 || *j.Spec.Resubmit != (tandem.ResubmitPolicy{Policy: tandem.ResubmitAlways, MaxAttempts: 2}) {
		t.Fatalf("flaky: %s %q, %d attempts, resubmit %+v", j.Status, j.Message, len(j.Attempts), j.Spec.Resubmit)
	}
	own := &tandem.JobSpec{Type: "command", Name: "own-policy", Command: "exit 2", Resubmit: &tandem.ResubmitPolicy{Policy: tandem.ResubmitNever, MaxAttempts: 1}}
	if _, err := c.SubmitJob(ctx, own, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, "own-policy", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobFailed || len(j.Attempts) != 1 || j.Spec.Resubmit.Policy != tandem.ResubmitNever {
		t.Fatalf("own-policy: %s, %d attempts, resubmit %+v", j.Status, len(j.Attempts), j.Spec.Resubmit)
	}
}

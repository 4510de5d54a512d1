package schedule

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func cmdJob(name string, created int64, prio int, compute string) *tandem.Job {
	return &tandem.Job{Name: name, CreatedMS: created, Status: tandem.JobQueued,
		Spec: tandem.JobSpec{Type: "command", Command: "true", Compute: compute, Priority: prio}}
}

func caps(max map[string]int, used map[string]int) map[string]Capacity {
	out := map[string]Capacity{}
	for n, m := range max {
		out[n] = Capacity{Target: tandem.ComputeTarget{Name: n, MaxInstances: m}, Used: used[n]}
	}
	return out
}

func started(d Decision) []string {
	var out []string
	for _, u := range d.Start {
		out = append(out, u.Job+"/"+u.Step)
	}
	return out
}

func TestPlanQuotaPriorityAndOrder(t *testing.T) {
	jobs := []*tandem.Job{
		cmdJob("old", 1, 0, ""), cmdJob("new", 3, 0, ""), cmdJob("urgent", 5, 10, "azureml:local"), cmdJob("mid", 2, 0, "local"),
	}
	d := Plan(jobs, caps(map[string]int{"local": 2}, nil), 0)
	if got, want := started(d), []string{"urgent/", "old/"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("started %v, want %v (priority first, then oldest)", got, want)
	}
	for _, n := range []string{"mid", "new"} {
		if !strings.Contains(d.Queued[n], `compute "local" quota: 2 of 2`) {
			t.Errorf("queued reason of %s = %q", n, d.Queued[n])
		}
	}
	// One instance already in use: only one starts.
	d = Plan(jobs, caps(map[string]int{"local": 2}, map[string]int{"local": 1}), 0)
	if got := started(d); !reflect.DeepEqual(got, []string{"urgent/"}) {
		t.Fatalf("with one in use started %v", got)
	}
	// The workspace quota bounds the whole region.
	d = Plan(jobs, caps(map[string]int{"local": 8}, nil), 3)
	if got := started(d); len(got) != 3 || d.Queued["new"] != "workspace quota (jobs.max_instances): 3 of 3 instances in use, needs 1" {
		t.Fatalf("workspace quota: started %v, queued %v", got, d.Queued)
	}
}

// TestPlanWorkspaceQuota, step by step: the workspace quota counts every
// compute's instances; a job waiting for it holds back jobs of lower
// priority (on any compute) but not of equal priority that fit; a job
// larger than the quota fails; no quota (0) starts everything the
// computes allow.
func TestPlanWorkspaceQuota(t *testing.T) {
	two := map[string]int{"local": 4, "cpu": 4}
	wide := cmdJob("wide", 1, 5, "local")
	wide.Spec.InstanceCount = 3
	small := cmdJob("small", 2, 5, "cpu")
	low := cmdJob("low", 3, 0, "cpu")
	jobs := []*tandem.Job{wide, small, low}

	// 2 of 4 in use on the other compute: wide (3) waits, small (1, same
	// priority) fits beside it, low waits behind wide.
	d := Plan(jobs, caps(two, map[string]int{"cpu": 2}), 4)
	if got := started(d); !reflect.DeepEqual(got, []string{"small/"}) {
		t.Fatalf("started %v, queued %v", got, d.Queued)
	}
	if d.Queued["wide"] != "workspace quota (jobs.max_instances): 2 of 4 instances in use, needs 3" ||
		d.Queued["low"] != "waiting behind a job of higher priority for the workspace quota (jobs.max_instances)" {
		t.Fatalf("queued %v", d.Queued)
	}
	// Nothing in use: wide starts, then small; low finds the quota full.
	d = Plan(jobs, caps(two, nil), 4)
	if got := started(d); !reflect.DeepEqual(got, []string{"wide/", "small/"}) || d.Queued["low"] != "workspace quota (jobs.max_instances): 4 of 4 instances in use, needs 1" {
		t.Fatalf("started %v, queued %v", got, d.Queued)
	}
	// Larger than the quota: fails, saying so; the others go on.
	d = Plan(jobs, caps(two, nil), 2)
	if !strings.Contains(d.Fail["wide"], "needs 3 instances; the workspace quota (jobs.max_instances) allows at most 2") {
		t.Fatalf("fail %v", d.Fail)
	}
	if got := started(d); !reflect.DeepEqual(got, []string{"small/", "low/"}) {
		t.Fatalf("started %v", got)
	}
	// No workspace quota.
	d = Plan(jobs, caps(two, map[string]int{"cpu": 2}), 0)
	if got := started(d); !reflect.DeepEqual(got, []string{"wide/", "small/", "low/"}) || len(d.Queued) != 0 {
		t.Fatalf("no quota: started %v, queued %v", got, d.Queued)
	}
}

func TestPlanUnknownComputeAndTooBig(t *testing.T) {
	big := cmdJob("big", 1, 0, "")
	big.Spec.InstanceCount = 5
	d := Plan([]*tandem.Job{cmdJob("gpu", 1, 0, "gpu"), big}, caps(map[string]int{"local": 2}, nil), 0)
	if len(d.Start) != 0 || !strings.Contains(d.Fail["gpu"], `compute "gpu" does not exist`) || !strings.Contains(d.Fail["big"], "at most 2") {
		t.Fatalf("decision %+v", d)
	}
}

func TestPlanHigherPriorityHoldsItsCompute(t *testing.T) {
	big := cmdJob("big", 1, 5, "")
	big.Spec.InstanceCount = 2
	small := cmdJob("small", 2, 0, "")
	d := Plan([]*tandem.Job{big, small}, caps(map[string]int{"local": 2}, map[string]int{"local": 1}), 0)
	if len(d.Start) != 0 || !strings.Contains(d.Queued["small"], "higher priority") {
		t.Fatalf("a lower-priority job jumped the queue: %+v", d)
	}
	// Same priority: the small one may use the free instance.
	big.Spec.Priority = 0
	d = Plan([]*tandem.Job{big, small}, caps(map[string]int{"local": 2}, map[string]int{"local": 1}), 0)
	if got := started(d); !reflect.DeepEqual(got, []string{"small/"}) {
		t.Fatalf("started %v", got)
	}
}

func TestUsedCountsActiveAttemptsOfThisRegion(t *testing.T) {
	j := cmdJob("a", 1, 0, "")
	j.Spec.InstanceCount = 2
	j.Attempts = []*tandem.JobAttempt{
		{N: 1, Region: "east", Compute: "local", Status: tandem.AttemptInterrupted},
		{N: 2, Region: "west", Compute: "local", Status: tandem.AttemptRunning},
	}
	if u := Used([]*tandem.Job{j}, "west"); u["local"] != 2 {
		t.Fatalf("used %v", u)
	}
	if u := Used([]*tandem.Job{j}, "east"); u["local"] != 0 {
		t.Fatalf("east used %v", u)
	}
}

// A job running on east when west becomes primary: interrupted, then
// resubmitted by the default policy as attempt 2; after max_attempts it
// fails, saying why; policy never fails at once.
func TestInterruptThenResubmit(t *testing.T) {
	j := cmdJob("train", 1, 0, "")
	j.Status = tandem.JobRunning
	j.Attempts = []*tandem.JobAttempt{{N: 1, Region: "east", Epoch: 1, Compute: "local", Status: tandem.AttemptRunning}}
	got := Interrupt(j, "west", 2, 100)
	if len(got) != 1 || got[0].Status != tandem.AttemptInterrupted || got[0].EndMS != 100 {
		t.Fatalf("interrupt: %+v", got)
	}
	st, msg := AfterAttempt(j, got[0])
	if st != tandem.JobQueued || !strings.Contains(msg, "interrupted") || !got[0].Resubmitted {
		t.Fatalf("after interrupt: %s %q", st, msg)
	}
	j.Status = st
	if r := Ready(j); !reflect.DeepEqual(r, []string{""}) || NextAttempt(j, "") != 2 {
		t.Fatalf("ready %v next %d", r, NextAttempt(j, ""))
	}
	// Its own attempts of the current epoch are left alone.
	j.Attempts = append(j.Attempts, &tandem.JobAttempt{N: 2, Region: "west", Epoch: 2, Status: tandem.AttemptRunning})
	if got := Interrupt(j, "west", 2, 200); len(got) != 0 {
		t.Fatalf("interrupted its own attempt: %+v", got)
	}
	// max_attempts reached.
	j.Spec.Resubmit = &tandem.ResubmitPolicy{Policy: tandem.ResubmitOnRegionFailure, MaxAttempts: 2}
	got = Interrupt(j, "east", 3, 300)
	st, msg = AfterAttempt(j, got[0])
	if st != tandem.JobFailed || !strings.Contains(msg, "max_attempts 2") {
		t.Fatalf("max attempts: %s %q", st, msg)
	}
	never := cmdJob("n", 1, 0, "")
	never.Spec.Resubmit = &tandem.ResubmitPolicy{Policy: tandem.ResubmitNever}
	never.Attempts = []*tandem.JobAttempt{{N: 1, Region: "east", Epoch: 1, Status: tandem.AttemptStarting}}
	a := Interrupt(never, "west", 2, 1)
	if st, msg := AfterAttempt(never, a[0]); st != tandem.JobFailed || !strings.Contains(msg, "never") {
		t.Fatalf("never: %s %q", st, msg)
	}
}

func TestFailedAttemptOnlyResubmittedByAlways(t *testing.T) {
	j := cmdJob("f", 1, 0, "")
	a := &tandem.JobAttempt{N: 1, Status: tandem.AttemptFailed, Reason: "exit code 1"}
	j.Attempts = []*tandem.JobAttempt{a}
	if st, msg := AfterAttempt(j, a); st != tandem.JobFailed || !strings.Contains(msg, "exit code 1") {
		t.Fatalf("default policy: %s %q", st, msg)
	}
	j.Spec.Resubmit = &tandem.ResubmitPolicy{Policy: tandem.ResubmitAlways, MaxAttempts: 2}
	if st, _ := AfterAttempt(j, a); st != tandem.JobQueued {
		t.Fatalf("always: %s", st)
	}
}

// prep -> train -> eval, plus a lint step with no inputs.
func pipelineJob(continueOnFailure bool) *tandem.Job {
	p := &tandem.Pipeline{Type: "pipeline", Settings: map[string]string{"default_compute": "azureml:cpu"}, Jobs: map[string]*tandem.PipelineStep{
		"prep":  {Type: "command", Component: "azureml:prep:1"},
		"train": {Type: "command", Component: "azureml:train:1", Inputs: map[string]string{"data": "${{parent.jobs.prep.outputs.out}}"}},
		"eval":  {Type: "command", Component: "azureml:eval:1", Compute: "gpu", Inputs: map[string]string{"model": "${{parent.jobs.train.outputs.model}}"}},
		"lint":  {Type: "command", Component: "azureml:lint:1"},
	}}
	if continueOnFailure {
		p.Settings["continue_on_step_failure"] = "true"
	}
	return &tandem.Job{Name: "pipe", Status: tandem.JobQueued, Spec: tandem.JobSpec{Type: "pipeline", Pipeline: p}}
}

func finish(j *tandem.Job, step string, st tandem.AttemptStatus) *tandem.JobAttempt {
	a := &tandem.JobAttempt{N: NextAttempt(j, step), Step: step, Status: st}
	j.Attempts = append(j.Attempts, a)
	return a
}

func TestPipelineStepsInDependencyOrder(t *testing.T) {
	j := pipelineJob(false)
	if r := Ready(j); !reflect.DeepEqual(r, []string{"lint", "prep"}) {
		t.Fatalf("first ready %v", r)
	}
	if c := ComputeOf(j, "prep"); c != "cpu" {
		t.Fatalf("default_compute: %q", c)
	}
	if c := ComputeOf(j, "eval"); c != "gpu" {
		t.Fatalf("step compute: %q", c)
	}
	finish(j, "prep", tandem.AttemptCompleted)
	finish(j, "lint", tandem.AttemptRunning)
	j.Status = Status(j)
	if j.Status != tandem.JobRunning {
		t.Fatalf("status %s", j.Status)
	}
	if r := Ready(j); !reflect.DeepEqual(r, []string{"train"}) {
		t.Fatalf("after prep ready %v", r)
	}
	finish(j, "train", tandem.AttemptCompleted)
	finish(j, "eval", tandem.AttemptCompleted)
	j.LastAttempt("lint").Status = tandem.AttemptCompleted
	if st := Status(j); st != tandem.JobCompleted {
		t.Fatalf("all done: %s", st)
	}
}

// The failover case: the pipeline was in its second step; the new primary
// interrupts that step's attempt and the pipeline resumes from it, never
// rerunning the finished first step.
func TestPipelineResumesFromFirstUnfinishedStep(t *testing.T) {
	j := pipelineJob(false)
	delete(j.Spec.Pipeline.Jobs, "lint")
	finish(j, "prep", tandem.AttemptCompleted).Region = "east"
	a := finish(j, "train", tandem.AttemptRunning)
	a.Region, a.Epoch = "east", 1
	j.Status = tandem.JobRunning
	got := Interrupt(j, "west", 2, 5)
	if len(got) != 1 || got[0].Step != "train" {
		t.Fatalf("interrupted %+v", got)
	}
	st, _ := AfterAttempt(j, got[0])
	j.Status = st
	if r := Ready(j); !reflect.DeepEqual(r, []string{"train"}) || NextAttempt(j, "train") != 2 || NextAttempt(j, "prep") != 2 {
		t.Fatalf("ready %v", r)
	}
}

func TestPipelineStepFailure(t *testing.T) {
	// continue_on_step_failure off: the pipeline fails, nothing else starts.
	j := pipelineJob(false)
	finish(j, "lint", tandem.AttemptRunning)
	a := finish(j, "prep", tandem.AttemptFailed)
	a.Reason = "exit code 2"
	st, msg := AfterAttempt(j, a)
	if st != tandem.JobFailed || !strings.Contains(msg, "step prep") || len(Ready(j)) != 0 {
		t.Fatalf("off: %s %q ready %v", st, msg, Ready(j))
	}
	// On: independent steps go on; dependants are skipped; the job fails
	// when nothing is left.
	j = pipelineJob(true)
	a = finish(j, "prep", tandem.AttemptFailed)
	j.Status = tandem.JobRunning
	if st, _ := AfterAttempt(j, a); st != tandem.JobRunning {
		t.Fatalf("on, lint still to run: %s", st)
	}
	if r := Ready(j); !reflect.DeepEqual(r, []string{"lint"}) {
		t.Fatalf("on: ready %v (train and eval depend on prep)", r)
	}
	finish(j, "lint", tandem.AttemptCompleted)
	if st := Status(j); st != tandem.JobFailed {
		t.Fatalf("on, all settled: %s", st)
	}
}

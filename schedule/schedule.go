// Package schedule decides what happens to jobs: which queued work starts
// now on which compute and why the rest waits, what a job's status is from
// its attempts, and what the new primary does with attempts a lost region
// was running (interrupt, then resubmit by policy). It is pure: it reads
// jobs and capacities it is given and returns decisions; package jobs
// carries them out against the store and the executors.
package schedule

import (
	"fmt"
	"sort"

	"github.com/tandemml/tandem"
)

// Unit is one startable piece of work: a command job (Step "") or one step
// of a pipeline job.
type Unit struct {
	Job     string
	Step    string
	Compute string
	// Instances is what the unit takes from its compute's quota.
	Instances int
}

// Capacity is one compute target of the region, with what is in use.
type Capacity struct {
	Target tandem.ComputeTarget
	Used   int // instances taken by attempts starting or running here
}

// Decision is the outcome of one scheduling pass.
type Decision struct {
	Start []Unit
	// Queued says, per job, why it waits (quota, compute busy).
	Queued map[string]string
	// Fail lists jobs that can never start here (an unknown compute), with
	// the reason.
	Fail map[string]string
}

// Used counts the instances active attempts of jobs take from each
// compute of region.
func Used(jobs []*tandem.Job, region string) map[string]int {
	used := map[string]int{}
	for _, j := range jobs {
		for _, a := range j.Attempts {
			if a.Region == region && !a.Status.Terminal() {
				used[a.Compute] += instances(j, a.Step)
			}
		}
	}
	return used
}

// instances is what a unit takes from its compute's quota: every process
// of a command job (instance_count times the distribution's processes per
// instance), one for a pipeline step.
func instances(j *tandem.Job, step string) int {
	if step == "" {
		return j.Spec.Processes()
	}
	return 1
}

// ComputeOf is the compute a unit asks for: the step's, the job's, the
// pipeline's default_compute, or tandem.DefaultCompute. Step "" of a
// pipeline is the pipeline's own (the job's, or its default_compute).
func ComputeOf(j *tandem.Job, step string) string {
	c := j.Spec.Compute
	if p := j.Spec.Pipeline; p != nil {
		if s := p.Jobs[step]; step != "" && s != nil && s.Compute != "" {
			c = s.Compute
		} else if c == "" {
			c = p.Settings["default_compute"]
		}
	}
	if c == "" {
		c = tandem.DefaultCompute
	}
	return trimAzureML(c)
}

func trimAzureML(s string) string {
	if len(s) > 8 && s[:8] == "azureml:" {
		return s[8:]
	}
	return s
}

// Plan decides which ready units start now. Jobs are taken in priority
// order (higher first), then oldest first; a unit starts when its compute
// has MaxInstances minus Used instances free, and workspaceMax (the
// workspace quota, jobs.max_instances; 0: no limit) is not reached by the
// region's active instances. Later units may start when an earlier,
// larger one does not fit (a small job is not held behind a big one), but
// never on a compute an earlier job of higher priority is waiting for,
// nor while one of higher priority waits for the workspace quota. A unit
// larger than its compute's or the workspace's quota fails.
func Plan(jobs []*tandem.Job, caps map[string]Capacity, workspaceMax int) Decision {
	d := Decision{Queued: map[string]string{}, Fail: map[string]string{}}
	free := map[string]int{}
	total := 0
	for n, c := range caps {
		free[n] = c.Target.MaxInstances - c.Used
		total += c.Used
	}
	order := append([]*tandem.Job(nil), jobs...)
	sort.SliceStable(order, func(a, b int) bool {
		if order[a].Spec.Priority != order[b].Spec.Priority {
			return order[a].Spec.Priority > order[b].Spec.Priority
		}
		if order[a].CreatedMS != order[b].CreatedMS {
			return order[a].CreatedMS < order[b].CreatedMS
		}
		return order[a].Name < order[b].Name
	})
	blocked := map[string]int{}      // compute -> priority of a waiting job
	wsBlocked, wsWaiting := 0, false // priority of the first job waiting for the workspace quota
	for _, j := range order {
		if j.Status.Terminal() {
			continue
		}
		for _, step := range Ready(j) {
			u := Unit{Job: j.Name, Step: step, Compute: ComputeOf(j, step), Instances: instances(j, step)}
			c, ok := caps[u.Compute]
			if !ok {
				d.Fail[j.Name] = fmt.Sprintf("compute %q does not exist in this region", u.Compute)
				break
			}
			if u.Instances > c.Target.MaxInstances {
				d.Fail[j.Name] = fmt.Sprintf("needs %d instances; compute %q allows at most %d", u.Instances, u.Compute, c.Target.MaxInstances)
				break
			}
			if workspaceMax > 0 && u.Instances > workspaceMax {
				d.Fail[j.Name] = fmt.Sprintf("needs %d instances; the workspace quota (jobs.max_instances) allows at most %d", u.Instances, workspaceMax)
				break
			}
			if p, ok := blocked[u.Compute]; ok && p > j.Spec.Priority {
				d.Queued[j.Name] = fmt.Sprintf("waiting behind a job of higher priority on compute %q", u.Compute)
				continue
			}
			if wsWaiting && wsBlocked > j.Spec.Priority {
				d.Queued[j.Name] = "waiting behind a job of higher priority for the workspace quota (jobs.max_instances)"
				continue
			}
			if workspaceMax > 0 && total+u.Instances > workspaceMax {
				d.Queued[j.Name] = fmt.Sprintf("workspace quota (jobs.max_instances): %d of %d instances in use, needs %d", total, workspaceMax, u.Instances)
				if !wsWaiting {
					wsBlocked, wsWaiting = j.Spec.Priority, true
				}
				continue
			}
			if free[u.Compute] < u.Instances {
				d.Queued[j.Name] = fmt.Sprintf("compute %q quota: %d of %d instances in use, needs %d",
					u.Compute, c.Target.MaxInstances-free[u.Compute], c.Target.MaxInstances, u.Instances)
				if _, ok := blocked[u.Compute]; !ok {
					blocked[u.Compute] = j.Spec.Priority
				}
				continue
			}
			free[u.Compute] -= u.Instances
			total += u.Instances
			d.Start = append(d.Start, u)
		}
	}
	return d
}

// Ready lists the units of j that may start now: a command job with no
// active attempt while it is Queued; the pipeline steps whose inputs'
// steps completed, that have not completed and have no active attempt
// (and none at all when a step failed and continue_on_step_failure is
// off).
func Ready(j *tandem.Job) []string {
	if j.Status.Terminal() || j.Status == tandem.JobCancelRequested {
		return nil
	}
	if j.Spec.Pipeline == nil {
		a := j.LastAttempt("")
		if j.Status == tandem.JobQueued && (a == nil || a.Status.Terminal()) {
			return []string{""}
		}
		return nil
	}
	p := j.Spec.Pipeline
	st := stepStates(j)
	if anyFailed(st) && !continueOnFailure(j) {
		return nil
	}
	var out []string
	for _, name := range tandem.SortedKeys(p.Jobs) {
		if st[name] != stepPending {
			continue
		}
		ok := true
		for _, dep := range StepDeps(p, name) {
			ok = ok && st[dep] == stepDone
		}
		if ok {
			out = append(out, name)
		}
	}
	return out
}

// StepDeps lists the steps whose outputs step's inputs bind, sorted.
func StepDeps(p *tandem.Pipeline, step string) []string {
	s := p.Jobs[step]
	if s == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, in := range tandem.SortedKeys(s.Inputs) {
		if b, ok, err := tandem.ParseBinding(s.Inputs[in]); err == nil && ok && b.Scope == "jobs" && !seen[b.Name] {
			seen[b.Name] = true
			out = append(out, b.Name)
		}
	}
	sort.Strings(out)
	return out
}

type stepState int

const (
	stepPending stepState = iota // no attempt yet, or the last was interrupted and may run again
	stepActive
	stepDone
	stepFailed
	stepSkipped // a step it depends on failed (continue_on_step_failure)
)

func stepStates(j *tandem.Job) map[string]stepState {
	p := j.Spec.Pipeline
	st := map[string]stepState{}
	for _, name := range tandem.SortedKeys(p.Jobs) {
		a := j.LastAttempt(name)
		switch {
		case a == nil:
			st[name] = stepPending
		case !a.Status.Terminal():
			st[name] = stepActive
		case a.Status == tandem.AttemptCompleted:
			st[name] = stepDone
		case a.Resubmitted:
			st[name] = stepPending
		default:
			st[name] = stepFailed
		}
	}
	// Steps downstream of a failed one can never run.
	changed := true
	for changed {
		changed = false
		for _, name := range tandem.SortedKeys(p.Jobs) {
			if st[name] != stepPending {
				continue
			}
			for _, dep := range StepDeps(p, name) {
				if st[dep] == stepFailed || st[dep] == stepSkipped {
					st[name] = stepSkipped
					changed = true
					break
				}
			}
		}
	}
	return st
}

func anyFailed(st map[string]stepState) bool {
	for _, s := range st {
		if s == stepFailed {
			return true
		}
	}
	return false
}

func continueOnFailure(j *tandem.Job) bool {
	v := j.Spec.Pipeline.Settings["continue_on_step_failure"]
	return v == "true" || v == "True"
}

// Status is the job status its attempts imply, given the status it has
// (Queued and Canceled are set by the scheduler and the user, not by
// attempts). A pipeline is Running while any step is active or ready,
// Completed when every step completed, Failed when a step failed and
// nothing can run any more.
func Status(j *tandem.Job) tandem.JobStatus {
	if j.Status.Terminal() || j.Status == tandem.JobCancelRequested {
		return j.Status
	}
	if j.Spec.Pipeline == nil {
		a := j.LastAttempt("")
		if a == nil {
			return j.Status
		}
		switch a.Status {
		case tandem.AttemptStarting:
			return tandem.JobStarting
		case tandem.AttemptRunning:
			return tandem.JobRunning
		case tandem.AttemptFinalizing:
			return tandem.JobFinalizing
		case tandem.AttemptCompleted:
			return tandem.JobCompleted
		case tandem.AttemptCanceled:
			return tandem.JobCanceled
		}
		return j.Status // Failed, Interrupted: AfterAttempt decides
	}
	st := stepStates(j)
	active, pending, failed := 0, 0, 0
	for _, s := range st {
		switch s {
		case stepActive:
			active++
		case stepPending:
			pending++
		case stepFailed:
			failed++
		}
	}
	switch {
	case active > 0:
		return tandem.JobRunning
	case failed > 0 && (pending == 0 || !continueOnFailure(j)):
		return tandem.JobFailed
	case pending == 0 && failed == 0:
		allDone := true
		for _, s := range st {
			allDone = allDone && s == stepDone
		}
		if allDone {
			return tandem.JobCompleted
		}
		return tandem.JobFailed
	case len(j.Attempts) > 0:
		return tandem.JobRunning // between steps: the next is ready
	}
	return j.Status
}

// AfterAttempt decides what a job becomes when attempt a (the last of its
// unit) ended Failed or Interrupted: Queued again (resubmitted, and
// a.Resubmitted set) when the policy allows another attempt, or Failed
// with why; a failed pipeline step with continue_on_step_failure leaves
// the job to its other steps. It returns the new status and a message.
func AfterAttempt(j *tandem.Job, a *tandem.JobAttempt) (tandem.JobStatus, string) {
	pol := j.EffectiveResubmit()
	n := 0
	for _, x := range j.Attempts {
		if x.Step == a.Step {
			n++
		}
	}
	what := "the job"
	if a.Step != "" {
		what = "step " + a.Step
	}
	max := pol.MaxAttempts
	if max <= 0 {
		max = tandem.DefaultResubmit.MaxAttempts
	}
	switch a.Status {
	case tandem.AttemptInterrupted:
		if pol.Policy == tandem.ResubmitNever {
			return tandem.JobFailed, fmt.Sprintf("attempt %d of %s was interrupted (%s); resubmit policy is never", a.N, what, a.Reason)
		}
		if n >= max {
			return tandem.JobFailed, fmt.Sprintf("attempt %d of %s was interrupted (%s); max_attempts %d reached", a.N, what, a.Reason, max)
		}
		a.Resubmitted = true
		return tandem.JobQueued, fmt.Sprintf("resubmitted: attempt %d of %s was interrupted (%s)", a.N, what, a.Reason)
	case tandem.AttemptFailed:
		if pol.Policy == tandem.ResubmitAlways && n < max {
			a.Resubmitted = true
			return tandem.JobQueued, fmt.Sprintf("resubmitted: attempt %d of %s failed (%s)", a.N, what, a.Reason)
		}
		if a.Step != "" && continueOnFailure(j) {
			return Status(j), fmt.Sprintf("step %s failed: %s", a.Step, a.Reason)
		}
		return tandem.JobFailed, fmt.Sprintf("attempt %d of %s failed: %s", a.N, what, a.Reason)
	}
	return Status(j), ""
}

// Interrupt marks the active attempts of j that this region did not start
// in its current epoch as Interrupted: the region that ran them lost the
// primary role (they are attempts of an older epoch, or of another
// region). It returns the attempts it marked. The caller then asks
// AfterAttempt what the job becomes.
func Interrupt(j *tandem.Job, region string, epoch int64, nowMS int64) []*tandem.JobAttempt {
	var out []*tandem.JobAttempt
	for _, a := range j.Attempts {
		if a.Status.Terminal() || (a.Region == region && a.Epoch == epoch) {
			continue
		}
		a.Status = tandem.AttemptInterrupted
		a.EndMS = nowMS
		a.Reason = fmt.Sprintf("region %s lost the primary role (epoch %d, now %d)", a.Region, a.Epoch, epoch)
		out = append(out, a)
	}
	return out
}

// NextAttempt is the number of the next attempt of a unit.
func NextAttempt(j *tandem.Job, step string) int {
	n := 0
	for _, a := range j.Attempts {
		if a.Step == step && a.N > n {
			n = a.N
		}
	}
	return n + 1
}

// Package jobs runs the workspace's jobs on the region's compute. On the
// primary it carries out what package schedule decides: it starts ready
// work on the region's executors (each attempt an MLflow run's process with
// MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and a token of its own), follows the
// attempts, copies their logs and outputs to the run's artifacts, registers
// model outputs, and ends the run. When the region becomes primary after a
// failover it interrupts the attempts the lost region was running and
// resubmits them by policy; when it stops being primary it stops its own
// processes, whose tokens the new primary has revoked.
package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/schedule"
)

// EnvBuilder materialises an environment asset for local compute: it
// returns the Python interpreter of a virtualenv holding its packages.
type EnvBuilder interface {
	Ensure(ctx context.Context, name string, env *tandem.Environment, files map[string][]byte, progress io.Writer) (python string, err error)
}

// Tokens issues and revokes the token an attempt's process uses to reach
// the workspace as the principal that submitted the job, restricted by
// grants (AttemptGrants).
type Tokens interface {
	Issue(ctx context.Context, principal, description string, ttl time.Duration, grants []tandem.TokenGrant) (token, id string, err error)
	Revoke(ctx context.Context, id string) error
}

// Config is what a Runner needs.
type Config struct {
	Region string
	Roles  tandem.Roles
	Store  Store
	Jobs   JobStore
	Blobs  *blobstore.Store
	// Executor returns the executor of a compute target (local processes,
	// a Ray cluster).
	Executor func(t *tandem.ComputeTarget) (tandem.Executor, error)
	Envs     EnvBuilder // nil: jobs naming an environment fail clearly
	Tokens   Tokens     // nil: authentication is off; no token is passed
	// TrackingURI returns the URL an attempt's process reaches this region
	// at (known once the region listens).
	TrackingURI func() string
	// WorkDir holds the attempts' folders (code, outputs).
	WorkDir string
	// DefaultMaxInstances is the quota of the implicit "local" compute
	// when the region declares none (0: the number of CPUs).
	DefaultMaxInstances int
	// WorkspaceMaxInstances bounds the instances the region runs at once,
	// all its compute together (workspace.yaml's jobs.max_instances; 0: no
	// limit).
	WorkspaceMaxInstances int
	// DefaultResubmit is the workspace's resubmission policy for jobs that
	// set none (workspace.yaml's jobs.resubmit; nil: tandem.DefaultResubmit).
	DefaultResubmit *tandem.ResubmitPolicy
	// Settings, when set, gives the current workspace job settings (those
	// tandem apply wrote) in place of WorkspaceMaxInstances and
	// DefaultResubmit; it is asked at every scheduling pass, so a change
	// takes effect without a restart.
	Settings func(ctx context.Context) tandem.JobSettings
	// Interval is how often the runner looks at its jobs (0: 1s).
	Interval time.Duration
	// CheckpointInterval is how often checkpoint outputs are uploaded
	// while an attempt runs (0: 5s).
	CheckpointInterval time.Duration
	// ModelVersionCreated is told of each model version a job's
	// mlflow_model output registers, as the registry's own create raises
	// its webhook event (nil: nothing is told).
	ModelVersionCreated func(ctx context.Context, mv tandem.ModelVersion)
	Log                 *slog.Logger
}

// Runner runs jobs in one region.
type Runner struct {
	cfg  Config
	jobs JobStore
	log  *slog.Logger
	wake chan struct{}

	mu    sync.Mutex
	epoch int64             // the epoch the runner last saw itself primary in (0: not primary)
	seen  map[string]*local // attempts this process follows, by attempt key
	// stopped holds the handles of orphaned attempts already stopped.
	stopped  map[string]bool
	lastScan time.Time
}

// local is what the runner keeps about an attempt it follows.
type local struct {
	exec       tandem.Executor
	logOffset  int64
	logFile    string
	lastUpload time.Time
	lastCkpt   time.Time
	dir        string
	// selfUpload: the attempt uploads its outputs itself (its compute's
	// processes do not see this host's filesystem); dir has none.
	selfUpload bool
}

// New returns a runner; Run starts it.
func New(cfg Config) *Runner {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = 5 * time.Second
	}
	if cfg.DefaultMaxInstances <= 0 {
		cfg.DefaultMaxInstances = runtime.NumCPU()
	}
	if of := cfg.Executor; of != nil {
		cfg.Executor = func(t *tandem.ComputeTarget) (tandem.Executor, error) {
			ex, err := of(t)
			if err != nil {
				return nil, err
			}
			return distributed{ex}, nil
		}
	}
	return &Runner{cfg: cfg, jobs: cfg.Jobs, log: cfg.Log.With("component", "jobs"),
		wake: make(chan struct{}, 1), seen: map[string]*local{}, stopped: map[string]bool{}}
}

// Wake makes the runner look at its jobs now (a job was created or
// canceled).
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run follows the region's jobs until ctx ends.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if err := r.Tick(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("jobs pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.wake:
		case <-r.cfg.Roles.Changed():
		}
	}
}

// Tick is one pass: as primary, take over after a role change, follow the
// attempts, start what the scheduler says; as a secondary, stop the
// processes of attempts this region no longer owns.
func (r *Runner) Tick(ctx context.Context) error {
	st := r.cfg.Roles.Current()
	if st.Role != tandem.RolePrimary {
		r.mu.Lock()
		r.epoch = 0
		r.mu.Unlock()
		return r.stopOrphans(ctx)
	}
	r.mu.Lock()
	fresh := r.epoch != st.Epoch
	r.mu.Unlock()
	if fresh {
		// Until the take-over has written its decisions (the write gate may
		// still refuse for a moment after the role changed) nothing else
		// runs, and the next pass tries again.
		if err := r.takeOver(ctx, st.Epoch); err != nil {
			return fmt.Errorf("take over in epoch %d: %w", st.Epoch, err)
		}
		r.mu.Lock()
		r.epoch = st.Epoch
		r.mu.Unlock()
	}
	active, err := r.jobs.ActiveJobs(ctx)
	if err != nil {
		return err
	}
	for _, j := range active {
		if err := r.follow(ctx, j, st.Epoch); err != nil {
			r.log.Warn("follow job", "job", j.Name, "err", err)
		}
	}
	return r.startReady(ctx, st.Epoch)
}

// takeOver runs once per epoch in which the region is primary: attempts of
// other regions, or of this region in an older epoch, were cut off by the
// failover; they are interrupted and resubmitted by policy. An attempt of
// this region that is still running (the region stayed primary through a
// restart of tandem) is adopted instead.
func (r *Runner) takeOver(ctx context.Context, epoch int64) error {
	active, err := r.jobs.ActiveJobs(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UnixMilli()
	for _, j := range active {
		changed := false
		for _, a := range j.Attempts {
			if a.Status.Terminal() || a.Region != r.cfg.Region || a.Epoch == epoch || a.Handle == "" {
				continue
			}
			if ex, err := r.executor(ctx, a.Compute); err == nil {
				if ps, err := ex.Status(ctx, a.Handle); err == nil && !ps.State.Terminal() {
					a.Epoch, changed = epoch, true // still ours: adopt it
				}
			}
		}
		marked := schedule.Interrupt(j, r.cfg.Region, epoch, now)
		for _, a := range marked {
			r.revoke(ctx, a)
			st, msg := schedule.AfterAttempt(j, a)
			if j.Status == tandem.JobCancelRequested {
				st, msg = tandem.JobCanceled, j.Message // canceled before the failover: not resubmitted
			}
			j.Status, j.Message = st, msg
			if st.Terminal() {
				j.EndMS = now
				r.endRun(ctx, j)
			}
			r.log.Info("attempt interrupted by failover", "job", j.Name, "step", a.Step, "attempt", a.N, "region", a.Region, "now", j.Status)
		}
		if changed || len(marked) > 0 {
			if err := r.jobs.UpdateJob(ctx, j); err != nil {
				return err
			}
		}
	}
	return nil
}

// stopOrphans stops the processes this region runs for attempts it no
// longer owns (it is not primary any more: the new primary interrupted
// them or will).
//
// Two kinds: attempts this process started (it knows their executors),
// and attempts the replicated state says this region ran that another
// region has since interrupted (this region was killed and restarted,
// and finds them again by their handles).
func (r *Runner) stopOrphans(ctx context.Context) error {
	r.mu.Lock()
	for key, l := range r.seen {
		_, handle, _ := strings.Cut(key, "|")
		if err := l.exec.Stop(ctx, handle); err != nil {
			r.log.Warn("stop orphaned attempt", "handle", handle, "err", err)
			continue
		}
		r.log.Info("stopped an attempt this region no longer owns", "handle", handle)
		delete(r.seen, key)
		r.stopped[handle] = true
	}
	scan := time.Since(r.lastScan) >= orphanScanEvery
	if scan {
		r.lastScan = time.Now()
	}
	r.mu.Unlock()
	if !scan {
		return nil
	}
	list, err := r.jobs.ListJobs(ctx, true)
	if err != nil {
		return err
	}
	recent := time.Now().Add(-orphanWindow).UnixMilli()
	for _, j := range list {
		for _, a := range j.Attempts {
			if a.Region != r.cfg.Region || a.Handle == "" || a.Status != tandem.AttemptInterrupted || a.EndMS < recent {
				continue
			}
			r.mu.Lock()
			done := r.stopped[a.Handle]
			r.mu.Unlock()
			if done {
				continue
			}
			ex, err := r.executor(ctx, a.Compute)
			if err != nil {
				continue
			}
			if ps, err := ex.Status(ctx, a.Handle); err == nil && !ps.State.Terminal() {
				if err := ex.Stop(ctx, a.Handle); err != nil {
					r.log.Warn("stop orphaned attempt", "job", j.Name, "attempt", a.N, "err", err)
					continue
				}
				r.log.Info("stopped an attempt of this region that the new primary interrupted", "job", j.Name, "attempt", a.N)
			}
			r.mu.Lock()
			r.stopped[a.Handle] = true
			r.mu.Unlock()
		}
	}
	return nil
}

// orphanWindow is how far back a secondary looks for interrupted attempts
// of its own whose processes may still run.
const orphanWindow = 24 * time.Hour

// orphanScanEvery is how often a secondary looks for them.
const orphanScanEvery = 5 * time.Second

func (r *Runner) computes(ctx context.Context) (map[string]*tandem.ComputeTarget, error) {
	list, err := r.jobs.Computes(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]*tandem.ComputeTarget{}
	for _, c := range list {
		out[c.Name] = c
	}
	if _, ok := out[tandem.DefaultCompute]; !ok {
		out[tandem.DefaultCompute] = &tandem.ComputeTarget{Name: tandem.DefaultCompute, Type: tandem.ComputeLocal,
			MaxInstances: r.cfg.DefaultMaxInstances, Region: r.cfg.Region}
	}
	return out, nil
}

// Computes lists the region's compute targets, the implicit local one
// included.
func (r *Runner) Computes(ctx context.Context) ([]*tandem.ComputeTarget, error) {
	m, err := r.computes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*tandem.ComputeTarget, 0, len(m))
	for _, n := range tandem.SortedKeys(m) {
		out = append(out, m[n])
	}
	return out, nil
}

func (r *Runner) executor(ctx context.Context, compute string) (tandem.Executor, error) {
	c, err := r.compute(ctx, compute)
	if err != nil {
		return nil, err
	}
	return r.cfg.Executor(c)
}

// compute is the region's compute target of that name.
func (r *Runner) compute(ctx context.Context, name string) (*tandem.ComputeTarget, error) {
	cs, err := r.computes(ctx)
	if err != nil {
		return nil, err
	}
	c, ok := cs[name]
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "compute %q does not exist in region %s", name, r.cfg.Region)
	}
	return c, nil
}

// DefaultResubmit is the workspace's resubmission policy for jobs that
// set none (nil: tandem.DefaultResubmit applies); the jobs API writes it
// into such a job when it is submitted.
func (r *Runner) DefaultResubmit(ctx context.Context) *tandem.ResubmitPolicy {
	if p := r.settings(ctx).Resubmit; p != nil {
		c := *p
		return &c
	}
	return nil
}

// settings are the workspace job settings in force now.
func (r *Runner) settings(ctx context.Context) tandem.JobSettings {
	if r.cfg.Settings != nil {
		return r.cfg.Settings(ctx)
	}
	return tandem.JobSettings{MaxInstances: r.cfg.WorkspaceMaxInstances, Resubmit: r.cfg.DefaultResubmit}
}

// WorkspaceQuota is the workspace quota (0: none) and the instances the
// region's active attempts take from it.
func (r *Runner) WorkspaceQuota(ctx context.Context) (max, inUse int, err error) {
	active, err := r.jobs.ActiveJobs(ctx)
	if err != nil {
		return 0, 0, err
	}
	for _, n := range schedule.Used(active, r.cfg.Region) {
		inUse += n
	}
	return r.settings(ctx).MaxInstances, inUse, nil
}

// Usage is what Plan would decide now: per compute, the instances in use,
// and why each queued job waits. tandem compute show reports it.
func (r *Runner) Usage(ctx context.Context) (used map[string]int, queued map[string]string, err error) {
	active, err := r.jobs.ActiveJobs(ctx)
	if err != nil {
		return nil, nil, err
	}
	caps, err := r.capacities(ctx, active)
	if err != nil {
		return nil, nil, err
	}
	d := schedule.Plan(active, caps, r.settings(ctx).MaxInstances)
	used = schedule.Used(active, r.cfg.Region)
	queued = d.Queued
	for _, u := range d.Start {
		queued[u.Job] = "starting"
	}
	return used, queued, nil
}

func (r *Runner) capacities(ctx context.Context, active []*tandem.Job) (map[string]schedule.Capacity, error) {
	cs, err := r.computes(ctx)
	if err != nil {
		return nil, err
	}
	used := schedule.Used(active, r.cfg.Region)
	caps := map[string]schedule.Capacity{}
	for n, c := range cs {
		caps[n] = schedule.Capacity{Target: *c, Used: used[n]}
	}
	return caps, nil
}

// startReady asks the scheduler what starts now and starts it.
func (r *Runner) startReady(ctx context.Context, epoch int64) error {
	active, err := r.jobs.ActiveJobs(ctx)
	if err != nil {
		return err
	}
	caps, err := r.capacities(ctx, active)
	if err != nil {
		return err
	}
	d := schedule.Plan(active, caps, r.settings(ctx).MaxInstances)
	byName := map[string]*tandem.Job{}
	for _, j := range active {
		byName[j.Name] = j
	}
	now := time.Now().UnixMilli()
	for name, why := range d.Fail {
		j := byName[name]
		j.Status, j.Message, j.EndMS = tandem.JobFailed, why, now
		r.endRun(ctx, j)
		if err := r.jobs.UpdateJob(ctx, j); err != nil {
			return err
		}
	}
	for name, why := range d.Queued {
		if j := byName[name]; j.Status == tandem.JobQueued && j.Message != why {
			j.Message = why
			if err := r.jobs.UpdateJob(ctx, j); err != nil {
				return err
			}
		}
	}
	for _, u := range d.Start {
		j := byName[u.Job]
		if err := r.start(ctx, j, u, epoch, caps[u.Compute].Target); err != nil {
			return err
		}
	}
	return nil
}

// start records a new attempt of u, prepares its folder and starts it.
// Anything that fails before the process starts fails the attempt with the
// reason (and the job, by policy), never leaving it Starting.
func (r *Runner) start(ctx context.Context, j *tandem.Job, u schedule.Unit, epoch int64, target tandem.ComputeTarget) error {
	a := &tandem.JobAttempt{N: schedule.NextAttempt(j, u.Step), Step: u.Step, Region: r.cfg.Region, Epoch: epoch,
		Compute: u.Compute, Status: tandem.AttemptStarting, StartMS: time.Now().UnixMilli()}
	j.Attempts = append(j.Attempts, a)
	j.Status, j.Message = schedule.Status(j), ""
	if err := r.jobs.UpdateJob(ctx, j); err != nil {
		return err
	}
	if a.N == 1 && u.Step == "" {
		r.setRunStatus(ctx, j.RunID, "RUNNING", 0)
	}
	handle, ex, err := r.launch(ctx, j, a, &target)
	if err != nil {
		r.log.Warn("attempt did not start", "job", j.Name, "attempt", a.N, "err", err)
		a.Status, a.EndMS, a.Reason = tandem.AttemptFailed, time.Now().UnixMilli(), tandem.ErrorMessage(err)
		r.revoke(ctx, a)
		st, msg := schedule.AfterAttempt(j, a)
		j.Status, j.Message = st, msg
		if st.Terminal() {
			j.EndMS = a.EndMS
			r.endRun(ctx, j)
		}
		return r.jobs.UpdateJob(ctx, j)
	}
	a.Handle, a.Status = handle, tandem.AttemptRunning
	j.Status = schedule.Status(j)
	r.mu.Lock()
	r.seen[attemptKey(j, a)] = &local{exec: ex, dir: r.attemptDir(j, a), logFile: filepath.Join(r.attemptDir(j, a), "std_log.txt"), lastUpload: time.Now(), lastCkpt: time.Now(),
		selfUpload: offHost(&target)}
	r.mu.Unlock()
	r.log.Info("attempt started", "job", j.Name, "step", a.Step, "attempt", a.N, "compute", a.Compute, "handle", handle)
	return r.jobs.UpdateJob(ctx, j)
}

func attemptKey(j *tandem.Job, a *tandem.JobAttempt) string {
	return j.Name + "/" + a.Step + "/" + fmt.Sprint(a.N) + "|" + a.Handle
}

func (r *Runner) attemptDir(j *tandem.Job, a *tandem.JobAttempt) string {
	step := a.Step
	if step == "" {
		step = "_"
	}
	return filepath.Join(r.cfg.WorkDir, j.Name, step, fmt.Sprint(a.N))
}

// follow looks at every active attempt of j this region runs: status,
// logs, checkpoints; a finished one is finalised. A job canceled by the
// user gets its processes stopped.
func (r *Runner) follow(ctx context.Context, j *tandem.Job, epoch int64) error {
	changed := false
	for _, a := range j.Attempts {
		if a.Status.Terminal() || a.Region != r.cfg.Region || a.Epoch != epoch {
			continue
		}
		if a.Handle == "" {
			// Started by a process of tandem that died before the executor
			// answered: nothing to follow.
			a.Status, a.EndMS, a.Reason = tandem.AttemptInterrupted, time.Now().UnixMilli(), "tandem restarted while the attempt was starting"
			r.afterEnd(ctx, j, a)
			changed = true
			continue
		}
		l, err := r.localOf(ctx, j, a)
		if err != nil {
			return err
		}
		if j.Status == tandem.JobCancelRequested || j.Status == tandem.JobCanceled {
			_ = l.exec.Stop(ctx, a.Handle)
			a.Status, a.EndMS, a.Reason = tandem.AttemptCanceled, time.Now().UnixMilli(), "canceled by the user"
			r.finish(ctx, j, a, l)
			changed = true
			continue
		}
		ps, err := l.exec.Status(ctx, a.Handle)
		if err != nil {
			r.log.Warn("attempt status", "job", j.Name, "attempt", a.N, "err", err)
			continue
		}
		r.copyLogs(ctx, j, a, l, false)
		if time.Since(l.lastCkpt) >= r.cfg.CheckpointInterval {
			l.lastCkpt = time.Now()
			r.uploadOutputs(ctx, j, a, l, true)
		}
		if !ps.State.Terminal() {
			continue
		}
		code := ps.ExitCode
		a.ExitCode = &code
		a.EndMS = time.Now().UnixMilli()
		switch ps.State {
		case tandem.ProcessSucceeded:
			a.Status = tandem.AttemptFinalizing
			j.Status = schedule.Status(j)
			if err := r.jobs.UpdateJob(ctx, j); err != nil {
				return err
			}
			if err := r.finalize(ctx, j, a, l); err != nil {
				a.Status, a.Reason = tandem.AttemptFailed, "outputs: "+tandem.ErrorMessage(err)
			} else {
				a.Status = tandem.AttemptCompleted
			}
		case tandem.ProcessFailed:
			a.Status, a.Reason = tandem.AttemptFailed, failReason(ps)
		case tandem.ProcessStopped:
			a.Status, a.Reason = tandem.AttemptCanceled, "stopped"
		default: // lost
			a.Status, a.Reason = tandem.AttemptInterrupted, "the compute lost the process: "+ps.Message
		}
		r.finish(ctx, j, a, l)
		changed = true
	}
	if changed {
		return r.jobs.UpdateJob(ctx, j)
	}
	return nil
}

func failReason(ps tandem.ProcessStatus) string {
	if ps.Message != "" {
		return fmt.Sprintf("exit code %d: %s", ps.ExitCode, ps.Message)
	}
	return fmt.Sprintf("exit code %d", ps.ExitCode)
}

// finish copies the last logs, revokes the token and sets the job status.
func (r *Runner) finish(ctx context.Context, j *tandem.Job, a *tandem.JobAttempt, l *local) {
	r.copyLogs(ctx, j, a, l, true)
	r.mu.Lock()
	delete(r.seen, attemptKey(j, a))
	r.mu.Unlock()
	r.afterEnd(ctx, j, a)
	r.log.Info("attempt ended", "job", j.Name, "step", a.Step, "attempt", a.N, "status", a.Status, "job_status", j.Status)
}

func (r *Runner) afterEnd(ctx context.Context, j *tandem.Job, a *tandem.JobAttempt) {
	r.revoke(ctx, a)
	defer r.endStepRun(ctx, a)
	if j.Status == tandem.JobCancelRequested || j.Status == tandem.JobCanceled {
		if !anyActive(j) {
			j.Status = tandem.JobCanceled
			j.EndMS = time.Now().UnixMilli()
			r.endRun(ctx, j)
		}
		return
	}
	switch a.Status {
	case tandem.AttemptFailed, tandem.AttemptInterrupted:
		j.Status, j.Message = schedule.AfterAttempt(j, a)
	default:
		j.Status = schedule.Status(j)
	}
	if j.Status == tandem.JobFailed && j.Message == "" {
		j.Message = failedSteps(j)
	}
	if j.Status.Terminal() {
		for _, b := range j.Attempts { // a failed step without continue: stop the others
			if !b.Status.Terminal() && b != a {
				if ex, err := r.executor(ctx, b.Compute); err == nil && b.Handle != "" {
					_ = ex.Stop(ctx, b.Handle)
				}
				b.Status, b.EndMS, b.Reason = tandem.AttemptCanceled, time.Now().UnixMilli(), "the pipeline failed"
				r.revoke(ctx, b)
				r.endStepRun(ctx, b)
			}
		}
		j.EndMS = time.Now().UnixMilli()
		r.endRun(ctx, j)
	}
}

// failedSteps says which steps failed, and why.
func failedSteps(j *tandem.Job) string {
	var parts []string
	for _, a := range j.Attempts {
		if a.Status == tandem.AttemptFailed && !a.Resubmitted {
			parts = append(parts, fmt.Sprintf("step %s failed: %s", a.Step, a.Reason))
		}
	}
	return strings.Join(parts, "; ")
}

// endStepRun ends the child run of a pipeline step's attempt.
func (r *Runner) endStepRun(ctx context.Context, a *tandem.JobAttempt) {
	if a.Step == "" || a.RunID == "" || a.Resubmitted {
		return
	}
	status := map[tandem.AttemptStatus]string{tandem.AttemptCompleted: "FINISHED", tandem.AttemptFailed: "FAILED",
		tandem.AttemptCanceled: "KILLED", tandem.AttemptInterrupted: "FAILED"}[a.Status]
	if status != "" {
		r.setRunStatus(ctx, a.RunID, status, max(a.EndMS, time.Now().UnixMilli()))
	}
}

func anyActive(j *tandem.Job) bool {
	for _, a := range j.Attempts {
		if !a.Status.Terminal() {
			return true
		}
	}
	return false
}

// localOf returns what the runner follows of a, finding it again after a
// restart of tandem.
func (r *Runner) localOf(ctx context.Context, j *tandem.Job, a *tandem.JobAttempt) (*local, error) {
	key := attemptKey(j, a)
	r.mu.Lock()
	l, ok := r.seen[key]
	r.mu.Unlock()
	if ok {
		return l, nil
	}
	c, err := r.compute(ctx, a.Compute)
	if err != nil {
		return nil, err
	}
	ex, err := r.cfg.Executor(c)
	if err != nil {
		return nil, err
	}
	dir := r.attemptDir(j, a)
	l = &local{exec: ex, dir: dir, logFile: filepath.Join(dir, "std_log.txt"), lastUpload: time.Now(), lastCkpt: time.Now(),
		selfUpload: offHost(c)}
	if st, err := os.Stat(l.logFile); err == nil {
		l.logOffset = st.Size()
	}
	r.mu.Lock()
	r.seen[key] = l
	r.mu.Unlock()
	return l, nil
}

// revoke revokes the attempt's token (its process can no longer write).
func (r *Runner) revoke(ctx context.Context, a *tandem.JobAttempt) {
	if r.cfg.Tokens == nil || a.TokenID == "" {
		return
	}
	if err := r.cfg.Tokens.Revoke(ctx, a.TokenID); err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND {
		r.log.Warn("revoke attempt token", "token", a.TokenID, "err", err)
	}
}

// endRun sets the MLflow run's status from the job's.
func (r *Runner) endRun(ctx context.Context, j *tandem.Job) {
	status := map[tandem.JobStatus]string{tandem.JobCompleted: "FINISHED", tandem.JobFailed: "FAILED", tandem.JobCanceled: "KILLED"}[j.Status]
	if status == "" {
		return
	}
	end := j.EndMS
	if end == 0 {
		end = time.Now().UnixMilli()
	}
	r.setRunStatus(ctx, j.RunID, status, end)
}

func (r *Runner) setRunStatus(ctx context.Context, runID, status string, end int64) {
	if runID == "" {
		return
	}
	var endp *int64
	if end > 0 {
		endp = &end
	}
	if err := r.cfg.Store.UpdateRun(ctx, runID, &status, endp, nil); err != nil {
		r.log.Warn("set run status", "run", runID, "status", status, "err", err)
	}
}

// RunArtifactRoot is where a run's artifacts are in the artifact store.
func (r *Runner) runArtifactRoot(ctx context.Context, runID string) (string, error) {
	run, err := r.cfg.Store.GetRun(ctx, runID)
	if err != nil {
		return "", err
	}
	return ArtifactKey(run.Info.ArtifactURI)
}

// ArtifactKey maps a run's artifact URI (mlflow-artifacts:/EXP/RUN/artifacts)
// to its key prefix in the artifact store.
func ArtifactKey(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, "mlflow-artifacts:")
	if !ok {
		return "", tandem.Errorf(tandem.EINVALID, "run artifact location %q is not served by tandem", uri)
	}
	return strings.Trim(path.Clean("/"+strings.TrimPrefix(rest, "//")), "/"), nil
}

// putArtifact stores one file of a run.
func (r *Runner) putArtifact(ctx context.Context, key string, body io.Reader) error {
	ref, err := r.cfg.Blobs.Put(ctx, key, body, "")
	if err != nil {
		return err
	}
	_, err = r.cfg.Store.PutArtifact(ctx, tandem.Artifact{Path: key, Size: ref.Size, SHA256: ref.SHA256, CreatedMs: time.Now().UnixMilli()})
	return err
}

// copyLogs appends what the executor has of the attempt's output to its
// local log file and, every few seconds and at the end, uploads that file
// to the run's artifacts as user_logs/std_log.txt (std_log_<step>_<n>.txt
// for a pipeline step or a later attempt).
func (r *Runner) copyLogs(ctx context.Context, j *tandem.Job, a *tandem.JobAttempt, l *local, final bool) {
	data, next, err := l.exec.Logs(ctx, a.Handle, l.logOffset)
	if err == nil && len(data) > 0 {
		if err := os.MkdirAll(filepath.Dir(l.logFile), 0o755); err == nil {
			if f, err := os.OpenFile(l.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
				_, werr := f.Write(data)
				f.Close()
				if werr == nil {
					l.logOffset = next
				}
			}
		}
	}
	if !final && time.Since(l.lastUpload) < 5*time.Second {
		return
	}
	l.lastUpload = time.Now()
	f, err := os.Open(l.logFile)
	if err != nil {
		return
	}
	defer f.Close()
	root, err := r.runArtifactRoot(ctx, j.RunID)
	if err != nil {
		return
	}
	if err := r.putArtifact(ctx, root+"/user_logs/"+LogName(a), f); err != nil {
		r.log.Warn("upload logs", "job", j.Name, "err", err)
	}
	if hs, ok := RankHandles(a.Handle); ok {
		for k, h := range hs {
			data, _, err := l.exec.Logs(ctx, h, 0)
			if err != nil {
				continue
			}
			if err := r.putArtifact(ctx, root+"/user_logs/"+ProcessLogName(a, k), bytes.NewReader(data)); err != nil {
				r.log.Warn("upload logs", "job", j.Name, "rank", k, "err", err)
			}
		}
	}
}

// ProcessLogName is the file name under user_logs/ of the log of one
// process (by rank) of a distributed attempt: LogName's, with
// _process_RANK before .txt.
func ProcessLogName(a *tandem.JobAttempt, rank int) string {
	return fmt.Sprintf("%s_process_%d.txt", strings.TrimSuffix(LogName(a), ".txt"), rank)
}

// LogName is the file name of an attempt's log under user_logs/.
func LogName(a *tandem.JobAttempt) string {
	if a.Step == "" && a.N == 1 {
		return "std_log.txt"
	}
	if a.Step == "" {
		return fmt.Sprintf("std_log_attempt_%d.txt", a.N)
	}
	return fmt.Sprintf("std_log_%s_%d.txt", a.Step, a.N)
}

// Logs returns an attempt's log from offset: from the executor while this
// region runs it, else from the run's artifacts (what reached this
// region). last picks the newest attempt of the job.
func (r *Runner) Logs(ctx context.Context, j *tandem.Job, offset int64) ([]byte, int64, error) {
	var a *tandem.JobAttempt
	if len(j.Attempts) > 0 {
		a = j.Attempts[len(j.Attempts)-1]
	}
	if a == nil {
		return nil, offset, nil
	}
	if a.Region == r.cfg.Region && !a.Status.Terminal() && a.Handle != "" {
		if ex, err := r.executor(ctx, a.Compute); err == nil {
			if data, next, err := ex.Logs(ctx, a.Handle, offset); err == nil {
				return data, next, nil
			}
		}
	}
	root, err := r.runArtifactRoot(ctx, j.RunID)
	if err != nil {
		return nil, offset, err
	}
	rd, err := r.cfg.Blobs.Open(ctx, root+"/user_logs/"+LogName(a))
	if err != nil {
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil, offset, nil
		}
		return nil, offset, err
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, offset, err
	}
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return data[offset:], int64(len(data)), nil
}

var errNoEnvBuilder = errors.New("this region cannot build environments")

package tandem

import (
	"context"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// JobStatus is where a job is in its life, with Azure ML's names.
type JobStatus string

const (
	JobQueued     JobStatus = "Queued"     // waiting for quota on its compute
	JobStarting   JobStatus = "Starting"   // environment and code being prepared, process starting
	JobRunning    JobStatus = "Running"    // its process runs
	JobFinalizing JobStatus = "Finalizing" // outputs being uploaded and registered
	// JobCancelRequested: canceled by the user while attempts run; the
	// runner stops them, then the job is Canceled.
	JobCancelRequested JobStatus = "CancelRequested"
	JobCompleted       JobStatus = "Completed"
	JobFailed          JobStatus = "Failed"
	JobCanceled        JobStatus = "Canceled"
)

// Terminal reports whether the job can no longer change status.
func (s JobStatus) Terminal() bool {
	return s == JobCompleted || s == JobFailed || s == JobCanceled
}

// AttemptStatus is where one attempt of a job is. Interrupted means the
// region that ran it was lost (a failover), never that the user's code
// failed.
type AttemptStatus string

const (
	AttemptStarting    AttemptStatus = "Starting"
	AttemptRunning     AttemptStatus = "Running"
	AttemptFinalizing  AttemptStatus = "Finalizing"
	AttemptCompleted   AttemptStatus = "Completed"
	AttemptFailed      AttemptStatus = "Failed"
	AttemptCanceled    AttemptStatus = "Canceled"
	AttemptInterrupted AttemptStatus = "Interrupted"
)

// Terminal reports whether the attempt can no longer change status.
func (s AttemptStatus) Terminal() bool {
	switch s {
	case AttemptCompleted, AttemptFailed, AttemptCanceled, AttemptInterrupted:
		return true
	}
	return false
}

// Resubmission policies.
const (
	ResubmitAlways          = "always"            // after any attempt that did not complete, except a cancel
	ResubmitOnRegionFailure = "on_region_failure" // only after an interruption by a failover (the default)
	ResubmitNever           = "never"
)

// ResubmitPolicy says what the primary does with a job whose attempt
// ended without completing.
type ResubmitPolicy struct {
	Policy      string `json:"policy"`
	MaxAttempts int    `json:"max_attempts"` // attempts in all, the first included
}

// DefaultResubmit is the policy of a job that sets none when the
// workspace file gives no other (jobs.resubmit).
var DefaultResubmit = ResubmitPolicy{Policy: ResubmitOnRegionFailure, MaxAttempts: 3}

// JobInput is one input of a job: a literal (Value) or data (Type and
// Path: a local path uploaded with the job, azureml:NAME:VERSION of a data
// asset, or a URL).
type JobInput struct {
	Value *string `json:"value,omitempty"`
	Type  string  `json:"type,omitempty"`
	Path  string  `json:"path,omitempty"`
	Mode  string  `json:"mode,omitempty"`
}

// JobOutput is one named output: a folder the job writes
// (${{outputs.NAME}}), uploaded to the run's artifacts under
// outputs/NAME when the attempt ends. With Name set it is registered as an
// asset of its type (mlflow_model: a registered model version; uri_folder,
// uri_file: a data asset). Checkpoint marks the folder whose last upload a
// resubmitted attempt starts from.
type JobOutput struct {
	Type       string `json:"type,omitempty"`
	Mode       string `json:"mode,omitempty"`
	Name       string `json:"name,omitempty"`
	Version    string `json:"version,omitempty"`
	Checkpoint bool   `json:"checkpoint,omitempty"`
}

// OutputAssetKind is the kind of asset a named output of type t is
// registered as when its attempt completes: a model version for
// mlflow_model, a data asset version for uri_folder, uri_file and mltable;
// "" for the types tandem does not register.
func OutputAssetKind(t string) AssetKind {
	switch t {
	case "mlflow_model":
		return AssetModel
	case DataURIFolder, DataURIFile, DataMLTable:
		return AssetData
	}
	return ""
}

// ValidateOutputAsset checks the name and version that register an output
// of type t: a name of the kind's form, a version only with a name (a
// number for a model: the registry numbers versions, and the output gets
// that number only if it is the model's next).
func ValidateOutputAsset(t, name, version string) error {
	k := OutputAssetKind(t)
	switch {
	case name == "":
		return Errorf(EINVALID, "a version needs a name (the asset the output is registered as)")
	case k == "":
		return Errorf(EINVALID, "a %s output cannot be registered (name it only on mlflow_model, uri_folder, uri_file or mltable outputs)", t)
	case k == AssetModel:
		if err := ValidateModelName(name); err != nil {
			return err
		}
		if n, err := strconv.ParseInt(version, 10, 64); version != "" && (err != nil || n < 1) {
			return Errorf(EINVALID, "an mlflow_model output's version is the registered model's version number, got %q", version)
		}
		return nil
	}
	if err := ValidateName(name); err != nil {
		return err
	}
	if version != "" {
		return ValidateVersion(version)
	}
	return nil
}

// Distribution is how a command job runs several processes (Azure ML's
// distribution: {type: pytorch, process_count_per_instance: N}): on local
// compute, resources.instance_count times ProcessCountPerInstance
// processes, each with the variables PyTorch's distributed launcher sets
// (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, NODE_RANK,
// LOCAL_WORLD_SIZE), each taking one instance of the compute's quota.
type Distribution struct {
	Type                    string `json:"type"` // pytorch or tensorflow
	ProcessCountPerInstance int    `json:"process_count_per_instance,omitempty"`
	// WorkerCount (tensorflow) is the number of workers in all (0:
	// instance_count), ParameterServerCount the parameter servers besides
	// them.
	WorkerCount          int `json:"worker_count,omitempty"`
	ParameterServerCount int `json:"parameter_server_count,omitempty"`
}

// The distribution types tandem runs: PyTorch's env:// rendezvous
// (MASTER_ADDR, RANK, ...) and TensorFlow's TF_CONFIG cluster.
const (
	DistributionPyTorch    = "pytorch"
	DistributionTensorFlow = "tensorflow"
)

// Validate checks the type and the counts each type has.
func (d *Distribution) Validate() error {
	switch d.Type {
	case DistributionPyTorch:
		if d.WorkerCount != 0 || d.ParameterServerCount != 0 {
			return Errorf(EINVALID, "job: distribution pytorch has no worker_count or parameter_server_count (process_count_per_instance sets its processes)")
		}
	case DistributionTensorFlow:
		if d.ProcessCountPerInstance != 0 {
			return Errorf(EINVALID, "job: distribution tensorflow has no process_count_per_instance (worker_count and parameter_server_count set its processes)")
		}
		if d.WorkerCount < 0 || d.WorkerCount > 1024 {
			return Errorf(EINVALID, "job: distribution.worker_count must be between 1 and 1024, got %d", d.WorkerCount)
		}
		if d.ParameterServerCount < 0 || d.ParameterServerCount > 1024 {
			return Errorf(EINVALID, "job: distribution.parameter_server_count must be between 0 and 1024, got %d", d.ParameterServerCount)
		}
	case "mpi":
		return Errorf(EINVALID, "job: distribution type mpi needs an MPI launcher (mpirun) to start its ranks, which tandem does not run: use pytorch or tensorflow, or call mpirun in a one-process command")
	default:
		return Errorf(EINVALID, "job: distribution.type must be pytorch or tensorflow, got %q", d.Type)
	}
	if d.ProcessCountPerInstance < 0 || d.ProcessCountPerInstance > 1024 {
		return Errorf(EINVALID, "job: distribution.process_count_per_instance must be between 1 and 1024, got %d", d.ProcessCountPerInstance)
	}
	return nil
}

// TensorFlowTasks is the number of workers and parameter servers of a
// tensorflow distribution of a job with instances instances.
func (d *Distribution) TensorFlowTasks(instances int) (workers, ps int) {
	workers = d.WorkerCount
	if workers == 0 {
		workers = max(1, instances)
	}
	return workers, d.ParameterServerCount
}

// Processes is the number of processes a command job runs: instance_count
// times the distribution's processes per instance (1 each when unset).
// A tensorflow distribution runs its workers and parameter servers.
func (s *JobSpec) Processes() int {
	n := max(1, s.InstanceCount)
	if d := s.Distribution; d != nil && d.Type == DistributionTensorFlow {
		w, ps := d.TensorFlowTasks(n)
		return w + ps
	}
	if s.Distribution != nil {
		n *= max(1, s.Distribution.ProcessCountPerInstance)
	}
	return n
}

// OutputAsset is an asset a job's output registers when it completes.
type OutputAsset struct {
	Where   string // outputs.NAME, jobs.STEP.outputs.NAME
	Type    string
	Name    string
	Version string // "" for the next version
}

// OutputAssets lists the outputs of the job that register an asset: its
// own named outputs, and a pipeline's step outputs named in the step or
// through the pipeline output they bind. Sorted by Where.
func (s *JobSpec) OutputAssets() []OutputAsset {
	var out []OutputAsset
	for _, n := range SortedKeys(s.Outputs) {
		if o := s.Outputs[n]; o != nil && o.Name != "" {
			out = append(out, OutputAsset{Where: "outputs." + n, Type: o.Type, Name: o.Name, Version: o.Version})
		}
	}
	p := s.Pipeline
	if p == nil {
		return out
	}
	for _, step := range SortedKeys(p.Jobs) {
		st := p.Jobs[step]
		if st == nil {
			continue
		}
		for _, n := range SortedKeys(st.OutputPorts) {
			if op := st.OutputPorts[n]; op != nil && op.Name != "" {
				out = append(out, OutputAsset{Where: "jobs." + step + ".outputs." + n, Type: op.Type, Name: op.Name, Version: op.Version})
			}
		}
		for _, n := range SortedKeys(st.Outputs) {
			if b, ok, err := ParseBinding(st.Outputs[n]); err == nil && ok && b.Scope == "outputs" {
				if po := p.Outputs[b.Name]; po != nil && po.Name != "" {
					out = append(out, OutputAsset{Where: "jobs." + step + ".outputs." + n, Type: po.Type, Name: po.Name, Version: po.Version})
				}
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Where < out[b].Where })
	return out
}

// JobSpec is a job as submitted, in Azure ML CLI v2 terms (a command job;
// a pipeline job carries its Pipeline).
type JobSpec struct {
	Type                 string                `json:"type"` // command | pipeline
	Name                 string                `json:"name,omitempty"`
	DisplayName          string                `json:"display_name,omitempty"`
	ExperimentName       string                `json:"experiment_name,omitempty"`
	Description          string                `json:"description,omitempty"`
	Tags                 map[string]string     `json:"tags,omitempty"`
	Command              string                `json:"command,omitempty"`
	Code                 string                `json:"code,omitempty"`
	Environment          string                `json:"environment,omitempty"`
	Inputs               map[string]*JobInput  `json:"inputs,omitempty"`
	Outputs              map[string]*JobOutput `json:"outputs,omitempty"`
	EnvironmentVariables map[string]string     `json:"environment_variables,omitempty"`
	Compute              string                `json:"compute,omitempty"`
	InstanceCount        int                   `json:"instance_count,omitempty"`  // resources.instance_count
	TimeoutSeconds       int                   `json:"timeout_seconds,omitempty"` // limits.timeout
	Priority             int                   `json:"priority,omitempty"`        // higher starts first
	Distribution         *Distribution         `json:"distribution,omitempty"`
	Resubmit             *ResubmitPolicy       `json:"resubmit,omitempty"`
	Pipeline             *Pipeline             `json:"pipeline,omitempty"`
}

// JobAttempt is one try at running a job (or one pipeline step) on one
// region's compute.
type JobAttempt struct {
	N       int           `json:"n"` // 1, 2, ...
	Step    string        `json:"step,omitempty"`
	Region  string        `json:"region"`
	Epoch   int64         `json:"epoch"` // the region's epoch when it started the attempt
	Compute string        `json:"compute"`
	Status  AttemptStatus `json:"status"`
	// RunID is the MLflow run the attempt logs into: the job's run, or a
	// pipeline step's child run (the same for every attempt of the step).
	RunID string `json:"run_id,omitempty"`
	// Handle is the executor's own id for the attempt (a pid and start
	// time, a Ray submission id), so a restarted region finds it again.
	Handle   string `json:"handle,omitempty"`
	TokenID  string `json:"token_id,omitempty"` // the attempt's scoped token, revoked when it ends
	StartMS  int64  `json:"start_ms"`
	EndMS    int64  `json:"end_ms,omitempty"`
	ExitCode *int   `json:"exit_code,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Resubmitted is set when the scheduler queued a new attempt of the
	// same unit after this one ended.
	Resubmitted bool `json:"resubmitted,omitempty"`
}

// Job is a submitted job with its state. Files are the code snapshot
// uploaded with it (stored under JobFilesPrefix(name)).
type Job struct {
	Name         string        `json:"name"`
	Spec         JobSpec       `json:"spec"`
	Files        []AssetFile   `json:"files,omitempty"`
	Status       JobStatus     `json:"status"`
	ExperimentID string        `json:"experiment_id"`
	RunID        string        `json:"run_id"`
	Principal    string        `json:"principal,omitempty"` // who submitted it
	CreatedMS    int64         `json:"created_ms"`
	EndMS        int64         `json:"end_ms,omitempty"`
	Archived     bool          `json:"archived,omitempty"`
	Attempts     []*JobAttempt `json:"attempts,omitempty"`
	// Message says why the job is in its status (a queued reason, the
	// error that failed it).
	Message string `json:"message,omitempty"`
}

// LastAttempt returns the newest attempt (of step, "" for a command job),
// nil before the first.
func (j *Job) LastAttempt(step string) *JobAttempt {
	for i := len(j.Attempts) - 1; i >= 0; i-- {
		if j.Attempts[i].Step == step {
			return j.Attempts[i]
		}
	}
	return nil
}

// EffectiveResubmit is the job's policy, or the default.
func (j *Job) EffectiveResubmit() ResubmitPolicy {
	if j.Spec.Resubmit != nil {
		return *j.Spec.Resubmit
	}
	return DefaultResubmit
}

// JobFilesPrefix is where a job's code snapshot is stored in the artifact
// store.
func JobFilesPrefix(name string) string { return "jobs/" + name + "/code/" }

var jobNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$`)

// ValidateJobName checks a job name (Azure ML's rule: letters, digits,
// '-' and '_', starting with a letter or digit).
func ValidateJobName(n string) error {
	if !jobNameRE.MatchString(n) {
		return Errorf(EINVALID, "job name %q: use letters, digits, '-' and '_', starting with a letter or digit, at most 255", n)
	}
	return nil
}

// Validate checks a command job's spec for what needs no workspace
// lookup: a command, known input and output types, bindings that name a
// declared input or output, a resubmission policy that exists.
func (s *JobSpec) Validate() error {
	switch s.Type {
	case "command":
	case "pipeline":
		if s.Pipeline == nil {
			return Errorf(EINVALID, "job: a pipeline job needs jobs")
		}
		return s.Pipeline.Validate()
	default:
		return Errorf(EINVALID, "job: type must be command or pipeline, got %q", s.Type)
	}
	if s.Name != "" {
		if err := ValidateJobName(s.Name); err != nil {
			return err
		}
	}
	if strings.TrimSpace(s.Command) == "" {
		return Errorf(EINVALID, "job: command is required")
	}
	for _, n := range SortedKeys(s.Inputs) {
		in := s.Inputs[n]
		if !portNameRE.MatchString(n) {
			return Errorf(EINVALID, "job: input %q: names use letters, digits and '_'", n)
		}
		if in == nil || (in.Value == nil && in.Path == "") {
			return Errorf(EINVALID, "job: input %q needs a value or a path", n)
		}
		if in.Value == nil && in.Type != "" && !contains(dataPortTypes, in.Type) {
			return Errorf(EINVALID, "job: input %q: type %q must be one of %s", n, in.Type, strings.Join(dataPortTypes, ", "))
		}
	}
	for _, n := range SortedKeys(s.Outputs) {
		o := s.Outputs[n]
		if !portNameRE.MatchString(n) {
			return Errorf(EINVALID, "job: output %q: names use letters, digits and '_'", n)
		}
		if o == nil {
			return Errorf(EINVALID, "job: output %q is empty", n)
		}
		if o.Type == "" {
			o.Type = "uri_folder"
		}
		if !contains(dataPortTypes, o.Type) {
			return Errorf(EINVALID, "job: output %q: type %q must be one of %s", n, o.Type, strings.Join(dataPortTypes, ", "))
		}
		if o.Checkpoint && o.Type != "uri_folder" {
			return Errorf(EINVALID, "job: output %q: a checkpoint output is a uri_folder", n)
		}
		if o.Name != "" || o.Version != "" {
			if err := ValidateOutputAsset(o.Type, o.Name, o.Version); err != nil {
				return Errorf(EINVALID, "job: output %q: %s", n, ErrorMessage(err))
			}
		}
	}
	for _, ref := range CommandBindings(s.Command) {
		switch ref.Scope {
		case "inputs":
			if _, ok := s.Inputs[ref.Name]; !ok {
				return Errorf(EINVALID, "job: command uses ${{inputs.%s}}, which is not declared in inputs", ref.Name)
			}
		case "outputs":
			if _, ok := s.Outputs[ref.Name]; !ok {
				return Errorf(EINVALID, "job: command uses ${{outputs.%s}}, which is not declared in outputs", ref.Name)
			}
		default:
			return Errorf(EINVALID, "job: command binding %q must be ${{inputs.NAME}} or ${{outputs.NAME}}", ref.Raw)
		}
	}
	if s.InstanceCount < 0 || s.TimeoutSeconds < 0 {
		return Errorf(EINVALID, "job: resources.instance_count and limits.timeout cannot be negative")
	}
	if s.Distribution != nil {
		if err := s.Distribution.Validate(); err != nil {
			return err
		}
	}
	if r := s.Resubmit; r != nil {
		switch r.Policy {
		case ResubmitAlways, ResubmitOnRegionFailure, ResubmitNever:
		default:
			return Errorf(EINVALID, "job: resubmit.policy must be always, on_region_failure or never, got %q", r.Policy)
		}
		if r.MaxAttempts < 0 {
			return Errorf(EINVALID, "job: resubmit.max_attempts cannot be negative")
		}
	}
	return nil
}

// LocalPaths are the job's local code folder and local data inputs,
// relative to its YAML file: they are uploaded with the job.
func (s *JobSpec) LocalPaths() []string {
	var out []string
	if s.Code != "" && IsLocalPath(s.Code) {
		out = append(out, s.Code)
	}
	for _, n := range SortedKeys(s.Inputs) {
		if in := s.Inputs[n]; in != nil && in.Value == nil && IsLocalPath(in.Path) {
			out = append(out, in.Path)
		}
	}
	if p := s.Pipeline; p != nil {
		out = append(out, p.LocalPaths()...) // inline steps' code, local component files
		for _, n := range SortedKeys(p.Inputs) {
			if in := p.Inputs[n]; in != nil && IsLocalPath(in.Path) {
				out = append(out, in.Path)
			}
		}
	}
	return out
}

// CommandRef is one ${{...}} in a command line.
type CommandRef struct {
	Raw   string // the whole ${{ ... }}
	Scope string // inputs | outputs | anything else it named
	Name  string
}

var commandRefRE = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)

// CommandBindings lists the ${{inputs.x}} and ${{outputs.x}} in a command
// (in order, repeated as they appear). Anything else in ${{ }} comes back
// with its first word as Scope, for the caller to refuse.
func CommandBindings(cmd string) []CommandRef {
	var out []CommandRef
	for _, m := range commandRefRE.FindAllStringSubmatch(cmd, -1) {
		scope, name, _ := strings.Cut(m[1], ".")
		out = append(out, CommandRef{Raw: m[0], Scope: scope, Name: name})
	}
	return out
}

// ShellQuote quotes s as one word for sh, leaving plain words (letters,
// digits and -_./:=+,) as they are.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=+,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ExpandCommand replaces every ${{inputs.x}} and ${{outputs.x}} in cmd by
// what resolve returns for it.
func ExpandCommand(cmd string, resolve func(scope, name string) string) string {
	return commandRefRE.ReplaceAllStringFunc(cmd, func(m string) string {
		sub := commandRefRE.FindStringSubmatch(m)
		scope, name, _ := strings.Cut(sub[1], ".")
		return resolve(scope, name)
	})
}

// ComputeTarget is a compute target of one region: a name jobs ask for,
// its type, and its quota.
type ComputeTarget struct {
	Name         string      `json:"name"`
	Type         ComputeType `json:"type"`
	Size         string      `json:"size,omitempty"`
	MinInstances int         `json:"min_instances,omitempty"` // kept for workspace.yaml's compute (local and Ray keep no idle instances)
	MaxInstances int         `json:"max_instances"`           // concurrent attempts (instances) allowed
	Address      string      `json:"address,omitempty"`       // ray: the dashboard's URL (job submission API)
	Region       string      `json:"region,omitempty"`
}

var computeNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{1,31}$`)

// Validate checks a compute target: Azure's name rule (2 to 32 letters,
// digits and '-', starting with a letter), a known type, a quota, and an
// address for Ray.
func (c *ComputeTarget) Validate() error {
	if !computeNameRE.MatchString(c.Name) {
		return Errorf(EINVALID, "compute name %q: 2 to 32 letters, digits and '-', starting with a letter", c.Name)
	}
	switch c.Type {
	case "":
		c.Type = ComputeLocal
	case ComputeLocal, ComputeRay:
	default:
		return Errorf(EINVALID, "compute %s: type %q must be local or ray", c.Name, c.Type)
	}
	if c.MaxInstances < 1 {
		return Errorf(EINVALID, "compute %s: max_instances must be at least 1", c.Name)
	}
	if c.MinInstances < 0 || c.MinInstances > c.MaxInstances {
		return Errorf(EINVALID, "compute %s: min_instances must be between 0 and max_instances", c.Name)
	}
	if c.Type == ComputeRay && !strings.HasPrefix(c.Address, "http://") && !strings.HasPrefix(c.Address, "https://") {
		return Errorf(EINVALID, "compute %s: a ray compute needs address, the http(s) URL of its dashboard (job submission API)", c.Name)
	}
	return nil
}

// DefaultCompute is the compute every region has when none is declared:
// local processes on the region's host.
const DefaultCompute = "local"

// Jobs is the replicated store of jobs and their attempts. Writes go
// through the journal (primary only); every region reads its replica.
type Jobs interface {
	// CreateJob stores a new job (status Queued). EEXISTS, EINVALID.
	CreateJob(ctx context.Context, j *Job) (*Job, error)
	// Job returns a job by name. ENOTFOUND.
	Job(ctx context.Context, name string) (*Job, error)
	// ListJobs lists jobs, newest first.
	ListJobs(ctx context.Context, includeArchived bool) ([]*Job, error)
	// UpdateJob replaces the job's status, message, end time and attempts
	// (the scheduler's and runner's writes). ENOTFOUND.
	UpdateJob(ctx context.Context, j *Job) error
}

// JobSettings are the workspace-wide job settings (workspace.yaml's jobs:
// section): the workspace quota (0: none) and the resubmission policy of
// jobs that set none (nil: DefaultResubmit). tandem apply writes them to
// the workspace, so every region uses the same without a restart.
type JobSettings struct {
	MaxInstances int             `json:"max_instances"`
	Resubmit     *ResubmitPolicy `json:"resubmit,omitempty"`
}

// Validate checks the quota and the policy.
func (s *JobSettings) Validate() error {
	if s.MaxInstances < 0 || s.MaxInstances > 1<<20 {
		return Errorf(EINVALID, "jobs.max_instances must be between 0 (no limit) and %d, got %d", 1<<20, s.MaxInstances)
	}
	if r := s.Resubmit; r != nil {
		switch r.Policy {
		case ResubmitAlways, ResubmitOnRegionFailure, ResubmitNever:
		default:
			return Errorf(EINVALID, "jobs.resubmit.policy must be always, on_region_failure or never, got %q", r.Policy)
		}
		if r.MaxAttempts < 1 || r.MaxAttempts > 1000 {
			return Errorf(EINVALID, "jobs.resubmit.max_attempts counts attempts in all, the first included: between 1 and 1000, got %d", r.MaxAttempts)
		}
	}
	return nil
}

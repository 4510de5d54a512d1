package tandem

import (
	"context"
	"time"
)

// ComputeType names the mechanism a compute target runs work with.
type ComputeType string

const (
	// ComputeLocal runs attempts as processes on the region's own host.
	ComputeLocal ComputeType = "local"
	// ComputeRay sends attempts to a Ray cluster through its job
	// submission REST API.
	ComputeRay ComputeType = "ray"
)

// LaunchSpec is everything an Executor needs to start one attempt of a job
// (or of one pipeline step): the command with its bindings already
// resolved, where it runs, what it sees. Secrets reach it only in Env.
type LaunchSpec struct {
	// ID names the attempt uniquely in the workspace (job name, step and
	// attempt number); executors use it as their own submission id where
	// they have one, so a restarted region finds its attempts again.
	ID string
	// Command is run by a shell ("sh -c") in WorkDir.
	Command string
	// WorkDir is a local folder holding the job's code snapshot; the Ray
	// executor ships it as the working_dir of the runtime environment.
	WorkDir string
	// Env is added to the process environment (MLFLOW_TRACKING_URI,
	// MLFLOW_RUN_ID, the scoped token, the job's environment_variables).
	Env map[string]string
	// Python is the interpreter of the materialised environment (a venv's
	// bin/python) for local compute; empty means the host's.
	Python string
	// Pip lists the environment's pip requirements, for executors that
	// build the environment themselves (Ray's runtime_env).
	Pip []string
	// Timeout bounds the attempt's run time (limits.timeout); 0 = none.
	Timeout time.Duration
	// InstanceCount is resources.instance_count (1 when unset).
	InstanceCount int
	// Processes, when set, makes the attempt a distributed one: one
	// process per entry, each with the entry's variables added to Env
	// (its rank). Executors that cannot run several refuse it.
	Processes []map[string]string
	// Outputs are the attempt's named output folders when the executor's
	// processes do not see the region's filesystem (Ray): the executor
	// makes each a fresh folder beside the process, under the folder that
	// OutputsVar names in the command's environment (a command's
	// ${{outputs.NAME}} is OutputRef(NAME)), and the attempt itself
	// uploads them to its run's artifacts under OutputsArtifactPath/NAME
	// through the region's artifact proxy, with the token in Env, before
	// it ends. Empty for executors on the region's host: the region
	// uploads their folders.
	Outputs []LaunchOutput
	// OutputsArtifactPath is where Outputs go in the run's artifacts, as
	// the artifact proxy names it: "EXP_ID/RUN_ID/artifacts/outputs".
	OutputsArtifactPath string
	// CheckpointInterval is how often the attempt uploads its checkpoint
	// Outputs while it runs (0: only when it ends).
	CheckpointInterval time.Duration
	// Inputs are the attempt's data inputs when the executor's processes
	// do not see the region's filesystem (Ray): before the command starts,
	// the attempt downloads each from the region, with the token in Env,
	// into a fresh folder of its own (InputsVar/NAME; a command's
	// ${{inputs.NAME}} is an InputRef), and removes them when it ends.
	// Nothing of them travels in WorkDir. Empty for executors on the
	// region's host: the region copies inputs into the attempt's folder.
	Inputs []LaunchInput
}

// LaunchOutput is one output folder an attempt uploads itself.
type LaunchOutput struct {
	Name string
	// Checkpoint outputs are uploaded while the attempt runs, and when it
	// fails too.
	Checkpoint bool
	// Restore fills the folder from the run's artifacts before the command
	// starts: the last checkpoint of an earlier attempt.
	Restore bool
}

// LaunchInput is one data input an attempt downloads itself into its
// folder InputsVar/Name, from one of two sources.
type LaunchInput struct {
	Name string
	// ArtifactPath is a folder of a run's artifacts (an earlier step's
	// output, a data asset registered from a job's output), or with File
	// one file of them, as the artifact proxy names it:
	// "EXP_ID/RUN_ID/artifacts/outputs/PORT". A file lands in the input's
	// folder under its own name.
	ArtifactPath string
	File         bool
	// FilesPath is where the region's API serves the files of a data asset
	// version uploaded from a local path, each under its own path
	// ("/api/tandem/v1/data/NAME/versions/VERSION/files/"); Files lists
	// them (each lands in the input's folder under its path, checked
	// against its size and digest).
	FilesPath string
	Files     []AssetFile
}

// InputsVar is the environment variable that names, for an attempt with
// LaunchSpec.Inputs, the folder holding its downloaded inputs.
const InputsVar = "TANDEM_INPUTS"

// InputRef is the shell text a command's ${{inputs.name}} becomes for an
// input of LaunchSpec.Inputs: rel (a slash path; "" or "." for the folder
// itself) in the input's folder, which only the process knows.
func InputRef(name, rel string) string {
	p := name
	if rel != "" && rel != "." {
		p += "/" + rel
	}
	return `"$` + InputsVar + `"/` + ShellQuote(p)
}

// OutputsVar is the environment variable that names, for an attempt with
// LaunchSpec.Outputs, the folder holding its output folders.
const OutputsVar = "TANDEM_OUTPUTS"

// OutputRef is the shell text a command's ${{outputs.name}} becomes for
// an attempt with LaunchSpec.Outputs: the output's folder, which only the
// process knows. name is a port name (letters, digits, '_').
func OutputRef(name string) string {
	return `"$` + OutputsVar + `"/` + ShellQuote(name)
}

// ProcessState is what an executor knows of one attempt.
type ProcessState string

const (
	ProcessPending   ProcessState = "pending"
	ProcessRunning   ProcessState = "running"
	ProcessSucceeded ProcessState = "succeeded"
	ProcessFailed    ProcessState = "failed"
	ProcessStopped   ProcessState = "stopped"
	// ProcessLost: the executor has no record of the attempt (the host
	// restarted, the cluster was replaced).
	ProcessLost ProcessState = "lost"
)

// Terminal reports whether the attempt can no longer change state.
func (s ProcessState) Terminal() bool {
	return s == ProcessSucceeded || s == ProcessFailed || s == ProcessStopped || s == ProcessLost
}

// ProcessStatus is one observation of an attempt.
type ProcessStatus struct {
	State    ProcessState
	ExitCode int    // meaningful when State is succeeded or failed
	Message  string // the executor's own words on why, when it has them
}

// Executor runs job attempts on one compute target. Handles are opaque
// strings the caller stores with the attempt (a pid and start time, a Ray
// submission id) so that a restarted region can find its attempts again.
type Executor interface {
	Start(ctx context.Context, spec LaunchSpec) (handle string, err error)
	Status(ctx context.Context, handle string) (ProcessStatus, error)
	// Logs returns the attempt's combined stdout/stderr from byte offset
	// on, and the offset to ask from next time.
	Logs(ctx context.Context, handle string, offset int64) (data []byte, next int64, err error)
	// Stop ends the attempt; stopping a finished or unknown one is not an
	// error.
	Stop(ctx context.Context, handle string) error
}

// A ProcessPlacer is an Executor that runs a distributed attempt's
// Processes itself, as one attempt with one handle: it places the ranks
// on its cluster and fills in the rank addresses their variables name
// (schedule.HostOf, PortOf). Other executors are given one process per
// rank (package jobs).
type ProcessPlacer interface {
	Executor
	PlacesProcesses()
}

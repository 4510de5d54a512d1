package rayexec

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
)

// uploaderName is the wrapper's file in a job's working folder: a name a
// job's own code is unlikely to hold (packDir refuses a folder that does).
// It names what it first did; it now also downloads the inputs.
const uploaderName = "_tandem_outputs.py"

// inputsName is the file, beside the wrapper, that lists the attempt's
// inputs for it (inputsFile): a data asset's files can be many, more than
// a command line holds.
const inputsName = "_tandem_inputs.json"

// uploaderScript wraps the command of an attempt with inputs or outputs:
// it downloads the inputs and makes the output folders on the worker, runs
// the command, and uploads the outputs to the run's artifacts through the
// region's artifact proxy (see its docstring). Standard library only:
// Ray's runtime environment has a python, and no pip requirement of the
// job's is needed for it.
//
//go:embed outputs.py
var uploaderScript []byte

// entrypoint is the Ray job's entrypoint for spec: the command itself,
// or, for an attempt with inputs or outputs, the wrapper running it, which
// keeps the command's exit code. Ray runs it with a shell in the working
// folder, where the wrapper is shipped; the shell execs the wrapper, so
// that Ray's signals and exit code are the wrapper's own.
func entrypoint(spec tandem.LaunchSpec) string {
	if len(spec.Processes) > 0 {
		return "exec python " + ranksName + " " + ranksSpecName
	}
	return rankEntrypoint(spec)
}

// rankEntrypoint is what one process of the attempt runs: the command, or
// the wrapper running it.
func rankEntrypoint(spec tandem.LaunchSpec) string {
	if len(spec.Outputs) == 0 && len(spec.Inputs) == 0 {
		return spec.Command
	}
	var b strings.Builder
	fmt.Fprintf(&b, "exec python %s", uploaderName)
	if len(spec.Inputs) > 0 {
		fmt.Fprintf(&b, " --inputs %s", inputsName)
	}
	if len(spec.Outputs) > 0 {
		fmt.Fprintf(&b, " --path %s", tandem.ShellQuote(spec.OutputsArtifactPath))
	}
	if spec.CheckpointInterval > 0 && len(spec.Outputs) > 0 {
		fmt.Fprintf(&b, " --interval %g", spec.CheckpointInterval.Seconds())
	}
	for _, o := range spec.Outputs {
		flag := "--output"
		switch {
		case o.Restore:
			flag = "--restore"
		case o.Checkpoint:
			flag = "--checkpoint"
		}
		fmt.Fprintf(&b, " %s %s", flag, tandem.ShellQuote(o.Name))
	}
	b.WriteString(" -- " + tandem.ShellQuote(spec.Command))
	return b.String()
}

// inputEntry is one input in inputsName, as the wrapper reads it.
type inputEntry struct {
	Name         string             `json:"name"`
	ArtifactPath string             `json:"artifact_path,omitempty"`
	File         bool               `json:"file,omitempty"`
	FilesPath    string             `json:"files_path,omitempty"`
	Files        []tandem.AssetFile `json:"files,omitempty"`
}

// inputsFile is the content of inputsName for spec's inputs.
func inputsFile(spec tandem.LaunchSpec) []byte {
	doc := struct {
		Inputs []inputEntry `json:"inputs"`
	}{Inputs: []inputEntry{}}
	for _, in := range spec.Inputs {
		doc.Inputs = append(doc.Inputs, inputEntry{Name: in.Name, ArtifactPath: in.ArtifactPath, File: in.File, FilesPath: in.FilesPath, Files: in.Files})
	}
	b, _ := json.MarshalIndent(doc, "", " ") // plain strings and numbers: cannot fail
	return append(b, '\n')
}

// extraFiles are the files tandem adds to the attempt's working folder.
func extraFiles(spec tandem.LaunchSpec) map[string][]byte {
	extra := map[string][]byte{}
	if len(spec.Processes) > 0 {
		extra[ranksName], extra[ranksSpecName] = ranksScript, ranksFile(spec)
	}
	if len(spec.Outputs) > 0 || len(spec.Inputs) > 0 {
		extra[uploaderName] = uploaderScript
	}
	if len(spec.Inputs) > 0 {
		extra[inputsName] = inputsFile(spec)
	}
	if len(extra) == 0 {
		return nil
	}
	return extra
}

// ranksName is the launcher of a distributed attempt's ranks (ranks.py),
// ranksSpecName the file, beside it, naming what each rank runs.
const (
	ranksName     = "_tandem_ranks.py"
	ranksSpecName = "_tandem_ranks.json"
)

// ranksScript runs a distributed attempt's ranks as Ray actors spread over
// the cluster, filling in the rank addresses (schedule.HostOf, PortOf)
// once Ray has placed them; see its docstring.
//
//go:embed ranks.py
var ranksScript []byte

// ranksFile is the content of ranksSpecName: the command every rank runs
// and each rank's own variables (the attempt's are the job's, in its
// runtime environment).
func ranksFile(spec tandem.LaunchSpec) []byte {
	b, _ := json.Marshal(struct {
		Command string              `json:"command"`
		Ranks   []map[string]string `json:"ranks"`
	}{rankEntrypoint(spec), spec.Processes})
	return b
}

package rayexec

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
)

// uploaderName is the uploader's file in a job's working folder: a name a
// job's own code is unlikely to hold (packDir refuses a folder that does).
const uploaderName = "_tandem_outputs.py"

// uploaderScript wraps the command of an attempt with outputs: it makes
// their folders on the worker, runs the command, and uploads them to the
// run's artifacts through the region's artifact proxy (see its docstring).
// Standard library only: Ray's runtime environment has a python, and no
// pip requirement of the job's is needed for it.
//
//go:embed outputs.py
var uploaderScript []byte

// entrypoint is the Ray job's entrypoint for spec: the command itself,
// or, for an attempt with outputs, the uploader running it, which keeps
// the command's exit code. Ray runs it with a shell in the working folder,
// where the uploader is shipped; the shell execs the uploader, so that
// Ray's signals and exit code are the uploader's own.
func entrypoint(spec tandem.LaunchSpec) string {
	if len(spec.Outputs) == 0 {
		return spec.Command
	}
	var b strings.Builder
	fmt.Fprintf(&b, "exec python %s --path %s", uploaderName, tandem.ShellQuote(spec.OutputsArtifactPath))
	if spec.CheckpointInterval > 0 {
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

// extraFiles are the files tandem adds to the attempt's working folder.
func extraFiles(spec tandem.LaunchSpec) map[string][]byte {
	if len(spec.Outputs) == 0 {
		return nil
	}
	return map[string][]byte{uploaderName: uploaderScript}
}

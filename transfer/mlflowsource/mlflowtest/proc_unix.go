//go:build unix

package mlflowtest

import (
	"os/exec"
	"syscall"
)

// ownGroup starts the server in its own process group, so that stopping
// it stops the uvicorn workers it starts too.
func ownGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// killGroup kills the server and every process of its group.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

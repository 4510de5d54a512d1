package drill

import "syscall"

// childAttr puts a drill process in its own process group and makes the
// kernel stop it if the drill dies without doing so.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

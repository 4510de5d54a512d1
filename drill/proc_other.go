//go:build !linux && !windows

package drill

import "syscall"

// childAttr puts a drill process in its own process group.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

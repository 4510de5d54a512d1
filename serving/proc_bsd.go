//go:build unix && !linux

package serving

import "syscall"

// childAttr puts a scoring server in its own process group, so stopping
// it stops the workers it starts.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func reapOrphans(string) int { return 0 }

package main

import "syscall"

// childAttr puts a region process in its own process group (the terminal's
// Ctrl-C reaches tandem up, which stops the regions in order) and makes the
// kernel stop it if tandem up dies without doing so.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

//go:build !linux && !windows

package main

import "syscall"

// childAttr puts a region process in its own process group.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

package localexec

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

func supported() error { return nil }

// procAttr puts the attempt in a process group of its own, so that one
// signal reaches everything it started. No parent-death signal: the
// attempt outlives the region process.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// procStart reads the start time of pid (field 22 of /proc/PID/stat, in
// clock ticks since boot) and whether it is a zombie (exited, not yet
// reaped).
func procStart(pid int) (ticks uint64, zombie bool, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, err
	}
	return parseStat(b)
}

// statFields splits a /proc/PID/stat line into its fields from field 3
// (the state) on, at least n of them. The command name (field 2) is in
// parentheses and may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func statFields(b []byte, n int) ([][]byte, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed /proc stat line")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < n {
		return nil, fmt.Errorf("malformed /proc stat line: %d fields after the name", len(f))
	}
	return f, nil
}

func zombieState(f [][]byte) bool { return string(f[0]) == "Z" || string(f[0]) == "X" }

// parseStat reads the state (field 3) and start time (field 22) of a
// /proc/PID/stat line.
func parseStat(b []byte) (ticks uint64, zombie bool, err error) {
	f, err := statFields(b, 20) // fields 3..22
	if err != nil {
		return 0, false, err
	}
	ticks, err = strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("malformed /proc stat start time %q", f[19])
	}
	return ticks, zombieState(f), nil
}

// parseGroup reads the state (field 3) and process group (field 5) of a
// /proc/PID/stat line.
func parseGroup(b []byte) (pgrp int, zombie bool, err error) {
	f, err := statFields(b, 3) // fields 3..5
	if err != nil {
		return 0, false, err
	}
	pgrp, err = strconv.Atoi(string(f[2]))
	if err != nil {
		return 0, false, fmt.Errorf("malformed /proc stat process group %q", f[2])
	}
	return pgrp, zombieState(f), nil
}

// groupLive reports whether a process of the group that pid led (started
// at ticks) still runs: the leader itself, or any member that outlived
// it. Zombies do not count. A pid now held by another process means the
// group is gone (the kernel does not reuse the id of a live group).
func groupLive(pid int, ticks uint64) bool {
	if t, zombie, err := procStart(pid); err == nil {
		if t != ticks {
			return false
		}
		if !zombie {
			return true
		}
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // ended meanwhile
		}
		if g, zombie, err := parseGroup(b); err == nil && g == pid && !zombie {
			return true
		}
	}
	return false
}

// killGroup signals the process group pgid; a group that no longer exists
// is not an error.
func killGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return fmt.Errorf("refusing to signal process group %d", pgid)
	}
	err := syscall.Kill(-pgid, sig)
	if err == syscall.ESRCH {
		return nil
	}
	return err
}

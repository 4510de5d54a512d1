package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// regionPID finds the process of region name among tandem up's children.
func regionPID(t *testing.T, up int, name string) int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(up) {
			continue
		}
		cl, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
		if bytes.Contains(cl, []byte("\x00--region\x00"+name+"\x00")) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return pid
		}
	}
	t.Fatalf("no process of region %s under tandem up (pid %d)", name, up)
	return 0
}

// TestStatusPausedRegion: while a region's process is paused (SIGSTOP),
// `tandem status` returns, shows the other region's row and names the
// paused one unreachable.
func TestStatusPausedRegion(t *testing.T) {
	u := newUpWorkspace(t)
	u.start()
	pid := regionPID(t, u.cmd.Process.Pid, "east")
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	out := u.mustTandem("status")
	east, west := "", ""
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "east ") && east == "":
			east = line
		case strings.HasPrefix(line, "west ") && west == "":
			west = line
		}
	}
	if !strings.Contains(east, "unreachable") || !strings.Contains(east, "did not answer in time") {
		t.Fatalf("the paused region should be unreachable:\n%s", out)
	}
	if !regexp.MustCompile(`^west\s+(primary|secondary)\s`).MatchString(west) {
		t.Fatalf("the other region's row should be there:\n%s", out)
	}
	syscall.Kill(pid, syscall.SIGCONT)
	u.stop()
}

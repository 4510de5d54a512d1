package main

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestProcTree: the tree of this process includes a child it started, and
// the CPU and memory readers see the tree.
func TestProcTree(t *testing.T) {
	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep:", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	tree := procTree(os.Getpid())
	if !slices.Contains(tree, cmd.Process.Pid) {
		t.Fatalf("tree %v lacks child %d", tree, cmd.Process.Pid)
	}
	x := 0
	for i := range 20_000_000 {
		x += i
	}
	_ = x
	if c := cpuSeconds(os.Getpid()); c <= 0 {
		t.Errorf("cpu seconds %v", c)
	}
	rss, hwm := memKiB(os.Getpid())
	if rss <= 0 || hwm < rss {
		t.Errorf("rss %d hwm %d", rss, hwm)
	}
	if pssKiB(os.Getpid()) <= 0 {
		t.Errorf("no PSS")
	}
}

// TestRenderMarkdown: ratios, n/a for endpoints a peer lacks, and missed
// targets are in the table.
func TestRenderMarkdown(t *testing.T) {
	rep := &Report{Date: "d", Command: "c", Machine: map[string]string{}, Config: compareConfig{Backends: []string{"sqlite"}, Conc: []int{1}},
		Servers: []ServerInfo{{Backend: "sqlite", Server: "tandem", PeakRSSMiB: 50, PeakPSSMiB: 40}, {Backend: "sqlite", Server: "mlflow", PeakRSSMiB: 100, PeakPSSMiB: 100}, {Backend: "sqlite", Server: "fasttrackml"}},
		Cells: []Cell{
			{Backend: "sqlite", Scenario: "create-run", Conc: 1, Server: "tandem", Supported: true, Ops: 10, OpsPerSec: 300},
			{Backend: "sqlite", Scenario: "create-run", Conc: 1, Server: "mlflow", Supported: true, Ops: 10, OpsPerSec: 100},
			{Backend: "sqlite", Scenario: "create-run", Conc: 1, Server: "fasttrackml", Supported: true, Ops: 10, OpsPerSec: 600},
			{Backend: "sqlite", Scenario: "registered-model-create", Conc: 1, Server: "tandem", Supported: true, Ops: 10, OpsPerSec: 10},
			{Backend: "sqlite", Scenario: "registered-model-create", Conc: 1, Server: "fasttrackml", Supported: false},
		}}
	md := renderMarkdown(rep, "x.json")
	for _, want := range []string{"| create-run | 1 | 300 ·", "3.00×", "0.50×", "n/a (not served)",
		"create-run c=1: 3.00× stock MLflow, target 5×", "0.50× FastTrackML", "peak RSS: tandem 50 MiB", "peak PSS: tandem 40 MiB"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestRedact(t *testing.T) {
	got := redactArgs([]string{"tandem", "--metadata", "postgres://u:secret@127.0.0.1:5432/db?sslmode=disable"})
	if strings.Contains(got, "secret") || !strings.Contains(got, "postgres://u:xxxxx@127.0.0.1:5432/db") {
		t.Errorf("got %q", got)
	}
}

// TestBusyTicks reads /proc/stat's aggregate line twice around some work:
// the busy count moves by at least part of that work and never past the
// total.
func TestBusyTicks(t *testing.T) {
	b0, t0, ok := busyTicks()
	if !ok {
		t.Skip("no /proc/stat")
	}
	for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); {
	}
	b1, t1, ok := busyTicks()
	if !ok || b1 < b0 || t1 <= t0 || b1-b0 > t1-t0 {
		t.Fatalf("busy %d->%d total %d->%d ok %v", b0, b1, t0, t1, ok)
	}
	if b1-b0 < 5 { // 200 ms busy is 20 ticks; allow for a coarse clock
		t.Fatalf("busy ticks moved %d over 200 ms of spinning", b1-b0)
	}
	// A threshold nothing can meet: settleMachine gives up after max.
	waited, quiet := settleMachine(context.Background(), 50*time.Millisecond, 200*time.Millisecond, -1)
	if quiet || waited < 200*time.Millisecond {
		t.Fatalf("settleMachine(-1) = %v, %v; want false after 200 ms", waited, quiet)
	}
}

func TestFailReason(t *testing.T) {
	for err, want := range map[string]string{
		"setup: upload x: HTTP 413: Request Entity Too Large": " (HTTP 413)",
		"GET http://h/x: HTTP/1.1 nonsense then HTTP 502":     " (HTTP 502)",
		`Put "http://h": write: connection reset by peer`:     " (connection reset)",
		"something else": "",
	} {
		if got := failReason(err); got != want {
			t.Errorf("failReason(%q) = %q, want %q", err, got, want)
		}
	}
}

package localexec

import (
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func intp(n int) *int { return &n }

// Each observation maps to one state; a stop or timeout wins over the exit
// code the killed command left, and nothing at all is a loss.
func TestDecide(t *testing.T) {
	cases := []struct {
		name string
		o    observation
		want tandem.ProcessState
		code int
		msg  string
	}{
		{"running", observation{Alive: true, Exit: nil}, tandem.ProcessRunning, 0, ""},
		{"running past a stop request", observation{Alive: true, Stopped: true}, tandem.ProcessRunning, 0, ""},
		{"exit 0", observation{Exit: intp(0)}, tandem.ProcessSucceeded, 0, ""},
		{"exit 3", observation{Exit: intp(3)}, tandem.ProcessFailed, 3, "exit code 3"},
		{"killed", observation{Exit: intp(137)}, tandem.ProcessFailed, 137, "signal 9"},
		{"stopped, graceful exit", observation{Stopped: true, Exit: intp(0)}, tandem.ProcessStopped, 0, "stopped"},
		{"stopped, killed", observation{Stopped: true}, tandem.ProcessStopped, -1, "stopped"},
		{"timeout", observation{TimedOut: true, TimeoutS: 5}, tandem.ProcessFailed, -1, "time limit of 5s"},
		{"timeout after a clean exit on SIGTERM", observation{TimedOut: true, Exit: intp(0)}, tandem.ProcessFailed, 0, "timeout"},
		{"stop beats timeout", observation{TimedOut: true, Stopped: true}, tandem.ProcessStopped, -1, "stopped"},
		{"lost", observation{Pid: 42}, tandem.ProcessLost, -1, "process 42 is gone"},
	}
	for _, c := range cases {
		got := decide(c.o)
		if got.State != c.want || (got.State.Terminal() && got.ExitCode != c.code) || !strings.Contains(got.Message, c.msg) {
			t.Errorf("%s: got %+v, want state %s code %d message containing %q", c.name, got, c.want, c.code, c.msg)
		}
	}
}

func TestHandleRoundTrip(t *testing.T) {
	h := handle{folder: FolderName("job-1/train/2"), pid: 1234, startTicks: 987654}
	got, err := parseHandle(h.String())
	if err != nil || got != h {
		t.Fatalf("parseHandle(%q) = %+v, %v", h.String(), got, err)
	}
	for _, bad := range []string{"", "local1", "local1:..:1:2", "local1:a/b:1:2", "local1:x:0:2", "local1:x:-3:2",
		"local1:x:12:y", "ray:x:1:2", "local1:x:1:2:3"} {
		if _, err := parseHandle(bad); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("parseHandle(%q): got %v, want EINVALID", bad, err)
		}
	}
}

// Folder names are single safe path elements and distinct for distinct IDs
// even when the readable part is the same.
func TestFolderName(t *testing.T) {
	a, b := FolderName("job/1"), FolderName("job_1")
	if a == b {
		t.Fatalf("two IDs share folder %q", a)
	}
	for _, id := range []string{"job/1", "../../etc", "..", strings.Repeat("x", 500), "a b:c"} {
		if f := FolderName(id); !validFolder(f) || strings.Contains(f, "/") {
			t.Errorf("FolderName(%q) = %q: not a valid folder", id, f)
		}
	}
}

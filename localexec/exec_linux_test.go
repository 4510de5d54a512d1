package localexec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// The tests start real processes. They wait for events by polling with a
// generous bound (never a timing threshold): the bound only turns a hang
// into a failure.
const patience = 2 * time.Minute

// TestMain doubles as a helper process for the restart tests: with
// LOCALEXEC_TEST_START set, the test binary starts one attempt with an
// executor of its own, prints the handle and exits, so the attempt's
// process is no child of the test.
func TestMain(m *testing.M) {
	if dir := os.Getenv("LOCALEXEC_TEST_START"); dir != "" {
		var spec tandem.LaunchSpec
		if err := json.Unmarshal([]byte(os.Getenv("LOCALEXEC_TEST_SPEC")), &spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		h, err := New(dir, nil).Start(context.Background(), spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Print(h)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startElsewhere starts spec from another process that exits at once.
func startElsewhere(t *testing.T, dir string, spec tandem.LaunchSpec) string {
	t.Helper()
	b, _ := json.Marshal(spec)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOCALEXEC_TEST_START="+dir, "LOCALEXEC_TEST_SPEC="+string(b))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper start: %v: %s", err, stderr.String())
	}
	return string(out)
}

func newExec(t *testing.T) (*Executor, string) {
	t.Helper()
	dir := t.TempDir()
	return New(filepath.Join(dir, "attempts"), nil), dir
}

func spec(t *testing.T, id, command string) tandem.LaunchSpec {
	t.Helper()
	return tandem.LaunchSpec{ID: id, Command: command, WorkDir: t.TempDir()}
}

func start(t *testing.T, e *Executor, s tandem.LaunchSpec) string {
	t.Helper()
	h, err := e.Start(context.Background(), s)
	if err != nil {
		t.Fatalf("Start(%s): %v", s.ID, err)
	}
	return h
}

func status(t *testing.T, e *Executor, h string) tandem.ProcessStatus {
	t.Helper()
	st, err := e.Status(context.Background(), h)
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return st
}

// waitEnd polls Status until the attempt is terminal.
func waitEnd(t *testing.T, e *Executor, h string) tandem.ProcessStatus {
	t.Helper()
	end := time.Now().Add(patience)
	for time.Now().Before(end) {
		if st := status(t, e, h); st.State.Terminal() {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("attempt %s did not end", h)
	return tandem.ProcessStatus{}
}

func allLogs(t *testing.T, e *Executor, h string) string {
	t.Helper()
	var out []byte
	var off int64
	for {
		b, next, err := e.Logs(context.Background(), h, off)
		if err != nil {
			t.Fatalf("Logs: %v", err)
		}
		if len(b) == 0 {
			return string(out)
		}
		if next != off+int64(len(b)) {
			t.Fatalf("Logs: next %d after %d bytes from %d", next, len(b), off)
		}
		out, off = append(out, b...), next
	}
}

// waitFor polls cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(patience)
	for time.Now().Before(end) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

func TestExitCodes(t *testing.T) {
	e, _ := newExec(t)
	ok := start(t, e, spec(t, "ok", "echo hello; exit 0"))
	bad := start(t, e, spec(t, "bad", "echo oops >&2; exit 3"))
	if st := waitEnd(t, e, ok); st.State != tandem.ProcessSucceeded || st.ExitCode != 0 {
		t.Errorf("exit 0: %+v", st)
	}
	st := waitEnd(t, e, bad)
	if st.State != tandem.ProcessFailed || st.ExitCode != 3 || !strings.Contains(st.Message, "exit code 3") {
		t.Errorf("exit 3: %+v", st)
	}
	killed := start(t, e, spec(t, "killed", `kill -KILL $$`))
	if st := waitEnd(t, e, killed); st.State != tandem.ProcessFailed || st.ExitCode != 137 || !strings.Contains(st.Message, "signal 9") {
		t.Errorf("killed: %+v", st)
	}
	if got := allLogs(t, e, ok); got != "hello\n" {
		t.Errorf("stdout log %q", got)
	}
	if got := allLogs(t, e, bad); got != "oops\n" {
		t.Errorf("stderr log %q", got)
	}
}

// The command sees its working folder, spec.Env, and the Python
// environment first on PATH.
func TestEnvAndWorkDir(t *testing.T) {
	e, _ := newExec(t)
	s := spec(t, "env", `pwd; echo "foo=$FOO"; echo "venv=$VIRTUAL_ENV"; echo "path=$PATH"; command -v python`)
	venv := filepath.Join(t.TempDir(), "venv")
	if err := os.MkdirAll(filepath.Join(venv, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(venv, "bin", "python"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.Env = map[string]string{"FOO": "bar baz"}
	s.Python = filepath.Join(venv, "bin", "python")
	h := start(t, e, s)
	if st := waitEnd(t, e, h); st.State != tandem.ProcessSucceeded {
		t.Fatalf("status %+v: %s", st, allLogs(t, e, h))
	}
	lines := strings.Split(allLogs(t, e, h), "\n")
	want := []string{s.WorkDir, "foo=bar baz", "venv=" + venv}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d: got %q, want %q", i, lines[i], w)
		}
	}
	if !strings.HasPrefix(lines[3], "path="+filepath.Join(venv, "bin")+":") {
		t.Errorf("PATH does not start with the venv: %q", lines[3])
	}
	if lines[4] != s.Python {
		t.Errorf("python resolves to %q, want %q", lines[4], s.Python)
	}
}

// Logs grow while the attempt runs and are read from where the last call
// stopped.
func TestLogsStream(t *testing.T) {
	e, _ := newExec(t)
	s := spec(t, "stream", `echo first; while [ ! -f go ]; do sleep 0.05; done; echo second`)
	h := start(t, e, s)
	var got []byte
	var off int64
	waitFor(t, "the first line", func() bool {
		b, next, err := e.Logs(context.Background(), h, off)
		if err != nil {
			t.Fatal(err)
		}
		got, off = append(got, b...), next
		return string(got) == "first\n"
	})
	if st := status(t, e, h); st.State != tandem.ProcessRunning {
		t.Fatalf("status while waiting: %+v", st)
	}
	if b, next, _ := e.Logs(context.Background(), h, off); len(b) != 0 || next != off {
		t.Fatalf("nothing new yet, got %q next %d", b, next)
	}
	if err := os.WriteFile(filepath.Join(s.WorkDir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if st := waitEnd(t, e, h); st.State != tandem.ProcessSucceeded {
		t.Fatalf("status %+v", st)
	}
	b, next, err := e.Logs(context.Background(), h, off)
	if err != nil || string(b) != "second\n" || next != off+7 {
		t.Fatalf("Logs from %d: %q %d %v", off, b, next, err)
	}
	if b, _, _ := e.Logs(context.Background(), h, 1000); len(b) != 0 {
		t.Fatalf("past the end: %q", b)
	}
	if _, _, err := e.Logs(context.Background(), h, -1); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("negative offset: %v", err)
	}
}

// pidGone reports whether pid (started at ticks) no longer runs.
func pidGone(pid int, ticks uint64) bool {
	t, zombie, err := procStart(pid)
	return err != nil || zombie || t != ticks
}

// readPid waits for a pid written to file by the command.
func readPid(t *testing.T, file string) (int, uint64) {
	t.Helper()
	var pid int
	waitFor(t, file, func() bool {
		b, err := os.ReadFile(file)
		if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	ticks, _, err := procStart(pid)
	if err != nil {
		t.Fatalf("pid %d from %s: %v", pid, file, err)
	}
	return pid, ticks
}

// Stop ends the whole process group, grandchildren included; a second
// Stop is a no-op.
func TestStopKillsGroup(t *testing.T) {
	e, _ := newExec(t)
	e.Grace = 30 * time.Second // SIGTERM is enough here: Stop must not wait it out
	s := spec(t, "stop", `sh -c 'sleep 300 & echo $! > gc.pid; wait'; echo not reached`)
	h := start(t, e, s)
	gc, ticks := readPid(t, filepath.Join(s.WorkDir, "gc.pid"))
	if st := status(t, e, h); st.State != tandem.ProcessRunning {
		t.Fatalf("before stop: %+v", st)
	}
	if err := e.Stop(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if st := status(t, e, h); st.State != tandem.ProcessStopped {
		t.Fatalf("after stop: %+v", st)
	}
	waitFor(t, "the grandchild to end", func() bool { return pidGone(gc, ticks) })
	if strings.Contains(allLogs(t, e, h), "not reached") {
		t.Error("the command went on after the stop")
	}
	if err := e.Stop(context.Background(), h); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	if st := status(t, e, h); st.State != tandem.ProcessStopped {
		t.Fatalf("after second stop: %+v", st)
	}
}

// A command that handles SIGTERM gets the grace period to finish.
func TestStopGraceful(t *testing.T) {
	e, _ := newExec(t)
	e.Grace = time.Minute
	s := spec(t, "graceful", `trap 'echo bye; exit 0' TERM; echo ready > ready; while :; do sleep 0.05; done`)
	h := start(t, e, s)
	waitFor(t, "the trap to be set", func() bool { return exists(filepath.Join(s.WorkDir, "ready")) })
	if err := e.Stop(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	// (The exit code is 0 unless the wrapper had not set its trap yet.)
	if st := status(t, e, h); st.State != tandem.ProcessStopped {
		t.Fatalf("after stop: %+v", st)
	}
	if got := allLogs(t, e, h); !strings.HasSuffix(got, "bye\n") {
		t.Fatalf("logs %q", got)
	}
}

// A group that ignores SIGTERM gets SIGKILL after the grace period.
func TestStopEscalates(t *testing.T) {
	e, _ := newExec(t)
	e.Grace = 200 * time.Millisecond
	s := spec(t, "stubborn", `trap '' TERM; sleep 300 & echo $! > child.pid; wait`)
	h := start(t, e, s)
	child, ticks := readPid(t, filepath.Join(s.WorkDir, "child.pid"))
	if err := e.Stop(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child to be killed", func() bool { return pidGone(child, ticks) })
	if st := waitEnd(t, e, h); st.State != tandem.ProcessStopped {
		t.Fatalf("after stop: %+v", st)
	}
}

func TestTimeout(t *testing.T) {
	e, _ := newExec(t)
	e.Grace = time.Second
	s := spec(t, "slow", `sleep 300 & echo $! > child.pid; wait`)
	s.Timeout = 500 * time.Millisecond
	h := start(t, e, s)
	child, ticks := readPid(t, filepath.Join(s.WorkDir, "child.pid"))
	st := waitEnd(t, e, h)
	if st.State != tandem.ProcessFailed || !strings.Contains(st.Message, "timeout") {
		t.Fatalf("status %+v", st)
	}
	waitFor(t, "the child to end", func() bool { return pidGone(child, ticks) })
}

// A second Start of the same ID returns the first one's handle.
func TestStartIdempotent(t *testing.T) {
	e, dir := newExec(t)
	s := spec(t, "once", `echo run >> ../runs; sleep 300`)
	h1 := start(t, e, s)
	runs := filepath.Join(s.WorkDir, "..", "runs")
	// The shell creates the file before echo writes to it: wait for the line.
	waitFor(t, "the first run", func() bool { b, _ := os.ReadFile(runs); return string(b) == "run\n" })
	h2 := start(t, New(filepath.Join(dir, "attempts"), nil), s)
	if h1 != h2 {
		t.Fatalf("handles differ: %q, %q", h1, h2)
	}
	if err := e.Stop(context.Background(), h1); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(runs); string(b) != "run\n" {
		t.Fatalf("the command ran %q", b)
	}
}

// An executor that did not start the attempt (as after a region restart)
// follows it from the handle alone: here the attempt is started by another
// process that has exited, so it is not even a child of this one.
func TestRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "attempts")
	s := spec(t, "survivor", `echo started; while [ ! -f go ]; do sleep 0.05; done; echo done; exit 7`)
	h := startElsewhere(t, dir, s)
	e := New(dir, nil)
	if st := status(t, e, h); st.State != tandem.ProcessRunning {
		t.Fatalf("after the starter exited: %+v", st)
	}
	if err := os.WriteFile(filepath.Join(s.WorkDir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	st := waitEnd(t, e, h)
	if st.State != tandem.ProcessFailed || st.ExitCode != 7 {
		t.Fatalf("end: %+v", st)
	}
	if got := allLogs(t, New(dir, nil), h); got != "started\ndone\n" {
		t.Fatalf("logs %q", got)
	}
}

// The same within one process: the executor that started the attempt is
// dropped and a new one on the same folder takes over.
func TestRestartInProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "attempts")
	s := spec(t, "survivor", `while [ ! -f go ]; do sleep 0.05; done; echo done`)
	h := start(t, New(dir, nil), s)
	e := New(dir, nil)
	if st := status(t, e, h); st.State != tandem.ProcessRunning {
		t.Fatalf("running: %+v", st)
	}
	if err := os.WriteFile(filepath.Join(s.WorkDir, "go"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if st := waitEnd(t, e, h); st.State != tandem.ProcessSucceeded {
		t.Fatalf("end: %+v", st)
	}
}

// A timeout is enforced by a later executor too: it has no timer for the
// attempt, so its Status calls send the signals.
func TestTimeoutAfterRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "attempts")
	s := spec(t, "overrun", `sleep 300 & echo $! > child.pid; wait`)
	s.Timeout = 300 * time.Millisecond
	h := startElsewhere(t, dir, s)
	child, ticks := readPid(t, filepath.Join(s.WorkDir, "child.pid"))
	e := New(dir, nil)
	e.Grace = 500 * time.Millisecond
	st := waitEnd(t, e, h)
	if st.State != tandem.ProcessFailed || !strings.Contains(st.Message, "timeout") {
		t.Fatalf("status %+v", st)
	}
	waitFor(t, "the child to end", func() bool { return pidGone(child, ticks) })
}

// An attempt whose pid now belongs to another process (same pid, another
// start time: what a host restart leaves) is lost, and Stop signals
// nothing: the other process lives on.
func TestReusedPid(t *testing.T) {
	e, dir := newExec(t)
	other := exec.Command("sleep", "300")
	other.SysProcAttr = procAttr() // a group leader, like an attempt
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	ticks, _, err := procStart(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// The record of an attempt that had this pid before the restart.
	gone := handle{folder: FolderName("before-restart"), pid: other.Process.Pid, startTicks: ticks - 1}
	adir := filepath.Join(dir, "attempts", gone.folder)
	if err := os.MkdirAll(adir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := writeRecord(adir, record{ID: "before-restart", Pid: gone.pid, StartTicks: gone.startTicks, Command: "sleep 300"}); err != nil {
		t.Fatal(err)
	}
	st := status(t, e, gone.String())
	if st.State != tandem.ProcessLost || !strings.Contains(st.Message, "gone") {
		t.Fatalf("reused pid: %+v", st)
	}
	if err := e.Stop(context.Background(), gone.String()); err != nil {
		t.Fatal(err)
	}
	if pidGone(other.Process.Pid, ticks) {
		t.Fatal("Stop of the lost attempt killed the process that reused its pid")
	}

	// A live attempt through a handle with a forged start time: lost too,
	// and untouched by Stop.
	h := start(t, e, spec(t, "real", `sleep 300`))
	real, err := parseHandle(h)
	if err != nil {
		t.Fatal(err)
	}
	fake := real
	fake.startTicks++
	if st := status(t, e, fake.String()); st.State != tandem.ProcessLost {
		t.Fatalf("forged handle: %+v", st)
	}
	if err := e.Stop(context.Background(), fake.String()); err != nil {
		t.Fatal(err)
	}
	if st := status(t, e, h); st.State != tandem.ProcessRunning {
		t.Fatalf("the real attempt after a stop through the forged handle: %+v", st)
	}
	if err := e.Stop(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if st := status(t, e, h); st.State != tandem.ProcessStopped {
		t.Fatalf("after stop: %+v", st)
	}
	// An attempt folder that does not exist is lost too.
	unknown := handle{folder: "nothing-here", pid: real.pid, startTicks: real.startTicks}
	if st := status(t, e, unknown.String()); st.State != tandem.ProcessLost {
		t.Fatalf("unknown attempt: %+v", st)
	}
}

func TestStartInvalid(t *testing.T) {
	e, _ := newExec(t)
	for name, s := range map[string]tandem.LaunchSpec{
		"no id":      {Command: "true", WorkDir: t.TempDir()},
		"no command": {ID: "x", Command: "  ", WorkDir: t.TempDir()},
		"no workdir": {ID: "x", Command: "true", WorkDir: filepath.Join(t.TempDir(), "missing")},
		"instances":  {ID: "x", Command: "true", WorkDir: t.TempDir(), InstanceCount: 2},
	} {
		if _, err := e.Start(context.Background(), s); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("%s: %v, want EINVALID", name, err)
		}
	}
	if _, err := e.Status(context.Background(), "ray:abc"); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("foreign handle: %v", err)
	}
}

// The caller may keep the attempt's code in its folder.
func TestWorkDirInAttemptDir(t *testing.T) {
	e, _ := newExec(t)
	code := filepath.Join(e.AttemptDir("job-7/1"), "code")
	if err := os.MkdirAll(code, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(code, "train.sh"), []byte("echo training\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := start(t, e, tandem.LaunchSpec{ID: "job-7/1", Command: "sh train.sh", WorkDir: code})
	if st := waitEnd(t, e, h); st.State != tandem.ProcessSucceeded {
		t.Fatalf("status %+v: %s", st, allLogs(t, e, h))
	}
	if got := allLogs(t, e, h); got != "training\n" {
		t.Fatalf("logs %q", got)
	}
}

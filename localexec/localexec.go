// Package localexec is the embedded default compute (type local): a
// tandem.Executor that runs job attempts as processes on the region's own
// host.
//
// Every attempt gets a folder under the executor's directory, named after
// LaunchSpec.ID, holding:
//
//	attempt.json  the pid, its start time and the deadline (no secrets)
//	output.log    the command's stdout and stderr, appended by the process itself
//	exit          the exit code, written by a small shell wrapper when the command ends
//	stopped       present once Stop was asked for while the attempt ran
//	timeout       present once the attempt overran spec.Timeout
//
// The process is not tied to tandem: it runs in its own process group,
// writes its log through a file descriptor of its own (no pipe to tandem)
// and its exit code to a file, so it survives a restart of the region and
// a new Executor on the same directory finds it from the handle alone. The
// handle names the folder, the pid and the process's start time (field 22
// of /proc/PID/stat), so a pid reused by another process is never taken
// for the attempt.
//
// Process inspection and signals are Linux only; elsewhere Start answers
// ENOTIMPLEMENTED.
package localexec

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tandemml/tandem"
)

// File names inside an attempt folder.
const (
	attemptFile = "attempt.json"
	logFile     = "output.log"
	exitFile    = "exit"
	stoppedFile = "stopped"
	timeoutFile = "timeout"
)

// MaxLogChunk bounds the bytes one Logs call returns.
const MaxLogChunk = 1 << 20

// DefaultGrace is how long a stopped or timed-out attempt has between
// SIGTERM and SIGKILL.
const DefaultGrace = 10 * time.Second

// handlePrefix versions the handle format.
const handlePrefix = "local1"

// wrapper runs the command ($1) with a shell and writes its exit code to
// the file $2 (through a rename, so a reader never sees half a number).
//
// The command runs as a background job so that the wrapper can set its
// TERM trap after the fork: a signal to the group then reaches the command
// with the default disposition whenever it comes (a trap set before the
// fork would swallow a SIGTERM landing between fork and exec). The trap is
// a handler, not an ignore, so it is not inherited; it only keeps the
// wrapper waiting until the command has ended. A wait cut short by the
// trap returns more than 128 while the command still exists; only then is
// it resumed. (A non-interactive shell starts background jobs with SIGINT
// ignored; tandem only ever sends SIGTERM and SIGKILL.)
const wrapper = `sh -c "$1" &
p=$!
trap ':' TERM
while :; do
	wait "$p"
	c=$?
	if [ "$c" -gt 128 ] && kill -0 "$p" 2>/dev/null; then continue; fi
	break
done
printf '%d\n' "$c" > "$2.tmp" && mv -f "$2.tmp" "$2"
exit "$c"`

// Executor runs attempts as local processes. Its state is on disk; the
// in-memory part only reaps the processes this instance started and
// enforces their timeouts on time.
type Executor struct {
	dir string
	log *slog.Logger
	// Grace is the time between SIGTERM and SIGKILL when an attempt is
	// stopped or times out (DefaultGrace when zero).
	Grace time.Duration
	// BaseEnv is the environment attempts start from before LaunchSpec.Env
	// is added; nil means tandem's own (os.Environ).
	BaseEnv []string
	// OnExit, when set, is called (from the goroutine that reaps it) when
	// a process this executor started has ended: the job runner looks at
	// once instead of at its next tick.
	OnExit func()

	mu sync.Mutex // serialises Start, so one ID starts once
}

// New returns an executor keeping its attempt folders under dir (the
// region's work folder for attempts), created if missing.
func New(dir string, log *slog.Logger) *Executor {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Executor{dir: dir, log: log}
}

var _ tandem.Executor = (*Executor)(nil)

// record is attempt.json.
type record struct {
	ID         string `json:"id"`
	Pid        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks"`
	StartedMS  int64  `json:"started_ms"`
	DeadlineMS int64  `json:"deadline_ms,omitempty"` // 0: no timeout
	TimeoutS   int64  `json:"timeout_s,omitempty"`
	Command    string `json:"command"`
}

// handle is the parsed form of an executor handle.
type handle struct {
	folder     string // a single path element under the executor's dir
	pid        int
	startTicks uint64
}

func (h handle) String() string {
	return fmt.Sprintf("%s:%s:%d:%d", handlePrefix, h.folder, h.pid, h.startTicks)
}

func parseHandle(s string) (handle, error) {
	parts := strings.Split(s, ":")
	bad := tandem.Errorf(tandem.EINVALID, "local executor: malformed handle %q", s)
	if len(parts) != 4 || parts[0] != handlePrefix || !validFolder(parts[1]) {
		return handle{}, bad
	}
	pid, err := strconv.Atoi(parts[2])
	if err != nil || pid <= 0 {
		return handle{}, bad
	}
	ticks, err := strconv.ParseUint(parts[3], 10, 64)
	if err != nil {
		return handle{}, bad
	}
	return handle{folder: parts[1], pid: pid, startTicks: ticks}, nil
}

func validFolder(f string) bool {
	if f == "" || f == "." || f == ".." || len(f) > 200 {
		return false
	}
	for _, r := range f {
		if !folderRune(r) {
			return false
		}
	}
	return true
}

func folderRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// FolderName is the attempt folder of an attempt ID: the ID with anything
// but letters, digits, '-', '_' and '.' replaced by '_', cut to 80
// characters, then a digest of the whole ID so that two IDs never share a
// folder.
func FolderName(id string) string {
	var b strings.Builder
	for _, r := range id {
		if b.Len() >= 80 {
			break
		}
		if folderRune(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(id))
	return strings.TrimLeft(b.String(), ".") + "-" + hex.EncodeToString(sum[:5])
}

// AttemptDir is the folder of the attempt with this ID; a caller may put
// the attempt's own files there too (its code, its outputs), under names
// other than this package's.
func (e *Executor) AttemptDir(id string) string { return filepath.Join(e.dir, FolderName(id)) }

func (e *Executor) grace() time.Duration {
	if e.Grace > 0 {
		return e.Grace
	}
	return DefaultGrace
}

// Start runs spec.Command with "sh -c" in spec.WorkDir and returns its
// handle. Starting an ID that already has a process (started by this or
// an earlier executor on the same directory) returns that attempt's
// handle and starts nothing.
func (e *Executor) Start(ctx context.Context, spec tandem.LaunchSpec) (string, error) {
	if err := supported(); err != nil {
		return "", err
	}
	if spec.ID == "" {
		return "", tandem.Errorf(tandem.EINVALID, "local executor: the attempt needs an ID")
	}
	if strings.TrimSpace(spec.Command) == "" {
		return "", tandem.Errorf(tandem.EINVALID, "local executor: attempt %s has no command", spec.ID)
	}
	if spec.WorkDir == "" {
		return "", tandem.Errorf(tandem.EINVALID, "local executor: attempt %s has no working folder", spec.ID)
	}
	if st, err := os.Stat(spec.WorkDir); err != nil || !st.IsDir() {
		return "", tandem.Errorf(tandem.EINVALID, "local executor: working folder %q of attempt %s is not a folder", spec.WorkDir, spec.ID)
	}
	if spec.InstanceCount > 1 {
		return "", tandem.Errorf(tandem.EINVALID, "local executor: attempt %s asks for %d instances; compute type local runs one process per instance only for a distributed job (distribution: {type: pytorch})", spec.ID, spec.InstanceCount)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()

	folder := FolderName(spec.ID)
	adir := e.AttemptDir(spec.ID)
	if rec, err := readRecord(adir); err == nil {
		h := handle{folder: folder, pid: rec.Pid, startTicks: rec.StartTicks}
		e.log.Info("local attempt already started", "attempt", spec.ID, "pid", rec.Pid)
		return h.String(), nil
	}
	// A folder without attempt.json is what a crash before the process
	// started leaves: start afresh, clearing only this package's files
	// (the caller may keep other things there, such as the code).
	for _, f := range []string{exitFile, exitFile + ".tmp", stoppedFile, timeoutFile, attemptFile + ".tmp"} {
		if err := os.Remove(filepath.Join(adir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("local executor: clear %s: %w", adir, err)
		}
	}
	if err := os.MkdirAll(adir, 0o700); err != nil {
		return "", fmt.Errorf("local executor: attempt folder: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(adir, logFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return "", fmt.Errorf("local executor: log file: %w", err)
	}
	defer logf.Close() // the child has its own copy of the descriptor

	cmd := exec.Command("/bin/sh", "-c", wrapper, "tandem-attempt", spec.Command, filepath.Join(adir, exitFile))
	cmd.Dir = spec.WorkDir
	cmd.Env = e.environ(spec)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("local executor: start attempt %s: %w", spec.ID, err)
	}
	pid := cmd.Process.Pid
	ticks, _, err := procStart(pid)
	if err != nil {
		// The child cannot be gone yet: it is ours and not reaped.
		_ = killGroup(pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return "", fmt.Errorf("local executor: read start time of pid %d: %w", pid, err)
	}
	now := time.Now()
	rec := record{ID: spec.ID, Pid: pid, StartTicks: ticks, StartedMS: now.UnixMilli(), Command: spec.Command}
	if spec.Timeout > 0 {
		rec.DeadlineMS = now.Add(spec.Timeout).UnixMilli()
		rec.TimeoutS = int64(spec.Timeout.Round(time.Second) / time.Second)
	}
	if err := writeRecord(adir, rec); err != nil {
		_ = signalGroup(pid, ticks, true, syscall.SIGKILL)
		_ = cmd.Wait()
		return "", err
	}
	h := handle{folder: folder, pid: pid, startTicks: ticks}
	e.log.Info("local attempt started", "attempt", spec.ID, "pid", pid, "folder", adir)
	go e.watch(cmd, h, adir, spec.Timeout)
	return h.String(), nil
}

// environ is the attempt's environment: the base, spec.Env over it, and
// the materialised Python environment's bin folder first on PATH.
func (e *Executor) environ(spec tandem.LaunchSpec) []string {
	base := e.BaseEnv
	if base == nil {
		base = os.Environ()
	}
	m := map[string]string{}
	for _, kv := range base {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	for k, v := range spec.Env {
		m[k] = v
	}
	if spec.Python != "" {
		bin := filepath.Dir(spec.Python)
		if m["PATH"] != "" {
			m["PATH"] = bin + string(os.PathListSeparator) + m["PATH"]
		} else {
			m["PATH"] = bin
		}
		m["VIRTUAL_ENV"] = filepath.Dir(bin)
		delete(m, "PYTHONHOME")
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// watch reaps a process this executor started, and ends it when it
// overruns its timeout.
func (e *Executor) watch(cmd *exec.Cmd, h handle, adir string, timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
		if e.OnExit != nil {
			e.OnExit()
		}
	}()
	if timeout <= 0 {
		<-done
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	if alive(h) {
		markFile(adir, timeoutFile)
		e.log.Info("local attempt timed out", "folder", h.folder, "pid", h.pid, "timeout", timeout)
		_ = signalGroup(h.pid, h.startTicks, true, syscall.SIGTERM)
	}
	g := time.NewTimer(e.grace())
	defer g.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
grace:
	for groupLive(h.pid, h.startTicks) { // as in Stop: the whole group
		select {
		case <-tick.C:
		case <-g.C:
			break grace
		}
	}
	_ = signalGroup(h.pid, h.startTicks, !isDone(done), syscall.SIGKILL)
	<-done
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// attempt finds the folder of a handle and its record, and checks that
// they agree: only processes this executor's directory records as
// attempts are ever signalled.
func (e *Executor) attempt(h handle) (string, record, bool) {
	adir := filepath.Join(e.dir, h.folder)
	rec, err := readRecord(adir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			e.log.Warn("unreadable local attempt record", "folder", adir, "err", err)
		}
		return adir, rec, false
	}
	return adir, rec, rec.Pid == h.pid && rec.StartTicks == h.startTicks
}

// alive reports whether the handle's process runs: the pid exists, is not
// a zombie, and started at the recorded time.
func alive(h handle) bool {
	ticks, zombie, err := procStart(h.pid)
	return err == nil && !zombie && ticks == h.startTicks
}

// signalGroup sends sig to the process group led by pid, but only when
// that group can still be the attempt's: the leader is the same process
// (leaderAlive, or its start time matches ticks), or no process has the
// pid any more (then only members of the old group can hold it as their
// group id, since the kernel does not reuse a pid that is a live group's
// id). A pid taken by another process means the group is gone.
func signalGroup(pid int, ticks uint64, leaderAlive bool, sig syscall.Signal) error {
	if !leaderAlive {
		t, _, err := procStart(pid)
		if err == nil && t != ticks {
			return nil
		}
	}
	return killGroup(pid, sig)
}

// graceOver reports whether the grace period has passed since the
// attempt was asked to stop or timed out (the earlier of its marks).
func (e *Executor) graceOver(adir string) bool {
	var since time.Time
	for _, name := range []string{stoppedFile, timeoutFile} {
		if fi, err := os.Stat(filepath.Join(adir, name)); err == nil && (since.IsZero() || fi.ModTime().Before(since)) {
			since = fi.ModTime()
		}
	}
	return !since.IsZero() && time.Since(since) >= e.grace()
}

func markFile(adir, name string) {
	_ = os.WriteFile(filepath.Join(adir, name), []byte(time.Now().UTC().Format(time.RFC3339Nano)+"\n"), 0o600)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func readRecord(adir string) (record, error) {
	var rec record
	b, err := os.ReadFile(filepath.Join(adir, attemptFile))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("local executor: %s: %w", filepath.Join(adir, attemptFile), err)
	}
	return rec, nil
}

func writeRecord(adir string, rec record) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(adir, attemptFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("local executor: write attempt record: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(adir, attemptFile)); err != nil {
		return fmt.Errorf("local executor: write attempt record: %w", err)
	}
	return nil
}

func readExit(adir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(adir, exitFile))
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	return n, true
}

// observation is what Status sees of an attempt on disk and in /proc.
type observation struct {
	Alive    bool
	Stopped  bool
	TimedOut bool
	Exit     *int
	Pid      int
	TimeoutS int64
}

// decide turns an observation into a status. Order matters: a stop or a
// timeout explains whatever exit code followed it; an exit code without
// either is the command's own; no process and no exit code is a loss.
func decide(o observation) tandem.ProcessStatus {
	code := -1
	if o.Exit != nil {
		code = *o.Exit
	}
	switch {
	case o.Alive:
		return tandem.ProcessStatus{State: tandem.ProcessRunning}
	case o.Stopped:
		return tandem.ProcessStatus{State: tandem.ProcessStopped, ExitCode: code, Message: "stopped"}
	case o.TimedOut:
		msg := "timeout: the attempt ran past its time limit and was ended"
		if o.TimeoutS > 0 {
			msg = fmt.Sprintf("timeout: the attempt ran past its time limit of %ds and was ended", o.TimeoutS)
		}
		return tandem.ProcessStatus{State: tandem.ProcessFailed, ExitCode: code, Message: msg}
	case o.Exit != nil && code == 0:
		return tandem.ProcessStatus{State: tandem.ProcessSucceeded}
	case o.Exit != nil:
		msg := fmt.Sprintf("exit code %d", code)
		if code > 128 && code < 128+65 {
			msg += fmt.Sprintf(" (killed by signal %d)", code-128)
		}
		return tandem.ProcessStatus{State: tandem.ProcessFailed, ExitCode: code, Message: msg}
	default:
		return tandem.ProcessStatus{State: tandem.ProcessLost, ExitCode: -1,
			Message: fmt.Sprintf("process %d is gone and left no exit code (the host restarted or the process was killed)", o.Pid)}
	}
}

// Status observes the attempt. For an attempt past its deadline that
// another executor instance started (so no timer of this one watches it),
// each call moves it on: SIGTERM at the first call past the deadline,
// SIGKILL once the grace period has passed too.
func (e *Executor) Status(ctx context.Context, hs string) (tandem.ProcessStatus, error) {
	h, err := parseHandle(hs)
	if err != nil {
		return tandem.ProcessStatus{}, err
	}
	if err := ctx.Err(); err != nil {
		return tandem.ProcessStatus{}, err
	}
	adir, rec, ok := e.attempt(h)
	if !ok {
		return tandem.ProcessStatus{State: tandem.ProcessLost, ExitCode: -1,
			Message: "this host has no record of the attempt (its folder is gone or belongs to another process)"}, nil
	}
	o := observation{Pid: h.pid, Alive: alive(h), TimeoutS: rec.TimeoutS}
	if o.Alive && rec.DeadlineMS > 0 {
		// The executor that started the attempt has a timer for this;
		// after a restart these calls are the only enforcement.
		now := time.Now().UnixMilli()
		if now >= rec.DeadlineMS+e.grace().Milliseconds() {
			_ = signalGroup(h.pid, h.startTicks, true, syscall.SIGKILL)
		} else if now >= rec.DeadlineMS && !exists(filepath.Join(adir, timeoutFile)) {
			markFile(adir, timeoutFile)
			e.log.Info("local attempt timed out", "attempt", rec.ID, "pid", h.pid)
			_ = signalGroup(h.pid, h.startTicks, true, syscall.SIGTERM)
		}
	}
	// Read the files after looking at the process: the wrapper writes the
	// exit code before it exits, so a process seen gone has written it.
	o.Stopped = exists(filepath.Join(adir, stoppedFile))
	o.TimedOut = exists(filepath.Join(adir, timeoutFile))
	if c, ok := readExit(adir); ok {
		o.Exit = &c
	}
	st := decide(o)
	if !o.Alive && (o.Stopped || o.TimedOut) && e.graceOver(adir) {
		// Members of the group that outlived its leader (a background
		// child that ignored SIGTERM) end with it, once they have had
		// the grace period since the SIGTERM.
		_ = signalGroup(h.pid, h.startTicks, false, syscall.SIGKILL)
	}
	return st, nil
}

// Logs returns up to MaxLogChunk bytes of the attempt's output from offset
// on. An attempt with no log yet (or an unknown one) has none.
func (e *Executor) Logs(ctx context.Context, hs string, offset int64) ([]byte, int64, error) {
	h, err := parseHandle(hs)
	if err != nil {
		return nil, offset, err
	}
	if offset < 0 {
		return nil, 0, tandem.Errorf(tandem.EINVALID, "local executor: negative log offset %d", offset)
	}
	if err := ctx.Err(); err != nil {
		return nil, offset, err
	}
	f, err := os.Open(filepath.Join(e.dir, h.folder, logFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, offset, nil
	} else if err != nil {
		return nil, offset, fmt.Errorf("local executor: open log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, offset, fmt.Errorf("local executor: log: %w", err)
	}
	size := min(fi.Size()-offset, MaxLogChunk)
	if size <= 0 {
		return nil, offset, nil
	}
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, offset, fmt.Errorf("local executor: read log: %w", err)
	}
	if n == 0 {
		return nil, offset, nil
	}
	return buf[:n:n], offset + int64(n), nil
}

// Stop ends the attempt: SIGTERM to its process group, SIGKILL after the
// grace period (or at once when ctx ends first). It returns when the
// attempt's command has ended. Stopping a finished, stopped or unknown
// attempt does nothing.
func (e *Executor) Stop(ctx context.Context, hs string) error {
	h, err := parseHandle(hs)
	if err != nil {
		return err
	}
	adir, _, ok := e.attempt(h)
	if !ok || !alive(h) {
		return nil
	}
	if !exists(filepath.Join(adir, stoppedFile)) {
		markFile(adir, stoppedFile)
	}
	e.log.Info("stopping local attempt", "folder", h.folder, "pid", h.pid)
	if err := signalGroup(h.pid, h.startTicks, true, syscall.SIGTERM); err != nil {
		return fmt.Errorf("local executor: stop pid %d: %w", h.pid, err)
	}
	deadline := time.NewTimer(e.grace())
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var ctxErr error
	// Wait for the whole group, not only its leader: the wrapper dies of
	// the SIGTERM itself when it comes before the wrapper set its trap,
	// while the command may still be running its own TERM handler.
wait:
	for groupLive(h.pid, h.startTicks) {
		select {
		case <-tick.C:
		case <-deadline.C:
			break wait
		case <-ctx.Done():
			ctxErr = ctx.Err()
			break wait
		}
	}
	// The leader may be gone while members of its group that ignore
	// SIGTERM are not; the group ends with the attempt.
	_ = signalGroup(h.pid, h.startTicks, alive(h), syscall.SIGKILL)
	// SIGKILL is delivered asynchronously; return once the leader is gone
	// so that a Status right after Stop sees the end.
	for i := 0; i < 200 && alive(h); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	return ctxErr
}

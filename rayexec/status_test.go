package rayexec

import (
	"archive/zip"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

func TestSubmissionID(t *testing.T) {
	if got := SubmissionID("train-3.step_1-a2"); got != "train-3.step_1-a2" {
		t.Fatalf("a clean ID changed: %q", got)
	}
	a, b := SubmissionID("train/step 1"), SubmissionID("train_step_1")
	if a == b {
		t.Fatalf("two IDs share the submission id %q", a)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9._-]+$`).MatchString(a) {
		t.Fatalf("unsafe submission id %q", a)
	}
	if a != SubmissionID("train/step 1") {
		t.Fatal("SubmissionID is not stable")
	}
	long := strings.Repeat("x", 300)
	if l := SubmissionID(long); len(l) > maxIDLen || l == SubmissionID(long+"y") {
		t.Fatalf("long IDs: %q", l)
	}
}

func ms(t time.Time) *int64 { v := t.UnixMilli(); return &v }
func str(s string) *string  { return &s }
func num(n int) *int        { return &n }

func TestObserve(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	timed := map[string]string{metaTimeout: "10s"}
	cases := []struct {
		name   string
		j      jobInfo
		now    time.Time
		state  tandem.ProcessState
		code   int
		expire bool
		msg    string
	}{
		{"pending", jobInfo{Status: "PENDING", StartTime: ms(t0)}, t0, tandem.ProcessPending, 0, false, ""},
		{"running", jobInfo{Status: "RUNNING", StartTime: ms(t0), Metadata: timed}, t0.Add(9 * time.Second), tandem.ProcessRunning, 0, false, ""},
		{"running past its timeout", jobInfo{Status: "RUNNING", StartTime: ms(t0), Metadata: timed}, t0.Add(10 * time.Second), tandem.ProcessFailed, -1, true, "timed out after 10s"},
		{"pending past its timeout", jobInfo{Status: "PENDING", StartTime: ms(t0), Metadata: timed}, t0.Add(time.Hour), tandem.ProcessFailed, -1, true, "timed out"},
		{"no timeout", jobInfo{Status: "RUNNING", StartTime: ms(t0)}, t0.Add(1000 * time.Hour), tandem.ProcessRunning, 0, false, ""},
		{"succeeded", jobInfo{Status: "SUCCEEDED", DriverExitCode: num(0)}, t0, tandem.ProcessSucceeded, 0, false, ""},
		{"succeeded, old Ray", jobInfo{Status: "SUCCEEDED"}, t0, tandem.ProcessSucceeded, 0, false, ""},
		{"failed", jobInfo{Status: "FAILED", DriverExitCode: num(7), ErrorType: str("JOB_ENTRYPOINT_COMMAND_ERROR"),
			Message: str("Job entrypoint command failed with exit code 7, last available logs (truncated to 20,000 chars):\nsecret log line\n")},
			t0, tandem.ProcessFailed, 7, false, "Job entrypoint command failed with exit code 7 (JOB_ENTRYPOINT_COMMAND_ERROR)"},
		{"failed, old Ray", jobInfo{Status: "FAILED", Message: str("Job entrypoint command failed with exit code 3, last available logs:\nx")},
			t0, tandem.ProcessFailed, 3, false, "exit code 3"},
		{"failed before starting", jobInfo{Status: "FAILED", ErrorType: str("RUNTIME_ENV_SETUP_FAILURE"),
			Message: str("runtime_env setup failed: Failed to set up runtime environment.\n[Node 127.0.0.1] Traceback (most recent call last):\n" +
				"  File \"pip.py\", line 1\nray.SubprocessCalledProcessError: Run cmd[9] failed\nLast 50 lines of stdout:\n    ERROR: Invalid requirement: 'x!!'\n")},
			t0, tandem.ProcessFailed, -1, false,
			"runtime_env setup failed: Failed to set up runtime environment.; ERROR: Invalid requirement: 'x!!' (RUNTIME_ENV_SETUP_FAILURE)"},
		{"stopped by a user", jobInfo{Status: "STOPPED", StartTime: ms(t0), EndTime: ms(t0.Add(5 * time.Second)), Metadata: timed},
			t0.Add(time.Hour), tandem.ProcessStopped, -1, false, ""},
		{"stopped for its timeout", jobInfo{Status: "STOPPED", StartTime: ms(t0), EndTime: ms(t0.Add(11 * time.Second)), Metadata: timed},
			t0.Add(time.Hour), tandem.ProcessFailed, -1, false, "timed out"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := observe(c.j, c.now)
			if err != nil {
				t.Fatal(err)
			}
			if o.Status.State != c.state || o.Expire != c.expire {
				t.Fatalf("state %s expire %v, want %s %v", o.Status.State, o.Expire, c.state, c.expire)
			}
			if c.state.Terminal() && o.Status.ExitCode != c.code {
				t.Fatalf("exit code %d, want %d", o.Status.ExitCode, c.code)
			}
			if !strings.Contains(o.Status.Message, c.msg) || strings.Contains(o.Status.Message, "secret log line") {
				t.Fatalf("message %q, want it to contain %q (and no log)", o.Status.Message, c.msg)
			}
		})
	}
	if _, err := observe(jobInfo{Status: "EXPLODED"}, t0); tandem.ErrorCode(err) != tandem.EINTERNAL {
		t.Fatalf("unknown status: %v", err)
	}
}

func TestRayError(t *testing.T) {
	// The head relays the agent's 400 for a duplicate submission as a 500
	// whose body holds both tracebacks.
	body := "Traceback (most recent call last):\n  File \"job_head.py\", line 1, in submit_job\n    resp = await x()\n" +
		"RuntimeError: Request failed with status code 400: Traceback (most recent call last):\n  File \"job_agent.py\", line 2\n" +
		"    raise ValueError(\nValueError: Job with submission_id a1 already exists. Please use a different submission_id.\n.\n"
	status, msg := rayError(500, body)
	if status != 400 || msg != "ValueError: Job with submission_id a1 already exists. Please use a different submission_id" {
		t.Fatalf("got %d %q", status, msg)
	}
	status, msg = rayError(404, "Job nope does not exist")
	if status != 404 || msg != "Job nope does not exist" {
		t.Fatalf("got %d %q", status, msg)
	}
	status, msg = rayError(500, "No available agent to submit job, please try again later.")
	if status != 500 || msg != "No available agent to submit job, please try again later" {
		t.Fatalf("got %d %q", status, msg)
	}
}

func TestNewSubmitRequest(t *testing.T) {
	spec := tandem.LaunchSpec{ID: "job/1", Command: "python train.py", Env: map[string]string{"A": "1"},
		Pip: []string{"numpy==2.1.0"}, Timeout: 90 * time.Second}
	b, err := json.Marshal(newSubmitRequest(spec, "gcs://_ray_pkg_ab.zip"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	want := `{"entrypoint":"python train.py","metadata":{"tandem_attempt":"job/1","tandem_timeout":"1m30s"},` +
		`"runtime_env":{"env_vars":{"A":"1"},"pip":["numpy==2.1.0"],"working_dir":"gcs://_ray_pkg_ab.zip"},"submission_id":"` + SubmissionID("job/1") + `"}`
	if g, _ := json.Marshal(got); string(g) != want {
		t.Fatalf("request\n%s\nwant\n%s", g, want)
	}
	// No folder, no env, no pip: no runtime_env at all, no timeout key.
	b, _ = json.Marshal(newSubmitRequest(tandem.LaunchSpec{ID: "j", Command: "true"}, ""))
	if string(b) != `{"entrypoint":"true","submission_id":"j","metadata":{"tandem_attempt":"j"}}` {
		t.Fatalf("bare request %s", b)
	}
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// zipEntries lists a zip's entries in order, and their contents by name.
func zipEntries(t *testing.T, path string) ([]string, map[string]string) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	content := map[string]string{}
	for _, f := range zr.File {
		names = append(names, f.Name)
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		content[f.Name] = string(b)
	}
	return names, content
}

func TestPackDir(t *testing.T) {
	files := map[string]string{"train.py": "print(1)\n", "data/a.txt": "a", "data/deep/b.txt": "b"}
	d1, d2 := t.TempDir(), t.TempDir()
	writeTree(t, d1, files)
	writeTree(t, d2, files)
	// Different times and creation order must not matter.
	os.Chtimes(filepath.Join(d2, "train.py"), time.Unix(1, 0), time.Unix(1, 0))
	os.Mkdir(filepath.Join(d1, "empty"), 0o755)
	os.Mkdir(filepath.Join(d2, "empty"), 0o755)
	os.Symlink(filepath.Join(d1, "train.py"), filepath.Join(d1, "link.py"))
	os.Symlink(filepath.Join(d2, "train.py"), filepath.Join(d2, "link.py"))
	os.Symlink("/", filepath.Join(d1, "root"))

	p1, err := packDir(d1, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := packDir(d2, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b1, _ := os.ReadFile(p1.Path)
	b2, _ := os.ReadFile(p2.Path)
	if p1.Name != p2.Name || string(b1) != string(b2) {
		t.Fatalf("same content, different packages: %s %s", p1.Name, p2.Name)
	}
	if !regexp.MustCompile(`^_ray_pkg_[0-9a-f]{32}\.zip$`).MatchString(p1.Name) || p1.URI() != "gcs://"+p1.Name {
		t.Fatalf("package name %q", p1.Name)
	}
	names, content := zipEntries(t, p1.Path)
	if content["link.py"] != "print(1)\n" {
		t.Fatalf("link.py holds %q", content["link.py"])
	}
	if got := strings.Join(names, " "); got != "data/ data/a.txt data/deep/ data/deep/b.txt empty/ link.py train.py" {
		t.Fatalf("entries: %s", got)
	}

	// One byte more is another package.
	os.WriteFile(filepath.Join(d2, "data/a.txt"), []byte("ab"), 0o644)
	p3, err := packDir(d2, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p3.Name == p1.Name {
		t.Fatal("different content, same package name")
	}
	if _, err := packDir(filepath.Join(d1, "nope"), "", nil); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("missing folder: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	e := New(addr, nil)
	ctx := context.Background()
	_, err = e.Start(ctx, tandem.LaunchSpec{ID: "a", Command: "true", Env: map[string]string{"TOKEN": "s3cr3t-token"}})
	if tandem.ErrorCode(err) != tandem.EUNAVAILABLE || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Start: %v", err)
	}
	if _, err := e.Status(ctx, "a"); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("Status: %v", err)
	}
	if _, _, err := e.Logs(ctx, "a", 0); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("Logs: %v", err)
	}
	if err := e.Stop(ctx, "a"); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("Stop: %v", err)
	}
	if _, err := e.Start(ctx, tandem.LaunchSpec{ID: "", Command: "true"}); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("no ID: %v", err)
	}
}

func TestRedact(t *testing.T) {
	env := map[string]string{"MLFLOW_TRACKING_TOKEN": "tok-0123456789", "N": "1"}
	err := redactError(tandem.Errorf(tandem.EINVALID, "ray: bad runtime_env {'env_vars': {'MLFLOW_TRACKING_TOKEN': 'tok-0123456789', 'N': '1'}}"), env)
	if strings.Contains(err.Error(), "tok-0123456789") || tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("not redacted: %v", err)
	}
	// Short values are left alone: replacing "1" everywhere would garble
	// the message and hide nothing.
	if !strings.Contains(err.Error(), "'N': '1'") {
		t.Fatalf("over-redacted: %v", err)
	}
}

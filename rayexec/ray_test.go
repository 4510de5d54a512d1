package rayexec

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/raytest"
	"github.com/tandemml/tandem/schedule"
)

// These tests run against a real Ray head node on loopback (package
// raytest); without Ray they skip, or fail under TANDEM_REQUIRE_RAY=1.

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// wait polls Status until the attempt is terminal or until done says so.
// The context bounds it only as a safeguard against a hung cluster.
func wait(t *testing.T, e *Executor, handle string, done func(tandem.ProcessStatus) bool) tandem.ProcessStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for {
		st, err := e.Status(ctx, handle)
		if err != nil {
			t.Fatalf("Status(%s): %v", handle, err)
		}
		if st.State.Terminal() || (done != nil && done(st)) {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s still %s", handle, st.State)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func logs(t *testing.T, e *Executor, handle string) string {
	t.Helper()
	b, _, err := e.Logs(context.Background(), handle, 0)
	if err != nil {
		t.Fatalf("Logs(%s): %v", handle, err)
	}
	return string(b)
}

func TestRay(t *testing.T) {
	cluster := raytest.Start(t)
	e := New(cluster.Address, testLogger(t))
	ctx := context.Background()

	t.Run("succeeds with env and working folder", func(t *testing.T) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"data.txt": "from-the-folder", "pkg/more.txt": "deeper"})
		spec := tandem.LaunchSpec{
			ID:      "fit/a1",
			Command: `python -c 'import os; print(os.environ["X"]); print(open("data.txt").read()); print(open("pkg/more.txt").read())'`,
			WorkDir: dir,
			Env:     map[string]string{"X": "value-of-x"},
		}
		h, err := e.Start(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if h != SubmissionID(spec.ID) {
			t.Fatalf("handle %q", h)
		}
		st := wait(t, e, h, nil)
		out := logs(t, e, h)
		if st.State != tandem.ProcessSucceeded || st.ExitCode != 0 {
			t.Fatalf("status %+v\n%s", st, out)
		}
		for _, want := range []string{"value-of-x", "from-the-folder", "deeper"} {
			if !strings.Contains(out, want) {
				t.Fatalf("logs lack %q:\n%s", want, out)
			}
		}
		// The package is in the cluster under the name we computed.
		pkg, err := packDir(dir, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		os.Remove(pkg.Path)
		resp, err := http.Get(cluster.Address + "/api/packages/gcs/" + pkg.Name)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("package %s: %d", pkg.Name, resp.StatusCode)
		}

		// Offsets: from 5 on is the log without its first 5 bytes; from
		// the end there is nothing new.
		all, next, err := e.Logs(ctx, h, 0)
		if err != nil || next != int64(len(all)) {
			t.Fatalf("Logs(0): %d bytes, next %d, %v", len(all), next, err)
		}
		part, next5, err := e.Logs(ctx, h, 5)
		if err != nil || string(part) != string(all[5:]) || next5 != next {
			t.Fatalf("Logs(5): %q next %d, %v", part, next5, err)
		}
		rest, again, err := e.Logs(ctx, h, next)
		if err != nil || len(rest) != 0 || again != next {
			t.Fatalf("Logs(end): %q next %d, %v", rest, again, err)
		}

		// A restarted region (a new executor, the handle alone) sees the
		// same.
		if st2, err := New(cluster.Address, nil).Status(ctx, h); err != nil || st2 != st {
			t.Fatalf("from a new executor: %+v %v", st2, err)
		}

		// Starting the same attempt again finds it; another job under
		// the same ID is refused.
		if h2, err := e.Start(ctx, spec); err != nil || h2 != h {
			t.Fatalf("second Start: %q %v", h2, err)
		}
		other := spec
		other.Command = "echo other"
		if _, err := e.Start(ctx, other); tandem.ErrorCode(err) != tandem.EEXISTS {
			t.Fatalf("Start of another job under the same ID: %v", err)
		}
	})

	t.Run("working folder of one subfolder", func(t *testing.T) {
		// Ray strips a lone top folder from some zips it downloads; not
		// from a package of its own store, which this must stay.
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"only/file.txt": "kept-its-folder"})
		h, err := e.Start(ctx, tandem.LaunchSpec{ID: "onefolder-1", Command: "cat only/file.txt", WorkDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		st := wait(t, e, h, nil)
		if out := logs(t, e, h); st.State != tandem.ProcessSucceeded || !strings.Contains(out, "kept-its-folder") {
			t.Fatalf("status %+v\n%s", st, out)
		}
	})

	t.Run("distributed ranks meet where Ray placed rank 0", func(t *testing.T) {
		// Rank 0 listens at MASTER_ADDR:MASTER_PORT, the others connect
		// and send their RANK: the placeholders were filled in with the
		// placed address, and every rank ran.
		ranks, err := schedule.PlacedEnv(&tandem.Distribution{Type: tandem.DistributionPyTorch, ProcessCountPerInstance: 1}, 3)
		if err != nil {
			t.Fatal(err)
		}
		prog := `import os, socket, time
r, n = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
addr = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
if r == 0:
    s = socket.create_server(addr)
    got = sorted(s.accept()[0].recv(16).decode() for _ in range(n - 1))
    print("rank 0 heard", ",".join(got), "job", os.environ["JOB_VAR"])
else:
    for _ in range(200):
        try:
            c = socket.create_connection(addr)
            break
        except OSError:
            time.sleep(0.1)
    c.sendall(os.environ["RANK"].encode())
`
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"meet.py": prog})
		spec := tandem.LaunchSpec{ID: "dist/a1", Command: "python meet.py", WorkDir: dir, InstanceCount: 3,
			Env: map[string]string{"JOB_VAR": "shared"}, Processes: ranks}
		h, err := e.Start(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		st := wait(t, e, h, nil)
		out := logs(t, e, h)
		if st.State != tandem.ProcessSucceeded || !strings.Contains(out, "rank 0 heard 1,2 job shared") || !strings.Contains(out, "all 3 ranks succeeded") {
			t.Fatalf("status %+v\n%s", st, out)
		}
	})

	t.Run("distributed: the first failed rank stops the others", func(t *testing.T) {
		ranks, err := schedule.PlacedEnv(&tandem.Distribution{Type: tandem.DistributionTensorFlow, WorkerCount: 2}, 1)
		if err != nil {
			t.Fatal(err)
		}
		// Rank 0 writes its pid and sleeps for 10 minutes; rank 1 fails
		// once rank 0 is up. The job fails with rank 1's code, and rank 0's
		// process is gone (the cluster runs on this host).
		pidFile := t.TempDir() + "/rank0.pid"
		prog := `import json, os, sys, time
c = json.loads(os.environ["TF_CONFIG"])
assert ":" in c["cluster"]["worker"][1] and "{{" not in os.environ["TF_CONFIG"]
pid = os.environ["PID_FILE"]
if c["task"]["index"] == 0:
    open(pid + ".tmp", "w").write(str(os.getpid()))
    os.rename(pid + ".tmp", pid)
    time.sleep(600)
for _ in range(600):
    if os.path.exists(pid):
        break
    time.sleep(0.1)
sys.exit(4)
`
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"ranks.py": prog})
		h, err := e.Start(ctx, tandem.LaunchSpec{ID: "dist/a2", Command: "python ranks.py", WorkDir: dir, InstanceCount: 2,
			Env: map[string]string{"PID_FILE": pidFile}, Processes: ranks})
		if err != nil {
			t.Fatal(err)
		}
		st := wait(t, e, h, nil)
		out := logs(t, e, h)
		if st.State != tandem.ProcessFailed || st.ExitCode != 4 || !strings.Contains(out, "rank 1 exited with code 4") {
			t.Fatalf("status %+v\n%s", st, out)
		}
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatalf("rank 0 never started: %v\n%s", err, out)
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		for syscall.Kill(pid, 0) == nil {
			if ctx.Err() != nil {
				t.Fatalf("rank 0 (pid %d) still runs after the job failed", pid)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("fails with its exit code", func(t *testing.T) {
		h, err := e.Start(ctx, tandem.LaunchSpec{ID: "fail-1", Command: "echo to-stdout; echo to-stderr >&2; exit 7"})
		if err != nil {
			t.Fatal(err)
		}
		st := wait(t, e, h, nil)
		out := logs(t, e, h)
		if st.State != tandem.ProcessFailed || st.ExitCode != 7 || !strings.Contains(st.Message, "exit code 7") {
			t.Fatalf("status %+v\n%s", st, out)
		}
		if !strings.Contains(out, "to-stdout") || !strings.Contains(out, "to-stderr") {
			t.Fatalf("logs:\n%s", out)
		}
	})

	t.Run("outputs uploaded by the job, its exit code kept", func(t *testing.T) {
		// No working folder of its own: the package holds the uploader
		// alone. The command fails: the checkpoint goes up, the other
		// output does not, and the job ends with the command's code.
		p := &proxy{files: map[string]string{}, auth: map[string]string{}}
		srv := httptest.NewServer(p)
		defer srv.Close()
		spec := tandem.LaunchSpec{ID: "outputs-1", Env: map[string]string{"MLFLOW_TRACKING_URI": srv.URL, "MLFLOW_TRACKING_TOKEN": "tok-2"},
			OutputsArtifactPath: "1/r/artifacts/outputs", Outputs: []tandem.LaunchOutput{{Name: "model"}, {Name: "ckpt", Checkpoint: true}},
			Command: `echo m > ` + tandem.OutputRef("model") + `/m.txt && echo epoch-3 > "$TANDEM_CHECKPOINT_DIR/state.txt" && exit 5`}
		h, err := e.Start(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		st := wait(t, e, h, nil)
		if out := logs(t, e, h); st.State != tandem.ProcessFailed || st.ExitCode != 5 {
			t.Fatalf("status %+v\n%s", st, out)
		}
		if got := p.got(); len(got) != 1 || got["1/r/artifacts/outputs/ckpt/state.txt"] != "epoch-3\n" || p.auth["1/r/artifacts/outputs/ckpt/state.txt"] != "Bearer tok-2" {
			t.Fatalf("uploaded %q (auth %q)", got, p.auth)
		}
	})

	t.Run("output that is not UTF-8", func(t *testing.T) {
		// Ray's job API cannot serve this log; Logs reads its bytes.
		h, err := e.Start(ctx, tandem.LaunchSpec{ID: "bytes-1", Command: `printf 'before\n\377\376after\r\n'`})
		if err != nil {
			t.Fatal(err)
		}
		if st := wait(t, e, h, nil); st.State != tandem.ProcessSucceeded {
			t.Fatalf("status %+v", st)
		}
		b, next, err := e.Logs(ctx, h, 0)
		if err != nil || next != int64(len(b)) || !strings.Contains(string(b), "before\n\xff\xfeafter\r\n") {
			t.Fatalf("logs %q next %d: %v", b, next, err)
		}
		i := strings.Index(string(b), "after")
		part, _, err := e.Logs(ctx, h, int64(i))
		if err != nil || string(part) != string(b[i:]) {
			t.Fatalf("Logs(%d): %q %v", i, part, err)
		}
	})

	t.Run("stop", func(t *testing.T) {
		h, err := e.Start(ctx, tandem.LaunchSpec{ID: "sleeper", Command: "echo started; sleep 600"})
		if err != nil {
			t.Fatal(err)
		}
		st := wait(t, e, h, func(st tandem.ProcessStatus) bool { return st.State == tandem.ProcessRunning })
		if st.State != tandem.ProcessRunning {
			t.Fatalf("status %+v\n%s", st, logs(t, e, h))
		}
		if err := e.Stop(ctx, h); err != nil {
			t.Fatal(err)
		}
		if st := wait(t, e, h, nil); st.State != tandem.ProcessStopped {
			t.Fatalf("after Stop: %+v", st)
		}
		if err := e.Stop(ctx, h); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		h, err := e.Start(ctx, tandem.LaunchSpec{ID: "slow", Command: "sleep 600", Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		st := wait(t, e, h, nil)
		if st.State != tandem.ProcessFailed || !strings.Contains(st.Message, "timed out") {
			t.Fatalf("status %+v", st)
		}
		// The cluster stopped it; once it says so, Status still reports
		// the timeout.
		deadline, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		for {
			j, found, err := e.job(deadline, h)
			if err != nil || !found {
				t.Fatalf("job: %v %v", found, err)
			}
			if j.Status == "STOPPED" {
				break
			} else if j.Status != "RUNNING" && j.Status != "PENDING" {
				t.Fatalf("ray status %s after the timeout", j.Status)
			}
			select {
			case <-deadline.Done():
				t.Fatal("never stopped")
			case <-time.After(300 * time.Millisecond):
			}
		}
		if st, err := e.Status(ctx, h); err != nil || st.State != tandem.ProcessFailed || !strings.Contains(st.Message, "timed out") {
			t.Fatalf("status once stopped: %+v %v", st, err)
		}
	})

	t.Run("pip", func(t *testing.T) {
		// Ray installs the requirements from PyPI into a virtualenv on the
		// node: this needs the network, so it runs only when asked.
		if os.Getenv("TANDEM_TEST_RAY_PIP") != "1" {
			t.Skip("needs PyPI: set TANDEM_TEST_RAY_PIP=1")
		}
		h, err := e.Start(ctx, tandem.LaunchSpec{ID: "pip-1", Pip: []string{"tomli_w==1.0.0"},
			Command: `python -c 'import tomli_w; print("toml:", tomli_w.dumps({"a": 1}).strip())'`})
		if err != nil {
			t.Fatal(err)
		}
		st := wait(t, e, h, nil)
		out := logs(t, e, h)
		if st.State != tandem.ProcessSucceeded || !strings.Contains(out, "toml: a = 1") {
			t.Fatalf("status %+v\n%s", st, out)
		}
	})

	t.Run("environment that cannot be built", func(t *testing.T) {
		// pip refuses the requirement before it downloads anything.
		h, err := e.Start(ctx, tandem.LaunchSpec{ID: "badpip-1", Pip: []string{"not a requirement!!"}, Command: "echo never"})
		if err != nil {
			t.Fatal(err)
		}
		st := wait(t, e, h, nil)
		if st.State != tandem.ProcessFailed || !strings.Contains(st.Message, "RUNTIME_ENV_SETUP_FAILURE") ||
			!strings.Contains(st.Message, "Invalid requirement") {
			t.Fatalf("status %+v", st)
		}
		if out := logs(t, e, h); strings.Contains(out, "never") && !strings.Contains(out, "echo never") {
			t.Fatalf("the command ran:\n%s", out)
		}
	})

	t.Run("unknown handle", func(t *testing.T) {
		st, err := e.Status(ctx, "never-submitted")
		if err != nil || st.State != tandem.ProcessLost {
			t.Fatalf("Status: %+v %v", st, err)
		}
		if _, _, err := e.Logs(ctx, "never-submitted", 0); tandem.ErrorCode(err) != tandem.ENOTFOUND {
			t.Fatalf("Logs: %v", err)
		}
		if err := e.Stop(ctx, "never-submitted"); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	})

	t.Run("two clusters, one with token authentication", func(t *testing.T) {
		const token = "raytest-token-5f1c2a"
		other := raytest.StartWith(t, raytest.Options{Token: token})
		if other.Address == cluster.Address {
			t.Fatal("one address for two clusters")
		}
		// Without the token the cluster refuses, and the error says why
		// without being the caller's 401.
		_, err := New(other.Address, testLogger(t)).Start(ctx, tandem.LaunchSpec{ID: "no-token", Command: "true"})
		if tandem.ErrorCode(err) != tandem.EUNAVAILABLE || !strings.Contains(err.Error(), "token") {
			t.Fatalf("Start without the token: %v", err)
		}
		t.Logf("without the token: %v", err)
		_, err = New(other.Address, testLogger(t)).WithToken("wrong-token-123").Start(ctx, tandem.LaunchSpec{ID: "bad-token", Command: "true"})
		if tandem.ErrorCode(err) != tandem.EUNAVAILABLE || strings.Contains(err.Error(), "wrong-token-123") {
			t.Fatalf("Start with a wrong token: %v", err)
		}
		t.Logf("with a wrong token: %v", err)
		tokens := []string{"", token}
		var wg sync.WaitGroup
		results := make([]string, 2)
		errs := make([]error, 2)
		for i, addr := range []string{cluster.Address, other.Address} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
				defer cancel()
				ex := New(addr, testLogger(t)).WithToken(tokens[i])
				region := []string{"east", "west"}[i]
				// The same attempt ID on both: each cluster has its own jobs.
				h, err := ex.Start(ctx, tandem.LaunchSpec{ID: "both", Command: `echo "region=$REGION"`, Env: map[string]string{"REGION": region}})
				if err != nil {
					errs[i] = err
					return
				}
				for {
					st, err := ex.Status(ctx, h)
					if err != nil {
						errs[i] = err
						return
					}
					if st.State.Terminal() {
						if st.State != tandem.ProcessSucceeded {
							errs[i] = errors.New(string(st.State) + ": " + st.Message)
						}
						break
					}
					time.Sleep(300 * time.Millisecond)
				}
				b, _, err := ex.Logs(ctx, h, 0)
				results[i], errs[i] = string(b), err
			}()
		}
		wg.Wait()
		for i, want := range []string{"region=east", "region=west"} {
			if errs[i] != nil {
				t.Fatalf("cluster %d: %v", i, errs[i])
			}
			if !strings.Contains(results[i], want) {
				t.Fatalf("cluster %d logs:\n%s", i, results[i])
			}
		}
		other.Stop()
		// The first cluster still runs.
		if _, err := cluster.Version(ctx); err != nil {
			t.Fatalf("stopping one cluster stopped the other: %v", err)
		}
	})
}

// Package mlflowtest starts a stock MLflow tracking server (from PyPI) on
// loopback for tests, and populates it with the stock client. The Python
// environment is TANDEM_TEST_MLFLOW_VENV, else the repository's python/.venv
// (made by scripts/test.sh from python/requirements.txt, before go test);
// without one tests skip, except under CI where they fail.
package mlflowtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// Server is a running stock MLflow server.
type Server struct {
	URL  string
	Dir  string // its database and artifact folder
	venv string
}

// Venv returns the Python environment holding mlflow, or skips the test.
func Venv(t testing.TB) string {
	t.Helper()
	venv := os.Getenv("TANDEM_TEST_MLFLOW_VENV")
	if venv == "" {
		_, file, _, _ := runtime.Caller(0)
		venv = filepath.Join(filepath.Dir(file), "..", "..", "..", "python", ".venv")
	}
	if _, err := os.Stat(filepath.Join(venv, "bin", "mlflow")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no stock mlflow in %s under CI", venv)
		}
		t.Skipf("no stock mlflow in %s (set TANDEM_TEST_MLFLOW_VENV)", venv)
	}
	return venv
}

// PythonPath returns the Python of Venv, with the stock mlflow client, or
// skips the test as Venv does.
func PythonPath(t testing.TB) string {
	t.Helper()
	return filepath.Join(Venv(t), "bin", "python")
}

// Start runs `mlflow server` with a SQLite backend and proxied artifacts
// on a free loopback port, and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWorkers(t, 1)
}

// StartWorkers is Start with that many server worker processes.
func StartWorkers(t testing.TB, workers int) *Server {
	t.Helper()
	return start(t, workers, "", nil)
}

// StartBasicAuth runs `mlflow server --app-name basic-auth` (MLflow's
// basic-auth app, which needs the Flask-WTF of mlflow's "auth" extra) with
// admin as its admin user, every other user without permissions unless
// granted (default_permission NO_PERMISSIONS).
func StartBasicAuth(t testing.TB, admin, password string) *Server {
	t.Helper()
	venv := Venv(t)
	if _, err := exec.Command(filepath.Join(venv, "bin", "python"), "-c", "import flask_wtf").CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Flask-WTF in %s under CI (python/requirements.txt)", venv)
		}
		t.Skipf("no Flask-WTF in %s: MLflow's basic-auth app needs it", venv)
	}
	dir := t.TempDir()
	ini := filepath.Join(dir, "basic_auth.ini")
	body := fmt.Sprintf("[mlflow]\ndefault_permission = NO_PERMISSIONS\ndatabase_uri = sqlite:///%s\nadmin_username = %s\nadmin_password = %s\nauthorization_function = mlflow.server.auth:authenticate_request_basic_auth\ngrant_default_workspace_access = false\n",
		filepath.Join(dir, "auth.db"), admin, password)
	if err := os.WriteFile(ini, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return start(t, 1, "basic-auth", []string{"MLFLOW_AUTH_CONFIG_PATH=" + ini, "MLFLOW_FLASK_SERVER_SECRET_KEY=test-" + strconv.FormatInt(time.Now().UnixNano(), 36)})
}

func start(t testing.TB, workers int, app string, env []string) *Server {
	t.Helper()
	venv := Venv(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(filepath.Join(venv, "bin", "mlflow"), "server",
		"--backend-store-uri", "sqlite:///"+filepath.Join(dir, "mlflow.db"),
		"--artifacts-destination", filepath.Join(dir, "artifacts"), "--serve-artifacts",
		"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--workers", strconv.Itoa(workers))
	if app != "" {
		cmd.Args = append(cmd.Args, "--app-name", app)
	}
	cmd.Dir = dir
	logf, _ := os.Create(filepath.Join(dir, "server.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(append(os.Environ(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false"), env...)
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killGroup(cmd) // mlflow server's uvicorn workers outlive a kill of mlflow alone
		cmd.Wait()
		logf.Close()
	})
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), Dir: dir, venv: venv}
	deadline := time.Now().Add(180 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "server.log"))
	t.Fatalf("mlflow server did not start:\n%s", b)
	return nil
}

// Python runs a script with the environment's python and returns stdout.
func Python(t testing.TB, ctx context.Context, venv string, args ...string) []byte {
	t.Helper()
	return pythonEnv(t, ctx, venv, nil, args...)
}

func pythonEnv(t testing.TB, ctx context.Context, venv string, env []string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(venv, "bin", "python"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "MLFLOW_ENABLE_ASYNC_LOGGING=false", "GIT_PYTHON_REFRESH=quiet")
	cmd.Env = append(cmd.Env, env...)
	if err := cmd.Run(); err != nil {
		t.Fatalf("python %v: %v\n%s", args, err, errb.String())
	}
	return out.Bytes()
}

// Summary is what populate.py prints.
type Summary struct {
	Experiments []string `json:"experiments"`
	Runs        []string `json:"runs"`
	LoggedModel string   `json:"logged_model"`
}

// Populate fills the server at uri (an MLflow or tandem server) with runs
// runs, big-history runs having points metric points, using the stock
// client and testdata/populate.py. trackingOnly leaves out logged and
// registered models.
func Populate(t testing.TB, ctx context.Context, uri string, runs, points int, trackingOnly bool) Summary {
	t.Helper()
	return PopulateWith(t, ctx, uri, Shape{Runs: runs, Points: points, TrackingOnly: trackingOnly})
}

// Shape says what populate.py writes: Runs runs; every BigEvery-th run
// (default 10) with a Points-point history, every ParamsEvery-th run
// (default 10) with 150 params; Threads runs logged at once (default 1).
type Shape struct {
	Runs, Points          int
	BigEvery, ParamsEvery int
	Threads               int
	TrackingOnly          bool
}

// PopulateWith fills the server at uri as shape says.
func PopulateWith(t testing.TB, ctx context.Context, uri string, shape Shape) Summary {
	t.Helper()
	venv := Venv(t)
	args := []string{script("populate.py"), uri, strconv.Itoa(shape.Runs), strconv.Itoa(shape.Points)}
	if shape.TrackingOnly {
		args = append(args, "tracking")
	}
	var env []string
	if shape.BigEvery > 0 {
		env = append(env, "POPULATE_BIG_EVERY="+strconv.Itoa(shape.BigEvery))
	}
	if shape.ParamsEvery > 0 {
		env = append(env, "POPULATE_PARAMS_EVERY="+strconv.Itoa(shape.ParamsEvery))
	}
	if shape.Threads > 0 {
		env = append(env, "POPULATE_THREADS="+strconv.Itoa(shape.Threads))
	}
	out := pythonEnv(t, ctx, venv, env, args...)
	var s Summary
	if err := json.Unmarshal(lastLine(out), &s); err != nil {
		t.Fatalf("populate output: %v\n%s", err, out)
	}
	return s
}

// Populate fills this server (see the package function).
func (s *Server) Populate(t testing.TB, ctx context.Context, runs, points int, trackingOnly bool) Summary {
	return Populate(t, ctx, s.URL, runs, points, trackingOnly)
}

func script(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", name)
}

// Difference is one answer that differs between two servers.
type Difference struct {
	What string `json:"what"`
	A    string `json:"a"`
	B    string `json:"b"`
}

// Comparison is what testdata/compare.py found.
type Comparison struct {
	Runs   int          `json:"runs"`
	Models int          `json:"models"`
	Diffs  []Difference `json:"diffs"`
}

// Compare asks the servers at a and b the same questions with the stock
// client (experiments, runs, metric histories, inputs, artifact listings
// and, unless trackingOnly, the model registry) and returns the differences.
func Compare(t testing.TB, ctx context.Context, a, b string, trackingOnly bool) Comparison {
	t.Helper()
	args := []string{script("compare.py"), a, b}
	if trackingOnly {
		args = append(args, "tracking")
	}
	out := Python(t, ctx, Venv(t), args...)
	var c Comparison
	if err := json.Unmarshal(lastLine(out), &c); err != nil {
		t.Fatalf("compare output: %v\n%s", err, out)
	}
	return c
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

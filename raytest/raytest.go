// Package raytest starts a real Ray head node on loopback for tests, with
// the Ray from TANDEM_TEST_RAY_VENV (made by scripts/ray.sh), else the
// repository's .tandem/test/ray-venv, else the `ray` on PATH. Without one,
// tests skip, unless TANDEM_REQUIRE_RAY=1, where they fail.
//
// It is an ordinary package so that the tests of several packages can share
// it, but only tests import it: nothing in the tandem binary does.
//
// Every cluster gets its own temporary folder and its own free ports
// (GCS, dashboard, agents, object manager, workers, metrics), so several
// clusters (one per region) run side by side. `ray stop` would stop every
// Ray process of the user, so Stop does not use it: `ray start` runs as the
// leader of a new process group, every process of the cluster inherits
// that group, and Stop signals the group (SIGTERM, then SIGKILL), then ends
// any job driver still running from the cluster's folder (drivers run in
// a session of their own).
package raytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandemml/tandem/freeport"
	"github.com/tandemml/tandem/testbin"
)

// Version is the Ray release scripts/ray.sh installs and the tests are
// written against.
const Version = "2.60.0"

// Cluster is one running Ray head node.
type Cluster struct {
	// Address is the dashboard's URL (the job submission REST API),
	// http://127.0.0.1:PORT.
	Address string
	// GCSAddress is host:port of the cluster's GCS (what `ray.init` and
	// `ray start --address` take).
	GCSAddress string
	// Dir is the cluster's --temp-dir: sessions, logs, sockets.
	Dir string
	// Token is the cluster's authentication token ("" when off).
	Token string

	pgid     int
	stopOnce sync.Once
}

// Bin returns the path of the `ray` command ($TANDEM_TEST_RAY_VENV/bin/ray,
// else .tandem/test/ray-venv/bin/ray, else ray on PATH), or skips the test
// (fails it under TANDEM_REQUIRE_RAY=1) when there is none.
func Bin(t testing.TB) string {
	t.Helper()
	tool := testbin.Tool{Name: "Ray", Repo: []string{".tandem/test/ray-venv/bin/ray"}, Path: []string{"ray"},
		Require: "TANDEM_REQUIRE_RAY", Hint: "run scripts/ray.sh and set TANDEM_TEST_RAY_VENV"}
	if venv := os.Getenv("TANDEM_TEST_RAY_VENV"); venv != "" {
		tool.Repo, tool.Path = []string{filepath.Join(venv, "bin", "ray")}, nil
	}
	return testbin.Find(t, tool)
}

// Start runs a Ray head node with one CPU and a small object store on
// loopback, waits until its dashboard answers, and stops it when the test
// ends. A cluster takes some seconds to start: share one between the
// subtests of a test where they can. On a loaded machine Ray can give up
// on its own start (its raylet has 30 seconds to register); Start then
// tries again, twice, each time with a new folder and new ports.
func Start(t testing.TB) *Cluster {
	t.Helper()
	return StartWith(t, Options{})
}

// Options change how a cluster starts.
type Options struct {
	// Token turns on Ray's token authentication (RAY_AUTH_MODE=token)
	// with this token: every request to the dashboard must then carry
	// "Authorization: Bearer TOKEN". Without it the cluster has token
	// authentication off, whatever the user's ~/.ray/auth_token (which
	// would turn it on by itself).
	Token string
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin := Bin(t)
	var errs []string
	for try := 1; try <= 3; try++ {
		c, err := start(bin, opts)
		if err == nil {
			t.Cleanup(c.Stop)
			return c
		}
		errs = append(errs, fmt.Sprintf("try %d: %v", try, err))
	}
	t.Fatalf("raytest: no Ray cluster started:\n%s", strings.Join(errs, "\n"))
	return nil
}

// start runs one `ray start`; on failure it stops what it started.
func start(bin string, opts Options) (*Cluster, error) {
	dir, err := shortTempDir()
	if err != nil {
		return nil, err
	}
	// The worker ports are a list, not a range: a range could overlap
	// another cluster's.
	ports, err := freeport.Many(11 + 32)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	workers := make([]string, 0, 32)
	for _, p := range ports[11:] {
		workers = append(workers, strconv.Itoa(p))
	}
	gcs, dash := ports[0], ports[1]
	args := []string{"start", "--head",
		"--node-ip-address=127.0.0.1",
		"--port=" + strconv.Itoa(gcs),
		"--include-dashboard=true",
		"--dashboard-host=127.0.0.1",
		"--dashboard-port=" + strconv.Itoa(dash),
		"--dashboard-agent-listen-port=" + strconv.Itoa(ports[2]),
		"--dashboard-agent-grpc-port=" + strconv.Itoa(ports[3]),
		"--runtime-env-agent-port=" + strconv.Itoa(ports[4]),
		"--metrics-export-port=" + strconv.Itoa(ports[5]),
		"--ray-client-server-port=" + strconv.Itoa(ports[6]),
		"--object-manager-port=" + strconv.Itoa(ports[7]),
		"--node-manager-port=" + strconv.Itoa(ports[8]),
		"--worker-port-list=" + strings.Join(workers, ","),
		"--temp-dir=" + dir,
		"--num-cpus=1",
		"--object-store-memory=100000000",
		"--disable-usage-stats",
		"--log-style=record",
		"--log-color=false",
	}
	logPath := filepath.Join(dir, "ray-start.log")
	logf, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RAY_AUTH_") {
			env = append(env, kv)
		}
	}
	if opts.Token != "" {
		env = append(env, "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN="+opts.Token)
	} else {
		env = append(env, "RAY_AUTH_MODE=disabled")
	}
	cmd.Env = append(env,
		// Ray turns a loopback --node-ip-address into the host's address
		// on Linux; in "not a cluster" mode it keeps loopback, and binds
		// its metrics servers there too.
		"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0",
		// Fixed by default (44227, 44217): two clusters would collide.
		"DASHBOARD_METRIC_PORT="+strconv.Itoa(ports[9]),
		"AUTOSCALER_METRIC_PORT="+strconv.Itoa(ports[10]),
		"RAY_USAGE_STATS_ENABLED=0",
		// Also marks every process of the cluster, job drivers included
		// (see processesUnder).
		"RAY_TMPDIR="+dir,
		// Drivers run `python` from PATH: make it the Ray's own, as on a
		// Ray node.
		"PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("ray start: %w", err)
	}
	c := &Cluster{
		Token:      opts.Token,
		Address:    "http://127.0.0.1:" + strconv.Itoa(dash),
		GCSAddress: "127.0.0.1:" + strconv.Itoa(gcs),
		Dir:        dir,
		pgid:       cmd.Process.Pid,
	}
	werr := cmd.Wait()
	logf.Close()
	if werr == nil {
		werr = c.waitReady(3 * time.Minute)
	}
	if werr != nil {
		msg := tail(logPath)
		c.Stop()
		return nil, fmt.Errorf("ray start: %v\n%s", werr, msg)
	}
	return c, nil
}

// waitReady polls the dashboard's /api/version until it answers.
func (c *Cluster) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := c.Version(ctx)
		cancel()
		if err == nil && v != "" {
			return nil
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("dashboard %s not ready after %s: %v", c.Address, limit, last)
}

// Version asks the running cluster for its Ray version.
func (c *Cluster) Version(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Address+"/api/version", nil)
	if err != nil {
		return "", err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /api/version: %s", resp.Status)
	}
	var v struct {
		RayVersion string `json:"ray_version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return "", err
	}
	return v.RayVersion, nil
}

// Stop ends every process of the cluster and removes its folder. It is
// safe to call more than once (Start also registers it as a cleanup).
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		signalGroup(c.pgid, syscall.SIGTERM, 3*time.Second)
		signalGroup(c.pgid, syscall.SIGKILL, 5*time.Second)
		// Job drivers run in sessions of their own (Ray's supervisor
		// starts them so), with their working folder under the
		// cluster's folder; end whatever is left there.
		for range 3 {
			pids := processesUnder(c.Dir)
			if len(pids) == 0 {
				break
			}
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(200 * time.Millisecond)
		}
		os.RemoveAll(c.Dir)
	})
}

// signalGroup sends sig to the process group and waits up to limit for the
// group to be empty.
func signalGroup(pgid int, sig syscall.Signal, limit time.Duration) {
	if pgid <= 1 {
		return
	}
	if err := syscall.Kill(-pgid, sig); errors.Is(err, syscall.ESRCH) {
		return
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processesUnder lists the processes of this user that belong to the
// cluster whose folder is dir: their environment has RAY_TMPDIR=dir (set
// for `ray start`, inherited by everything it starts), or their working
// folder or command line is inside dir.
func processesUnder(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	mark := []byte("\x00RAY_TMPDIR=" + dir + "\x00")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		environ, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if strings.HasPrefix(cwd+string(filepath.Separator), prefix) || bytes.Contains(cmdline, []byte(prefix)) ||
			bytes.Contains(append([]byte{0}, environ...), mark) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// shortTempDir makes the cluster's folder. Ray puts unix sockets under it,
// whose paths may not exceed about 100 bytes, so it must be short whatever
// TMPDIR (or the test's own temp dir) is.
func shortTempDir() (string, error) {
	base := os.TempDir()
	if len(base) > 40 {
		base = "/tmp"
	}
	return os.MkdirTemp(base, "ray")
}

// tail returns the end of a log file, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

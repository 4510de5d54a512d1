package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/replication"
)

// binDir holds the tandem binary the tests that run real processes build
// (made and removed by TestMain).
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tandem-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tandemBinary builds cmd/tandem once per test run, when a test needs it:
// `tandem up` starts its regions by running its own executable.
var tandemBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "tandem")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// upWorkspace is a `tandem up` process run by a test in its own project
// folder.
type upWorkspace struct {
	t    *testing.T
	bin  string
	dir  string   // the project folder (.tandem/ and the data folder "data")
	addr string   // the first region's address
	args []string // more arguments of tandem up
	cmd  *exec.Cmd
	out  *lockedBuffer
	// exited is closed once tandem up has exited, with waitErr.
	exited  chan struct{}
	waitErr error
}

// newUpWorkspace picks three consecutive free ports (east, west, the
// witness) for a workspace in a new project folder.
func newUpWorkspace(t *testing.T) *upWorkspace {
	t.Helper()
	bin, err := tandemBinary()
	if err != nil {
		t.Fatal(err)
	}
	u := &upWorkspace{t: t, bin: bin, dir: t.TempDir()}
	for u.addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		free := true
		for _, q := range []int{p + 1, p + 2} {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(q)))
			if err != nil {
				free = false
				break
			}
			l.Close()
		}
		if free {
			u.addr = ln.Addr().String()
		}
	}
	return u
}

// start runs `tandem up` and waits for its banner; it returns what it
// printed up to then.
func (u *upWorkspace) start() string {
	u.t.Helper()
	u.out = &lockedBuffer{}
	u.cmd = exec.Command(u.bin, append([]string{"up", "--dir", "data", "--listen", u.addr, "--no-auth"}, u.args...)...)
	u.cmd.Dir = u.dir
	u.cmd.Stdout, u.cmd.Stderr = u.out, u.out
	if err := u.cmd.Start(); err != nil {
		u.t.Fatal(err)
	}
	exited := make(chan struct{})
	u.exited = exited
	cmd := u.cmd
	go func() {
		u.waitErr = cmd.Wait()
		close(exited)
	}()
	u.t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		<-exited
	})
	for !strings.Contains(u.out.String(), "Stop: Ctrl-C") {
		select {
		case <-exited:
			u.t.Fatalf("tandem up exited before it was up: %v\n%s", u.waitErr, u.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return u.out.String()
}

// stop sends Ctrl-C (SIGINT) and waits until tandem up exits.
func (u *upWorkspace) stop() {
	u.t.Helper()
	u.cmd.Process.Signal(os.Interrupt)
	<-u.exited
	if u.waitErr != nil {
		u.t.Fatalf("tandem up: %v\n%s", u.waitErr, u.out.String())
	}
}

// tandem runs a CLI verb in the project folder, bounded so that a verb
// that hangs fails the test instead of the test run.
func (u *upWorkspace) tandem(args ...string) (string, error) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.t.Context(), 90*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, u.bin, args...)
	c.Dir = u.dir
	c.Env = append(os.Environ(), "TANDEM_WORKSPACE=", "TANDEM_CONFIG=")
	out, err := c.CombinedOutput()
	if ctx.Err() != nil {
		u.t.Fatalf("tandem %s did not return:\n%s", strings.Join(args, " "), out)
	}
	return string(out), err
}

func (u *upWorkspace) mustTandem(args ...string) string {
	u.t.Helper()
	out, err := u.tandem(args...)
	if err != nil {
		u.t.Fatalf("tandem %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// config reads the client config tandem up wrote.
func (u *upWorkspace) config() *client.Config {
	u.t.Helper()
	c, err := client.LoadConfig(filepath.Join(u.dir, ".tandem", "config.json"))
	if err != nil {
		u.t.Fatal(err)
	}
	return c
}

// regionURL is the URL of region east (the first port) or west.
func (u *upWorkspace) regionURL(name string) string {
	host, port, _ := net.SplitHostPort(u.addr)
	p, _ := strconv.Atoi(port)
	if name == "west" {
		p++
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(p))
}

// head is a region's journal head as its replication status says.
func (u *upWorkspace) head(name string) string {
	resp, err := http.Get(u.regionURL(name) + replication.Prefix + "status")
	if err != nil {
		return "unreachable"
	}
	defer resp.Body.Close()
	var st replication.Status
	json.NewDecoder(resp.Body).Decode(&st)
	return st.Head.String()
}

var logMsgRE = regexp.MustCompile(`msg=("(?:[^"\\]|\\.)*"|\S+)`)

// repeatedLines lists the lines of out that repeat a log line's message
// (a progress line printed beside the log line that says the same).
func repeatedLines(out string) []string {
	msgs := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if m := logMsgRE.FindStringSubmatch(line); m != nil {
			msg := m[1]
			if s, err := strconv.Unquote(msg); err == nil {
				msg = s
			}
			msgs[msg] = true
		}
	}
	var dup []string
	for _, line := range strings.Split(out, "\n") {
		if logMsgRE.MatchString(line) {
			continue
		}
		for msg := range msgs {
			if len(msg) > 10 && strings.Contains(line, msg) {
				dup = append(dup, line)
			}
		}
	}
	return dup
}

// TestUpRestartsAfterSwitchover: a workspace that tandem up runs is
// switched over to west by a bare `tandem failover` (the workspace file is
// found through .tandem/config.json), stopped and started again: tandem up
// accepts west as the primary, says so, and writes the client config west
// first. It also checks that tandem up prints each child line once and
// that a caught-up secondary shows no stale error.
func TestUpRestartsAfterSwitchover(t *testing.T) {
	u := newUpWorkspace(t)
	py := filepath.Join(t.TempDir(), "venv", "bin", "python")
	u.args = []string{"--scoring-python", py}
	first := u.start()
	if !strings.Contains(first, "Online endpoints score with the mlflow of "+py) {
		t.Errorf("the banner should say which python scores endpoints:\n%s", first)
	}
	u.args = nil
	t.Run("child lines printed once", func(t *testing.T) {
		if dup := repeatedLines(first); len(dup) > 0 {
			t.Fatalf("tandem up printed these lines twice (once logged, once again):\n%s\n--- output\n%s", strings.Join(dup, "\n"), first)
		}
	})
	if c := u.config(); c.Endpoints[0] != u.regionURL("east") || c.WorkspaceFile != "data/workspace.yaml" {
		t.Fatalf("first start: config %+v", c)
	}
	out := u.mustTandem("failover", "--to", "west")
	if !strings.Contains(out, "west is the primary in epoch") {
		t.Fatalf("tandem failover --to west:\n%s", out)
	}
	// While it runs, tandem up keeps the client config primary first.
	for deadline := time.Now().Add(time.Minute); !strings.Contains(u.out.String(), "west is the primary now"); {
		if time.Now().After(deadline) {
			t.Fatalf("tandem up did not follow the switchover:\n%s", u.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c := u.config(); c.Endpoints[0] != u.regionURL("west") {
		t.Fatalf("config.json after the switchover: %v", c.Endpoints)
	}
	u.stop()

	second := u.start()
	if !regexp.MustCompile(`(?m)^\s+west\s+primary\s+`+regexp.QuoteMeta(u.regionURL("west"))).MatchString(second) ||
		!regexp.MustCompile(`(?m)^\s+east\s+secondary\s+`).MatchString(second) ||
		!strings.Contains(second, "MLFLOW_TRACKING_URI="+u.regionURL("west")) {
		t.Fatalf("the banner after the restart should name west the primary:\n%s", second)
	}
	if c := u.config(); len(c.Endpoints) != 2 || c.Endpoints[0] != u.regionURL("west") || c.Endpoints[1] != u.regionURL("east") {
		t.Fatalf("config.json should list west first: %v", c.Endpoints)
	}
	hist := u.mustTandem("history")
	if !regexp.MustCompile(`(?m)^2\s+west\s+east\s+switchover`).MatchString(hist) {
		t.Fatalf("tandem history:\n%s", hist)
	}

	// A write east applies proves its follower has had an answer from
	// the primary since it started: status must show no error from
	// before that.
	resp, err := http.Post(u.regionURL("west")+"/api/2.0/mlflow/experiments/create", "application/json", strings.NewReader(`{"name":"after-restart"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("create experiment on west: %s", resp.Status)
	}
	for deadline := time.Now().Add(time.Minute); u.head("east") != u.head("west"); {
		if time.Now().After(deadline) {
			t.Fatalf("east did not apply the write: head %s, west %s", u.head("east"), u.head("west"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := u.mustTandem("status")
	for _, line := range strings.Split(st, "\n") {
		if strings.HasPrefix(line, "east ") && strings.Contains(line, "last error") {
			t.Fatalf("a caught-up secondary shows a stale error:\n%s", st)
		}
	}
	u.stop()
}

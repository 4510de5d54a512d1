//go:build tandemtest

package leader_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// manualCluster is a workspace of real `tandem server` processes with no
// witness: failover is manual only.
type manualCluster struct {
	t      *testing.T
	dir    string
	config string
	urls   map[string]string
	procs  map[string]*exec.Cmd
	logs   map[string]*lockedBuf
	// authEnv, when set, runs the regions with authentication on and
	// this extra environment (the bootstrap token).
	authEnv []string
}

func newManualCluster(t *testing.T, forward bool, names ...string) *manualCluster {
	c := &manualCluster{t: t, dir: t.TempDir(), urls: map[string]string{}, procs: map[string]*exec.Cmd{}, logs: map[string]*lockedBuf{}}
	var b strings.Builder
	fmt.Fprintf(&b, "workspace: manual\nprimary: %s\npeer_key: {env: TANDEM_E2E_PEER_KEY}\nforward_writes: %v\nregions:\n", names[0], forward)
	for _, n := range names {
		c.urls[n] = "http://" + freePort(t)
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n    metadata: %q\n    artifacts: %q\n", n, c.urls[n],
			"sqlite://"+filepath.Join(c.dir, n, "tandem.db"), "file://"+filepath.Join(c.dir, n, "artifacts"))
	}
	c.config = filepath.Join(c.dir, "workspace.yaml")
	if err := os.WriteFile(c.config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range c.procs {
			p.Process.Kill()
			p.Wait()
		}
		if t.Failed() {
			for n, l := range c.logs {
				s := l.String()
				if len(s) > 6000 {
					s = s[len(s)-6000:]
				}
				t.Logf("--- log of %s ---\n%s", n, s)
			}
		}
	})
	return c
}

func (c *manualCluster) env() []string {
	return append(os.Environ(), "TANDEM_E2E_PEER_KEY="+peerKey, "TANDEM_TEST_OPS=1")
}

func (c *manualCluster) start(name string) {
	c.t.Helper()
	args := []string{"server", "--config", c.config, "--region", name, "--log-level", "debug", "--no-auth"}
	if c.authEnv != nil {
		args = args[:len(args)-1] // authentication on (auth_e2e_test.go)
	}
	cmd := exec.Command(tandemBin, args...)
	cmd.Env = append(c.env(), c.authEnv...)
	if c.logs[name] == nil {
		c.logs[name] = &lockedBuf{}
	}
	cmd.Stdout, cmd.Stderr = c.logs[name], c.logs[name]
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.procs[name] = cmd
}

func (c *manualCluster) kill(name string) {
	if p := c.procs[name]; p != nil {
		p.Process.Signal(syscall.SIGKILL)
		p.Wait()
		delete(c.procs, name)
	}
}

func (c *manualCluster) cli(args ...string) (string, error) {
	cmd := exec.Command(tandemBin, args...)
	cmd.Env = c.env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitRoles waits until primary accepts writes in an epoch >= minEpoch and
// every other running region follows it in that epoch; it returns the epoch.
func (c *manualCluster) waitRoles(primary string, minEpoch int64) int64 {
	c.t.Helper()
	var epoch int64
	waitFor(c.t, 30*time.Second, primary+" primary, the others following", func() (bool, string) {
		pst, err := status(c.urls[primary])
		if err != nil || pst.Role.String() != "primary" || !pst.WritesAllowed || pst.Epoch < minEpoch {
			return false, fmt.Sprintf("%s: %+v %v", primary, pst, err)
		}
		epoch = pst.Epoch
		for n := range c.procs {
			if n == primary {
				continue
			}
			st, err := status(c.urls[n])
			if err != nil || st.Role.String() != "secondary" || st.Primary != primary || st.Epoch != pst.Epoch || st.Head.Seq < pst.Head.Seq {
				return false, fmt.Sprintf("%s: %+v %v", n, st, err)
			}
		}
		return true, ""
	})
	return epoch
}

// Without a witness failover is manual only (status says so), and a
// forced failover to a secondary works with the primary dead: the target
// takes epoch + 1, the other secondary follows it, the old primary comes
// back as a secondary (it does not take its old role back), and a planned
// switchover and a restart of the primary work too.
func TestForcedFailoverWithoutWitness(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := newManualCluster(t, false, "a", "b", "c")
	for _, n := range []string{"a", "b", "c"} {
		c.start(n)
	}
	e1 := c.waitRoles("a", 1)
	out, err := c.cli("status", "--workspace", c.config)
	if err != nil || !strings.Contains(out, "no witness: only manual failover") || !strings.Contains(out, "manual") {
		t.Fatalf("tandem status without a witness: %v\n%s", err, out)
	}
	w := &cluster{t: t, urls: c.urls}
	for i := range 5 {
		if _, err := w.write("a", fmt.Sprintf("k%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	c.waitRoles("a", e1)

	// The primary dies; the operator forces b.
	c.kill("a")
	out, err = c.cli("failover", "--to", "b", "--force", "--yes", "--workspace", c.config, "--wait", "30s")
	if err != nil || !strings.Contains(out, "b is the primary") {
		t.Fatalf("forced failover to b: %v\n%s", err, out)
	}
	e2 := c.waitRoles("b", e1+1)
	if e2 != e1+1 {
		t.Fatalf("forced failover: epoch %d after %d", e2, e1)
	}
	ack, err := w.write("b", "after-force")
	if err != nil || ack.pos.Epoch != e2 {
		t.Fatalf("write on the new primary: %+v %v", ack, err)
	}
	if _, err := w.write("c", "on-secondary"); err == nil {
		t.Fatal("a secondary accepted a write")
	}

	// The old primary restarts: it must follow b, not take its role back.
	c.start("a")
	c.waitRoles("b", e2)
	if _, err := w.write("a", "old-primary"); err == nil {
		t.Fatal("the old primary accepted a write after a forced failover")
	}
	if !w.hasNote("a", "after-force") || !w.hasNote("a", "k4") {
		t.Fatal("the old primary did not catch up with the new one")
	}

	// A planned switchover back to a, without a witness.
	out, err = c.cli("failover", "--to", "a", "--workspace", c.config, "--wait", "30s")
	if err != nil || !strings.Contains(out, "a is the primary") {
		t.Fatalf("planned switchover to a: %v\n%s", err, out)
	}
	e3 := c.waitRoles("a", e2+1)
	if _, err := w.write("a", "after-switchover"); err != nil {
		t.Fatal(err)
	}

	// The primary restarts: it takes its role back (nobody else is primary).
	c.kill("a")
	c.start("a")
	c.waitRoles("a", e3)
	if _, err := w.write("a", "after-restart"); err != nil {
		t.Fatal(err)
	}
	c.waitRoles("a", e3)
	out, err = c.cli("verify", "--workspace", c.config)
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}

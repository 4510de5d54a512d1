//go:build tandemtest

package replication_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/storetest"
)

// The integration tests run real `tandem server` processes on loopback.
var tandemBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tandem-bin")
	if err != nil {
		panic(err)
	}
	tandemBin = filepath.Join(dir, "tandem")
	out, err := exec.Command("go", "build", "-tags", "tandemtest", "-o", tandemBin, "../cmd/tandem").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build tandem: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const peerKey = "integration-test-peer-key-0123456789"

type regionSpec struct {
	name      string
	metadata  string
	artifacts string
	env       []string
}

type cluster struct {
	t      *testing.T
	dir    string
	config string
	specs  []regionSpec
	urls   map[string]string
	mu     sync.Mutex
	procs  map[string]*exec.Cmd
	logs   map[string]*bytes.Buffer
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newCluster writes a workspace file; the first spec is the primary.
// extra is appended to the file (policies, durability, ...).
func newCluster(t *testing.T, extra string, specs ...regionSpec) *cluster {
	c := &cluster{t: t, dir: t.TempDir(), specs: specs, urls: map[string]string{},
		procs: map[string]*exec.Cmd{}, logs: map[string]*bytes.Buffer{}}
	var b strings.Builder
	fmt.Fprintf(&b, "workspace: it\nprimary: %s\npeer_key: {env: TANDEM_IT_PEER_KEY}\n%s\nregions:\n", specs[0].name, extra)
	for _, s := range specs {
		c.urls[s.name] = "http://" + freePort(t)
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n    metadata: %q\n    artifacts: %q\n", s.name, c.urls[s.name], s.metadata, s.artifacts)
	}
	c.config = filepath.Join(c.dir, "workspace.yaml")
	if err := os.WriteFile(c.config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.mu.Lock()
		names := make([]string, 0, len(c.procs))
		for n := range c.procs {
			names = append(names, n)
		}
		c.mu.Unlock()
		for _, n := range names {
			c.kill(n)
		}
		if t.Failed() {
			for n, l := range c.logs {
				t.Logf("--- log of %s ---\n%s", n, tail(l.String(), 6000))
			}
		}
	})
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (c *cluster) spec(name string) regionSpec {
	for _, s := range c.specs {
		if s.name == name {
			return s
		}
	}
	c.t.Fatalf("no region %s", name)
	return regionSpec{}
}

type syncBuf struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }

// start starts a region's process and waits until it answers /health.
func (c *cluster) start(name string) {
	c.t.Helper()
	s := c.spec(name)
	cmd := exec.Command(tandemBin, "server", "--config", c.config, "--region", name, "--log-level", "debug", "--no-auth")
	cmd.Env = append(os.Environ(), "TANDEM_TEST_OPS=1", "TANDEM_IT_PEER_KEY="+peerKey)
	cmd.Env = append(cmd.Env, s.env...)
	c.mu.Lock()
	if c.logs[name] == nil {
		c.logs[name] = &bytes.Buffer{}
	}
	w := &syncBuf{b: c.logs[name]}
	c.mu.Unlock()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.procs[name] = cmd
	c.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(c.urls[name] + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("region %s did not start", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// following waits until a secondary has finished its bootstrap and names
// the primary it follows.
func (c *cluster) following(name string) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := c.status(name)
		if st.Role.PrimaryURL != "" && st.Self != nil && (st.Self.Bootstrap == nil || st.Self.Bootstrap.Phase == "done") {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s is not following a primary: %+v", name, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL (kill -9) to a region's process.
func (c *cluster) kill(name string) {
	c.mu.Lock()
	p := c.procs[name]
	delete(c.procs, name)
	c.mu.Unlock()
	if p != nil {
		p.Process.Kill()
		p.Wait()
	}
}

// put writes a test note through region name (forwarded when secondary).
func (c *cluster) put(name, kind, key, value string, blob []byte) (*http.Response, []byte) {
	c.t.Helper()
	var body io.Reader
	if blob != nil {
		body = bytes.NewReader(blob)
	}
	req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/tandem/v1/test/note?kind=%s&key=%s&value=%s", c.urls[name], kind, key, value), body)
	if blob != nil {
		req.ContentLength = int64(len(blob))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

func (c *cluster) mustPut(name, kind, key, value string, blob []byte) {
	c.t.Helper()
	resp, b := c.put(name, kind, key, value, blob)
	if resp.StatusCode != 200 {
		c.t.Fatalf("put %s via %s: %s %s", key, name, resp.Status, b)
	}
}

func (c *cluster) note(name, kind, key string) (string, bool) {
	resp, err := http.Get(fmt.Sprintf("%s/api/tandem/v1/test/note?kind=%s&key=%s", c.urls[name], kind, key))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return "", false
	}
	var v struct{ Value string }
	json.NewDecoder(resp.Body).Decode(&v)
	return v.Value, true
}

func (c *cluster) status(name string) replication.Status {
	c.t.Helper()
	var st replication.Status
	resp, err := http.Get(c.urls[name] + replication.Prefix + "status")
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

// waitFor polls cond every 50ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// caughtUp waits until secondary's head equals primary's.
func (c *cluster) caughtUp(primary, secondary string, d time.Duration) {
	c.t.Helper()
	want := c.status(primary).Head
	waitFor(c.t, d, secondary+" to reach "+want.String(), func() bool {
		st := c.status(secondary)
		booting := st.Self != nil && st.Self.Bootstrap != nil && st.Self.Bootstrap.Phase != "done"
		return st.Head.Seq >= want.Seq && !booting
	})
}

// verify runs `tandem verify` and fails the test when the regions differ.
func (c *cluster) verify() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, tandemBin, "verify", "--workspace", c.config).CombinedOutput()
	if err != nil {
		c.t.Fatalf("tandem verify: %v\n%s", err, out)
	}
	c.t.Logf("tandem verify:\n%s", out)
}

func sqliteSpec(t *testing.T, name string) regionSpec {
	return regionSpec{name: name, metadata: storetest.SQLiteURL(t), artifacts: storetest.FileURL(t)}
}

// pgS3Spec is a PostgreSQL + S3 region, or SQLite + file when the services
// are not running (outside CI).
func pgS3Spec(t *testing.T, name string) regionSpec {
	s := sqliteSpec(t, name)
	if u := storetest.PostgresURL(t); u != "" {
		s.metadata = u
	}
	if u := storetest.S3URL(t); u != "" {
		s.artifacts = u
		s.env = []string{"AWS_ACCESS_KEY_ID=" + os.Getenv("AWS_ACCESS_KEY_ID"), "AWS_SECRET_ACCESS_KEY=" + os.Getenv("AWS_SECRET_ACCESS_KEY")}
	}
	t.Logf("region %s: metadata %s, artifacts %s", name, strings.SplitN(s.metadata, ":", 2)[0], strings.SplitN(s.artifacts, ":", 2)[0])
	return s
}

func blobOf(i, size int) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(i*31 + j*7)
	}
	return b
}

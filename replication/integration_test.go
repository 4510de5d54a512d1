//go:build tandemtest

package replication_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
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

	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
	_ "modernc.org/sqlite"
)

// Three regions: a SQLite primary, a PostgreSQL + S3 secondary and a SQLite
// secondary. Writes through the primary and through a secondary (forwarded,
// read-your-writes), artifacts, status, metrics, verify.
func TestThreeRegions(t *testing.T) {
	c := newCluster(t, "", sqliteSpec(t, "east"), pgS3Spec(t, "west"), sqliteSpec(t, "north"))
	c.start("east")
	for i := range 5 {
		c.mustPut("east", "runs", fmt.Sprintf("pre%d", i), "v", blobOf(i, 1000+i))
	}
	c.start("west")
	c.start("north")
	// A region answers /health before it has learnt who the primary is
	// (until then a write sent to it is a retryable 503, which clients
	// retry): wait for that, as a client's retry would.
	c.following("west")
	// A write sent to a secondary is forwarded; the same secondary then
	// reads it (read-your-writes), and headers name the serving region.
	resp, body := c.put("west", "experiments", "fwd", "hello", []byte("forwarded bytes"))
	if resp.StatusCode != 200 {
		t.Fatalf("forwarded write: %s %s", resp.Status, body)
	}
	if resp.Header.Get("X-Tandem-Region") != "west" || resp.Header.Get("X-Tandem-Role") != "secondary" || resp.Header.Get("X-Tandem-Read-Your-Writes") != "ok" {
		t.Fatalf("headers %v", resp.Header)
	}
	if v, ok := c.note("west", "experiments", "fwd"); !ok || v != "hello" {
		t.Fatalf("read-your-writes: %q %v", v, ok)
	}
	for i := range 20 {
		c.mustPut("north", "models", fmt.Sprintf("m%d", i), "x", nil)
		c.mustPut("east", "runs", fmt.Sprintf("r%d", i), "y", blobOf(i, 5000))
	}
	c.caughtUp("east", "west", 30*time.Second)
	c.caughtUp("east", "north", 30*time.Second)
	st := c.status("east")
	if st.Role.Role != "primary" || len(st.Followers) != 2 {
		t.Fatalf("primary status %+v", st)
	}
	for _, f := range st.Followers {
		if f.LastSeen == nil {
			t.Fatalf("follower %s never seen", f.Region)
		}
	}
	ws := c.status("west")
	if ws.Self == nil || ws.Self.LastApply == nil || ws.Self.Bootstrap == nil {
		t.Fatalf("secondary status %+v", ws.Self)
	}
	resp, err := http.Get(c.urls["east"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `tandem_replication_lag_seconds{region="east",secondary="west"}`) {
		t.Fatalf("metrics lack lag:\n%s", m)
	}
	c.verify()
	// The replication endpoints refuse callers without the peer key.
	resp, err = http.Get(c.urls["east"] + "/api/tandem/v1/replication/journal?after=0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("journal without key: %s", resp.Status)
	}
}

func TestRefuseWritesWhenNotForwarding(t *testing.T) {
	c := newCluster(t, "forward_writes: false", sqliteSpec(t, "east"), sqliteSpec(t, "west"))
	c.start("east")
	c.start("west")
	var e struct {
		ErrorCode string            `json:"error_code"`
		Message   string            `json:"message"`
		Details   map[string]string `json:"details"`
	}
	// Until west has heard who is primary it refuses without naming it:
	// ask again (a refused write changes nothing) until it names east.
	var resp *http.Response
	var body []byte
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, body = c.put("west", "runs", "k", "v", nil)
		json.Unmarshal(body, &e)
		if e.Details["primary_url"] != "" || time.Now().After(deadline) {
			break
		}
	}
	if resp.StatusCode != 503 || e.ErrorCode != "TEMPORARILY_UNAVAILABLE" || e.Details["primary_url"] != c.urls["east"] || !strings.Contains(e.Message, c.urls["east"]) {
		t.Fatalf("%s %s", resp.Status, body)
	}
	if _, ok := c.note("east", "runs", "k"); ok {
		t.Fatal("a refused write reached the primary")
	}
}

// kill -9 of a secondary during bootstrap (artifact phase) and during
// catch-up: it resumes with no duplicates and no holes.
func TestKillSecondaryDuringBootstrapAndCatchUp(t *testing.T) {
	c := newCluster(t, "", sqliteSpec(t, "east"), sqliteSpec(t, "west"))
	c.start("east")
	for i := range 40 {
		c.mustPut("east", "runs", fmt.Sprintf("b%d", i), "v", blobOf(i, 1<<20))
	}
	c.start("west")
	waitFor(t, 30*time.Second, "bootstrap to fetch some artifacts", func() bool {
		b := c.status("west").Self.Bootstrap
		return b != nil && b.Phase == "artifacts" && b.BlobsDone > 0 || b != nil && b.Phase == "done"
	})
	if b := c.status("west").Self.Bootstrap; b.Phase == "done" {
		t.Log("bootstrap finished before the kill; the kill tests catch-up only")
	}
	c.kill("west")
	c.start("west")
	c.caughtUp("east", "west", 60*time.Second)
	if b := c.status("west").Self.Bootstrap; b != nil && b.Phase != "done" {
		t.Fatalf("bootstrap not done: %+v", b)
	}
	c.verify()

	// Catch-up: the secondary is down while the primary writes, then killed
	// while applying the backlog.
	c.kill("west")
	for i := range 300 {
		var blob []byte
		if i%10 == 0 {
			blob = blobOf(i, 64<<10)
		}
		c.mustPut("east", "runs", fmt.Sprintf("c%d", i), "v", blob)
	}
	c.start("west")
	head := c.status("east").Head.Seq
	waitFor(t, 30*time.Second, "catch-up to start", func() bool { return c.status("west").Head.Seq > head-300 })
	c.kill("west")
	c.start("west")
	c.caughtUp("east", "west", 60*time.Second)
	c.verify()
}

// An artifact corrupted in transit is detected, retried and never applied.
func TestCorruptBlobInTransit(t *testing.T) {
	east := sqliteSpec(t, "east")
	east.env = []string{"TANDEM_TEST_CORRUPT_BLOBS=3"}
	c := newCluster(t, "", east, sqliteSpec(t, "west"))
	c.start("east")
	c.start("west")
	c.mustPut("east", "runs", "good-after-bad", "v", blobOf(7, 256<<10))
	c.caughtUp("east", "west", 30*time.Second)
	c.mu.Lock()
	logged := c.logs["west"].String()
	c.mu.Unlock()
	if !strings.Contains(logged, "sha256") {
		t.Fatalf("the secondary should log the digest mismatch:\n%s", grep(logged, "replication"))
	}
	// Replication works again: status no longer shows the error.
	if st := c.status("west"); st.Self.LastError != "" || st.Self.LastErrorAt != nil {
		t.Fatalf("a caught-up secondary still reports its last error %q", st.Self.LastError)
	}
	resp, err := http.Get(c.urls["west"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), "tandem_replication_blob_errors_total 3") {
		t.Fatalf("want 3 blob errors:\n%s", grep(string(m), "blob_errors"))
	}
	c.verify() // the stored artifact has the recorded digest
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The primary restarts (kill -9) while the secondary streams from it.
func TestPrimaryRestartMidStream(t *testing.T) {
	c := newCluster(t, "", sqliteSpec(t, "east"), pgS3Spec(t, "west"))
	c.start("east")
	c.start("west")
	var wg sync.WaitGroup
	wg.Add(1)
	stop := make(chan struct{})
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/tandem/v1/test/note?kind=runs&key=s%d&value=v", c.urls["east"], i), strings.NewReader(fmt.Sprint(i)))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	time.Sleep(700 * time.Millisecond)
	c.kill("east")
	time.Sleep(300 * time.Millisecond)
	c.start("east")
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	c.caughtUp("east", "west", 30*time.Second)
	c.verify()
}

// Sync durability: with the only secondary down, on_no_ack: fail answers
// TEMPORARILY_UNAVAILABLE; with it up, writes are acknowledged once applied.
func TestSyncDurability(t *testing.T) {
	c := newCluster(t, "durability: {mode: sync, timeout: 1s, on_no_ack: fail}", sqliteSpec(t, "east"), sqliteSpec(t, "west"))
	c.start("east")
	resp, body := c.put("east", "runs", "unacked", "v", nil)
	if resp.StatusCode != 503 || !strings.Contains(string(body), "TEMPORARILY_UNAVAILABLE") {
		t.Fatalf("sync write without a secondary: %s %s", resp.Status, body)
	}
	c.start("west")
	for i := range 10 {
		resp, body := c.put("east", "runs", fmt.Sprintf("acked%d", i), "v", []byte("x"))
		if resp.StatusCode != 200 {
			t.Fatalf("sync write: %s %s", resp.Status, body)
		}
		// Acknowledged means the secondary has it now.
		if _, ok := c.note("west", "runs", fmt.Sprintf("acked%d", i)); !ok {
			t.Fatalf("acked write %d not on the secondary", i)
		}
	}
	c.verify()
}

// Policies: models are not replicated (none), runs in periodic snapshots.
func TestPolicies(t *testing.T) {
	c := newCluster(t, "replication: {kinds: {models: none, runs: {policy: snapshot, interval: 2s}}}", sqliteSpec(t, "east"), sqliteSpec(t, "west"))
	c.start("east")
	c.start("west")
	// The bootstrap copies test_notes whole (one table for every kind's
	// test notes), so the policies are tested on entries written after it.
	c.following("west")
	c.mustPut("east", "models", "m", "v", []byte("model bytes"))
	c.mustPut("east", "runs", "r", "v", []byte("run bytes"))
	c.mustPut("east", "experiments", "e", "v", nil)
	c.caughtUp("east", "west", 30*time.Second)
	if _, ok := c.note("west", "experiments", "e"); !ok {
		t.Fatal("continuous kind not replicated")
	}
	if _, ok := c.note("west", "models", "m"); ok {
		t.Fatal("policy none kind was replicated")
	}
	if lack := c.status("west").Self.Lacking; lack["models"] != 1 {
		t.Fatalf("secondary should say it lacks 1 models entry: %v", lack)
	}
	waitFor(t, 10*time.Second, "snapshot kind to arrive", func() bool { _, ok := c.note("west", "runs", "r"); return ok })
	if d := c.status("west").Self.Deferred; d["runs"] != 0 {
		t.Fatalf("deferred after snapshot: %v", d)
	}
	c.verify()
}

// verify reports the first difference when a secondary's table or artifact
// was changed behind tandem's back.
func TestVerifyFindsDifferences(t *testing.T) {
	west := sqliteSpec(t, "west")
	c := newCluster(t, "", sqliteSpec(t, "east"), west)
	c.start("east")
	c.start("west")
	c.mustPut("east", "runs", "k", "v", []byte("artifact bytes"))
	c.caughtUp("east", "west", 30*time.Second)
	c.verify()

	// Tamper with the stored artifact.
	path := strings.TrimPrefix(west.artifacts, "file://") + "/test-notes/runs/k"
	if err := os.WriteFile(path, []byte("tampered bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tandemBin, "verify", "--workspace", c.config).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "test-notes/runs/k") {
		t.Fatalf("verify should name the tampered artifact: %v\n%s", err, out)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
		t.Fatalf("exit code: %v", err)
	}
	// Tamper with a table.
	c.kill("west")
	db, err := sql.Open("sqlite", strings.TrimPrefix(west.metadata, "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE test_notes SET value = 'changed'`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	c.start("west")
	out, _ = exec.Command(tandemBin, "verify", "--workspace", c.config, "--artifacts=false").CombinedOutput()
	if !strings.Contains(string(out), "first difference: table test_notes") {
		t.Fatalf("verify should name the table: %s", out)
	}
}

// A region that is unreachable for a while (its process frozen with
// SIGSTOP, as in a network partition) and then back.
func TestRegionUnreachableThenBack(t *testing.T) {
	c := newCluster(t, "", sqliteSpec(t, "east"), sqliteSpec(t, "west"))
	c.start("east")
	c.start("west")
	c.mustPut("east", "runs", "before", "v", nil)
	c.caughtUp("east", "west", 30*time.Second)
	c.signal("west", syscall.SIGSTOP)
	for i := range 50 {
		c.mustPut("east", "runs", fmt.Sprintf("gap%d", i), "v", blobOf(i, 1000))
	}
	// The primary knows a follower's position from its last journal request:
	// it may not yet have heard of "before" being applied, hence 50 or 51.
	if st := c.status("east"); st.Followers[0].LagEntries != 50 && st.Followers[0].LagEntries != 51 {
		t.Fatalf("primary should see 50 entries of lag: %+v", st.Followers[0])
	}
	c.signal("west", syscall.SIGCONT)
	c.caughtUp("east", "west", 30*time.Second)
	c.signal("east", syscall.SIGSTOP)
	time.Sleep(2 * time.Second)
	c.signal("east", syscall.SIGCONT)
	c.mustPut("east", "runs", "after", "v", nil)
	c.caughtUp("east", "west", 30*time.Second)
	c.verify()
}

func (c *cluster) signal(name string, sig os.Signal) {
	c.mu.Lock()
	p := c.procs[name]
	c.mu.Unlock()
	if err := p.Process.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
}

// tandem up starts two regions that replicate, writes .tandem/config.json,
// and stops both on Ctrl-C (SIGINT).
func TestUp(t *testing.T) {
	dir := t.TempDir()
	var addr string
	for { // the second region takes the next port, the witness the one after
		addr = freePort(t)
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		ln1, err1 := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p+1)))
		ln2, err2 := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p+2)))
		if ln1 != nil {
			ln1.Close()
		}
		if ln2 != nil {
			ln2.Close()
		}
		if err1 == nil && err2 == nil {
			break
		}
	}
	up := exec.Command(tandemBin, "up", "--dir", filepath.Join(dir, "data"), "--listen", addr, "--no-auth")
	up.Dir = dir
	up.Env = append(os.Environ(), "TANDEM_TEST_OPS=1")
	var out syncBuf
	out.b = &bytes.Buffer{}
	up.Stdout, up.Stderr = &out, &out
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	defer up.Process.Kill()
	var lc struct {
		Workspace string
		Endpoints []string
	}
	waitFor(t, 30*time.Second, "tandem up to write .tandem/config.json", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, ".tandem", "config.json"))
		return err == nil && json.Unmarshal(b, &lc) == nil
	})
	if lc.Workspace != "local" || len(lc.Endpoints) != 2 {
		t.Fatalf("config.json: %+v", lc)
	}
	c := &cluster{t: t, urls: map[string]string{"east": lc.Endpoints[0], "west": lc.Endpoints[1]}}
	c.mustPut("west", "runs", "via-west", "v", []byte("bytes"))
	if _, ok := c.note("east", "runs", "via-west"); !ok {
		t.Fatal("forwarded write not on the primary")
	}
	st := exec.Command(tandemBin, "status")
	st.Dir = dir
	if b, err := st.CombinedOutput(); err != nil || !strings.Contains(string(b), "secondary") ||
		!strings.Contains(string(b), "automatic") || !strings.Contains(string(b), "east@") {
		// the built-in witness runs: the primary holds its lease, failover is automatic
		t.Fatalf("tandem status: %v\n%s", err, b)
	}
	waitFor(t, 10*time.Second, "tandem verify to pass", func() bool {
		v := exec.Command(tandemBin, "verify")
		v.Dir = dir
		return v.Run() == nil
	})
	out.mu.Lock()
	printed := out.b.String()
	out.mu.Unlock()
	for _, u := range lc.Endpoints {
		if !strings.Contains(printed, u) {
			t.Fatalf("tandem up did not print %s:\n%s", u, printed)
		}
	}
	up.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- up.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tandem up exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tandem up did not stop on SIGINT")
	}
	for _, u := range lc.Endpoints {
		if resp, err := http.Get(u + "/health"); err == nil {
			resp.Body.Close()
			t.Fatalf("region %s still answers after Ctrl-C", u)
		}
	}
}

// on_no_ack: degrade acknowledges without a secondary and reports it.
func TestSyncDegrade(t *testing.T) {
	c := newCluster(t, "durability: {mode: sync, timeout: 500ms, on_no_ack: degrade}", sqliteSpec(t, "east"), sqliteSpec(t, "west"))
	c.start("east")
	c.mustPut("east", "runs", "a", "v", nil)
	if !c.status("east").Degraded {
		t.Fatal("primary should report degraded durability")
	}
	c.start("west")
	c.caughtUp("east", "west", 30*time.Second)
	waitFor(t, 10*time.Second, "sync durability to be restored", func() bool { return !c.status("east").Degraded })
	c.mustPut("east", "runs", "b", "v", nil)
	if _, ok := c.note("west", "runs", "b"); !ok {
		t.Fatal("acknowledged sync write not on the secondary")
	}
}

// An artifact overwritten on the primary before a secondary fetched the
// first version: the secondary must not wait forever for bytes the primary
// no longer has.
func TestOverwrittenArtifactDoesNotWedge(t *testing.T) {
	c := newCluster(t, "", sqliteSpec(t, "east"), sqliteSpec(t, "west"))
	c.start("east")
	c.start("west")
	c.caughtUp("east", "west", 30*time.Second)
	c.kill("west")
	c.mustPut("east", "runs", "k", "one", []byte("first version"))
	c.mustPut("east", "runs", "k", "two", []byte("second version, longer"))
	c.start("west")
	c.caughtUp("east", "west", 30*time.Second)
	if v, _ := c.note("west", "runs", "k"); v != "two" {
		t.Fatalf("value %q", v)
	}
	c.verify()
}

// A PostgreSQL + S3 primary bootstraps and feeds a SQLite + file secondary.
func TestPostgresPrimary(t *testing.T) {
	c := newCluster(t, "", pgS3Spec(t, "east"), sqliteSpec(t, "west"))
	c.start("east")
	for i := range 10 {
		c.mustPut("east", "runs", fmt.Sprintf("pre%d", i), "v", blobOf(i, 10000))
	}
	c.start("west")
	for i := range 10 {
		c.mustPut("west", "models", fmt.Sprintf("post%d", i), "v", blobOf(i, 3000))
	}
	c.caughtUp("east", "west", 30*time.Second)
	c.verify()
}

// The stock MLflow client pointed at a secondary: every write is forwarded,
// read back from the secondary, and the regions verify equal.
func TestStockMLflowClientThroughSecondary(t *testing.T) {
	py := mlflowtest.PythonPath(t)
	c := newCluster(t, "", sqliteSpec(t, "east"), pgS3Spec(t, "west"))
	c.start("east")
	c.start("west")
	script := `
import mlflow, os, sys, tempfile
mlflow.set_tracking_uri(sys.argv[1])
exp = mlflow.create_experiment("through-secondary")
with mlflow.start_run(experiment_id=exp) as run:
    mlflow.log_param("lr", 0.1)
    for i in range(10):
        mlflow.log_metric("loss", 1.0/(i+1), step=i)
    d = tempfile.mkdtemp(); p = os.path.join(d, "weights.bin"); open(p, "wb").write(os.urandom(300000))
    mlflow.log_artifact(p)
r = mlflow.get_run(run.info.run_id)
assert r.data.params == {"lr": "0.1"}, r.data.params
assert r.data.metrics["loss"] == 0.1, r.data.metrics
assert [a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)] == ["weights.bin"]
c = mlflow.MlflowClient()
c.create_registered_model("m")
c.create_model_version("m", "runs:/%s/weights.bin" % run.info.run_id, run_id=run.info.run_id)
assert [m.name for m in mlflow.search_registered_models()] == ["m"]
print("ok")
`
	cmd := exec.Command(py, "-c", script, c.urls["west"])
	cmd.Env = append(os.Environ(), "MLFLOW_HTTP_REQUEST_MAX_RETRIES=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mlflow client: %v\n%s", err, out)
	}
	c.caughtUp("east", "west", 30*time.Second)
	c.verify()
}

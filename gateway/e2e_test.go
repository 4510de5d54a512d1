package gateway_test

import (
	"bytes"
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
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests run the built-in witness, three `tandem server`
// regions (sync durability, lease_ttl 2s) and `tandem gateway --workspace`
// as processes on loopback, and inject faults with signals.
var tandemBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tandem-gw-bin")
	if err != nil {
		panic(err)
	}
	tandemBin = filepath.Join(dir, "tandem")
	if out, err := exec.Command("go", "build", "-o", tandemBin, "../cmd/tandem").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build tandem: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePorts returns n distinct loopback addresses nobody listens on. All n
// listeners are held until the last is open: picked one at a time and
// closed at once, two picks could get the same port (the witness and the
// gateway then collided).
func freePorts(t *testing.T, n int) []string {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out = append(out, ln.Addr().String())
	}
	return out
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

type cluster struct {
	t       *testing.T
	dir     string
	config  string
	names   []string
	urls    map[string]string
	witness string
	gateway string
	mu      sync.Mutex
	procs   map[string]*exec.Cmd
	logs    map[string]*logBuf
}

func newCluster(t *testing.T, names ...string) *cluster {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := &cluster{t: t, dir: t.TempDir(), names: names, urls: map[string]string{}, procs: map[string]*exec.Cmd{}, logs: map[string]*logBuf{}}
	ports := freePorts(t, 2+len(names))
	c.witness, c.gateway = ports[0], ports[1]
	var b strings.Builder
	fmt.Fprintf(&b, `workspace: gwe2e
primary: %s
peer_key: {env: TANDEM_GWE2E_PEER_KEY}
auth: {mode: off}
forward_writes: true
durability: {mode: sync, timeout: 3s, on_no_ack: fail}
witness: http://%s
failover: automatic
lease_ttl: 2s
cooldown: 1s
regions:
`, names[0], c.witness)
	for i, n := range names {
		c.urls[n] = "http://" + ports[2+i]
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n    metadata: %q\n    artifacts: %q\n", n, c.urls[n],
			"sqlite://"+filepath.Join(c.dir, n, "tandem.db"), "file://"+filepath.Join(c.dir, n, "artifacts"))
	}
	c.config = filepath.Join(c.dir, "workspace.yaml")
	if err := os.WriteFile(c.config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, p := range c.procs {
			p.Process.Signal(syscall.SIGCONT)
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
	c.start("witness", "witness", "--listen", c.witness, "--data", filepath.Join(c.dir, "witness"))
	for _, n := range names {
		c.start(n, "server", "--config", c.config, "--region", n)
	}
	c.start("gateway", "gateway", "--workspace", c.config, "--listen", c.gateway, "--check-every", "200ms", "--retry-for", "5m")
	c.waitFor(60*time.Second, "primary "+names[0]+" through the gateway", func() (bool, string) {
		st, err := c.gatewayStatus()
		return err == nil && st.Primary == names[0] && st.Lease == names[0]+"@1", fmt.Sprint(st, err)
	})
	return c
}

func (c *cluster) start(name string, args ...string) {
	cmd := exec.Command(tandemBin, args...)
	cmd.Env = append(os.Environ(), "TANDEM_GWE2E_PEER_KEY=gw-e2e-peer-key-0123456789abcdef", "TANDEM_WITNESS_KEY=gw-e2e-witness-key-0123456789")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.logs[name] = &logBuf{}
	cmd.Stdout, cmd.Stderr = c.logs[name], c.logs[name]
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.procs[name] = cmd
}

func (c *cluster) signal(name string, sig syscall.Signal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.procs[name].Process.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
}

type gwStatus struct {
	Primary string `json:"primary"`
	Lease   string `json:"lease"`
}

var quick = &http.Client{Timeout: time.Second}

func (c *cluster) gatewayStatus() (gwStatus, error) {
	var st gwStatus
	resp, err := quick.Get("http://" + c.gateway + "/api/tandem/v1/gateway/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (c *cluster) waitFor(d time.Duration, what string, cond func() (bool, string)) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("timed out after %s waiting for %s (last: %s)", d, what, last)
}

// reply is one answer as a client saw it.
type reply struct {
	status        int
	region        string
	body          map[string]any
	raw           string
	sent, arrived time.Time
	replayed      string
}

// call sends one MLflow request, with an idempotency key when key is set.
func call(hc *http.Client, method, url, body, key string) (reply, error) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	r := reply{sent: time.Now()}
	resp, err := hc.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r.arrived, r.status, r.raw = time.Now(), resp.StatusCode, string(b)
	r.region, r.replayed = resp.Header.Get("X-Tandem-Region"), resp.Header.Get("Idempotent-Replayed")
	json.Unmarshal(b, &r.body)
	return r, nil
}

// TestGatewayFault: a writer creating experiments through the gateway,
// without pause between requests; the primary is paused (SIGSTOP, held
// until the writer's next acknowledged write) or killed. The writer's
// first acknowledged write after the fault comes from the new primary; a
// request in flight to the paused primary was answered 503 before the
// paused region woke (the writer could not have gone on otherwise), and
// after the lease moved (the gateway gave it up on the lease, not on a
// timeout of its own: --retry-for is 5m).
func TestGatewayFault(t *testing.T) {
	for _, fault := range []string{"pause", "kill"} {
		t.Run(fault, func(t *testing.T) {
			c := newCluster(t, "a", "b", "c")
			hc := &http.Client{Timeout: 10 * time.Minute}
			var mu sync.Mutex
			var replies []reply
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					r, err := call(hc, "POST", "http://"+c.gateway+"/api/2.0/mlflow/experiments/create", fmt.Sprintf(`{"name": "e-%d"}`, i), "")
					if err != nil {
						r.raw = err.Error()
					}
					mu.Lock()
					replies = append(replies, r)
					mu.Unlock()
				}
			}()
			count := func() int { mu.Lock(); defer mu.Unlock(); return len(replies) }
			c.waitFor(20*time.Second, "writes through the gateway", func() (bool, string) { return count() > 20, "" })
			faultAt := time.Now()
			if fault == "pause" {
				c.signal("a", syscall.SIGSTOP)
			} else {
				c.signal("a", syscall.SIGKILL)
			}
			// The first write acknowledged after the fault by a region
			// other than a (the writer is sequential: replies are in
			// arrival order).
			var first reply
			firstIdx := -1
			c.waitFor(60*time.Second, "a write acknowledged by the new primary", func() (bool, string) {
				mu.Lock()
				defer mu.Unlock()
				for i, r := range replies {
					if r.status == 200 && r.region != "a" && r.arrived.After(faultAt) {
						firstIdx, first = i, r
						return true, ""
					}
				}
				return false, fmt.Sprint(len(replies), " replies")
			})
			if fault == "pause" {
				c.signal("a", syscall.SIGCONT)
			}
			close(stop)
			<-done
			mu.Lock()
			defer mu.Unlock()
			// Every answer between the fault and that ack was a retryable
			// refusal or, for a request a had already answered when it
			// stopped, a's ack; a never acknowledged a request sent after
			// the fault.
			inFlight := 0
			for i, r := range replies[:firstIdx] {
				if !r.arrived.After(faultAt) {
					continue
				}
				if r.sent.Before(faultAt) {
					inFlight++
				}
				switch {
				case r.status == 200 && r.region == "a" && r.sent.Before(faultAt):
				case r.status == http.StatusServiceUnavailable && r.body["error_code"] == "TEMPORARILY_UNAVAILABLE":
				default:
					t.Errorf("request %d around the fault: %d from %q: %s", i, r.status, r.region, r.raw)
				}
			}
			t.Logf("%s: client-side RTO through the gateway %s (first ack after the fault from %s; %d request(s) in flight at the fault)",
				fault, first.arrived.Sub(faultAt).Round(10*time.Millisecond), first.region, inFlight)
		})
	}
}

// TestIdempotentRetryAfterFailover: a create-run applied on the primary
// whose answer the client never got (sent with an idempotency key) is
// retried with the same key after the primary is killed: through the
// gateway to the new primary, and through the remaining secondary (which
// forwards it with its key). Each retry is answered with the original run,
// and the experiment holds exactly one run.
func TestIdempotentRetryAfterFailover(t *testing.T) {
	c := newCluster(t, "a", "b", "c")
	hc := &http.Client{Timeout: time.Minute}
	gw := "http://" + c.gateway + "/api/2.0/mlflow"
	exp, err := call(hc, "POST", gw+"/experiments/create", `{"name": "idem"}`, "")
	if err != nil || exp.status != 200 {
		t.Fatalf("create experiment: %v %+v", err, exp)
	}
	expID, _ := exp.body["experiment_id"].(string)
	body := fmt.Sprintf(`{"experiment_id": %q, "run_name": "once", "start_time": 1700000000000}`, expID)
	const key = "client-retry-key-1"
	orig, err := call(hc, "POST", c.urls["a"]+"/api/2.0/mlflow/runs/create", body, key)
	if err != nil || orig.status != 200 {
		t.Fatalf("create run on a: %v %+v", err, orig)
	}
	runID := runIDOf(orig)
	if runID == "" {
		t.Fatalf("no run id: %s", orig.raw)
	}
	c.signal("a", syscall.SIGKILL) // the answer is "lost" with its primary
	var newPrimary string
	c.waitFor(60*time.Second, "a new primary through the gateway", func() (bool, string) {
		st, err := c.gatewayStatus()
		newPrimary = st.Primary
		return err == nil && st.Primary != "" && st.Primary != "a" && strings.HasPrefix(st.Lease, st.Primary+"@"), fmt.Sprint(st, err)
	})
	other := "b"
	if newPrimary == "b" {
		other = "c"
	}
	for _, via := range []string{gw, c.urls[other] + "/api/2.0/mlflow"} {
		var again reply
		c.waitFor(30*time.Second, "the retry answered via "+via, func() (bool, string) {
			again, err = call(hc, "POST", via+"/runs/create", body, key)
			return err == nil && again.status == 200, fmt.Sprint(err, again.status, again.raw)
		})
		if got := runIDOf(again); got != runID || again.replayed != "true" {
			t.Errorf("retry via %s: run %q (replayed %q), the original %q: %s", via, got, again.replayed, runID, again.raw)
		}
	}
	// A write with the same body and another key is a new run: the key,
	// not the body, makes the retry the same write.
	if r, err := call(hc, "POST", gw+"/runs/create", body, "another-key"); err != nil || r.status != 200 || runIDOf(r) == runID {
		t.Fatalf("another key: %v %+v", err, r)
	}
	search, err := call(hc, "POST", gw+"/runs/search", fmt.Sprintf(`{"experiment_ids": [%q], "max_results": 100}`, expID), "")
	if err != nil || search.status != 200 {
		t.Fatalf("search: %v %+v", err, search)
	}
	runs, _ := search.body["runs"].([]any)
	if len(runs) != 2 {
		t.Fatalf("%d runs in the experiment after the retries, want 2 (the original and the other key's): %s", len(runs), search.raw)
	}
}

func runIDOf(r reply) string {
	run, _ := r.body["run"].(map[string]any)
	info, _ := run["info"].(map[string]any)
	id, _ := info["run_id"].(string)
	return id
}

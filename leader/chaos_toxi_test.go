//go:build tandemtest

package leader_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/testbin"
)

// toxi runs a toxiproxy server (v2.12.0) for one test and the proxies the
// chaos cluster's regions talk through. Proxy names are "FROM>TO": the
// link region FROM uses to reach TO ("w" is the witness). Each region has
// its own workspace file naming these proxies as its peers' and the
// witness's URLs, so every direction of every link can be cut or slowed on
// its own. Clients and the CLI use the direct addresses.
type toxi struct {
	t       *testing.T
	api     *toxiproxy.Client
	proxies map[string]*toxiproxy.Proxy
}

// toxiproxyServer finds the toxiproxy server binary: $TANDEM_TOXIPROXY,
// toxiproxy-server or server in PATH, server in $(go env GOPATH)/bin
// (where `go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0`
// puts it). A candidate must say it is toxiproxy. Without one the test is
// skipped, or fails when TANDEM_REQUIRE_TOXIPROXY=1 (CI).
func toxiproxyServer(t *testing.T) string {
	t.Helper()
	var gobin []string
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			gobin = append(gobin, filepath.Join(dir, "bin", "server"))
		}
	}
	return testbin.Find(t, testbin.Tool{Name: "toxiproxy server", Env: "TANDEM_TOXIPROXY",
		Repo: gobin, Path: []string{"toxiproxy-server", "server"}, Require: "TANDEM_REQUIRE_TOXIPROXY",
		Hint: "go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0",
		Accept: func(p string) bool {
			out, err := exec.Command(p, "-version").CombinedOutput()
			return err == nil && strings.Contains(string(out), "toxiproxy")
		}})
}

func startToxiproxy(t *testing.T) *toxi {
	t.Helper()
	bin := toxiproxyServer(t)
	for attempt := 0; ; attempt++ {
		addr := freePort(t)
		host, port, _ := strings.Cut(addr, ":")
		cmd := exec.Command(bin, "-host", host, "-port", port)
		log := &lockedBuf{}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tp := &toxi{t: t, api: toxiproxy.NewClient(addr), proxies: map[string]*toxiproxy.Proxy{}}
		ready := false
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if _, err := tp.api.Proxies(); err == nil {
				ready = true
				break
			}
			if strings.Contains(log.String(), "address already in use") {
				break
			}
		}
		if !ready {
			cmd.Process.Kill()
			cmd.Wait()
			if attempt < 3 {
				continue
			}
			t.Fatalf("toxiproxy did not start:\n%s", log.String())
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
		return tp
	}
}

// proxy creates proxy name to upstream on a free loopback port and returns
// its listen address.
func (tp *toxi) proxy(name, upstream string) string {
	tp.t.Helper()
	p, err := tp.api.CreateProxy(name, "127.0.0.1:0", upstream)
	if err != nil {
		tp.t.Fatalf("toxiproxy: create %s: %v", name, err)
	}
	tp.proxies[name] = p
	return p.Listen
}

// links returns the names of the proxies that match: from and to are a
// region name, "w" or "*".
func (tp *toxi) links(from, to string) []string {
	var out []string
	for n := range tp.proxies {
		f, d, _ := strings.Cut(n, ">")
		if (from == "*" || from == f) && (to == "*" || to == d) {
			out = append(out, n)
		}
	}
	return out
}

// cut disables the named proxies: connections through them are closed and
// new ones refused (a partition), until heal.
func (tp *toxi) cut(names ...string) {
	tp.t.Helper()
	for _, n := range names {
		if err := tp.proxies[n].Disable(); err != nil {
			tp.t.Fatalf("toxiproxy: disable %s: %v", n, err)
		}
	}
}

// stall holds every byte sent through the named proxies (both
// directions) until heal, which delivers them late: a partition that drops
// nothing, so requests sent before it arrive after it, long after their
// senders gave up.
func (tp *toxi) stall(names ...string) {
	tp.t.Helper()
	for _, n := range names {
		for _, stream := range []string{"upstream", "downstream"} {
			if _, err := tp.proxies[n].AddToxic("stall-"+stream, "timeout", stream, 1, toxiproxy.Attributes{"timeout": 0}); err != nil {
				tp.t.Fatalf("toxiproxy: stall %s: %v", n, err)
			}
		}
	}
}

// heal enables every proxy again and removes every toxic.
func (tp *toxi) heal() {
	tp.t.Helper()
	for n, p := range tp.proxies {
		if !p.Enabled {
			if err := p.Enable(); err != nil {
				tp.t.Fatalf("toxiproxy: enable %s: %v", n, err)
			}
		}
		ts, err := p.Toxics()
		if err != nil {
			tp.t.Fatalf("toxiproxy: toxics of %s: %v", n, err)
		}
		for _, x := range ts {
			if err := p.RemoveToxic(x.Name); err != nil {
				tp.t.Fatalf("toxiproxy: remove %s from %s: %v", x.Name, n, err)
			}
		}
	}
}

// slow adds latency (± jitter) in both directions of the named proxies.
func (tp *toxi) slow(latency, jitter time.Duration, names ...string) {
	tp.t.Helper()
	for _, n := range names {
		for _, stream := range []string{"upstream", "downstream"} {
			_, err := tp.proxies[n].AddToxic("latency-"+stream, "latency", stream, 1,
				toxiproxy.Attributes{"latency": latency.Milliseconds(), "jitter": jitter.Milliseconds()})
			if err != nil {
				tp.t.Fatalf("toxiproxy: latency on %s: %v", n, err)
			}
		}
	}
}

// newChaosCluster is newCluster whose regions reach each other and the
// witness through tp: region X's workspace file names the proxy "X>Y" as
// region Y's URL and "X>w" as the witness. c.config keeps the direct
// addresses for clients and the CLI. Regions forward writes. The second region keeps its metadata
// in PostgreSQL when TANDEM_TEST_POSTGRES is set.
func newChaosCluster(t *testing.T, tp *toxi, durability string, names ...string) *cluster {
	t.Helper()
	c := newCluster(t, durability, map[string]string{names[1]: storetest.PostgresURL(t)}, names...)
	base, err := os.ReadFile(c.config)
	if err != nil {
		t.Fatal(err)
	}
	c.regionConfigs = map[string]string{}
	for _, x := range names {
		// Secondaries forward writes to the primary (through the proxies).
		s := strings.Replace(string(base), "forward_writes: false\n", "forward_writes: true\n", 1)
		from := "witness: http://" + c.witness + "\n"
		if !strings.Contains(s, from) {
			t.Fatalf("workspace file has no %q", from)
		}
		s = strings.Replace(s, from, "witness: http://"+tp.proxy(x+">w", c.witness)+"\n", 1)
		for _, y := range names {
			if y == x {
				continue
			}
			from := "url: " + c.urls[y] + "\n"
			if !strings.Contains(s, from) {
				t.Fatalf("workspace file has no %q", from)
			}
			s = strings.Replace(s, from, "url: http://"+tp.proxy(x+">"+y, strings.TrimPrefix(c.urls[y], "http://"))+"\n", 1)
		}
		p := filepath.Join(c.dir, "workspace-"+x+".yaml")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		c.regionConfigs[x] = p
	}
	return c
}

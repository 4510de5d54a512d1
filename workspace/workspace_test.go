package workspace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

const good = `
workspace: demo
primary: east
peer_key: {env: TANDEM_TEST_PEER_KEY}
durability: {mode: sync, timeout: 2s, on_no_ack: degrade}
forward_writes: false
replication:
  default: continuous
  kinds:
    runs: {policy: snapshot, interval: 10m}
    models: none
    experiments: snapshot 30s
regions:
  - name: east
    url: http://127.0.0.1:5000
    metadata: sqlite:///tmp/east.db
    artifacts: file:///tmp/east
  - name: west
    url: http://127.0.0.1:5001/
    listen: 127.0.0.1:6001
    metadata: postgres://u:secret@db/tandem
    artifacts: s3://bucket?region=x
failover: automatic
witness: http://127.0.0.1:5100
lease_ttl: 3s
`

func TestParseGood(t *testing.T) {
	w, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != "demo" || w.Primary != "east" || len(w.Regions) != 2 || w.ForwardWrites {
		t.Fatalf("%+v", w)
	}
	if w.Regions[0].Listen != "127.0.0.1:5000" || w.Regions[1].Listen != "127.0.0.1:6001" || w.Regions[1].URL != "http://127.0.0.1:5001" {
		t.Fatalf("regions %+v", w.Regions)
	}
	if p := w.Policy(tandem.KindRuns); p.Policy != Snapshot || p.Interval != 10*time.Minute {
		t.Fatalf("runs %+v", p)
	}
	if p := w.Policy(tandem.KindExperiments); p.Policy != Snapshot || p.Interval != 30*time.Second {
		t.Fatalf("experiments %+v", p)
	}
	if w.Policy(tandem.KindModels).Policy != None || w.Policy(tandem.KindData).Policy != Continuous {
		t.Fatal("policies")
	}
	if w.Durability != (Durability{Mode: Sync, Timeout: 2 * time.Second, OnNoAck: OnNoAckDegrade}) {
		t.Fatalf("%+v", w.Durability)
	}
	if w.Failover != "automatic" || w.LeaseTTL != 3*time.Second || w.Cooldown != 5*time.Minute {
		t.Fatalf("failover %+v", w)
	}
	t.Setenv("TANDEM_TEST_PEER_KEY", "0123456789abcdef0123")
	if k, err := w.Key(); err != nil || string(k) != "0123456789abcdef0123" {
		t.Fatal(k, err)
	}
}

func TestKeyFromFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "peer.key"), []byte("abcdefghijklmnopqrstuvwxyz\n"), 0o600)
	y := strings.Replace(good, "{env: TANDEM_TEST_PEER_KEY}", "{file: peer.key}", 1)
	os.WriteFile(filepath.Join(dir, "ws.yaml"), []byte(y), 0o600)
	w, err := Load(filepath.Join(dir, "ws.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if k, err := w.Key(); err != nil || string(k) != "abcdefghijklmnopqrstuvwxyz" {
		t.Fatal(string(k), err)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	cases := []struct{ from, to, want string }{
		{"workspace: demo", "workspace: Demo!", "workspace:"},
		{"workspace: demo", "workspace: demo\nbogus: 1", "bogus"},
		{"primary: east", "primary: north", "primary:"},
		{"    metadata: sqlite:///tmp/east.db\n", "", "regions[0].metadata: required"},
		{"artifacts: s3://bucket?region=x", "artifacts: ftp://x", "regions[1].artifacts"},
		{"url: http://127.0.0.1:5001/", "url: 127.0.0.1:5001", "regions[1].url"},
		{"  - name: west", "  - name: east", "regions[1].name"},
		{"mode: sync", "mode: eventually", "durability.mode"},
		{"on_no_ack: degrade", "on_no_ack: shrug", "durability.on_no_ack"},
		{"timeout: 2s", "timeout: soon", "durability.timeout"},
		{"runs: {policy: snapshot, interval: 10m}", "runs: {policy: snapshot}", "replication.kinds.runs.interval"},
		{"models: none", "models: sometimes", "replication.kinds.models.policy"},
		{"models: none", "widgets: none", "replication.kinds.widgets"},
		{"peer_key: {env: TANDEM_TEST_PEER_KEY}\n", "", "peer_key"},
		{"failover: automatic\nwitness: http://127.0.0.1:5100", "failover: automatic", "failover"},
		{"lease_ttl: 3s", "lease_ttl: -3s", "lease_ttl"},
	}
	for _, c := range cases {
		y := strings.Replace(good, c.from, c.to, 1)
		if y == good {
			t.Fatalf("case %q did not change the file", c.from)
		}
		_, err := Parse([]byte(y))
		if err == nil || tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q -> %q: err = %v; want EINVALID naming %q", c.from, c.to, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("error leaks a password: %v", err)
		}
	}
}

func TestKeyMissing(t *testing.T) {
	w, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TANDEM_TEST_PEER_KEY", "")
	if _, err := w.Key(); tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), "TANDEM_TEST_PEER_KEY") {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("workspace: x\nregions: [{name: a, url: 'http://h:1', metadata: 'sqlite://a.db', artifacts: 'file://a'}]"))
	f.Add([]byte("replication: {kinds: {runs: snapshot}}"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := Parse(b)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("error is not EINVALID: %v", err)
			}
			return
		}
		if w.Name == "" || len(w.Regions) == 0 || w.Primary == "" {
			t.Fatalf("accepted an incomplete workspace: %+v", w)
		}
		if _, err := w.Region(w.Primary); err != nil {
			t.Fatal(err)
		}
	})
}

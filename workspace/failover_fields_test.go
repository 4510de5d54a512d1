package workspace

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tandemml/tandem"
)

const failoverBase = `workspace: w
primary: a
peer_key: {env: X}
witness: http://127.0.0.1:7700
failover: automatic
regions:
  - {name: a, url: "http://127.0.0.1:1", metadata: "sqlite:///a.db", artifacts: "file:///a"}
  - {name: b, url: "http://127.0.0.1:2", metadata: "sqlite:///b.db", artifacts: "file:///b"}
`

func TestFailoverFields(t *testing.T) {
	w, err := Parse([]byte(failoverBase))
	if err != nil {
		t.Fatal(err)
	}
	if w.MaxLagEntries != -1 {
		t.Errorf("default max lag %d, want -1 (no limit)", w.MaxLagEntries)
	}
	w, err = Parse([]byte(failoverBase + "max_lag_on_failover: 100\n"))
	if err != nil || w.MaxLagEntries != 100 {
		t.Fatalf("max_lag_on_failover: 100 -> %v %v", w, err)
	}
	for _, bad := range []string{"max_lag_on_failover: -3\n", "max_lag_on_failover: lots\n", "witness_key: {file: a, env: B}\n"} {
		if _, err := Parse([]byte(failoverBase + bad)); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("%q: got %v, want EINVALID", bad, err)
		}
	}
}

func TestWitnessKeyValue(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "w.key"), []byte("  secret-witness-key\n"), 0o600)
	path := filepath.Join(dir, "workspace.yaml")
	os.WriteFile(path, []byte(failoverBase+"witness_key: {file: w.key}\n"), 0o600)
	w, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := w.WitnessKeyValue(); err != nil || k != "secret-witness-key" {
		t.Fatalf("file key: %q %v", k, err)
	}
	t.Setenv("TANDEM_WITNESS_KEY", "")
	w.WitnessKey = PeerKey{}
	if _, err := w.WitnessKeyValue(); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("no key: %v, want EINVALID", err)
	}
	t.Setenv("TANDEM_WITNESS_KEY", "from-env")
	if k, _ := w.WitnessKeyValue(); k != "from-env" {
		t.Fatalf("env key: %q", k)
	}
}

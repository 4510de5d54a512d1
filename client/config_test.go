package client_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
)

// TestConfigDiscovery: --config, then TANDEM_CONFIG, then .tandem/config.json
// in the folder or a parent, then ~/.tandem/config.json.
func TestConfigDiscovery(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "home")
	proj := filepath.Join(root, "proj")
	deep := filepath.Join(proj, "a", "b", "c")
	os.MkdirAll(deep, 0o755)
	write := func(dir, ws string) string {
		p, err := client.WriteConfig(dir, &client.Config{Workspace: ws, Endpoints: []string{"http://127.0.0.1:1", "http://127.0.0.1:2"}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	find := func(l client.Lookup) string {
		t.Helper()
		p, err := client.FindConfig(l)
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.LoadConfig(p)
		if err != nil {
			t.Fatal(err)
		}
		return c.Workspace
	}
	if _, err := client.FindConfig(client.Lookup{Cwd: deep, Home: home}); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("nothing to find: %v", err)
	}
	write(home, "from-home")
	if got := find(client.Lookup{Cwd: deep, Home: home}); got != "from-home" {
		t.Fatalf("got %s", got)
	}
	write(proj, "from-project")
	if got := find(client.Lookup{Cwd: deep, Home: home}); got != "from-project" {
		t.Fatalf("nested folder found %s", got)
	}
	write(filepath.Join(proj, "a"), "from-a")
	if got := find(client.Lookup{Cwd: deep, Home: home}); got != "from-a" {
		t.Fatalf("nearest parent: %s", got)
	}
	envPath := write(filepath.Join(root, "env"), "from-env")
	if got := find(client.Lookup{Env: envPath, Cwd: deep, Home: home}); got != "from-env" {
		t.Fatalf("TANDEM_CONFIG: %s", got)
	}
	explicit := write(filepath.Join(root, "x"), "explicit")
	if got := find(client.Lookup{Explicit: explicit, Env: envPath, Cwd: deep, Home: home}); got != "explicit" {
		t.Fatalf("--config: %s", got)
	}
	if _, err := client.FindConfig(client.Lookup{Explicit: filepath.Join(root, "missing.json"), Cwd: deep}); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("missing --config must not fall through: %v", err)
	}
	// FromConfig uses the same discovery through TANDEM_CONFIG.
	t.Setenv("TANDEM_CONFIG", envPath)
	c, err := client.FromConfig(t.Context())
	if err != nil || c.Config().Workspace != "from-env" || c.TrackingURI() != "http://127.0.0.1:1" {
		t.Fatalf("FromConfig: %+v %v", c, err)
	}
	// Bad files are EINVALID with the path.
	bad := filepath.Join(root, "bad.json")
	os.WriteFile(bad, []byte(`{"workspace":"w","endpoints":["http://x"],"password":"p"}`), 0o644)
	if _, err := client.LoadConfig(bad); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("unknown field: %v", err)
	}
	os.WriteFile(bad, []byte(`{"workspace":"w","endpoints":["http://user:pw@x"]}`), 0o644)
	if _, err := client.LoadConfig(bad); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("credentials in endpoint: %v", err)
	}
}

// FuzzLoadConfig: the config parser never panics and accepts only valid
// configs.
func FuzzLoadConfig(f *testing.F) {
	f.Add([]byte(`{"workspace":"w","endpoints":["http://127.0.0.1:5000"],"auth":{"type":"none"}}`))
	f.Add([]byte(`{"workspace":"w","endpoints":["https://a","http://b:1/x"],"auth":{"type":"bearer_env","token_env":"T"}}`))
	f.Add([]byte(`{"workspace":"","endpoints":[]}`))
	f.Add([]byte(`[]`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "config.json")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := client.LoadConfig(p)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("code %s: %v", tandem.ErrorCode(err), err)
			}
			return
		}
		if c.Validate() != nil || len(c.Endpoints) == 0 {
			t.Fatalf("accepted an invalid config: %+v", c)
		}
	})
}

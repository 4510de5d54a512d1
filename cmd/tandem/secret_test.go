package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem/keyvault"
	"github.com/tandemml/tandem/leader"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/workspace"
)

// TestVaultFailover runs a witness and two `tandem server` processes that
// share one workspace key (secrets.keeper in workspace.yaml, as tandem up
// writes it). On the primary: vault secrets set through the CLI (stdin and
// --value-file), S3 datastores whose credentials reference them and one
// with inline credentials. `tandem datastore check` makes the server open
// the credentials and list the S3 bucket with them (the servers have no
// AWS credentials of their own, and a datastore referring to a wrong
// secret fails). The primary is killed; on the new primary the same checks
// pass, so the replicated ciphertexts open with the shared key. The old
// primary restarted with another key refuses to start (key check in its
// own database), and so does a fresh region with another key once the key
// check arrives by replication. At the end no secret value appears in any
// CLI output, log, database file (journal included) or export bundle.
func TestVaultFailover(t *testing.T) {
	s3u := storetest.S3URL(t)
	if s3u == "" {
		t.Skip("needs the S3 test server (TANDEM_TEST_S3)")
	}
	keyID, secretKey := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if keyID == "" || secretKey == "" {
		t.Skip("needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY of the S3 test server")
	}
	u, err := url.Parse(s3u)
	if err != nil {
		t.Fatal(err)
	}
	bucket, endpoint, s3region := u.Host, u.Query().Get("endpoint"), u.Query().Get("region")
	canary := "vault-canary-" + fmt.Sprint(time.Now().UnixNano())
	wrong := "wrong-secret-" + fmt.Sprint(time.Now().UnixNano())
	values := []string{secretKey, canary, wrong}

	dir := t.TempDir()
	bin := filepath.Join(dir, "tandem")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, k := range []string{"workspace.key", "other.key"} {
		if err := keyvault.WriteKeyFile(filepath.Join(dir, k)); err != nil {
			t.Fatal(err)
		}
	}
	port := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	witness := port()
	urls := map[string]string{"east": "http://" + port(), "west": "http://" + port()}
	writeWS := func(name, keyFile, eastDB string) string {
		body := fmt.Sprintf(`workspace: vault
primary: east
peer_key: {env: TANDEM_VAULT_PEER_KEY}
auth: {mode: off}
secrets: {keeper: {file: %s}}
forward_writes: true
durability: {mode: async}
witness: http://%s
failover: automatic
lease_ttl: 2s
cooldown: 1s
regions:
  - {name: east, url: %s, metadata: 'sqlite://%s', artifacts: 'file://%s'}
  - {name: west, url: %s, metadata: 'sqlite://%s', artifacts: 'file://%s'}
`, keyFile, witness, urls["east"], eastDB, filepath.Join(dir, "east", "artifacts"),
			urls["west"], filepath.Join(dir, "west", "tandem.db"), filepath.Join(dir, "west", "artifacts"))
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := workspace.Load(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	eastDB := filepath.Join(dir, "east", "tandem.db")
	wsPath := writeWS("workspace.yaml", "workspace.key", eastDB)

	// The servers get no AWS credentials: only the datastores' can work.
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "AWS_") {
			env = append(env, e)
		}
	}
	env = append(env, "TANDEM_VAULT_PEER_KEY=vault-test-peer-key-0123456789", "TANDEM_WITNESS_KEY=vault-test-witness-key-0123456789")
	var everything bytes.Buffer // every output and log, grepped at the end
	logs := map[string]*lockedBuffer{}
	procs := map[string]*exec.Cmd{}
	start := func(name string, args ...string) *exec.Cmd {
		c := exec.Command(bin, args...)
		c.Env = env
		logs[name] = &lockedBuffer{}
		c.Stdout, c.Stderr = logs[name], logs[name]
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		procs[name] = c
		return c
	}
	t.Cleanup(func() {
		for _, c := range procs {
			c.Process.Kill()
			c.Wait()
		}
		if t.Failed() {
			for n, l := range logs {
				s := l.String()
				if len(s) > 6000 {
					s = s[len(s)-6000:]
				}
				t.Logf("--- %s ---\n%s", n, s)
			}
		}
	})
	start("witness", "witness", "--listen", witness, "--data", filepath.Join(dir, "witness"))
	for _, n := range []string{"east", "west"} {
		start(n, "server", "--config", wsPath, "--region", n, "--log-level", "debug")
	}
	primary := func() string {
		hc := &http.Client{Timeout: time.Second}
		for _, n := range []string{"east", "west"} {
			var st leader.StatusDoc
			resp, err := hc.Get(urls[n] + leader.Prefix + "status")
			if err != nil {
				continue
			}
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if st.Role.String() == "primary" && st.WritesAllowed {
				return n
			}
		}
		return ""
	}
	waitFor := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("east to be primary", 60*time.Second, func() bool { return primary() == "east" })

	clientDir := t.TempDir()
	cli := func(stdin string, args ...string) (string, error) {
		c := exec.Command(bin, args...)
		c.Dir, c.Env, c.Stdin = clientDir, env, strings.NewReader(stdin)
		out, err := c.CombinedOutput()
		everything.Write(out)
		return string(out), err
	}
	mustCLI := func(stdin string, args ...string) string {
		t.Helper()
		out, err := cli(stdin, args...)
		if err != nil {
			t.Fatalf("tandem %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	mustCLI("", "attach", "--workspace", "vault", "--endpoint", urls["east"], "--endpoint", urls["west"], "--path", clientDir)
	keyIDFile := filepath.Join(dir, "key-id")
	os.WriteFile(keyIDFile, []byte(keyID), 0o600)
	mustCLI("", "secret", "set", "s3-key-id", "--value-file", keyIDFile)
	mustCLI(secretKey+"\n", "secret", "set", "s3-secret") // stdin, trailing newline dropped
	mustCLI(canary, "secret", "set", "canary", "--tags", "team=ml")
	mustCLI(wrong, "secret", "set", "wrong")
	if out := mustCLI("", "secret", "show-metadata", "s3-secret", "-o", "json"); !strings.Contains(out, `"version": "1"`) || !strings.Contains(out, `"enabled": true`) {
		t.Fatalf("show-metadata: %s", out)
	}
	ds := func(name, idRef, secretRef string) {
		y := fmt.Sprintf("name: %s\ntype: s3\nbucket: %s\nendpoint: %s\nregion: %s\ncredentials:\n  access_key_id: %q\n  secret_access_key: %q\n",
			name, bucket, endpoint, s3region, idRef, secretRef)
		p := filepath.Join(dir, name+".yaml")
		os.WriteFile(p, []byte(y), 0o600)
		mustCLI("", "datastore", "create", "-f", p)
	}
	// A set sent to the secondary is forwarded to the primary.
	fwd := canary + "-forwarded"
	values = append(values, fwd)
	req, _ := http.NewRequest("PUT", urls["west"]+"/api/tandem/v1/secrets/forwarded", strings.NewReader(`{"value":"`+fwd+`"}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("set through the secondary: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	ds("lake", "${{secrets.s3-key-id}}", "${{secrets.s3-secret}}")
	ds("badlake", "${{secrets.s3-key-id}}", "${{secrets.wrong}}")
	ds("inline", keyID, secretKey)
	if _, err := cli("", "datastore", "create", "-f", writeFile(t, dir, "missing.yaml", fmt.Sprintf(
		"name: missing\ntype: s3\nbucket: %s\ncredentials:\n  secret_access_key: ${{secrets.nope}}\n", bucket))); err == nil {
		t.Fatal("a datastore referring to a missing secret was created")
	}
	checks := func(where string) {
		t.Helper()
		for _, n := range []string{"lake", "inline"} {
			if out := mustCLI("", "datastore", "check", "-n", n); !strings.Contains(out, "credentials opened and used") {
				t.Fatalf("%s: check %s: %s", where, n, out)
			}
		}
		if out, err := cli("", "datastore", "check", "-n", "badlake"); err == nil {
			t.Fatalf("%s: a datastore with a wrong secret passed its check: %s", where, out)
		}
	}
	checks("east")

	// West has everything (reads are local on a secondary).
	waitFor("west to replicate", 30*time.Second, func() bool {
		resp, err := http.Get(urls["west"] + "/api/tandem/v1/secrets")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp2, err := http.Get(urls["west"] + "/api/tandem/v1/datastores/inline")
		if err != nil {
			return false
		}
		resp2.Body.Close()
		return strings.Contains(string(b), `"wrong"`) && resp2.StatusCode == 200
	})

	procs["east"].Process.Kill()
	procs["east"].Wait()
	delete(procs, "east")
	waitFor("west to take over", 60*time.Second, func() bool { return primary() == "west" })
	checks("west")
	resp, err := http.Post(urls["west"]+"/api/tandem/v1/datastores/lake/check", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	everything.Write(b)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"credentials":true`) {
		t.Fatalf("check on the new primary: %d %s", resp.StatusCode, b)
	}
	if out := mustCLI(canary+"-2", "secret", "set", "canary", "-o", "json"); !strings.Contains(out, `"version": "2"`) {
		t.Fatalf("set on the new primary: %s", out)
	}
	values = append(values, canary+"-2")
	bundle := filepath.Join(dir, "ws.tgz")
	// export talks to the first endpoint only: list the new primary first.
	mustCLI("", "attach", "--workspace", "vault", "--endpoint", urls["west"], "--endpoint", urls["east"], "--path", clientDir)
	mustCLI("", "export", "--all", "-o", bundle)

	refused := func(name, cfg string) {
		t.Helper()
		c := start(name, "server", "--config", cfg, "--region", "east")
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			delete(procs, name)
			if err == nil || !strings.Contains(logs[name].String(), "workspace key mismatch") {
				t.Fatalf("%s: exit %v, want the key mismatch error:\n%s", name, err, logs[name].String())
			}
		case <-time.After(90 * time.Second):
			t.Fatalf("%s: a region with another workspace key kept running", name)
		}
	}
	// The old primary, its database holding the key check, with another key.
	refused("east-other-key", writeWS("east-other.yaml", "other.key", eastDB))
	// A fresh region with another key: refused once the check replicates.
	refused("fresh-other-key", writeWS("fresh-other.yaml", "other.key", filepath.Join(dir, "fresh", "tandem.db")))

	// Nothing anywhere holds a value in clear.
	for _, l := range logs {
		everything.WriteString(l.String())
	}
	sources := map[string][]byte{"outputs and logs": everything.Bytes()}
	for _, n := range []string{"east", "west", "fresh"} {
		for _, suffix := range []string{"", "-wal"} {
			if b, err := os.ReadFile(filepath.Join(dir, n, "tandem.db"+suffix)); err == nil {
				sources[n+" database"+suffix] = b
			}
		}
	}
	sources["export bundle"] = bundleBytes(t, bundle)
	if len(sources["east database"]) == 0 || len(sources["export bundle"]) == 0 {
		t.Fatal("nothing to grep")
	}
	for what, b := range sources {
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("a secret value appears in the %s", what)
			}
		}
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// bundleBytes returns every file of a .tgz bundle, concatenated.
func bundleBytes(t *testing.T, p string) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var all bytes.Buffer
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		all.WriteString(h.Name + "\n")
		io.Copy(&all, tr)
	}
	return all.Bytes()
}

// TestUpWritesOneWorkspaceKey: the workspace tandem up writes names one
// key file (0600) that every region opens, and no region falls back to a
// key of its own.
func TestUpWritesOneWorkspaceKey(t *testing.T) {
	t.Setenv("TANDEM_SECRETS_KEY", "")
	t.Setenv("TANDEM_SECRETS_KEY_FILE", "")
	dir := t.TempDir()
	if err := writeLocalWorkspace(dir, "local", "127.0.0.1:5500", false); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "workspace.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("workspace.key: %v %v", fi, err)
	}
	ws, err := workspace.Load(filepath.Join(dir, "workspace.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, r := range ws.Regions {
		c, err := keyvault.ConfigFor(ws, r.MetadataURL)
		if err != nil {
			t.Fatal(err)
		}
		if c.DefaultFile != "" {
			t.Fatalf("region %s has a key of its own: %s", r.Name, c.DefaultFile)
		}
		files = append(files, c.KeyFile)
	}
	if len(files) != 2 || files[0] != files[1] || files[0] != filepath.Join(dir, "workspace.key") {
		t.Fatalf("regions' key files: %v", files)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "workspace.key"))
	if err := writeLocalWorkspace(dir, "local", "127.0.0.1:5500", false); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "workspace.key")); !bytes.Equal(before, after) {
		t.Fatal("the workspace key was replaced")
	}
}

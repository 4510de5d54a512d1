package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/testbin"
	"github.com/tandemml/tandem/workspace"
)

// startTestDex runs Dex ($TANDEM_DEX, else .tandem/bin/dex, which
// scripts/test.sh builds) on loopback with one static user in group
// ml-team and two clients, tandem and other; it returns the issuer URL.
// Without Dex the test is skipped (TANDEM_REQUIRE_OIDC=1: failed).
func startTestDex(t *testing.T) string {
	t.Helper()
	bin := testbin.Find(t, testbin.Dex())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	issuer := fmt.Sprintf("http://127.0.0.1:%d/dex", port)
	hash, err := bcrypt.GenerateFromPassword([]byte("dex-user-pw"), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`issuer: %s
storage: {type: memory}
web: {http: 127.0.0.1:%d}
logger: {level: warn}
oauth2:
  passwordConnector: local
  skipApprovalScreen: true
  grantTypes: [authorization_code, refresh_token, password]
enablePasswordDB: true
staticClients:
  - {id: tandem, secret: tandem-secret, name: tandem, redirectURIs: ["http://127.0.0.1/cb"]}
  - {id: other, secret: other-secret, name: other, redirectURIs: ["http://127.0.0.1/cb"]}
staticPasswords:
  - email: grace@example.com
    hash: %q
    username: grace
    userID: grace-0001
    groups: [ml-team]
`, issuer, port, hash)
	p := filepath.Join(dir, "dex.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "dex.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", p)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dex: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(issuer + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return issuer
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "dex.log"))
			t.Fatalf("dex did not start: %v\n%s", err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dexIDToken runs the password grant for the static user as client and
// returns the ID token (its aud is the client id).
func dexIDToken(t *testing.T, issuer, client, secret string) string {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {"grace@example.com"}, "password": {"dex-user-pw"},
		"scope": {"openid profile email groups"}}
	req, _ := http.NewRequest("POST", issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tk struct {
		IDToken string `json:"id_token"`
	}
	if err := json.Unmarshal(body, &tk); err != nil || resp.StatusCode != 200 || tk.IDToken == "" {
		t.Fatalf("password grant: %s %v: %s", resp.Status, err, body)
	}
	return tk.IDToken
}

// jwtSubject reads a JWT's sub claim without checking it (the test's own
// token, to name it in an assignment).
func jwtSubject(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Sub string `json:"sub"`
	}
	if err != nil || json.Unmarshal(b, &c) != nil || c.Sub == "" {
		t.Fatalf("JWT payload: %v %s", err, b)
	}
	return c.Sub
}

// TestIdentityOIDC: a region whose workspace file has auth.oidc (Dex on
// loopback, audience tandem) accepts the issuer's token for its subject
// once a role is assigned to oidc:sub:SUBJECT (and for its group through
// oidc:group:G), refuses it (403) without an assignment, and refuses a
// token of the same issuer for another audience (401).
func TestIdentityOIDC(t *testing.T) {
	issuer := startTestDex(t)
	dir := t.TempDir()
	wsPath := filepath.Join(dir, "workspace.yaml")
	os.WriteFile(wsPath, []byte(fmt.Sprintf(`workspace: o
primary: east
auth:
  oidc: {issuer: %q, audience: tandem}
regions:
  - {name: east, url: "http://127.0.0.1:1", metadata: "sqlite://%s/east.db", artifacts: "file://%s/artifacts"}
`, issuer, dir, dir)), 0o644)
	ws, err := workspace.Load(wsPath)
	if err != nil {
		t.Fatal(err)
	}
	owner, _, err := auth.NewToken("", "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TANDEM_BOOTSTRAP_TOKEN", owner)
	t.Setenv("HOME", t.TempDir())
	reg, _ := ws.Region("east")
	cfg := region.Config{Name: "east", Workspace: ws, MetadataURL: reg.MetadataURL, ArtifactsURL: reg.ArtifactURL}
	var af authFlags
	if cfg.Auth, err = af.authConfig(t.Context(), &cfg); err != nil {
		t.Fatalf("auth.oidc refused: %v", err)
	}
	if cfg.Auth == nil || cfg.Auth.Verifier == nil {
		t.Fatalf("no OpenID Connect verifier: %+v", cfg.Auth)
	}
	r, err := region.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	hs := httptest.NewServer(r.Handler())
	t.Cleanup(hs.Close)

	search := func(tok string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", hs.URL+"/api/2.0/mlflow/experiments/search?max_results=10", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tok := dexIDToken(t, issuer, "tandem", "tandem-secret")
	other := dexIDToken(t, issuer, "other", "other-secret")
	sub := jwtSubject(t, tok)
	if code, body := search(tok); code != 403 {
		t.Fatalf("a verified subject without an assignment: %d %s", code, body)
	}

	mustRun(t, "attach", "--workspace", "o", "--endpoint", hs.URL, "--path", dir)
	cc := filepath.Join(dir, ".tandem", "config.json")
	t.Setenv("TANDEM_TOKEN", owner)
	mustRun(t, "role", "assignment", "create", "--role", tandem.RoleReader, "--assignee", tandem.ExternalAssignee("sub", sub), "--config", cc)
	if code, body := search(tok); code != 200 || !strings.Contains(body, "experiments") {
		t.Fatalf("the assigned subject's token: %d %s", code, body)
	}
	if code, body := search(other); code != 401 || strings.Contains(body, other) {
		t.Fatalf("a token for another audience: %d %s", code, body)
	}

	// A group assignment: a write needs more than Reader; the user's
	// group ml-team gets the AzureML Data Scientist role.
	create := func() int {
		req, _ := http.NewRequest("POST", hs.URL+"/api/2.0/mlflow/experiments/create", strings.NewReader(`{"name":"from-oidc"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := create(); code != 403 {
		t.Fatalf("a write with Reader only: %d", code)
	}
	mustRun(t, "role", "assignment", "create", "--role", tandem.RoleDataScientist, "--assignee", tandem.ExternalAssignee("group", "ml-team"), "--config", cc)
	if code := create(); code != 200 {
		t.Fatalf("a write through the group's assignment: %d", code)
	}
}

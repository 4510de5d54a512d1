package oidc_test

import (
	"context"
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

	"golang.org/x/crypto/bcrypt"

	"github.com/tandemml/tandem/testbin"
)

// dexBinary finds Dex: $TANDEM_DEX, else .tandem/bin/dex at the repository
// root (scripts/test.sh builds it there from scripts/dex). Without it the
// test skips, unless TANDEM_REQUIRE_OIDC=1 (CI), when it fails.
func dexBinary(t *testing.T) string {
	t.Helper()
	return testbin.Find(t, testbin.Dex())
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// dex is one Dex process on loopback: memory storage, two static clients
// (tandem and other) and one static password user in two groups.
type dex struct {
	Issuer string
}

const (
	dexUser     = "ada@example.com"
	dexPassword = "correct horse battery"
	dexUserID   = "ada-0001"
)

var dexGroups = []string{"ml-team", "owners"}

func startDex(t *testing.T) *dex {
	t.Helper()
	bin := dexBinary(t)
	port := freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d/dex", port)
	hash, err := bcrypt.GenerateFromPassword([]byte(dexPassword), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
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
  - email: %s
    hash: %q
    username: ada
    userID: %s
    groups: [%s]
`, issuer, port, dexUser, hash, dexUserID, strings.Join(dexGroups, ", "))
	dir := t.TempDir()
	p := filepath.Join(dir, "dex.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, _ := os.Create(filepath.Join(dir, "dex.log"))
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
				break
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "dex.log"))
			t.Fatalf("dex did not start: %v\n%s", err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &dex{Issuer: issuer}
}

// tokens holds what the password grant returns.
type tokens struct {
	IDToken     string `json:"id_token"`
	AccessToken string `json:"access_token"`
}

// login runs the OAuth 2.0 password grant for the static user as client.
func (d *dex) login(t *testing.T, client, secret string) tokens {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {dexUser}, "password": {dexPassword},
		"scope": {"openid profile email groups"}}
	req, _ := http.NewRequest("POST", d.Issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var tk tokens
	if err := json.Unmarshal(body, &tk); err != nil || resp.StatusCode != 200 || tk.IDToken == "" {
		t.Fatalf("password grant: %s %v: %s", resp.Status, err, body)
	}
	return tk
}

// userinfoSubject asks Dex's userinfo endpoint who the access token is for.
func (d *dex) userinfoSubject(t *testing.T, access string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", d.Issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ui struct {
		Sub string `json:"sub"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ui); err != nil || ui.Sub == "" {
		t.Fatalf("userinfo: %s %v", resp.Status, err)
	}
	return ui.Sub
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

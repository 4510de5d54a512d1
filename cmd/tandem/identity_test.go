package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/storetest"
)

// TestIdentityVerbs drives user, sp, token, role and role assignment
// against a region with authentication on, as its owner (TANDEM_TOKEN).
func TestIdentityVerbs(t *testing.T) {
	owner, _, err := auth.NewToken("", "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", t.TempDir())
	r, err := region.Open(t.Context(), region.Config{MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: storetest.FileURL(t),
		Auth: &region.AuthConfig{BootstrapToken: owner}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	hs := httptest.NewServer(r.Handler())
	t.Cleanup(hs.Close)
	dir := t.TempDir()
	mustRun(t, "attach", "--workspace", "w", "--endpoint", hs.URL, "--path", dir)
	cfg := filepath.Join(dir, ".tandem", "config.json")
	if _, err := run(t, "sp", "list", "--config", cfg); err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Fatalf("without a token: %v", err)
	}
	t.Setenv("TANDEM_TOKEN", owner)
	t.Setenv("TANDEM_NEW_PASSWORD", "alice-secret-pw")
	mustRun(t, "user", "create", "alice", "--config", cfg)
	out := mustRun(t, "sp", "create", "ci", "--config", cfg, "-o", "json")
	var sp struct{ Token string }
	if err := json.Unmarshal([]byte(out), &sp); err != nil || !strings.HasPrefix(sp.Token, auth.TokenPrefix) {
		t.Fatalf("sp create: %v %s", err, out)
	}
	if out := mustRun(t, "sp", "list", "--config", cfg); !strings.Contains(out, "ci") || !strings.Contains(out, "alice") || strings.Contains(out, sp.Token) {
		t.Fatalf("sp list:\n%s", out)
	}
	role := filepath.Join(dir, "role.yml")
	os.WriteFile(role, []byte("name: Run Logger\nactions: ['Microsoft.MachineLearningServices/workspaces/experiments/*']\nnot_actions: ['*/delete']\n"), 0o644)
	mustRun(t, "role", "create", "-f", role, "--config", cfg)
	if out := mustRun(t, "role", "show", "Run Logger", "--config", cfg); !strings.Contains(out, "*/delete") {
		t.Fatalf("role show:\n%s", out)
	}
	if out := mustRun(t, "role", "list", "--config", cfg); !strings.Contains(out, "AzureML Data Scientist") || !strings.Contains(out, "Run Logger") {
		t.Fatalf("role list:\n%s", out)
	}
	mustRun(t, "role", "assignment", "create", "--role", "Run Logger", "--assignee", "ci", "--scope", "/experiments/0", "--config", cfg)
	out = mustRun(t, "role", "assignment", "list", "--config", cfg, "-o", "json")
	var as struct {
		RoleAssignments []struct{ ID, Role, Assignee, Scope string } `json:"role_assignments"`
	}
	json.Unmarshal([]byte(out), &as)
	var id string
	for _, a := range as.RoleAssignments {
		if a.Assignee == "ci" && a.Scope == "/experiments/0" && a.Role == "Run Logger" {
			id = a.ID
		}
	}
	if id == "" {
		t.Fatalf("assignment list:\n%s", out)
	}
	if _, err := run(t, "role", "delete", "Run Logger", "--config", cfg); err == nil {
		t.Fatal("deleted an assigned role")
	}
	out = mustRun(t, "sp", "token", "create", "ci", "--expires-in", "1h", "--config", cfg, "-o", "json")
	var tok struct {
		TokenInfo struct{ ID string } `json:"token_info"`
	}
	json.Unmarshal([]byte(out), &tok)
	mustRun(t, "sp", "token", "revoke", tok.TokenInfo.ID, "--config", cfg)
	if out := mustRun(t, "sp", "token", "list", "ci", "--config", cfg); !strings.Contains(out, tok.TokenInfo.ID) {
		t.Fatalf("token list:\n%s", out)
	}
	// Passwords: the owner resets alice's, then alice changes her own
	// with a token of hers (the old password stops working each time).
	basic := func(user, pw string) int {
		req, _ := http.NewRequest("GET", hs.URL+"/api/2.0/mlflow/experiments/search?max_results=1", nil)
		req.SetBasicAuth(user, pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	mustRun(t, "role", "assignment", "create", "--role", "Reader", "--assignee", "alice", "--config", cfg)
	if c := basic("alice", "alice-secret-pw"); c != 200 {
		t.Fatalf("alice with her first password: %d", c)
	}
	t.Setenv("TANDEM_NEW_PASSWORD", "reset-by-owner")
	mustRun(t, "user", "set-password", "alice", "--config", cfg)
	if basic("alice", "alice-secret-pw") != 401 || basic("alice", "reset-by-owner") != 200 {
		t.Fatal("the owner's reset did not replace alice's password")
	}
	out = mustRun(t, "user", "token", "create", "alice", "--expires-in", "1h", "--config", cfg, "-o", "json")
	var aliceTok struct{ Token string }
	json.Unmarshal([]byte(out), &aliceTok)
	t.Setenv("TANDEM_TOKEN", aliceTok.Token)
	if _, err := run(t, "user", "set-password", "ci", "--config", cfg); err == nil {
		t.Fatal("a Reader set another principal's password")
	}
	t.Setenv("TANDEM_NEW_PASSWORD", "alice-chose-this")
	mustRun(t, "user", "set-password", "--config", cfg)
	if basic("alice", "reset-by-owner") != 401 || basic("alice", "alice-chose-this") != 200 {
		t.Fatal("alice's own change did not replace her password")
	}
	t.Setenv("TANDEM_TOKEN", owner)
	mustRun(t, "role", "assignment", "delete", id, "--config", cfg)
	mustRun(t, "role", "delete", "Run Logger", "--config", cfg)
	mustRun(t, "sp", "delete", "ci", "--config", cfg)
	if out := mustRun(t, "sp", "list", "--config", cfg); strings.Contains(out, "ci ") {
		t.Fatalf("ci still listed:\n%s", out)
	}
}

// TestTransferVerbsAuthenticate: export and import reach a workspace with
// authentication on through the CLI's token, and are refused without it.
func TestTransferVerbsAuthenticate(t *testing.T) {
	owner, _, err := auth.NewToken("", "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", t.TempDir())
	r, err := region.Open(t.Context(), region.Config{MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: storetest.FileURL(t),
		Auth: &region.AuthConfig{BootstrapToken: owner}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	hs := httptest.NewServer(r.Handler())
	t.Cleanup(hs.Close)
	bundle := filepath.Join(t.TempDir(), "ws.tgz")
	if _, err := run(t, "export", "--all", "--url", hs.URL, "-o", bundle); err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Fatalf("export without a token: %v", err)
	}
	t.Setenv("TANDEM_TOKEN", owner)
	mustRun(t, "export", "--all", "--url", hs.URL, "-o", bundle)
	if out := mustRun(t, "import", bundle, "--url", hs.URL); !strings.Contains(out, "already present") {
		t.Fatalf("import:\n%s", out)
	}
}

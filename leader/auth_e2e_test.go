//go:build tandemtest

package leader_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/leader"
)

// authCall sends a JSON request with a bearer token ("" : none) and
// returns the status and body.
func authCall(method, u, tok string, body any) (int, map[string]any) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, u, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return 0, map[string]any{"err": err.Error()}
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// waitPrimaryAuth waits until name is a writable primary (read with tok:
// the status endpoints need a role under authentication).
func waitPrimaryAuth(t *testing.T, u, tok string, minEpoch int64) {
	t.Helper()
	waitFor(t, 60*time.Second, u+" primary", func() (bool, string) {
		req, _ := http.NewRequest("GET", u+leader.Prefix+"status", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := statusHC.Do(req)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var st leader.StatusDoc
		json.NewDecoder(resp.Body).Decode(&st)
		return resp.StatusCode == 200 && st.Role.String() == "primary" && st.WritesAllowed && st.Epoch >= minEpoch, fmt.Sprintf("%d %+v", resp.StatusCode, st)
	})
}

// Identity survives failover, with real processes and sync durability: an
// assignment and a token revocation made on the primary hold on the
// secondary while the primary is down (it authenticates by itself), and
// after a forced failover the new primary enforces both; the token revoked
// just before the kill is refused.
func TestAuthSurvivesFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	owner, _, err := auth.NewToken("", "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := newManualCluster(t, true, "a", "b")
	c.authEnv = []string{"TANDEM_BOOTSTRAP_TOKEN=" + owner, "TANDEM_TOKEN=" + owner}
	f, err := os.OpenFile(c.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "durability: {mode: sync, timeout: 5s, on_no_ack: degrade}\n")
	f.Close()
	c.start("a")
	c.start("b")
	waitPrimaryAuth(t, c.urls["a"], owner, 1)
	a, b := c.urls["a"], c.urls["b"]
	api := "/api/tandem/v1"
	waitFor(t, 30*time.Second, "b has the owner", func() (bool, string) {
		code, out := authCall("GET", b+api+"/whoami", owner, nil)
		return code == 200, fmt.Sprint(code, out)
	})
	mk := func(name string) string {
		code, out := authCall("POST", a+api+"/principals", owner, map[string]any{"name": name, "kind": "service_principal"})
		if code != 200 {
			t.Fatalf("create %s: %d %v", name, code, out)
		}
		return out["token"].(string)
	}
	rita, gone := mk("rita"), mk("gone")
	for _, as := range []map[string]any{{"role": "Contributor", "assignee": "rita"}, {"role": "Owner", "assignee": "gone"}} {
		if code, out := authCall("POST", a+api+"/role-assignments", owner, as); code != 200 {
			t.Fatalf("assign: %d %v", code, out)
		}
	}
	code, out := authCall("GET", a+api+"/principals/gone/tokens", owner, nil)
	toks, _ := out["tokens"].([]any)
	if code != 200 || len(toks) != 1 {
		t.Fatalf("tokens of gone: %d %v", code, out)
	}
	if code, out := authCall("POST", a+"/api/2.0/mlflow/experiments/create", gone, map[string]any{"name": "before"}); code != 200 {
		t.Fatalf("gone writes before revocation: %d %v", code, out)
	}
	// Revoke, then kill the primary at once: sync durability means b has it.
	if code, out := authCall("DELETE", a+api+"/tokens/"+toks[0].(map[string]any)["id"].(string), owner, nil); code != 200 {
		t.Fatalf("revoke: %d %v", code, out)
	}
	c.kill("a")
	// The secondary checks credentials itself while the primary is down.
	if code, out := authCall("POST", b+"/api/2.0/mlflow/experiments/search", rita, map[string]any{"max_results": 10}); code != 200 {
		t.Fatalf("read on the secondary with the primary down: %d %v", code, out)
	}
	for _, tok := range []string{gone, ""} {
		if code, _ := authCall("POST", b+"/api/2.0/mlflow/experiments/search", tok, map[string]any{}); code != 401 {
			t.Fatalf("secondary accepted a revoked or missing token: %d", code)
		}
	}
	out2, err := c.cli("failover", "--to", "b", "--force", "--yes", "--workspace", c.config, "--wait", "30s")
	if err != nil || !strings.Contains(out2, "b is the primary") {
		t.Fatalf("forced failover to b: %v\n%s", err, out2)
	}
	waitPrimaryAuth(t, b, owner, 2)
	if code, out := authCall("POST", b+"/api/2.0/mlflow/experiments/create", rita, map[string]any{"name": "after"}); code != 200 {
		t.Fatalf("assignment not enforced by the new primary: %d %v", code, out)
	}
	if code, out := authCall("POST", b+"/api/2.0/mlflow/experiments/create", gone, map[string]any{"name": "revoked"}); code != 401 || out["error_code"] != "UNAUTHENTICATED" {
		t.Fatalf("revoked token on the new primary: %d %v", code, out)
	}
	if code, out := authCall("POST", b+api+"/role-assignments", rita, map[string]any{"role": "Owner", "assignee": "rita"}); code != 403 {
		t.Fatalf("a Contributor granted itself Owner on the new primary: %d %v", code, out)
	}
}

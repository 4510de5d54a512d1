package region_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// TestAuthFailures: missing, malformed, unknown, revoked and expired
// credentials are 401 UNAUTHENTICATED, a denied write is 403
// PERMISSION_DENIED, and neither changes anything; too many wrong
// passwords are refused before any check; counts land in /metrics.
func TestAuthFailures(t *testing.T) {
	a := openAuthRegion(t)
	reader := a.principal("rita", tandem.RoleReader, tandem.ScopeWorkspace)
	code, out := a.do("POST", "/api/tandem/v1/principals", bearer(a.owner), map[string]any{"name": "alice", "kind": "user", "password": "alice-secret-pw"})
	if code != 200 {
		t.Fatal(code, out)
	}
	a.do("POST", "/api/tandem/v1/role-assignments", bearer(a.owner), map[string]any{"role": "Contributor", "assignee": "alice"})
	if code, out := a.do("GET", "/api/tandem/v1/whoami", basic("alice", "alice-secret-pw"), nil); code != 200 || out["name"] != "alice" {
		t.Fatalf("basic: %d %v", code, out)
	}
	code, out = a.do("POST", "/api/tandem/v1/principals/rita/tokens", bearer(a.owner), map[string]any{"expires_in": "1ms"})
	if code != 200 {
		t.Fatal(code, out)
	}
	expired := out["token"].(string)
	code, out = a.do("POST", "/api/tandem/v1/principals/rita/tokens", bearer(a.owner), map[string]any{})
	revoked, revokedID := out["token"].(string), out["token_info"].(map[string]any)["id"].(string)
	if code, out := a.do("DELETE", "/api/tandem/v1/tokens/"+revokedID, bearer(a.owner), nil); code != 200 {
		t.Fatal(code, out)
	}
	time.Sleep(5 * time.Millisecond)
	count := func() int {
		_, out := a.do("POST", "/api/2.0/mlflow/experiments/search", bearer(a.owner), map[string]any{"max_results": 100})
		l, _ := out["experiments"].([]any)
		return len(l)
	}
	before := count()
	create := map[string]any{"name": "should-not-exist"}
	for _, c := range []struct {
		name, authz, code string
		status            int
	}{
		{"missing", "", "UNAUTHENTICATED", 401},
		{"malformed", "Bearer", "UNAUTHENTICATED", 401},
		{"unknown scheme", "Digest x", "UNAUTHENTICATED", 401},
		{"unknown token", bearer("tdm_0123456789abcdef_" + strings.Repeat("A", 43)), "UNAUTHENTICATED", 401},
		{"wrong secret", bearer(reader[:len(reader)-2] + "AA"), "UNAUTHENTICATED", 401},
		{"not a token", bearer("hello"), "UNAUTHENTICATED", 401},
		{"revoked", bearer(revoked), "UNAUTHENTICATED", 401},
		{"expired", bearer(expired), "UNAUTHENTICATED", 401},
		{"wrong password", basic("alice", "wrong-password"), "UNAUTHENTICATED", 401},
		{"unknown user", basic("mallory", "whatever-pw"), "UNAUTHENTICATED", 401},
		{"reader writes", bearer(reader), "PERMISSION_DENIED", 403},
	} {
		code, out := a.do("POST", "/api/2.0/mlflow/experiments/create", c.authz, create)
		if code != c.status || out["error_code"] != c.code {
			t.Errorf("%s: %d %v; want %d %s", c.name, code, out, c.status, c.code)
		}
	}
	if after := count(); after != before {
		t.Fatalf("experiments %d -> %d: a refused request changed something", before, after)
	}
	// Brute force: the limiter refuses before checking, per user.
	limited := false
	for i := 0; i < 20 && !limited; i++ {
		code, _ := a.do("GET", "/api/tandem/v1/whoami", basic("alice", fmt.Sprintf("guess-%d-pw", i)), nil)
		limited = code == 429
	}
	if !limited {
		t.Fatal("20 wrong passwords in a row were never rate-limited")
	}
	_, _ = a.do("GET", "/metrics", bearer(reader), nil)
	body := a.bodies.String()
	for _, reason := range []string{`reason="missing"`, `reason="malformed"`, `reason="revoked"`, `reason="expired"`, `reason="denied"`, `reason="rate_limited"`} {
		if !strings.Contains(body, "tandem_auth_failures_total{"+reason+"}") {
			t.Errorf("/metrics lacks tandem_auth_failures_total{%s}", reason)
		}
	}
	// The audit log names the refusals and the writes.
	code, out = a.do("GET", "/api/tandem/v1/audit?allowed=false", bearer(reader), nil)
	recs, _ := out["records"].([]any)
	if code != 200 || len(recs) < 11 {
		t.Fatalf("audit: %d, %d records", code, len(recs))
	}
}

// TestScopedAssignments: a role at one experiment's or one model's scope
// covers that experiment (its runs found from run ids) or model only.
func TestScopedAssignments(t *testing.T) {
	a := openAuthRegion(t)
	_, out := a.do("POST", "/api/2.0/mlflow/experiments/create", bearer(a.owner), map[string]any{"name": "mine"})
	mine := out["experiment_id"].(string)
	_, out = a.do("POST", "/api/2.0/mlflow/experiments/create", bearer(a.owner), map[string]any{"name": "theirs"})
	theirs := out["experiment_id"].(string)
	_, out = a.do("POST", "/api/2.0/mlflow/runs/create", bearer(a.owner), map[string]any{"experiment_id": theirs})
	theirRun := out["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	eve := bearer(a.principal("eve", tandem.RoleContributor, tandem.ExperimentScope(mine)))
	code, out := a.do("POST", "/api/2.0/mlflow/runs/create", eve, map[string]any{"experiment_id": mine})
	if code != 200 {
		t.Fatalf("create run in own experiment: %d %v", code, out)
	}
	run := out["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	for _, c := range []struct {
		method, path string
		body         map[string]any
		status       int
	}{
		{"POST", "/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": run, "metrics": []any{map[string]any{"key": "m", "value": 1, "timestamp": 1, "step": 0}}}, 200},
		{"GET", "/api/2.0/mlflow/runs/get?run_id=" + run, nil, 200},
		{"POST", "/api/2.0/mlflow/runs/search", map[string]any{"experiment_ids": []string{mine}}, 200},
		{"POST", "/api/2.0/mlflow/runs/search", map[string]any{"experiment_ids": []string{mine, theirs}}, 403},
		{"POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": theirs}, 403},
		{"POST", "/api/2.0/mlflow/runs/log-batch", map[string]any{"run_id": theirRun, "params": []any{map[string]any{"key": "p", "value": "v"}}}, 403},
		{"GET", "/api/2.0/mlflow/runs/get?run_id=" + theirRun, nil, 403},
		{"POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "new"}, 403},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/" + mine + "/" + run + "/artifacts/a.txt", map[string]any{}, 200},
		{"PUT", "/api/2.0/mlflow-artifacts/artifacts/" + theirs + "/" + theirRun + "/artifacts/a.txt", map[string]any{}, 403},
	} {
		if code, out := a.do(c.method, c.path, eve, c.body); code != c.status {
			t.Errorf("%s %s: %d %v; want %d", c.method, c.path, code, out, c.status)
		}
	}
	mo := bearer(a.principal("mo", tandem.RoleDataScientist, tandem.ModelScope("fraud")))
	if code, out := a.do("POST", "/api/2.0/mlflow/registered-models/create", mo, map[string]any{"name": "fraud"}); code != 200 {
		t.Errorf("create own model: %d %v", code, out)
	}
	if code, _ := a.do("POST", "/api/2.0/mlflow/registered-models/create", mo, map[string]any{"name": "churn"}); code != 403 {
		t.Errorf("create other model: %d", code)
	}
}

// TestNoSecretsAnywhere runs a session with every kind of credential and
// greps every response, the audit log, the journal's payloads and an
// export bundle for each password and token used.
func TestNoSecretsAnywhere(t *testing.T) {
	a := openAuthRegion(t)
	secrets := []string{a.owner, "alice-secret-pw", "wrong-password-x"}
	sp := a.principal("ci", tandem.RoleContributor, tandem.ScopeWorkspace)
	code, out := a.do("POST", "/api/tandem/v1/principals/ci/tokens", bearer(a.owner), map[string]any{"description": "second"})
	if code != 200 {
		t.Fatal(code, out)
	}
	second := out["token"].(string)
	secrets = append(secrets, second)
	a.bodies.Reset() // the token responses above show each token once, by design
	a.do("POST", "/api/tandem/v1/principals", bearer(a.owner), map[string]any{"name": "alice", "kind": "user", "password": "alice-secret-pw"})
	a.do("POST", "/api/tandem/v1/role-assignments", bearer(a.owner), map[string]any{"role": "Owner", "assignee": "alice"})
	_, out = a.do("POST", "/api/2.0/mlflow/experiments/create", basic("alice", "alice-secret-pw"), map[string]any{"name": "e"})
	exp, _ := out["experiment_id"].(string)
	_, out = a.do("POST", "/api/2.0/mlflow/runs/create", bearer(sp), map[string]any{"experiment_id": exp})
	a.do("POST", "/api/2.0/mlflow/runs/create", basic("alice", "wrong-password-x"), map[string]any{"experiment_id": exp})
	a.do("POST", "/api/2.0/mlflow/runs/create", bearer(second), map[string]any{"experiment_id": exp})
	a.do("GET", "/api/tandem/v1/principals", bearer(second), nil)
	a.do("GET", "/api/tandem/v1/principals/ci/tokens", bearer(a.owner), nil)
	a.do("GET", "/api/tandem/v1/role-assignments", bearer(a.owner), nil)
	a.do("GET", "/api/tandem/v1/audit", bearer(a.owner), nil)
	a.do("GET", "/metrics", bearer(a.owner), nil)
	a.do("GET", "/api/tandem/v1/replication/status", bearer(a.owner), nil)
	req, _ := http.NewRequest("POST", a.srv.URL+"/api/tandem/v1/export", strings.NewReader(`{"all":true}`))
	req.Header.Set("Authorization", bearer(a.owner))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("export: %v %v", err, resp.Status)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := io.ReadAll(zr)
	resp.Body.Close()
	if err != nil || !strings.Contains(string(bundle), `"e"`) {
		t.Fatalf("bundle (%d bytes, %v) does not hold the session's experiment", len(bundle), err)
	}
	a.bodies.Write(bundle)
	es, err := a.r.Store.ReadJournal(context.Background(), 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var journal strings.Builder
	for _, e := range es {
		journal.Write(e.Payload)
	}
	audit, err := os.ReadFile(a.audit)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"responses (export bundle included)": a.bodies.String(), "journal": journal.String(), "audit log": string(audit)} {
		for _, s := range secrets {
			_, secret, _ := strings.Cut(strings.TrimPrefix(s, "tdm_"), "_")
			if strings.Contains(text, s) || (secret != "" && strings.Contains(text, secret)) {
				t.Errorf("%s contains a secret (%.8s...)", name, s)
			}
		}
	}
	if !strings.Contains(journal.String(), "identity.") && !strings.Contains(journal.String(), `"principal"`) {
		t.Fatal("the journal holds no identity entries: the test is not looking at the right thing")
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
)

// TestImportMLflowUsers migrates a stock MLflow server that runs its
// basic-auth app, read with basic credentials: its data, its users (with
// reset tokens) and their per-experiment and per-model permissions as role
// assignments, which tandem then enforces; a second import duplicates
// nothing.
func TestImportMLflowUsers(t *testing.T) {
	src := mlflowtest.StartBasicAuth(t, "admin", "admin-pass-1234")
	call := func(base, user, pw, tok, method, path string, body any) (int, map[string]any) {
		t.Helper()
		var rd *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		} else {
			rd = bytes.NewReader(nil)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		} else {
			req.SetBasicAuth(user, pw)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	admin := func(method, path string, body any) map[string]any {
		t.Helper()
		code, out := call(src.URL, "admin", "admin-pass-1234", "", method, path, body)
		if code != 200 {
			t.Fatalf("source %s %s: %d %v", method, path, code, out)
		}
		return out
	}
	for _, u := range []string{"bob", "carol"} {
		admin("POST", "/api/2.0/mlflow/users/create", map[string]any{"username": u, "password": u + "-pass-1234"})
	}
	exp := admin("POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "shared"})["experiment_id"].(string)
	admin("POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "private"})
	admin("POST", "/api/2.0/mlflow/registered-models/create", map[string]any{"name": "churn"})
	grant := func(user, typ, id, perm string) {
		admin("POST", "/api/3.0/mlflow/users/permissions/grant", map[string]any{"username": user, "resource_type": typ, "resource_id": id, "permission": perm})
	}
	grant("bob", "experiment", exp, "EDIT")
	grant("bob", "registered_model", "churn", "READ")
	grant("carol", "experiment", "*", "READ")
	grant("carol", "experiment", exp, "DENY")

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
	t.Setenv("TANDEM_TOKEN", owner)

	t.Setenv("MLFLOW_TRACKING_USERNAME", "admin")
	t.Setenv("MLFLOW_TRACKING_PASSWORD", "wrong-password")
	if _, err := run(t, "import", "--from-mlflow", src.URL, "--all", "--url", hs.URL); err == nil {
		t.Fatal("the import read the source with a wrong password")
	}
	t.Setenv("MLFLOW_TRACKING_PASSWORD", "admin-pass-1234")
	out := mustRun(t, "import", "--from-mlflow", src.URL, "--all", "--url", hs.URL)
	tokens := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(\w+)\s+created\s+(\S+)$`).FindAllStringSubmatch(out, -1) {
		tokens[m[1]] = m[2]
	}
	for _, u := range []string{"admin", "bob", "carol"} {
		if !strings.HasPrefix(tokens[u], auth.TokenPrefix) {
			t.Fatalf("no reset token for %s in:\n%s", u, out)
		}
	}
	if !strings.Contains(out, "not imported: carol: experiment "+exp+" DENY (tandem has no deny assignments)") {
		t.Fatalf("the DENY grant is not reported:\n%s", out)
	}
	if strings.Contains(out, "pass-1234") {
		t.Fatal("a password appears in the import's output")
	}

	tandemCall := func(who, method, path string, body any) int {
		t.Helper()
		code, _ := call(hs.URL, "", "", tokens[who], method, path, body)
		return code
	}
	var got struct {
		Experiment struct {
			ID string `json:"experiment_id"`
		} `json:"experiment"`
	}
	_, m := call(hs.URL, "", "", owner, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=shared", nil)
	b, _ := json.Marshal(m)
	json.Unmarshal(b, &got)
	shared := got.Experiment.ID
	if shared == "" {
		t.Fatalf("experiment shared not imported: %v", m)
	}
	// bob: EDIT on shared (write, never delete), READ on the model, nothing else.
	if c := tandemCall("bob", "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": shared}); c != 200 {
		t.Fatalf("bob logging a run in shared: %d", c)
	}
	if c := tandemCall("bob", "POST", "/api/2.0/mlflow/experiments/delete", map[string]any{"experiment_id": shared}); c != 403 {
		t.Fatalf("bob deleting shared: %d, want 403", c)
	}
	if c := tandemCall("bob", "GET", "/api/2.0/mlflow/registered-models/get?name=churn", nil); c != 200 {
		t.Fatalf("bob reading model churn: %d", c)
	}
	if c := tandemCall("bob", "POST", "/api/2.0/mlflow/experiments/create", map[string]any{"name": "bobs"}); c != 403 {
		t.Fatalf("bob creating an experiment: %d, want 403", c)
	}
	if c := tandemCall("bob", "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=private", nil); c != 403 {
		t.Fatalf("bob reading private: %d, want 403", c)
	}
	// bob's searches show what he may read, as MLflow's auth app filters them.
	_, found := call(hs.URL, "", "", tokens["bob"], "POST", "/api/2.0/mlflow/experiments/search", map[string]any{"max_results": 10})
	if b, _ := json.Marshal(found); !strings.Contains(string(b), `"name":"shared"`) || strings.Contains(string(b), "private") || strings.Contains(string(b), `"Default"`) {
		t.Fatalf("bob's experiment search: %s", b)
	}
	_, found = call(hs.URL, "", "", tokens["bob"], "GET", "/api/2.0/mlflow/registered-models/search", nil)
	if b, _ := json.Marshal(found); !strings.Contains(string(b), `"name":"churn"`) {
		t.Fatalf("bob's model search: %s", b)
	}
	// carol: READ on every experiment (her DENY could not be carried over).
	if c := tandemCall("carol", "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=private", nil); c != 200 {
		t.Fatalf("carol reading private: %d", c)
	}
	if c := tandemCall("carol", "POST", "/api/2.0/mlflow/runs/create", map[string]any{"experiment_id": shared}); c != 403 {
		t.Fatalf("carol writing: %d, want 403", c)
	}
	// admin: Owner.
	if c := tandemCall("admin", "GET", "/api/tandem/v1/role-assignments", nil); c != 200 {
		t.Fatalf("admin listing assignments: %d", c)
	}

	count := func() int {
		var as struct {
			RoleAssignments []any `json:"role_assignments"`
		}
		_, m := call(hs.URL, "", "", owner, "GET", "/api/tandem/v1/role-assignments", nil)
		b, _ := json.Marshal(m)
		json.Unmarshal(b, &as)
		return len(as.RoleAssignments)
	}
	before := count()
	out = mustRun(t, "import", "--from-mlflow", src.URL, "--all", "--url", hs.URL)
	if after := count(); after != before || !strings.Contains(out, "bob  already present") && !regexp.MustCompile(`bob\s+already present`).MatchString(out) {
		t.Fatalf("second import: %d assignments before, %d after:\n%s", before, after, out)
	}
}

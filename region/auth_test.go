package region_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/api"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/storetest"
)

// authRegion is a single region with authentication on, its owner token,
// and a recorder of every response body (for the secrets test).
type authRegion struct {
	t      *testing.T
	r      *region.Region
	srv    *httptest.Server
	owner  string
	audit  string
	bodies *bytes.Buffer
}

func openAuthRegion(t *testing.T) *authRegion {
	t.Helper()
	owner, _, err := auth.NewToken("", "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ar := &authRegion{t: t, owner: owner, audit: filepath.Join(dir, "audit.jsonl"), bodies: &bytes.Buffer{}}
	r, err := region.Open(context.Background(), region.Config{Name: "local", MetadataURL: storetest.SQLiteURL(t),
		ArtifactsURL: storetest.FileURL(t), Auth: &region.AuthConfig{BootstrapToken: owner, AuditPath: ar.audit}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ar.r = r
	ar.srv = httptest.NewServer(r.Handler())
	t.Cleanup(ar.srv.Close)
	return ar
}

// do sends a request with an Authorization header (none when authz is "")
// and returns the status and decoded JSON body.
func (a *authRegion) do(method, path, authz string, body any) (int, map[string]any) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.srv.URL+path, rd)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a.bodies.Write(b)
	a.bodies.WriteString(strings.Join(resp.Header.Values("WWW-Authenticate"), ""))
	var out map[string]any
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func bearer(tok string) string { return "Bearer " + tok }

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// principal creates a service principal with role at scope and returns
// its token.
func (a *authRegion) principal(name, role string, scope tandem.Scope) string {
	a.t.Helper()
	code, out := a.do("POST", "/api/tandem/v1/principals", bearer(a.owner), map[string]any{"name": name, "kind": "service_principal"})
	if code != 200 {
		a.t.Fatalf("create %s: %d %v", name, code, out)
	}
	if role != "" {
		if code, out := a.do("POST", "/api/tandem/v1/role-assignments", bearer(a.owner),
			map[string]any{"role": role, "assignee": name, "scope": string(scope)}); code != 200 {
			a.t.Fatalf("assign %s: %d %v", name, code, out)
		}
	}
	return out["token"].(string)
}

// TestAuthorizationMatrix: every route of the MLflow API, tandem's API,
// the identity API and the region's endpoints has a rule in auth's route
// table, and every built-in role and an anonymous caller get exactly the
// access Azure ML's role meanings give them, derived here from the route
// (read or write, which API) and not from the table.
func TestAuthorizationMatrix(t *testing.T) {
	a := openAuthRegion(t)
	rules := auth.AllRules()
	var routes []string
	routes = append(routes, a.r.MLflow.Routes()...)
	for _, rt := range api.New(api.Config{Store: a.r.Store, Blobs: a.r.Blobs}).Routes() {
		routes = append(routes, rt.Method+" "+api.Prefix+rt.Path)
	}
	for route := range auth.IdentityRoutes() {
		routes = append(routes, route)
	}
	for route, rule := range auth.EndpointRules() { // online endpoints (package serving)
		if rule.Class == auth.ClassPeer {
			continue // regions only, with the peer key: serving's own tests cover them
		}
		routes = append(routes, route)
	}
	routes = append(routes, "POST /api/tandem/v1/export", "POST /api/tandem/v1/import", "GET /metrics", "GET /health", "GET /version",
		"GET /api/tandem/v1/version", "GET /api/tandem/v1/replication/status", "GET /api/tandem/v1/replication/checksum",
		"GET /api/tandem/v1/failover/status", "GET /api/tandem/v1/failover/positions", "GET /api/tandem/v1/failover/history",
		"GET /api/tandem/v1/regions", "GET /api/tandem/v1/endpoint-traffic", "GET /api/tandem/v1/endpoint-traffic/region", "GET /console", "GET /console/{path...}",
		"GET /api/tandem/v1/failover/divergence", "GET /api/tandem/v1/failover/divergence/{id}", "POST /api/tandem/v1/failover/replay")
	sort.Strings(routes)
	for _, rt := range routes {
		if _, ok := rules[rt]; !ok {
			t.Errorf("route %q has no entry in auth's route table", rt)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	tokens := map[string]string{"anonymous": ""}
	for i, role := range []string{tandem.RoleOwner, tandem.RoleContributor, tandem.RoleReader, tandem.RoleDataScientist, tandem.RoleComputeOperator} {
		tokens[role] = bearer(a.principal("p"+string(rune('a'+i)), role, tandem.ScopeWorkspace))
	}
	fill := strings.NewReplacer("{name}", "nothing-here", "{version}", "1", "{path...}", "0/x/artifacts/f.txt", "{id}", "nope",
		"{model_id}", "m-nope", "{tag_key...}", "k", "{upload_id}", "u", "{part_number}", "1", "{deployment}", "nothing-here")
	for _, rt := range routes {
		method, pattern, _ := strings.Cut(rt, " ")
		path := fill.Replace(pattern)
		identityAPI := false
		for _, p := range []string{"/principals", "/tokens", "/roles", "/role-assignments", "/audit"} {
			identityAPI = identityAPI || strings.HasPrefix(path, "/api/tandem/v1"+p)
		}
		// AI gateway secrets hold provider credentials: key vault secrets too.
		vaultAPI := strings.HasPrefix(path, "/api/tandem/v1/secrets") || strings.Contains(path, "/mlflow/gateway/secrets/")
		// An endpoint's keys are a secret: listing them is an action, not a read.
		keysAPI := strings.HasSuffix(path, "/listKeys")
		// Scoring authenticates itself (endpoint keys or tokens): the
		// middleware lets it through to the router's own 401.
		public := path == "/health" || path == "/version" || path == "/api/tandem/v1/version" || path == "/api/tandem/v1/openapi.json" ||
			strings.HasPrefix(path, "/endpoints/") || strings.HasPrefix(path, "/console")
		read := !replication.IsWrite(method, path)
		// Compute is region-local (never forwarded, so not a "write" to
		// IsWrite) and has its own actions, Azure's computes/*.
		computeAPI := strings.HasPrefix(path, "/api/tandem/v1/compute")
		// Managing the workspace (Azure's workspaces/write): divergence
		// reports with their entries, replay, recording drills, writing
		// the workspace-wide settings.
		adminAPI := strings.HasPrefix(path, "/api/tandem/v1/failover/divergence") || path == "/api/tandem/v1/failover/replay" ||
			(method == "POST" && path == "/api/tandem/v1/drills") || (method != "GET" && strings.HasPrefix(path, "/api/tandem/v1/settings/"))
		if computeAPI {
			read = method == "GET"
		}
		for who, authz := range tokens {
			var want bool
			switch {
			case public:
				want = true
			case who == "anonymous":
				want = false
			case path == "/api/tandem/v1/whoami", path == "/api/tandem/v1/whoami/password": // one's own
				want = true
			case who == tandem.RoleOwner:
				want = true
			case adminAPI:
				want = who == tandem.RoleContributor
			case who == tandem.RoleContributor:
				want = !identityAPI || read
			case who == tandem.RoleReader:
				want = read && !keysAPI
			case who == tandem.RoleDataScientist:
				want = !identityAPI && !vaultAPI && (!computeAPI || read)
			case who == tandem.RoleComputeOperator:
				want = computeAPI
			}
			var body any
			if method != "GET" {
				body = map[string]any{}
			}
			code, out := a.do(method, path, authz, body)
			got := code != 401 && code != 403
			if got != want {
				t.Errorf("%s %s as %s: status %d %v; want allowed=%v", method, path, who, code, out, want)
			}
			if !got && who == "anonymous" && (code != 401 || out["error_code"] != "UNAUTHENTICATED") {
				t.Errorf("%s %s anonymous: %d %v; want 401 UNAUTHENTICATED", method, path, code, out)
			}
			if !got && who != "anonymous" && (code != 403 || out["error_code"] != "PERMISSION_DENIED") {
				t.Errorf("%s %s as %s: %d %v; want 403 PERMISSION_DENIED", method, path, who, code, out)
			}
		}
	}
}

// TestScriptsGetNoChallenge: a 401 challenges with Basic (browsers then
// prompt, as the MLflow UI relies on), except for a script that says it
// is one (X-Requested-With: XMLHttpRequest, the console), which shows its
// own sign-in form instead of the browser's dialog.
func TestScriptsGetNoChallenge(t *testing.T) {
	a := openAuthRegion(t)
	for _, xrw := range []string{"", "XMLHttpRequest"} {
		req, _ := http.NewRequest("GET", a.srv.URL+"/api/tandem/v1/regions", nil)
		if xrw != "" {
			req.Header.Set("X-Requested-With", xrw)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || (resp.Header.Get("WWW-Authenticate") != "") != (xrw == "") {
			t.Errorf("X-Requested-With %q: %d, WWW-Authenticate %q", xrw, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	req, _ := http.NewRequest("GET", a.srv.URL+"/api/tandem/v1/regions", nil)
	req.Header.Set("Authorization", bearer(a.owner))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the owner reading the workspace view: %d", resp.StatusCode)
	}
}

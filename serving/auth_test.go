package serving_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/keyvault"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/serving"
	"github.com/tandemml/tandem/storetest"
)

// TestScoringAuth: a key endpoint takes only its keys (a tandem token is
// not one); an aml_token endpoint takes a tandem token whose principal may
// score (Owner; not Reader: 403), and refuses missing or unknown tokens
// (401). Past the check, a region without scoring processes answers 503.
func TestScoringAuth(t *testing.T) {
	ctx := context.Background()
	owner, _, err := auth.NewToken("", "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := region.Open(ctx, region.Config{Name: "local", MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: storetest.FileURL(t),
		Auth: &region.AuthConfig{BootstrapToken: owner}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	svc := serving.New(serving.Config{Region: "local", Store: r.Store, Blobs: r.Blobs, Vault: r.Vault, CacheDir: t.TempDir(), Reconcile: time.Hour})
	svc.SetAuth(r.Auth)
	mux := http.NewServeMux()
	mux.Handle("/", r.Handler())
	mux.Handle("/endpoints/", svc.ScoringHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	call := func(method, path, token string, body any) map[string]any {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, srv.URL+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, out)
		}
		return out
	}
	reader := call("POST", "/api/tandem/v1/principals", owner, map[string]any{"name": "rita", "kind": "service_principal"})["token"].(string)
	call("POST", "/api/tandem/v1/role-assignments", owner, map[string]any{"role": tandem.RoleReader, "assignee": "rita", "scope": "/"})

	sealed, err := r.Vault.SealEndpointKeys(ctx, tandem.EndpointKeys{PrimaryKey: keyvault.NewEndpointKey(), SecondaryKey: keyvault.NewEndpointKey()})
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range []tandem.OnlineEndpoint{{Name: "key-ep"}, {Name: "token-ep", AuthMode: tandem.EndpointAuthToken}} {
		if _, err := r.Store.PutEndpoint(ctx, ep, sealed, tandem.PutCreate); err != nil {
			t.Fatal(err)
		}
	}
	svc.Poke()
	go svc.Run(t.Context())
	body := `{"inputs": [[1, 2]]}`
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, _ := score(t, srv.URL+"/endpoints/token-ep/score", owner, body)
		if status != 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the endpoints never reached the scoring router")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct {
		ep, token string
		want      int
		says      string
	}{
		{"token-ep", owner, 503, "routes no traffic"},
		{"token-ep", reader, 403, "may not"},
		{"token-ep", "", 401, "authentication required"},
		{"token-ep", "tdm_0123456789abcdef_" + strings.Repeat("A", 43), 401, "not valid"},
		{"key-ep", owner, 401, "not valid for online endpoint key-ep"},
		{"key-ep", "", 401, "needs one of its keys"},
		{"nope-ep", owner, 404, "not found"},
	} {
		status, resp := score(t, srv.URL+"/endpoints/"+c.ep+"/score", c.token, body)
		if status != c.want || !strings.Contains(resp, c.says) {
			t.Errorf("%s with %.12q: %d %s; want %d with %q", c.ep, c.token, status, resp, c.want, c.says)
		}
	}
}

package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tandemml/tandem/api"
)

// TestSecretRoutes: values go in and never come out; versions, disable,
// soft delete, recover and purge through the API; bad input is an API
// error that changes nothing; a datastore may refer to an existing secret.
func TestSecretRoutes(t *testing.T) {
	_, st, hs := newServer(t)
	const value = "api-canary-value-9f3c"
	var seen strings.Builder
	do := func(method, path, body string, want int) string {
		t.Helper()
		req, _ := http.NewRequest(method, hs.URL+api.Prefix+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		seen.Write(b)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		return string(b)
	}
	do("PUT", "/secrets/lake-key", `{"value":"`+value+`","content_type":"text/plain"}`, 200)
	out := do("PUT", "/secrets/lake-key", `{"value":"`+value+`-2"}`, 200)
	if !strings.Contains(out, `"version":"2"`) {
		t.Fatalf("second set: %s", out)
	}
	var vs api.SecretsResponse
	json.Unmarshal([]byte(do("GET", "/secrets/lake-key/versions", "", 200)), &vs)
	if len(vs.Secrets) != 2 || vs.Secrets[0].Version != "2" || !vs.Secrets[0].Enabled || vs.Secrets[0].CreatedMS == 0 {
		t.Fatalf("versions: %+v", vs)
	}
	do("PATCH", "/secrets/lake-key/versions/1", `{"enabled":false}`, 200)
	do("GET", "/secrets", "", 200)
	do("POST", "/datastores", `{"asset":{"kind":"datastore","name":"lake","spec":{"type":"azure_blob","account_name":"a","container_name":"c","credentials":{"account_key":"${{secrets.lake-key}}"}}}}`, 201)
	do("POST", "/datastores/lake/check", "{}", 501) // azure_blob: not reachable yet, credentials opened first

	before, _ := st.Head(t.Context())
	for _, c := range []struct{ method, path, body string }{
		{"PUT", "/secrets/bad_name", `{"value":"x"}`},
		{"PUT", "/secrets/a", `{"value":""}`},
		{"PUT", "/secrets/a", `{"value":"` + value + `", "nope": 1}`},
		{"PUT", "/secrets/a", `not json ` + value},
		{"PATCH", "/secrets/lake-key/versions/1", `{}`},
		{"POST", "/datastores", `{"asset":{"kind":"datastore","name":"x","spec":{"type":"azure_blob","account_name":"a","container_name":"c","credentials":{"account_key":"${{secrets.missing}}"}}}}`},
		{"POST", "/datastores", `{"asset":{"kind":"datastore","name":"x","spec":{"type":"azure_blob","account_name":"a","container_name":"c","credentials":{"account_key":"${{secret.typo}}"}}}}`},
	} {
		out := do(c.method, c.path, c.body, 400)
		if !strings.Contains(out, `"error_code":"invalid"`) {
			t.Errorf("%s %s: %s", c.method, c.path, out)
		}
	}
	do("GET", "/secrets/nope/versions", "", 404)
	do("PATCH", "/secrets/lake-key/versions/9", `{"enabled":true}`, 404)
	do("POST", "/secrets/lake-key/purge", "{}", 404) // not deleted
	if after, _ := st.Head(t.Context()); after != before {
		t.Fatalf("bad requests changed the journal: %v -> %v", before, after)
	}
	do("DELETE", "/secrets/lake-key", "", 200)
	if out := do("PUT", "/secrets/lake-key", `{"value":"x"}`, 400); !strings.Contains(out, `"conflict"`) {
		t.Fatalf("set on a deleted secret: %s", out)
	}
	if out := do("GET", "/secrets?deleted=true", "", 200); !strings.Contains(out, "lake-key") {
		t.Fatalf("deleted list: %s", out)
	}
	do("POST", "/secrets/lake-key/recover", "{}", 200)
	do("DELETE", "/secrets/lake-key", "", 200)
	do("POST", "/secrets/lake-key/purge", "{}", 200)
	do("GET", "/secrets/lake-key/versions", "", 404)
	if strings.Contains(seen.String(), value) {
		t.Fatal("a response carried a secret value")
	}
}

package api_test

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tandemml/tandem/api"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"gocloud.dev/secrets/localsecrets"
)

func newServer(t *testing.T) (*api.Server, *sqlstore.Store, *httptest.Server) {
	t.Helper()
	ctx := t.Context()
	st, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bl, err := blobstore.Open(ctx, storetest.FileURL(t))
	if err != nil {
		t.Fatal(err)
	}
	var key [32]byte
	rand.Read(key[:])
	s := api.New(api.Config{Store: st, Blobs: bl, Keeper: localsecrets.NewKeeper(key)})
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, st, hs
}

// TestOpenAPIMatchesRoutes: every registered route is in the served
// document and every operation of the document is served by a route (not
// by the catch-all "no route" answer).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s, _, hs := newServer(t)
	resp, err := http.Get(hs.URL + api.Prefix + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v %q", err, doc.OpenAPI)
	}
	inDoc := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			inDoc[strings.ToUpper(m)+" "+p] = true
		}
	}
	registered := map[string]bool{}
	for _, r := range s.Routes() {
		k := r.Method + " " + api.OpenAPIPath(r.Path)
		registered[k] = true
		if !inDoc[k] {
			t.Errorf("route %s is not in openapi.json", k)
		}
	}
	var ops []string
	for k := range inDoc {
		ops = append(ops, k)
		if !registered[k] {
			t.Errorf("openapi.json has %s but no route serves it", k)
		}
	}
	sort.Strings(ops)
	if len(ops) < 40 {
		t.Fatalf("only %d operations", len(ops))
	}
	// Every documented operation reaches its handler.
	for _, op := range ops {
		method, p, _ := strings.Cut(op, " ")
		p = strings.NewReplacer("{name}", "x", "{version}", "1", "{path}", "f.txt").Replace(p)
		req, _ := http.NewRequest(method, hs.URL+p, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "no route") {
			t.Errorf("%s (%s) is not served: %s", op, p, b)
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s answered %s", op, resp.Header.Get("Content-Type"))
		}
	}
}

// TestErrorFormat: bad input is a JSON error with a root code and status,
// and changes nothing.
func TestErrorFormat(t *testing.T) {
	_, st, hs := newServer(t)
	cases := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/environments", `{"asset":{"kind":"environment","name":"e","spec":{"image":"x","imagee":1}}}`, 400, "invalid"},
		{"POST", "/environments", `{"asset":{"kind":"environment","name":"e","spec":{}}}`, 400, "invalid"},
		{"POST", "/environments", `{"asset":{"kind":"data","name":"e","spec":{"type":"uri_file","path":"http://x"}}}`, 400, "invalid"},
		{"POST", "/environments", `not json`, 400, "invalid"},
		{"POST", "/data", `{"asset":{"kind":"data","name":"d","spec":{"type":"uri_folder","path":"d"}},"files":[{"path":"../x","content":""}]}`, 400, "invalid"},
		{"POST", "/data", `{"asset":{"kind":"data","name":"d","spec":{"type":"uri_folder","path":"d"}}}`, 400, "invalid"},
		{"POST", "/data", `{"asset":{"kind":"data","name":"d","spec":{"type":"uri_folder","path":"tandem://datastores/none/paths/x"}}}`, 400, "invalid"},
		{"GET", "/environments/nope", ``, 404, "not_found"},
		{"GET", "/environments/nope/versions/3", ``, 404, "not_found"},
		{"DELETE", "/environments/nope", ``, 404, "not_found"},
		{"GET", "/nothing", ``, 404, "not_found"},
	}
	before, _ := st.Head(t.Context())
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, hs.URL+api.Prefix+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			ErrorCode string `json:"error_code"`
			Message   string `json:"message"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != c.status || e.ErrorCode != c.code || e.Message == "" {
			t.Errorf("%s %s %s: %d %+v; want %d %s", c.method, c.path, c.body, resp.StatusCode, e, c.status, c.code)
		}
	}
	if after, _ := st.Head(t.Context()); after != before {
		t.Fatalf("bad requests changed the journal: %v -> %v", before, after)
	}
}

func TestSecretsKeyFileGenerated(t *testing.T) {
	dir := t.TempDir()
	kc := api.KeyConfigFromEnv("sqlite://" + filepath.Join(dir, "local", "tandem.db"))
	if kc.DefaultFile != filepath.Join(dir, "local", "secrets.key") {
		t.Fatalf("default key file = %s", kc.DefaultFile)
	}
	k1, err := api.OpenKeeper(kc)
	if err != nil || k1 == nil {
		t.Fatal(err)
	}
	ct, err := k1.Encrypt(t.Context(), []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := api.OpenKeeper(kc) // the same key is read back
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k2.Decrypt(t.Context(), ct); err != nil || string(pt) != "hello" {
		t.Fatalf("decrypt with reopened key: %q %v", pt, err)
	}
	if k, err := api.OpenKeeper(api.KeyConfig{Key: "c2hvcnQ="}); err == nil || k != nil {
		t.Fatal("a short key was accepted")
	}
	if k, err := api.OpenKeeper(api.KeyConfig{}); err != nil || k != nil {
		t.Fatalf("no key configured: %v %v", k, err)
	}
}

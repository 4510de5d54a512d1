package api_test

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"sort"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
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
	s := api.New(api.Config{Store: st, Jobs: sqlstore.NewJobs(st), Blobs: bl, Keeper: localsecrets.NewKeeper(key)})
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

// TestCreateUploads: the JSON form (inline base64) and the streaming
// multipart form both store the files; a multipart upload whose bytes do
// not match the declared digest, that leaves out a declared file or sends
// an undeclared one is refused and changes no metadata.
func TestCreateUploads(t *testing.T) {
	_, st, hs := newServer(t)
	post := func(ctype string, body io.Reader) (int, string) {
		resp, err := http.Post(hs.URL+api.Prefix+"/data", ctype, body)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const sumA = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb" // sha256("a")
	code, body := post("application/json", strings.NewReader(`{"asset":{"kind":"data","name":"j","spec":{"type":"uri_file","path":"x.txt"}},"files":[{"path":"x.txt","content":"YQ=="}]}`))
	if code != 201 || !strings.Contains(body, sumA) {
		t.Fatalf("json create: %d %s", code, body)
	}
	multi := func(declared, sent, content string) (int, string) {
		var buf strings.Builder
		mw := multipart.NewWriter(&buf)
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="asset"`)
		w, _ := mw.CreatePart(h)
		w.Write([]byte(`{"asset":{"kind":"data","name":"m","version":"1","spec":{"type":"uri_file","path":"x.txt"}},"files":[{"path":"x.txt","sha256":"` + declared + `"}]}`))
		if sent != "" {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", `form-data; name="file"`)
			h.Set(api.PathHeader, sent)
			w, _ := mw.CreatePart(h)
			w.Write([]byte(content))
		}
		mw.Close()
		return post(mw.FormDataContentType(), strings.NewReader(buf.String()))
	}
	before, _ := st.Head(t.Context())
	for _, c := range []struct{ declared, sent, content string }{
		{sumA, "x.txt", "b"}, // wrong bytes
		{sumA, "", ""},       // declared, not sent
		{sumA, "y.txt", "a"}, // undeclared part
	} {
		if code, body := multi(c.declared, c.sent, c.content); code != 400 || !strings.Contains(body, `"error_code":"invalid"`) {
			t.Errorf("%+v: %d %s", c, code, body)
		}
	}
	if after, _ := st.Head(t.Context()); after != before {
		t.Fatalf("refused uploads changed the journal")
	}
	if code, body := multi(sumA, "x.txt", "a"); code != 201 || !strings.Contains(body, sumA) {
		t.Fatalf("multipart create: %d %s", code, body)
	}
}

// TestListNameFilterRefusesNUL: a NUL in a list's name filter is invalid
// input on every backend (PostgreSQL cannot compare it: it was a 500 there,
// found by schemathesis), never a silent empty list.
func TestListNameFilterRefusesNUL(t *testing.T) {
	_, _, hs := newServer(t)
	for _, kind := range []string{"models", "environments", "data"} {
		resp, err := http.Get(hs.URL + "/api/tandem/v1/" + kind + "?name=%00")
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			ErrorCode string `json:"error_code"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || e.ErrorCode != tandem.EINVALID {
			t.Errorf("%s?name=NUL: %d %q, want 400 %s", kind, resp.StatusCode, e.ErrorCode, tandem.EINVALID)
		}
	}
}

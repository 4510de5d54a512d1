package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/api"
)

// TestBadRequestBodies: create and update bodies with trailing data, a key
// twice, an unknown field or a value of the wrong type are refused with
// 400 "invalid", a message that names the field by its JSON path and shows
// no Go name, and nothing is created or changed.
func TestBadRequestBodies(t *testing.T) {
	_, _, hs := newServer(t)
	send := func(method, path, body string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(method, hs.URL+api.Prefix+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out struct {
			ErrorCode string `json:"error_code"`
			Message   string `json:"message"`
		}
		json.Unmarshal(raw, &out)
		return resp.StatusCode, out.ErrorCode, out.Message
	}
	const good = `{"asset":{"kind":"data","name":"d","version":"1","spec":{"type":"uri_file","path":"s3://b/k.csv"}}}`
	if st, code, msg := send("POST", "/data", good); st != 201 {
		t.Fatalf("good create: %d %s %s", st, code, msg)
	}
	for _, c := range []struct{ method, path, body, want string }{
		{"POST", "/data", good + ` {"asset":{}}`, "unexpected data after the JSON object"},
		{"POST", "/data", `{"asset":{"kind":"data","name":"a","name":"b","spec":{"type":"uri_file","path":"s3://b/k"}}}`, "key 'asset.name' appears more than once"},
		{"POST", "/data", `{"asset":{"kind":"data","name":5}}`, "'asset.name': expected a string, got an integer"},
		{"POST", "/data", `{"asset":{"kind":"data","name":"e","spec":{"type":["uri_file"],"path":"s3://b/k"}}}`, "'asset.spec.type': expected a string, got an array"},
		{"POST", "/data", `{"asset":{"kind":"data","name":"e","spec":{"type":"uri_file","path":"s3://b/k","bogus":1}}}`, "unknown field 'asset.spec.bogus'"},
		{"POST", "/data", `{"asset":{"kind":"data","name":"e","colour":"red"}}`, "unknown field 'asset.colour'"},
		{"POST", "/data", `{"asset":{"kind":"data","name":"e"},"extra":true}`, "unknown field 'extra'"},
		{"POST", "/data", `{"asset":{"kind":"data","name":"e"},"files":[{"path":"a","content":7}]}`, "'files[0].content': expected a string"},
		{"POST", "/data", `{"asset":{"kind":"data","name":"e","tags":{"a":1}}}`, "'asset.tags.a': expected a string"},
		{"POST", "/data", `[]`, "the body must be a JSON object"},
		{"POST", "/data", `{"asset":`, "malformed JSON request"},
		{"PATCH", "/data/d/versions/1", `{"description":"x"}{}`, "unexpected data after the JSON object"},
		{"PATCH", "/data/d/versions/1", `{"description":"x","description":"y"}`, "key 'description' appears more than once"},
		{"PATCH", "/data/d/versions/1", `{"tags":{"a":1}}`, "'tags.a': expected a string, got an integer"},
		{"PATCH", "/data/d/versions/1", `{"description":false}`, "'description': expected a string, got a boolean"},
		{"PATCH", "/data/d/versions/1", `{"name":"x"}`, "unknown field 'name'"},
		// Query parameters the document calls boolean (found by schemathesis).
		{"GET", "/data?include_archived=", ``, "include_archived must be true or false"},
		{"GET", "/models?include_archived=yes", ``, "include_archived must be true or false"},
		{"GET", "/data/d/versions?include_archived=1", ``, "include_archived must be true or false"},
	} {
		st, code, msg := send(c.method, c.path, c.body)
		if st != 400 || code != "invalid" || !strings.Contains(msg, c.want) {
			t.Errorf("%s %s %s:\n  got  %d %s %q\n  want 400 invalid %q", c.method, c.path, c.body, st, code, msg, c.want)
		}
		for _, w := range []string{"tandem.", "api.", "strictjson", "code=", "Go struct", "Go value", "json: ", "int64", "map["} {
			if strings.Contains(msg, w) {
				t.Errorf("%s %s: message %q shows %q", c.method, c.path, msg, w)
			}
		}
	}
	resp, err := http.Get(hs.URL + api.Prefix + "/data?name=d")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list api.ListResponse
	json.NewDecoder(resp.Body).Decode(&list)
	if len(list.Assets) != 1 || list.Assets[0].Description != "" {
		t.Fatalf("refused requests changed data d: %+v", list.Assets)
	}
	for _, n := range []string{"a", "b", "e"} {
		if st, _, _ := send("GET", "/data/"+n, ""); st != 404 {
			t.Errorf("data %s of a refused create exists: %d", n, st)
		}
	}
}

// TestOpenAPIPatternsMatchValidation: the name and version patterns the
// document states accept exactly what tandem's validation accepts.
func TestOpenAPIPatternsMatchValidation(t *testing.T) {
	s, _, _ := newServer(t)
	doc, _ := json.Marshal(s.OpenAPI())
	var d struct {
		Components struct {
			Schemas map[string]struct {
				Properties struct {
					Asset struct {
						Properties map[string]struct {
							Pattern string `json:"pattern"`
						} `json:"properties"`
					} `json:"asset"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	data := d.Components.Schemas["CreateDataRequest"].Properties.Asset.Properties
	nameRE := regexp.MustCompile(data["name"].Pattern)
	versionRE := regexp.MustCompile(data["version"].Pattern)
	modelRE := regexp.MustCompile(d.Components.Schemas["CreateModelRequest"].Properties.Asset.Properties["version"].Pattern)
	samples := []string{"", "a", "A.b-c_d", ".a", "-a", "a b", "a/b", "é", "latest", "1", "01", "0", "+1", "1.0", "a\x00",
		strings.Repeat("a", 64), strings.Repeat("a", 65), strings.Repeat("n", 255), strings.Repeat("n", 256), "99999999999999999999"}
	for _, v := range samples {
		if got, want := nameRE.MatchString(v), tandem.ValidateName(v) == nil; got != want {
			t.Errorf("name %q: pattern says %v, ValidateName %v", v, got, want)
		}
		if got, want := versionRE.MatchString(v) || v == "latest", tandem.ValidateVersion(v) == nil || v == "latest"; got != want {
			t.Errorf("version %q: pattern says %v, ValidateVersion %v", v, got, want)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if got, want := modelRE.MatchString(v), err == nil && n >= 1 && tandem.ValidateVersion(v) == nil; got != want {
			t.Errorf("model version %q: pattern says %v, server %v", v, got, want)
		}
	}
}

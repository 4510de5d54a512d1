package mlflowapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/mlflowapi"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

type regEnv struct {
	t     *testing.T
	store *sqlstore.Store
	srv   *httptest.Server
}

// newRegEnv starts the MLflow API on a real store, with experiment "1" and
// run "r1" present (created directly in the tracking tables, which the
// tracking area owns; created here when its migration is not merged yet).
func newRegEnv(t *testing.T, metaURL string) *regEnv {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, metaURL, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := blobstore.Open(ctx, storetest.FileURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS experiments (experiment_id TEXT PRIMARY KEY, num_id BIGINT NOT NULL UNIQUE, name TEXT NOT NULL UNIQUE,
			artifact_location TEXT NOT NULL, lifecycle_stage TEXT NOT NULL, creation_time BIGINT NOT NULL, last_update_time BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, experiment_id TEXT NOT NULL, name TEXT NOT NULL, user_id TEXT NOT NULL,
			status TEXT NOT NULL, start_time BIGINT NOT NULL, end_time BIGINT, artifact_uri TEXT NOT NULL, lifecycle_stage TEXT NOT NULL, deleted_time BIGINT)`,
		`INSERT INTO experiments (experiment_id, num_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
			VALUES ('1', 1, 'reg-api-test', 'mlflow-artifacts:/1', 'active', 0, 0) ON CONFLICT DO NOTHING`,
		`INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, artifact_uri, lifecycle_stage)
			VALUES ('r1', '1', 'run', 'u', 'RUNNING', 0, 'mlflow-artifacts:/1/r1/artifacts', 'active') ON CONFLICT DO NOTHING`,
	} {
		if _, err := store.DB().Exec(q); err != nil {
			t.Fatalf("fixture: %v", err)
		}
	}
	api := mlflowapi.New(store, blobs, nil)
	if err := api.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &regEnv{t: t, store: store, srv: srv}
}

// call sends a request (body as JSON, or as the query string for GET) and
// returns the status and decoded JSON response.
func (e *regEnv) call(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	u := e.srv.URL + "/api/2.0/mlflow/" + path
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s %s: response is not JSON: %q", method, path, raw)
	}
	return resp.StatusCode, out
}

func (e *regEnv) head() int64 {
	e.t.Helper()
	p, err := e.store.Head(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Seq
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}

// dig follows path through nested JSON objects (nil where one is missing).
func dig(v any, path ...string) any {
	cur := v
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

// TestRegistryAPIFlow drives what MLflow 3.17's client does for log_model,
// register_model, set alias and load "models:/NAME@ALIAS", and checks the
// JSON shapes it relies on.
func TestRegistryAPIFlow(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newRegEnv(t, b.URL)
			st, lm := e.call("POST", "logged-models", map[string]any{"experiment_id": "1", "name": "model", "source_run_id": "r1",
				"tags": []map[string]string{{"key": "mlflow.user", "value": "me"}}})
			if st != 200 {
				t.Fatalf("create logged model: %d %v", st, lm)
			}
			id, _ := dig(lm, "model", "info", "model_id").(string)
			if !regexp.MustCompile(`^m-[0-9a-f]{32}$`).MatchString(id) {
				t.Fatalf("model id %q", id)
			}
			if got := dig(lm, "model", "info", "artifact_uri"); got != "mlflow-artifacts:/1/models/"+id+"/artifacts" {
				t.Fatalf("artifact_uri = %v", got)
			}
			if got := dig(lm, "model", "info", "status"); got != "LOGGED_MODEL_PENDING" {
				t.Fatalf("status = %v", got)
			}
			if st, got := e.call("GET", "logged-models/"+id, nil); st != 200 || dig(got, "model", "info", "name") != "model" {
				t.Fatalf("get logged model: %d %v", st, got)
			}
			if st, got := e.call("PATCH", "logged-models/"+id, map[string]any{"model_id": id, "status": "LOGGED_MODEL_READY"}); st != 200 ||
				dig(got, "model", "info", "status") != "LOGGED_MODEL_READY" {
				t.Fatalf("finalize: %d %v", st, got)
			}
			// The model's files go through the artifact proxy; the UI lists them.
			put, _ := http.NewRequest("PUT", e.srv.URL+"/api/2.0/mlflow-artifacts/artifacts/1/models/"+id+"/artifacts/MLmodel", strings.NewReader("flavors: {}\n"))
			if resp, err := http.DefaultClient.Do(put); err != nil || resp.StatusCode != 200 {
				t.Fatalf("upload MLmodel: %v %v", resp, err)
			} else {
				resp.Body.Close()
			}
			st, got := e.call("GET", "logged-models/"+id+"/artifacts/directories", nil)
			if files, _ := got["files"].([]any); st != 200 || len(files) != 1 || files[0].(map[string]any)["path"] != "MLmodel" ||
				got["root_uri"] != "mlflow-artifacts:/1/models/"+id+"/artifacts" {
				t.Fatalf("list logged model artifacts: %d %v", st, got)
			}
			if st, _ := e.call("GET", "logged-models/"+id+"/artifacts/directories"+q("artifact_directory_path", "../x"), nil); st != 400 {
				t.Fatalf("list with ..: %d", st)
			}
			if st, got := e.call("POST", "registered-models/create", map[string]any{"name": "RegM"}); st != 200 ||
				dig(got, "registered_model", "name") != "RegM" {
				t.Fatalf("create registered model: %d %v", st, got)
			}
			st, mv := e.call("POST", "model-versions/create", map[string]any{"name": "RegM", "source": "models:/" + id, "model_id": id})
			if st != 200 || dig(mv, "model_version", "version") != "1" || dig(mv, "model_version", "run_id") != "r1" ||
				dig(mv, "model_version", "current_stage") != "None" || dig(mv, "model_version", "status") != "READY" {
				t.Fatalf("create model version: %d %v", st, mv)
			}
			// MLflow's server records the registration on the logged model.
			_, got = e.call("GET", "logged-models/"+id, nil)
			tags, _ := dig(got, "model", "info", "tags").([]any)
			found := false
			for _, tg := range tags {
				if m := tg.(map[string]any); m["key"] == "mlflow.modelVersions" && m["value"] == `[{"name": "RegM", "version": 1}]` {
					found = true
				}
			}
			if !found {
				t.Fatalf("mlflow.modelVersions tag missing: %v", tags)
			}
			if st, got := e.call("POST", "registered-models/alias", map[string]any{"name": "RegM", "alias": "champion", "version": "1"}); st != 200 || len(got) != 0 {
				t.Fatalf("set alias: %d %v", st, got)
			}
			st, got = e.call("GET", "registered-models/alias"+q("name", "RegM", "alias", "champion"), nil)
			if st != 200 || dig(got, "model_version", "version") != "1" || dig(got, "model_version", "source") != "models:/"+id {
				t.Fatalf("get by alias: %d %v", st, got)
			}
			if al, _ := dig(got, "model_version", "aliases").([]any); len(al) != 1 || al[0] != "champion" {
				t.Fatalf("aliases = %v", al)
			}
			st, got = e.call("GET", "model-versions/get-download-uri"+q("name", "RegM", "version", "1"), nil)
			if st != 200 || got["artifact_uri"] != "mlflow-artifacts:/1/models/"+id+"/artifacts" {
				t.Fatalf("download uri: %d %v", st, got)
			}
			st, got = e.call("GET", "registered-models/get"+q("name", "RegM"), nil)
			if st != 200 || dig(got, "registered_model", "aliases") == nil || dig(got, "registered_model", "latest_versions") == nil {
				t.Fatalf("get registered model: %d %v", st, got)
			}
			// The ajax prefix serves the same routes.
			resp, err := http.Get(e.srv.URL + "/ajax-api/2.0/mlflow/registered-models/get?name=RegM")
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("ajax get: %v %v", resp, err)
			}
			resp.Body.Close()
		})
	}
}

// TestRegistryAPIErrors checks MLflow's error codes and statuses, and that
// rejected requests append no journal entry.
func TestRegistryAPIErrors(t *testing.T) {
	e := newRegEnv(t, storetest.SQLiteURL(t))
	e.call("POST", "registered-models/create", map[string]any{"name": "E"})
	e.call("POST", "model-versions/create", map[string]any{"name": "E", "source": "s3://b/m"})
	cases := []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"GET", "registered-models/get" + q("name", "nope"), nil, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "registered-models/create", map[string]any{"name": "E"}, 400, "RESOURCE_ALREADY_EXISTS"},
		{"POST", "registered-models/create", map[string]any{"name": ""}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "registered-models/create", `{"name": 5}`, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "registered-models/create", `{"name": "x"`, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "registered-models/create", map[string]any{"name": "T", "tags": []map[string]string{{"key": "", "value": "v"}}}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "registered-models/create", "{\"name\": \"\xff\"}", 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "registered-models/rename", map[string]any{"name": "nope", "new_name": "x"}, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"DELETE", "registered-models/delete", map[string]any{"name": "nope"}, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "registered-models/set-tag", map[string]any{"name": "E", "key": strings.Repeat("k", 300), "value": "v"}, 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "model-versions/get" + q("name", "E", "version", "9"), nil, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"GET", "model-versions/get" + q("name", "E", "version", "abc"), nil, 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "model-versions/get" + q("name", "E", "version", "0"), nil, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "registered-models/create", map[string]any{"name": "a/b"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "registered-models/create", map[string]any{"name": "a:b"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "registered-models/create", map[string]any{"name": "a\x00b"}, 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "registered-models/search" + q("order_by", "name ASC", "order_by", "name DESC"), nil, 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "registered-models/alias" + q("name", "E", "alias", "nope"), nil, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "registered-models/alias", map[string]any{"name": "E", "alias": "v1", "version": "1"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "registered-models/alias", map[string]any{"name": "E", "alias": "Latest", "version": "1"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "registered-models/alias", map[string]any{"name": "E", "alias": "a", "version": "7"}, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "model-versions/create", map[string]any{"name": "Nope", "source": "s3://b/x"}, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "model-versions/create", map[string]any{"name": "E", "source": "/tmp/x"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "model-versions/create", map[string]any{"name": "E", "source": "s3://b/../x"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "model-versions/create", map[string]any{"name": "E", "source": "models:/m-0123"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "model-versions/create", map[string]any{"name": "E"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "model-versions/create", map[string]any{"name": "E", "source": "runs:/r1/model"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "model-versions/create", map[string]any{"name": "E", "source": "runs:/r1/model", "run_id": "r2"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "model-versions/create", map[string]any{"name": "E", "source": "mlflow-artifacts:/1/r1/artifacts/model"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "model-versions/create", map[string]any{"name": "E", "source": "mlflow-artifacts:/1/r2/artifacts/model", "run_id": "r1"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "model-versions/create", map[string]any{"name": "E", "source": "mlflow-artifacts:/1/r1/artifacts/model", "run_id": "nope"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "model-versions/create", map[string]any{"name": "E", "source": "models:/E/1", "model_id": "m-00000000000000000000000000000000"}, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "model-versions/create", map[string]any{"name": "E", "source": "models:/E/7"}, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "model-versions/create", map[string]any{"name": "E", "source": "models:/m-00000000000000000000000000000000",
			"model_id": "m-00000000000000000000000000000000"}, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "model-versions/transition-stage", map[string]any{"name": "E", "version": "1", "stage": "Bogus"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "model-versions/transition-stage", map[string]any{"name": "E", "version": "1", "stage": "Archived", "archive_existing_versions": true}, 400, "INVALID_PARAMETER_VALUE"},
		{"DELETE", "model-versions/delete", map[string]any{"name": "E", "version": "5"}, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"GET", "model-versions/get-download-uri" + q("name", "E", "version", "3"), nil, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"GET", "registered-models/search" + q("filter", "bogus = 'x'"), nil, 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "registered-models/search" + q("max_results", "5000"), nil, 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "registered-models/search" + q("page_token", "!!"), nil, 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "model-versions/search" + q("order_by", "bogus"), nil, 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "logged-models/m-00000000000000000000000000000000", nil, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "logged-models", map[string]any{}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "logged-models", map[string]any{"experiment_id": "999"}, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"POST", "logged-models/search", map[string]any{}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "logged-models/search", map[string]any{"experiment_ids": []string{"1"}, "filter": "bogus ~~ 3"}, 400, "INVALID_PARAMETER_VALUE"},
		{"PATCH", "logged-models/m-00000000000000000000000000000000", map[string]any{"model_id": "m-00000000000000000000000000000000", "status": "LOGGED_MODEL_READY"}, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"PATCH", "logged-models/m-00000000000000000000000000000000", map[string]any{"status": "LOGGED_MODEL_READY"}, 400, "INVALID_PARAMETER_VALUE"},
		{"POST", "logged-models/m-00000000000000000000000000000000/params", map[string]any{"params": []any{}}, 400, "INVALID_PARAMETER_VALUE"},
		{"DELETE", "logged-models/m-00000000000000000000000000000000", nil, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"GET", "registered-models/nope", nil, 501, "NOT_IMPLEMENTED"},
		// A served path with another method: 405, as MLflow answers.
		{"GET", "registered-models/create", nil, 405, "BAD_REQUEST"},
		{"POST", "registered-models/get", map[string]any{"name": "E"}, 405, "BAD_REQUEST"},
		{"PUT", "logged-models/m-00000000000000000000000000000000", map[string]any{}, 405, "BAD_REQUEST"},
	}
	for _, c := range cases {
		before := e.head()
		st, got := e.call(c.method, c.path, c.body)
		if st != c.status || got["error_code"] != c.code {
			t.Errorf("%s %s %v: %d %v; want %d %s", c.method, c.path, c.body, st, got, c.status, c.code)
		}
		if msg, _ := got["message"].(string); msg == "" {
			t.Errorf("%s %s: no message", c.method, c.path)
		}
		if after := e.head(); after != before {
			t.Errorf("%s %s: rejected request appended %d journal entries", c.method, c.path, after-before)
		}
	}
}

// TestRegistryWritesJournalOnce calls every registry and logged-model write
// endpoint once and checks each appends exactly one journal entry, and
// that together they cover every registry op the store registers.
func TestRegistryWritesJournalOnce(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newRegEnv(t, b.URL)
			_, lm := e.call("POST", "logged-models", map[string]any{"experiment_id": "1", "name": "m", "source_run_id": "r1"})
			id, _ := dig(lm, "model", "info", "model_id").(string)
			writes := []struct {
				method, path string
				body         any
			}{
				{"POST", "logged-models", map[string]any{"experiment_id": "1", "params": []map[string]string{{"key": "a", "value": "1"}}}},
				{"PATCH", "logged-models/" + id, map[string]any{"model_id": id, "status": "LOGGED_MODEL_READY"}},
				{"PATCH", "logged-models/" + id + "/tags", map[string]any{"tags": []map[string]string{{"key": "t", "value": "1"}, {"key": "u/v", "value": "2"}}}},
				{"DELETE", "logged-models/" + id + "/tags/u/v", nil},
				{"POST", "logged-models/" + id + "/params", map[string]any{"model_id": id, "params": []map[string]string{{"key": "p", "value": "1"}}}},
				{"POST", "registered-models/create", map[string]any{"name": "W", "description": "d", "tags": []map[string]string{{"key": "a", "value": "b"}}}},
				{"POST", "registered-models/rename", map[string]any{"name": "W", "new_name": "W2"}},
				{"PATCH", "registered-models/update", map[string]any{"name": "W2", "description": "dd"}},
				{"POST", "registered-models/set-tag", map[string]any{"name": "W2", "key": "k", "value": "v"}},
				{"DELETE", "registered-models/delete-tag", map[string]any{"name": "W2", "key": "k"}},
				{"POST", "model-versions/create", map[string]any{"name": "W2", "source": "models:/" + id, "model_id": id}},
				{"POST", "model-versions/create", map[string]any{"name": "W2", "source": "runs:/r1/model", "run_id": "r1"}},
				{"POST", "model-versions/create", map[string]any{"name": "W2", "source": "mlflow-artifacts:/1/r1/artifacts/model", "run_id": "r1"}},
				{"POST", "model-versions/create", map[string]any{"name": "W2", "source": "s3://b/m", "run_id": "elsewhere"}},
				{"POST", "model-versions/create", map[string]any{"name": "W2", "source": "models:/W2/1"}},
				{"PATCH", "model-versions/update", map[string]any{"name": "W2", "version": "1", "description": "x"}},
				{"POST", "model-versions/transition-stage", map[string]any{"name": "W2", "version": "1", "stage": "Staging", "archive_existing_versions": true}},
				{"POST", "model-versions/set-tag", map[string]any{"name": "W2", "version": 1, "key": "k", "value": "v"}},
				{"DELETE", "model-versions/delete-tag", map[string]any{"name": "W2", "version": "1", "key": "k"}},
				{"POST", "registered-models/alias", map[string]any{"name": "W2", "alias": "best", "version": "1"}},
				{"DELETE", "registered-models/alias", map[string]any{"name": "W2", "alias": "best"}},
				{"DELETE", "model-versions/delete", map[string]any{"name": "W2", "version": "2"}},
				{"DELETE", "logged-models/" + id, nil},
				{"DELETE", "logged-models/" + id, nil}, // deleting again succeeds, as in MLflow
				{"DELETE", "registered-models/delete", map[string]any{"name": "W2"}},
			}
			seen := map[string]bool{}
			for _, w := range writes {
				// A malformed body is refused and changes nothing (the tag
				// delete takes no body).
				if !strings.Contains(w.path, "/tags/") {
					before := e.head()
					if st, got := e.call(w.method, w.path, "{not json"); st != 400 || got["error_code"] != "INVALID_PARAMETER_VALUE" {
						t.Fatalf("%s %s malformed: %d %v", w.method, w.path, st, got)
					}
					if e.head() != before {
						t.Fatalf("%s %s: a malformed request appended a journal entry", w.method, w.path)
					}
				}
				before := e.head()
				st, got := e.call(w.method, w.path, w.body)
				if st != 200 {
					t.Fatalf("%s %s: %d %v", w.method, w.path, st, got)
				}
				after := e.head()
				if after != before+1 {
					t.Fatalf("%s %s appended %d journal entries; want 1", w.method, w.path, after-before)
				}
				es, err := e.store.ReadJournal(context.Background(), before, 10)
				if err != nil || len(es) != 1 {
					t.Fatalf("read journal: %v %v", es, err)
				}
				if es[0].Kind != "models" {
					t.Fatalf("%s: kind %s", es[0].Op, es[0].Kind)
				}
				seen[es[0].Op] = true
			}
			for _, op := range e.store.Ops() {
				if strings.HasPrefix(op, "registered_model.") || strings.HasPrefix(op, "model_version.") || strings.HasPrefix(op, "logged_model.") {
					if !seen[op] {
						t.Errorf("op %s has no write endpoint in this test", op)
					}
				}
			}
		})
	}
}

// TestRegistryAPISearch covers search shapes and paging through HTTP.
func TestRegistryAPISearch(t *testing.T) {
	e := newRegEnv(t, storetest.SQLiteURL(t))
	for _, n := range []string{"a1", "a2", "a3", "b1"} {
		e.call("POST", "registered-models/create", map[string]any{"name": n})
		e.call("POST", "model-versions/create", map[string]any{"name": n, "source": "s3://b/" + n})
	}
	st, got := e.call("GET", "registered-models/search"+q("filter", "name LIKE 'a%'", "max_results", "2", "order_by", "name DESC"), nil)
	rms, _ := got["registered_models"].([]any)
	if st != 200 || len(rms) != 2 || rms[0].(map[string]any)["name"] != "a3" || got["next_page_token"] == nil {
		t.Fatalf("search page 1: %d %v", st, got)
	}
	st, got = e.call("GET", "registered-models/search"+q("filter", "name LIKE 'a%'", "max_results", "2", "order_by", "name DESC",
		"page_token", got["next_page_token"].(string)), nil)
	rms, _ = got["registered_models"].([]any)
	if st != 200 || len(rms) != 1 || rms[0].(map[string]any)["name"] != "a1" || got["next_page_token"] != nil {
		t.Fatalf("search page 2: %d %v", st, got)
	}
	st, got = e.call("GET", "model-versions/search"+q("filter", "name = 'b1'"), nil)
	if mvs, _ := got["model_versions"].([]any); st != 200 || len(mvs) != 1 {
		t.Fatalf("search versions: %d %v", st, got)
	}
	st, got = e.call("GET", "registered-models/search"+q("filter", "name = 'zzz'"), nil)
	if st != 200 || len(got) != 0 {
		t.Fatalf("empty search: %d %v", st, got)
	}
	st, got = e.call("POST", "registered-models/get-latest-versions", map[string]any{"name": "a1", "stages": []string{"None"}})
	if mvs, _ := got["model_versions"].([]any); st != 200 || len(mvs) != 1 {
		t.Fatalf("latest versions: %d %v", st, got)
	}
	e.call("POST", "logged-models", map[string]any{"experiment_id": "1", "name": "x", "model_type": "agent"})
	e.call("POST", "logged-models", map[string]any{"experiment_id": "1", "name": "y"})
	st, got = e.call("POST", "logged-models/search", map[string]any{"experiment_ids": []string{"1"}, "filter": "model_type = 'agent'",
		"order_by": []map[string]any{{"field_name": "creation_time", "ascending": false}}})
	if ms, _ := got["models"].([]any); st != 200 || len(ms) != 1 || dig(ms[0].(map[string]any), "info", "name") != "x" {
		t.Fatalf("search logged models: %d %v", st, got)
	}
	st, got = e.call("POST", "logged-models/search", map[string]any{"experiment_ids": []string{"1"}, "filter": "metrics.acc > 0.5",
		"order_by": []map[string]any{{"field_name": "metrics.acc"}}})
	if st != 200 || len(got) != 0 {
		t.Fatalf("metric filter (tandem keeps no model metrics): %d %v", st, got)
	}
	st, got = e.call("POST", "logged-models/search", map[string]any{"experiment_ids": []string{"1"}, "max_results": 1})
	if ms, _ := got["models"].([]any); st != 200 || len(ms) != 1 || got["next_page_token"] == nil {
		t.Fatalf("search logged models page: %d %v", st, got)
	}
}

package mlflowapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/mlflowapi"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

type env struct {
	t     *testing.T
	store *sqlstore.Store
	api   *mlflowapi.Server
	srv   *httptest.Server
}

func newEnvs(t *testing.T) map[string]*env {
	t.Helper()
	out := map[string]*env{}
	ctx := context.Background()
	for _, b := range storetest.MetadataURLs(t) {
		st, err := sqlstore.Open(ctx, b.URL, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		blobs, err := blobstore.Open(ctx, storetest.FileURL(t))
		if err != nil {
			t.Fatal(err)
		}
		api := mlflowapi.New(st, blobs, nil)
		if err := api.Bootstrap(ctx); err != nil {
			t.Fatal(err)
		}
		if err := api.Bootstrap(ctx); err != nil { // idempotent
			t.Fatal(err)
		}
		srv := httptest.NewServer(api)
		t.Cleanup(func() { srv.Close(); blobs.Close(); st.Close() })
		out[b.Name] = &env{store: st, api: api, srv: srv}
	}
	return out
}

// call sends a request and returns the status and decoded JSON body.
func (e *env) call(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	u := e.srv.URL + "/api/2.0/mlflow/" + path
	if method == "GET" && body != nil {
		q := url.Values{}
		for k, v := range body.(map[string]any) {
			switch vv := v.(type) {
			case []string:
				q[k] = vv
			default:
				q.Set(k, fmt.Sprint(vv))
			}
		}
		u += "?" + q.Encode()
	} else if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
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
		e.t.Fatalf("%s %s: response is not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, out
}

func (e *env) ok(method, path string, body any) map[string]any {
	e.t.Helper()
	st, out := e.call(method, path, body)
	if st != 200 {
		e.t.Fatalf("%s %s: %d %v", method, path, st, out)
	}
	return out
}

func (e *env) seq() int64 {
	h, err := e.store.Head(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return h.Seq
}

// TestTrackingWritesJournal sends every tracking write endpoint a valid
// request (each must append exactly one journal entry) and a bad one (no
// entry, MLflow's error code and status).
func TestTrackingWritesJournal(t *testing.T) {
	for name, e := range newEnvs(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			exp := e.ok("POST", "experiments/create", map[string]any{"name": "j"})["experiment_id"].(string)
			run := e.ok("POST", "runs/create", map[string]any{"experiment_id": exp, "start_time": 5})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
			e.ok("POST", "runs/set-tag", map[string]any{"run_id": run, "key": "del", "value": "x"})
			e.ok("POST", "experiments/set-experiment-tag", map[string]any{"experiment_id": exp, "key": "del", "value": "x"})
			other := e.ok("POST", "experiments/create", map[string]any{"name": "to-delete"})["experiment_id"].(string)
			otherRun := e.ok("POST", "runs/create", map[string]any{"experiment_id": exp})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)

			type call struct {
				path      string
				good      any
				bad       any
				badStatus int
				badCode   string
			}
			const inv, nf, ex = "INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS"
			model := fmt.Sprintf(`{"artifact_path":"m","flavors":{},"utc_time_created":"now","run_id":"%s"}`, run)
			calls := []call{
				{"experiments/create", map[string]any{"name": "new", "tags": []map[string]string{{"key": "a", "value": "b"}}}, map[string]any{"name": "j"}, 400, ex},
				{"experiments/create", map[string]any{"name": "new2"}, map[string]any{"name": ""}, 400, inv},
				{"experiments/update", map[string]any{"experiment_id": exp, "new_name": "j2"}, map[string]any{"experiment_id": "999", "new_name": "x"}, 404, nf},
				{"experiments/set-experiment-tag", map[string]any{"experiment_id": exp, "key": "k", "value": "v"}, map[string]any{"experiment_id": exp, "key": "../k", "value": "v"}, 400, inv},
				{"experiments/delete-experiment-tag", map[string]any{"experiment_id": exp, "key": "del"}, map[string]any{"experiment_id": exp, "key": "absent"}, 404, nf},
				{"experiments/delete", map[string]any{"experiment_id": other}, map[string]any{"experiment_id": "999"}, 404, nf},
				{"experiments/restore", map[string]any{"experiment_id": other}, map[string]any{"experiment_id": other}, 404, nf},
				{"runs/create", map[string]any{"experiment_id": exp, "run_name": "r", "tags": []map[string]string{{"key": "t", "value": "v"}}}, map[string]any{"experiment_id": "999"}, 404, nf},
				{"runs/update", map[string]any{"run_id": run, "status": "FINISHED", "end_time": 9}, map[string]any{"run_id": run, "status": "NOPE"}, 400, inv},
				{"runs/log-metric", map[string]any{"run_id": run, "key": "m", "value": 1.5, "timestamp": 1, "step": 2}, map[string]any{"run_id": run, "key": "m", "value": 1}, 400, inv},
				{"runs/log-parameter", map[string]any{"run_id": run, "key": "p", "value": "1"}, map[string]any{"run_id": "nope", "key": "p", "value": "1"}, 404, nf},
				{"runs/log-batch", map[string]any{"run_id": run, "metrics": []map[string]any{{"key": "m", "value": "NaN", "timestamp": 2, "step": 3}}, "params": []map[string]string{{"key": "p2", "value": "x"}}, "tags": []map[string]string{{"key": "t", "value": "v"}}},
					map[string]any{"run_id": run, "params": []map[string]string{{"key": "p", "value": "changed"}}}, 400, inv},
				{"runs/set-tag", map[string]any{"run_id": run, "key": "t2", "value": "v"}, map[string]any{"run_id": run, "key": "/abs", "value": "v"}, 400, inv},
				{"runs/delete-tag", map[string]any{"run_id": run, "key": "del"}, map[string]any{"run_id": run, "key": "del-absent"}, 404, nf},
				{"runs/log-model", map[string]any{"run_id": run, "model_json": model}, map[string]any{"run_id": run, "model_json": "{not json"}, 400, inv},
				{"runs/log-inputs", map[string]any{"run_id": run, "datasets": []map[string]any{{"tags": []map[string]string{{"key": "mlflow.data.context", "value": "train"}}, "dataset": map[string]string{"name": "d", "digest": "1", "source_type": "local", "source": "{}"}}}},
					map[string]any{"run_id": run, "datasets": []map[string]any{{"dataset": map[string]string{"name": "d", "digest": strings.Repeat("x", 40), "source_type": "local", "source": "{}"}}}}, 400, inv},
				{"runs/outputs", map[string]any{"run_id": run, "models": []map[string]any{{"model_id": "m-1", "step": 1}}}, map[string]any{"run_id": "nope", "models": []map[string]any{{"model_id": "m-1"}}}, 404, nf},
				{"runs/delete", map[string]any{"run_id": otherRun}, map[string]any{"run_id": "nope"}, 404, nf},
				{"runs/restore", map[string]any{"run_id": otherRun}, map[string]any{"run_id": "nope"}, 404, nf},
			}
			ops := map[string]bool{}
			for _, c := range calls {
				before := e.seq()
				e.ok("POST", c.path, c.good)
				after := e.seq()
				if after != before+1 {
					t.Fatalf("%s: journal grew by %d entries; want 1", c.path, after-before)
				}
				es, err := e.store.ReadJournal(context.Background(), before, 10)
				if err != nil || len(es) != 1 {
					t.Fatalf("%s: journal read %v %v", c.path, es, err)
				}
				ops[es[0].Op] = true
				st, out := e.call("POST", c.path, c.bad)
				if st != c.badStatus || out["error_code"] != c.badCode {
					t.Fatalf("%s bad input: %d %v; want %d %s", c.path, st, out, c.badStatus, c.badCode)
				}
				if e.seq() != after {
					t.Fatalf("%s: bad input appended a journal entry", c.path)
				}
			}
			// Malformed bodies change nothing either.
			before := e.seq()
			for _, c := range calls {
				if st, out := e.call("POST", c.path, "{not json"); st != 400 || out["error_code"] != inv {
					t.Fatalf("%s malformed: %d %v", c.path, st, out)
				}
			}
			if e.seq() != before {
				t.Fatal("malformed requests appended journal entries")
			}
			// Every tracking op is reachable from some endpoint.
			var missing []string
			for _, op := range e.store.Ops() {
				if (strings.HasPrefix(op, "experiment.") || strings.HasPrefix(op, "run.")) && !ops[op] {
					missing = append(missing, op)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Fatalf("tracking ops no endpoint exercised: %v", missing)
			}
		})
	}
}

//go:build tandemtest

package replication_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func keyedPost(t *testing.T, url, body, key string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// A write sent twice with the same Idempotency-Key is applied once and the
// second gets the first answer, for creates and for a non-idempotent
// log-metric (answered from its key the second time); a bad key is refused in MLflow's format.
func TestIdempotencyKeyOnPrimary(t *testing.T) {
	_, srv := openPrimary(t)
	api := srv.URL + "/api/2.0/mlflow"
	code, first, _ := keyedPost(t, api+"/experiments/create", `{"name": "idem"}`, "k-exp")
	code2, second, h := keyedPost(t, api+"/experiments/create", `{"name": "idem"}`, "k-exp")
	if code != 200 || code2 != 200 || first != second || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("experiment: %d %s / %d %s %v", code, first, code2, second, h)
	}
	var exp struct {
		ID string `json:"experiment_id"`
	}
	json.Unmarshal([]byte(first), &exp)
	run := `{"experiment_id": "` + exp.ID + `", "run_name": "r"}`
	_, r1, _ := keyedPost(t, api+"/runs/create", run, "k-run")
	_, r2, _ := keyedPost(t, api+"/runs/create", run, "k-run")
	var got1, got2 struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	json.Unmarshal([]byte(r1), &got1)
	json.Unmarshal([]byte(r2), &got2)
	if got1.Run.Info.RunID == "" || got1.Run.Info.RunID != got2.Run.Info.RunID {
		t.Fatalf("runs: %s / %s", r1, r2)
	}
	id := got1.Run.Info.RunID
	metric := `{"run_id": "` + id + `", "key": "loss", "value": 1.5, "timestamp": 1700000000000, "step": 1}`
	for range 2 {
		if code, b, _ := keyedPost(t, api+"/runs/log-metric", metric, "k-metric"); code != 200 {
			t.Fatalf("log-metric: %d %s", code, b)
		}
	}
	resp, err := http.Get(api + "/metrics/get-history?run_id=" + id + "&metric_key=loss")
	if err != nil {
		t.Fatal(err)
	}
	var hist struct {
		Metrics []any `json:"metrics"`
	}
	json.NewDecoder(resp.Body).Decode(&hist)
	resp.Body.Close()
	if len(hist.Metrics) != 1 {
		t.Fatalf("%d metrics after a keyed log-metric sent twice, want 1", len(hist.Metrics))
	}
	// Without a key the same create is applied again: a new run.
	_, r3, _ := keyedPost(t, api+"/runs/create", run, "")
	var got3 struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	json.Unmarshal([]byte(r3), &got3)
	if got3.Run.Info.RunID == "" || got3.Run.Info.RunID == id {
		t.Fatalf("unkeyed create: %s", r3)
	}
	if code, b, _ := keyedPost(t, api+"/runs/log-metric", metric, "bad key"); code != 400 || !strings.Contains(b, "INVALID_PARAMETER_VALUE") {
		t.Fatalf("bad key: %d %s", code, b)
	}
}

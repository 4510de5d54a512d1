package mlflowapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestCreateRunResponseBytes checks that the create-run response, built
// from the committed change, is byte for byte the get-run response of the
// same run (which reads it from the database).
func TestCreateRunResponseBytes(t *testing.T) {
	post := func(t *testing.T, u, body string) []byte {
		t.Helper()
		resp, err := http.Post(u, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: %d %s", u, resp.StatusCode, raw)
		}
		return raw
	}
	bodies := []string{
		`{}`,
		`{"experiment_id": "0", "run_name": "n1", "start_time": "17", "user_id": "u"}`,
		`{"experiment_id": "0", "tags": [{"key": "zeta", "value": "1"}, {"key": "Alpha", "value": "<&>"}, {"key": "mlflow.runName", "value": "ü \"q\""},
		  {"key": "zeta", "value": "2"}, {"key": "mlflow.user", "value": "bob"}, {"key": "e", "value": ""}]}`,
		`{"experiment_id": "0", "tags": [{"key": "big", "value": "` + strings.Repeat("x", 9000) + `"}]}`,
	}
	for name, e := range newEnvs(t) {
		e.t = t
		t.Run(name, func(t *testing.T) {
			base := e.srv.URL + "/api/2.0/mlflow/"
			for i, b := range bodies {
				created := post(t, base+"runs/create", b)
				var out struct {
					Run struct {
						Info struct {
							RunID string `json:"run_id"`
						} `json:"info"`
					} `json:"run"`
				}
				if err := json.Unmarshal(created, &out); err != nil || out.Run.Info.RunID == "" {
					t.Fatalf("case %d: bad create response %s (%v)", i, created, err)
				}
				resp, err := http.Get(base + "runs/get?run_id=" + out.Run.Info.RunID)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !bytes.Equal(created, got) {
					t.Fatalf("case %d: runs/create answered\n%s\nruns/get answers\n%s", i, created, got)
				}
			}
		})
	}
}

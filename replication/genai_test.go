//go:build tandemtest

package replication_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/tandemml/tandem/regiontest"
)

// TestGenAIReplicate: an evaluation dataset with its records, tags and
// experiment links, a registered scorer and an issue, written on the primary (and
// some through the secondary, which forwards writes) read the same from
// the secondary; deletes reach it too.
func TestGenAIReplicate(t *testing.T) {
	w := regiontest.Start(t, regiontest.Options{Extra: "durability: {mode: sync, timeout: 10s}"})
	east, west := w.URLs[0], w.URLs[1]
	call := func(method, url string, body any) map[string]any {
		t.Helper()
		return callMLflow(t, method, url, body)
	}
	const api = "/api/3.0/mlflow/"
	exp := call("POST", east+"/api/2.0/mlflow/experiments/create", map[string]any{"name": "genai"})["experiment_id"].(string)
	exp2 := call("POST", east+"/api/2.0/mlflow/experiments/create", map[string]any{"name": "genai-2"})["experiment_id"].(string)
	ds := call("POST", east+api+"datasets/create", map[string]any{"name": "qa", "experiment_ids": []string{exp},
		"tags": `{"stage": "dev"}`})["dataset"].(map[string]any)
	id := ds["dataset_id"].(string)
	up := call("POST", east+api+"datasets/"+id+"/records", map[string]any{
		"records": `[{"inputs": {"q": "2+2"}, "expectations": {"answer": "4"}}, {"inputs": {"q": "sky"}, "outputs": "blue"}]`})
	if up["inserted_count"] != 2.0 {
		t.Fatalf("upsert: %v", up)
	}
	// Writes sent to the secondary are forwarded to the primary.
	call("POST", west+api+"datasets/"+id+"/records", map[string]any{"records": `[{"inputs": {"q": "2+2"}, "expectations": {"why": "sum"}}]`})
	call("PATCH", west+api+"datasets/"+id+"/tags", map[string]any{"tags": `{"owner": "ann"}`})
	call("POST", west+api+"datasets/"+id+"/add-experiments", map[string]any{"experiment_ids": []string{exp2}})
	v := call("POST", west+api+"scorers/register", map[string]any{"experiment_id": exp, "name": "polite",
		"serialized_scorer": `{"name": "polite"}`})
	if v["version"] != 1.0 {
		t.Fatalf("register scorer: %v", v)
	}
	iss := call("POST", west+api+"issues", map[string]any{"experiment_id": exp, "name": "slow", "description": "p99"})["issue"].(map[string]any)
	issID := iss["issue_id"].(string)
	call("PATCH", west+api+"issues/"+issID, map[string]any{"status": "resolved", "severity": "low"})

	// Sync durability: what was acknowledged is on the secondary already.
	for _, base := range []string{east, west} {
		got := call("GET", base+api+"datasets/"+id, nil)["dataset"].(map[string]any)
		if got["tags"] != `{"owner":"ann","stage":"dev"}` {
			t.Errorf("%s: dataset tags %v", base, got["tags"])
		}
		if got["profile"] != `{"num_records": 2}` || len(got["experiment_ids"].([]any)) != 2 {
			t.Errorf("%s: dataset %v", base, got)
		}
		var recs []map[string]any
		raw := call("GET", base+api+"datasets/"+id+"/records?max_results=10", nil)["records"].(string)
		if err := json.Unmarshal([]byte(raw), &recs); err != nil || len(recs) != 2 {
			t.Fatalf("%s: records %s (%v)", base, raw, err)
		}
		byQ := map[string]map[string]any{}
		for _, r := range recs {
			byQ[r["inputs"].(map[string]any)["q"].(string)] = r
		}
		if e := byQ["2+2"]["expectations"].(map[string]any); e["answer"] != "4" || e["why"] != "sum" {
			t.Errorf("%s: merged record %v", base, byQ["2+2"])
		}
		if byQ["sky"]["outputs"] != "blue" {
			t.Errorf("%s: record %v", base, byQ["sky"])
		}
		found := call("POST", base+api+"datasets/search", map[string]any{"experiment_ids": []string{exp2},
			"filter_string": "tags.owner = 'ann'"})["datasets"].([]any)
		if len(found) != 1 {
			t.Errorf("%s: search %v", base, found)
		}
		if got := call("GET", base+api+"issues/"+issID, nil)["issue"].(map[string]any); got["status"] != "resolved" || got["severity"] != "low" {
			t.Errorf("%s: issue %v", base, got)
		}
		if found := call("POST", base+api+"issues/search", map[string]any{"experiment_id": exp, "filter_string": "status = 'resolved'"})["issues"].([]any); len(found) != 1 {
			t.Errorf("%s: issue search %v", base, found)
		}
		sc := call("GET", base+api+"scorers/list?experiment_id="+exp, nil)["scorers"].([]any)
		if len(sc) != 1 || sc[0].(map[string]any)["scorer_name"] != "polite" {
			t.Errorf("%s: scorers %v", base, sc)
		}
	}

	call("DELETE", east+api+"datasets/"+id, nil)
	call("DELETE", east+api+"scorers/delete", map[string]any{"experiment_id": exp, "name": "polite"})
	req, _ := http.NewRequest("GET", west+api+"datasets/"+id, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("deleted dataset on the secondary: %d", resp.StatusCode)
	}
	if sc := call("GET", west+api+"scorers/list?experiment_id="+exp, nil)["scorers"].([]any); len(sc) != 0 {
		t.Fatalf("deleted scorer on the secondary: %v", sc)
	}
}

// callMLflow sends body as JSON and returns the JSON answer, failing the
// test unless the status is 200.
func callMLflow(t *testing.T, method, url string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %v", method, url, resp.StatusCode, out)
	}
	return out
}

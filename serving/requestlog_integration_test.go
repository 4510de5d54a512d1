package serving_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/serving"
)

// mlflowGet calls a region's MLflow REST API and decodes the answer; a
// 404 gives false.
func mlflowGet(t *testing.T, base, path string, q url.Values, out any) bool {
	t.Helper()
	resp, err := http.Get(base + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s %v: %d %s", path, q, resp.StatusCode, b.String())
	}
	if out != nil {
		if err := json.Unmarshal(b.Bytes(), out); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, b.String())
		}
	}
	return true
}

// requestLogs reads, as a stock MLflow client would (experiment by name,
// run search, artifact listing and download), every request log file of
// a deployment's run under request_logs/<region>/: its lines, and the raw
// text of the files. No run yet gives nothing.
func requestLogs(t *testing.T, base, endpoint, deployment, region string) ([]serving.RequestLogLine, string) {
	t.Helper()
	var exp struct {
		Experiment struct {
			ID string `json:"experiment_id"`
		} `json:"experiment"`
	}
	if !mlflowGet(t, base, "/api/2.0/mlflow/experiments/get-by-name", url.Values{"experiment_name": {serving.RequestLogExperimentPrefix + endpoint}}, &exp) {
		return nil, ""
	}
	body, _ := json.Marshal(map[string]any{"experiment_ids": []string{exp.Experiment.ID}, "filter": fmt.Sprintf(`tags."tandem.deployment" = '%s'`, deployment)})
	resp, err := http.Post(base+"/api/2.0/mlflow/runs/search", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var runs struct {
		Runs []struct {
			Info struct {
				RunID   string `json:"run_id"`
				RunName string `json:"run_name"`
			} `json:"info"`
		} `json:"runs"`
	}
	json.NewDecoder(resp.Body).Decode(&runs)
	resp.Body.Close()
	if len(runs.Runs) == 0 {
		return nil, ""
	}
	if len(runs.Runs) != 1 || runs.Runs[0].Info.RunName != deployment {
		t.Fatalf("runs of deployment %s: %+v (want one, named after it)", deployment, runs.Runs)
	}
	runID := runs.Runs[0].Info.RunID
	var lines []serving.RequestLogLine
	var raw strings.Builder
	var walk func(dir string)
	walk = func(dir string) {
		var list struct {
			Files []struct {
				Path  string `json:"path"`
				IsDir bool   `json:"is_dir"`
			} `json:"files"`
		}
		mlflowGet(t, base, "/api/2.0/mlflow/artifacts/list", url.Values{"run_id": {runID}, "path": {dir}}, &list)
		for _, f := range list.Files {
			if f.IsDir {
				walk(f.Path)
				continue
			}
			if !strings.HasSuffix(f.Path, ".jsonl") {
				t.Fatalf("unexpected file %s in the request logs", f.Path)
			}
			resp, err := http.Get(base + "/get-artifact?" + url.Values{"run_id": {runID}, "path": {f.Path}}.Encode())
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			raw.Write(b.Bytes())
			sc := bufio.NewScanner(&b)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var l serving.RequestLogLine
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					t.Fatalf("%s: %v: %q", f.Path, err, sc.Text())
				}
				lines = append(lines, l)
			}
		}
	}
	walk("request_logs/" + region)
	return lines, raw.String()
}

// waitLogs polls until the deployment's run holds at least n lines of
// region (the router flushes every 2 s).
func waitLogs(t *testing.T, base, endpoint, deployment, region string, n int) ([]serving.RequestLogLine, string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		lines, raw := requestLogs(t, base, endpoint, deployment, region)
		if len(lines) >= n || time.Now().After(deadline) {
			return lines, raw
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// scoreWithID scores once with an x-request-id and returns the answer.
func scoreWithID(t *testing.T, url, key, deployment, id, body string) string {
	t.Helper()
	h := map[string]string{serving.RequestIDHeader: id}
	if deployment != "" {
		h[serving.DeploymentHeader] = deployment
	}
	status, header, resp := scoreWith(t, url, key, body, h)
	if status != 200 || header.Get(serving.RequestIDHeader) != id {
		t.Fatalf("score %s: %d %s (x-request-id %q)", id, status, resp, header.Get(serving.RequestIDHeader))
	}
	return resp
}

// checkLines: every request of ids is in lines exactly once, with its
// status, its body and the answer it got, and no key or Authorization
// header is anywhere in the files.
func checkLines(t *testing.T, lines []serving.RequestLogLine, raw, region, endpoint, deployment, body string, answers map[string]string, secrets ...string) {
	t.Helper()
	seen := map[string]int{}
	for _, l := range lines {
		want, ok := answers[l.RequestID]
		if !ok {
			continue
		}
		seen[l.RequestID]++
		at, err := time.Parse(time.RFC3339Nano, l.Time)
		if err != nil || time.Since(at) > 10*time.Minute || l.Region != region || l.Endpoint != endpoint || l.Deployment != deployment ||
			l.Status != 200 || l.LatencyMS <= 0 || l.ModelInputs == nil || *l.ModelInputs != body || l.ModelOutputs == nil || *l.ModelOutputs != want ||
			l.ModelInputsTruncated || l.ModelOutputsTruncated {
			t.Fatalf("line of %s: %+v (inputs %v, outputs %v); want inputs %s, outputs %s", l.RequestID, l, deref(l.ModelInputs), deref(l.ModelOutputs), body, want)
		}
	}
	for id := range answers {
		if seen[id] != 1 {
			t.Fatalf("request %s is logged %d times, want once (%d lines)", id, seen[id], len(lines))
		}
	}
	for _, s := range append(secrets, "Bearer", "Authorization") {
		if s != "" && strings.Contains(raw, s) {
			t.Fatalf("the request logs hold a secret (%.8s...)", s)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestRequestLogs: a deployment with data_collector sampling_rate 1.0
// logs every scored request, with its inputs and outputs, to its run in
// experiment online-endpoints/<endpoint>, read back through the MLflow
// API; one with sampling_rate 0 logs none (not even a run is created).
func TestRequestLogs(t *testing.T) {
	venv := venvWithSklearn(t)
	rg := startRegion(t, filepath.Join(venv, "bin", "python"))
	ctx := context.Background()
	tr := train(t, ctx, venv, rg.srv.URL)
	c := rg.c
	if _, err := c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "logs-ep"}, "create"); err != nil {
		t.Fatal(err)
	}
	both := map[string]tandem.DataCollection{tandem.CollectionModelInputs: {Enabled: true}, tandem.CollectionModelOutputs: {Enabled: true}}
	one, zero := 1.0, 0.0
	settings := tandem.RequestSettings{RequestTimeoutMS: 30000, MaxConcurrentRequestsPerInstance: 8}
	for _, d := range []tandem.OnlineDeployment{
		{Endpoint: "logs-ep", Name: "blue", Model: "models:/iris/1", RequestSettings: settings, DataCollector: &tandem.DataCollector{SamplingRate: &one, Collections: both}},
		{Endpoint: "logs-ep", Name: "green", Model: "models:/iris/1", RequestSettings: settings, DataCollector: &tandem.DataCollector{SamplingRate: &zero, Collections: both}},
	} {
		if _, err := c.PutDeployment(ctx, d, "create"); err != nil {
			t.Fatal(err)
		}
	}
	// The API refuses what the YAML refuses.
	bad := 1.5
	if _, err := c.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "logs-ep", Name: "red", Model: "models:/iris/1",
		DataCollector: &tandem.DataCollector{SamplingRate: &bad}}, "create"); tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), "sampling_rate") {
		t.Fatalf("sampling_rate 1.5: %v", err)
	}
	if _, err := c.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "logs-ep", Traffic: map[string]int{"blue": 100}}, "update"); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c, "logs-ep", "blue", 1, nil)
	waitReady(t, c, "logs-ep", "green", 1, nil)
	keys, err := c.EndpointKeys(ctx, "logs-ep")
	if err != nil {
		t.Fatal(err)
	}
	split, _ := json.Marshal(map[string]any{"dataframe_split": map[string]any{"columns": tr.Columns, "data": tr.Data}})
	scoreURL := rg.srv.URL + "/endpoints/logs-ep/score"
	// Green (rate 0) first: its requests are never buffered, so once
	// blue's later lines are in the run, green's would be too.
	const n = 25
	for i := range n {
		scoreWithID(t, scoreURL, keys.PrimaryKey, "green", fmt.Sprintf("green-%d", i), string(split))
	}
	answers := map[string]string{}
	for i := range n {
		id := fmt.Sprintf("blue-%d", i)
		answers[id] = scoreWithID(t, scoreURL, keys.PrimaryKey, "", id, string(split))
	}
	lines, raw := waitLogs(t, rg.srv.URL, "logs-ep", "blue", "local", n)
	if len(lines) != n {
		t.Fatalf("%d lines in blue's run, want %d", len(lines), n)
	}
	checkLines(t, lines, raw, "local", "logs-ep", "blue", string(split), answers, keys.PrimaryKey, keys.SecondaryKey)
	if lines, _ := requestLogs(t, rg.srv.URL, "logs-ep", "green", "local"); len(lines) != 0 {
		t.Fatalf("green (sampling_rate 0) logged %d lines", len(lines))
	}
	t.Logf("%d requests at sampling_rate 1: %d lines in the run; %d at sampling_rate 0: none", n, len(lines), n)
}

package mlflowdest_test

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tandemml/tandem/transfer/bundle"
	"github.com/tandemml/tandem/transfer/mlflowdest"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
)

func get(t *testing.T, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// TestWriteIntoStockMLflow: a bundle (a run with a metric history, a NaN,
// params, an artifact, a child run created before its parent, a model with
// versions 2 and 3 only, a stage and an alias) is written into a stock
// MLflow server; the answers of its API match, version numbers included,
// and the report names the ids MLflow changed.
func TestWriteIntoStockMLflow(t *testing.T) {
	srv := mlflowtest.Start(t)
	path := filepath.Join(t.TempDir(), "b")
	w, err := bundle.Create(path, bundle.Meta{Source: "tandem"})
	if err != nil {
		t.Fatal(err)
	}
	end := int64(5000)
	w.AddObject(bundle.KindExperiment, "7", bundle.Experiment{ExperimentID: "7", Name: "to-mlflow", LifecycleStage: "active", Tags: []bundle.KV{{Key: "team", Value: "x"}}})
	w.AddObject(bundle.KindRun, "child", bundle.Run{RunID: "child", ExperimentID: "7", RunName: "c", Status: "FINISHED", StartTime: 1000, EndTime: &end,
		LifecycleStage: "active", Tags: []bundle.KV{{Key: "mlflow.parentRunId", Value: "parent"}}})
	w.AddBlob("run/parent", "dir/a.txt", "7/parent/artifacts/dir/a.txt", strings.NewReader("hello"))
	var ms []bundle.Metric
	for i := 0; i < 2500; i++ {
		ms = append(ms, bundle.Metric{Key: "loss", Value: bundle.Float(float64(i)), Timestamp: int64(i), Step: int64(i)})
	}
	ms = append(ms, bundle.Metric{Key: "nan", Value: bundle.Float(math.NaN()), Timestamp: 1, Step: 0})
	w.AddObject(bundle.KindRun, "parent", bundle.Run{RunID: "parent", ExperimentID: "7", RunName: "p", Status: "FAILED", StartTime: 900, EndTime: &end,
		LifecycleStage: "active", Params: []bundle.KV{{Key: "lr", Value: "0.1"}}, Metrics: ms, Artifacts: []bundle.File{{Path: "dir/a.txt", Size: 5}}})
	w.AddObject(bundle.KindRegisteredModel, "m", bundle.RegisteredModel{Name: "m", Description: "d", Aliases: []bundle.Alias{{Alias: "prod", Version: "3"}}})
	w.AddObject(bundle.KindModelVersion, "m/2", bundle.ModelVersion{Name: "m", Version: "2", Source: "runs:/parent/dir", RunID: "parent", CurrentStage: "Staging"})
	w.AddObject(bundle.KindModelVersion, "m/3", bundle.ModelVersion{Name: "m", Version: "3", Source: "runs:/parent/dir", RunID: "parent", Tags: []bundle.KV{{Key: "k", Value: "v"}}})
	w.AddObject(bundle.KindIssue, "iss-1", map[string]string{"issue_id": "iss-1"})
	w.AddObject(bundle.KindIssue, "iss-2", map[string]string{"issue_id": "iss-2"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := bundle.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := mlflowdest.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := dst.Write(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	parent, child := rep.Changed["run"]["parent"], rep.Changed["run"]["child"]
	if rep.Runs != 2 || rep.Versions != 2 || parent == "" || child == "" || len(rep.Lost) == 0 {
		t.Fatalf("report %+v", rep)
	}
	// What the writer does not write is said, once per kind.
	if !slices.ContainsFunc(rep.Skipped, func(s string) bool { return strings.HasPrefix(s, "2 issue object(s): not written") }) {
		t.Fatalf("skipped %q", rep.Skipped)
	}
	var h struct {
		Metrics []struct {
			Value any `json:"value"`
		} `json:"metrics"`
	}
	get(t, srv.URL+"/api/2.0/mlflow/metrics/get-history?run_id="+parent+"&metric_key=loss", &h)
	if len(h.Metrics) != 2500 {
		t.Fatalf("history: %d points", len(h.Metrics))
	}
	var run struct {
		Run struct {
			Info struct {
				Status    string `json:"status"`
				StartTime any    `json:"start_time"`
			} `json:"info"`
			Data struct {
				Tags []bundle.KV `json:"tags"`
			} `json:"data"`
		} `json:"run"`
	}
	get(t, srv.URL+"/api/2.0/mlflow/runs/get?run_id="+child, &run)
	parentTag := ""
	for _, kv := range run.Run.Data.Tags {
		if kv.Key == "mlflow.parentRunId" {
			parentTag = kv.Value
		}
	}
	if parentTag != parent || run.Run.Info.Status != "FINISHED" {
		t.Fatalf("child run: %+v", run.Run)
	}
	var files struct {
		Files []struct {
			Path string `json:"path"`
		} `json:"files"`
	}
	get(t, srv.URL+"/api/2.0/mlflow/artifacts/list?run_id="+parent+"&path=dir", &files)
	if len(files.Files) != 1 || files.Files[0].Path != "dir/a.txt" {
		t.Fatalf("artifacts: %+v", files)
	}
	var m struct {
		RegisteredModel struct {
			Aliases []bundle.Alias `json:"aliases"`
		} `json:"registered_model"`
	}
	get(t, srv.URL+"/api/2.0/mlflow/registered-models/get?name=m", &m)
	var v struct {
		ModelVersion struct {
			Version      string `json:"version"`
			CurrentStage string `json:"current_stage"`
			Source       string `json:"source"`
		} `json:"model_version"`
	}
	get(t, srv.URL+"/api/2.0/mlflow/model-versions/get?name=m&version=2", &v)
	if v.ModelVersion.CurrentStage != "Staging" || v.ModelVersion.Source != "runs:/"+parent+"/dir" {
		t.Fatalf("version 2: %+v", v)
	}
	if len(m.RegisteredModel.Aliases) != 1 || m.RegisteredModel.Aliases[0] != (bundle.Alias{Alias: "prod", Version: "3"}) {
		t.Fatalf("aliases %+v", m.RegisteredModel.Aliases)
	}
	resp, _ := http.Get(srv.URL + "/api/2.0/mlflow/model-versions/get?name=m&version=1&" + url.Values{}.Encode())
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Fatal("the placeholder version 1 is still visible")
	}
}

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
)

func endpointOf(t *testing.T, cfg string) string {
	t.Helper()
	c, err := client.LoadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c.Endpoints[0]
}

func getJSON(t *testing.T, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %v: %s", u, err, b)
		}
	}
}

// TestModelsAreTheMLflowRegistry: a model created with the CLI is a
// registered model version the MLflow API serves (download URI and the
// artifact proxy give its files); one registered through the MLflow API
// shows in `tandem model list` and downloads with `tandem model download`.
func TestModelsAreTheMLflowRegistry(t *testing.T) {
	cfg, _ := startRegion(t, "east")
	base := endpointOf(t, cfg)
	mustRun(t, "model", "create", "-f", filepath.Join(projectDir, "model.yaml"), "--config", cfg)

	var mv map[string]map[string]any
	getJSON(t, base+"/api/2.0/mlflow/model-versions/get?name=iris-model&version=1", &mv)
	if mv["model_version"]["source"] != "mlflow-artifacts:/assets/models/iris-model/1/model" {
		t.Fatalf("model version = %v", mv)
	}
	var dl struct {
		ArtifactURI string `json:"artifact_uri"`
	}
	getJSON(t, base+"/api/2.0/mlflow/model-versions/get-download-uri?name=iris-model&version=1", &dl)
	if dl.ArtifactURI != "mlflow-artifacts:/assets/models/iris-model/1/model" {
		t.Fatalf("download uri = %q", dl.ArtifactURI)
	}
	resp, err := http.Get(base + "/api/2.0/mlflow-artifacts/artifacts/assets/models/iris-model/1/model/MLmodel")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, _ := os.ReadFile(filepath.Join(projectDir, "model", "MLmodel"))
	if resp.StatusCode != 200 || string(b) != string(want) {
		t.Fatalf("artifact proxy: %d %q", resp.StatusCode, b)
	}

	// Registered through the MLflow API: a run, its artifacts uploaded
	// through the artifact proxy, a version with a runs:/ source.
	post := func(p, body string) map[string]any {
		resp, err := http.Post(base+"/api/2.0/mlflow/"+p, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: %d %s", p, resp.StatusCode, b)
		}
		var out map[string]any
		json.Unmarshal(b, &out)
		return out
	}
	runInfo := post("runs/create", `{"experiment_id":"0"}`)["run"].(map[string]any)["info"].(map[string]any)
	runID, artifactURI := runInfo["run_id"].(string), runInfo["artifact_uri"].(string)
	root := strings.TrimPrefix(artifactURI, "mlflow-artifacts:/")
	put := func(p, body string) {
		req, _ := http.NewRequest("PUT", base+"/api/2.0/mlflow-artifacts/artifacts/"+root+"/"+p, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("upload %s: %v %v", p, err, resp)
		}
		resp.Body.Close()
	}
	put("model/MLmodel", "flavors: {}\n")
	put("model/data/weights.bin", "0123")
	post("registered-models/create", `{"name":"churn"}`)
	post("model-versions/create", `{"name":"churn","source":"runs:/`+runID+`/model","run_id":"`+runID+`","description":"from mlflow"}`)
	list := mustRun(t, "model", "list", "--config", cfg)
	if !strings.Contains(list, "churn") || !strings.Contains(list, "iris-model") {
		t.Fatalf("model list:\n%s", list)
	}
	dir := filepath.Join(t.TempDir(), "churn")
	mustRun(t, "model", "download", "-n", "churn", "-p", dir, "--config", cfg)
	y, _ := os.ReadFile(filepath.Join(dir, "model.yaml"))
	if !strings.Contains(string(y), "type: mlflow_model") || !strings.Contains(string(y), "path: model") {
		t.Fatalf("downloaded YAML:\n%s", y)
	}
	if w, _ := os.ReadFile(filepath.Join(dir, "model", "data", "weights.bin")); string(w) != "0123" {
		t.Fatalf("downloaded weights = %q", w)
	}
	// Archive is the Archived stage; restore moves it back to None.
	mustRun(t, "model", "archive", "-n", "churn", "-v", "1", "--config", cfg)
	if out := mustRun(t, "model", "list", "--config", cfg); strings.Contains(out, "churn") {
		t.Fatalf("archived model still listed:\n%s", out)
	}
	var got map[string]map[string]any
	getJSON(t, base+"/api/2.0/mlflow/model-versions/get?name=churn&version=1", &got)
	if got["model_version"]["current_stage"] != "Archived" {
		t.Fatalf("stage after archive = %v", got["model_version"]["current_stage"])
	}
	mustRun(t, "model", "restore", "-n", "churn", "--config", cfg)
	getJSON(t, base+"/api/2.0/mlflow/model-versions/get?name=churn&version=1", &got)
	if got["model_version"]["current_stage"] != "None" {
		t.Fatalf("stage after restore = %v", got["model_version"]["current_stage"])
	}
	// Versions are numbered by the registry.
	if _, err := run(t, "model", "create", "-f", filepath.Join(projectDir, "model.yaml"), "-v", "5", "--config", cfg); exitCode(err) != 2 {
		t.Fatalf("out-of-sequence version: %v", err)
	}
	if _, err := run(t, "model", "create", "-f", filepath.Join(projectDir, "model.yaml"), "-v", "1", "--config", cfg); exitCode(err) != 4 {
		t.Fatalf("existing version: %v", err)
	}
}

// TestModelsWithStockMLflowClient: a model registered with the stock mlflow
// client shows in `tandem model list` and downloads with `tandem model
// download`; one created with `tandem model create` loads with
// mlflow.pyfunc.load_model. Needs the MLflow client (mlflowtest.Python).
func TestModelsWithStockMLflowClient(t *testing.T) {
	py := mlflowtest.PythonPath(t)
	if testing.Short() {
		t.Skip("slow: starts Python")
	}
	cfg, _ := startRegion(t, "east")
	base := endpointOf(t, cfg)
	script, _ := filepath.Abs(filepath.Join("testdata", "mlflow_models.py"))
	python := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), py, append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "MLFLOW_TRACKING_URI="+base, "GIT_PYTHON_REFRESH=quiet")
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("python %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	proj := t.TempDir()
	python("save", filepath.Join(proj, "addone"))
	os.WriteFile(filepath.Join(proj, "model.yaml"), []byte("name: addone\ntype: mlflow_model\npath: ./addone\n"), 0o644)
	mustRun(t, "model", "create", "-f", filepath.Join(proj, "model.yaml"), "--config", cfg)
	if out := python("load", "models:/addone/1"); !strings.Contains(out, "prediction [2, 3, 4]") {
		t.Fatalf("load through mlflow:\n%s", out)
	}
	python("log", "from-mlflow")
	if out := mustRun(t, "model", "list", "--config", cfg); !strings.Contains(out, "from-mlflow") {
		t.Fatalf("model list:\n%s", out)
	}
	dir := filepath.Join(t.TempDir(), "dl")
	mustRun(t, "model", "download", "-n", "from-mlflow", "-p", dir, "--config", cfg)
	if _, err := os.Stat(filepath.Join(dir, "model", "MLmodel")); err != nil {
		t.Fatalf("downloaded model has no MLmodel: %v", err)
	}
	// The downloaded folder registers again and loads.
	mustRun(t, "model", "create", "-f", filepath.Join(dir, "model.yaml"), "-n", "again", "--config", cfg)
	if out := python("load", "models:/again/1"); !strings.Contains(out, "prediction [2, 3, 4]") {
		t.Fatalf("load of re-registered model:\n%s", out)
	}
}

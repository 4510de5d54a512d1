package mlflowapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// The MLflow UI's own GraphQL documents (the run page, the run table, the
// experiment page, the metric charts), as its build sends them.
const (
	uiGetRun = `query GetRun($data: MlflowGetRunInput!) @component(name: "MLflow.ExperimentRunTracking") {
  mlflowGetRun(input: $data) {
    apiError { helpUrl code message }
    run {
      info { runName status runUuid experimentId artifactUri endTime lifecycleStage startTime userId }
      experiment { experimentId name tags { key value } artifactLocation lifecycleStage lastUpdateTime }
      modelVersions { status version name source }
      data { metrics { key value step timestamp } params { key value } tags { key value } }
      inputs { datasetInputs { dataset { digest name profile schema source sourceType } tags { key value } } modelInputs { modelId } }
      outputs { modelOutputs { modelId step } }
    }
  }
}`
	uiSearchRuns = `query SearchRuns($data: MlflowSearchRunsInput!) {
  mlflowSearchRuns(input: $data) {
    apiError { helpUrl code message }
    runs { info { runName runUuid experimentId status } data { metrics { key value } params { key value } } modelVersions { version name creationTimestamp status source } }
    nextPageToken
  }
}`
	uiGetExperiment = `query MlflowGetExperimentQuery($input: MlflowGetExperimentInput!) @component(name: "MLflow.ExperimentRunTracking") {
  mlflowGetExperiment(input: $input) {
    apiError { code message }
    experiment { artifactLocation creationTime effectiveTraceArchivalRetention experimentId lastUpdateTime lifecycleStage name tags { key value } }
  }
}`
	uiBulkInterval = `query GetMetricHistoryBulkInterval($data: MlflowGetMetricHistoryBulkIntervalInput!) @component(name: "MLflow.ExperimentRunTracking") {
  mlflowGetMetricHistoryBulkInterval(input: $data) { __typename metrics { timestamp step runId key value } apiError { code message } }
}`
)

type gqlAnswer struct {
	Data   map[string]any `json:"data"`
	Errors []string       `json:"errors"`
}

func (e *env) graphql(query string, vars map[string]any) gqlAnswer {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	resp, err := http.Post(e.srv.URL+"/graphql", "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var a gqlAnswer
	if resp.StatusCode != 200 {
		e.t.Fatalf("graphql: HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		e.t.Fatal(err)
	}
	return a
}

// TestGraphQLAsTheUIAsks runs the UI's queries against a run with
// metrics (one NaN), params and a registered version: the answers carry
// what the REST API has, 64-bit integers as strings, NaN as null, the
// run's experiment and model versions; errors come back in MLflow's form.
func TestGraphQLAsTheUIAsks(t *testing.T) {
	for name, e := range newEnvs(t) {
		t.Run(name, func(t *testing.T) {
			e.t = t
			exp := e.ok("POST", "experiments/create", map[string]any{"name": "gql"})["experiment_id"].(string)
			run := e.ok("POST", "runs/create", map[string]any{"experiment_id": exp, "run_name": "gql-run"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
			e.ok("POST", "runs/log-batch", map[string]any{"run_id": run,
				"metrics": []map[string]any{{"key": "loss", "value": 0.5, "timestamp": 1700000000123, "step": 1}, {"key": "loss", "value": 0.25, "timestamp": 1700000000456, "step": 2}, {"key": "bad", "value": "NaN", "timestamp": 1, "step": 0}},
				"params":  []map[string]any{{"key": "lr", "value": "0.1"}}})
			e.ok("POST", "registered-models/create", map[string]any{"name": "gql-model"})
			e.ok("POST", "model-versions/create", map[string]any{"name": "gql-model", "source": "runs:/" + run + "/model", "run_id": run})

			a := e.graphql(uiGetRun, map[string]any{"data": map[string]any{"runId": run}})
			if len(a.Errors) != 0 {
				t.Fatalf("GetRun errors: %v", a.Errors)
			}
			r := dig(a.Data, "mlflowGetRun", "run")
			if dig(r, "info", "runName") != "gql-run" || dig(r, "info", "status") != "RUNNING" || dig(r, "info", "experimentId") != exp {
				t.Fatalf("run info: %v", dig(r, "info"))
			}
			if _, ok := dig(r, "info", "startTime").(string); !ok {
				t.Fatalf("startTime is a LongString: %#v", dig(r, "info", "startTime"))
			}
			if dig(r, "experiment", "name") != "gql" {
				t.Fatalf("run's experiment: %v", dig(r, "experiment"))
			}
			mvs, _ := dig(r, "modelVersions").([]any)
			if len(mvs) != 1 || dig(mvs[0], "name") != "gql-model" || dig(mvs[0], "version") != "1" {
				t.Fatalf("model versions: %v", mvs)
			}
			got := map[string]any{}
			for _, m := range dig(r, "data", "metrics").([]any) {
				got[dig(m, "key").(string)] = dig(m, "value")
			}
			if got["loss"] != 0.25 || got["bad"] != nil {
				t.Fatalf("latest metrics (NaN as null): %v", got)
			}
			if ps := dig(r, "data", "params").([]any); len(ps) != 1 || dig(ps[0], "value") != "0.1" {
				t.Fatalf("params: %v", ps)
			}

			a = e.graphql(uiSearchRuns, map[string]any{"data": map[string]any{"experimentIds": []string{exp}, "filter": "metrics.loss < 1", "runViewType": "ACTIVE_ONLY", "maxResults": 10}})
			runs, _ := dig(a.Data, "mlflowSearchRuns", "runs").([]any)
			if len(a.Errors) != 0 || len(runs) != 1 || dig(runs[0], "info", "runUuid") != run {
				t.Fatalf("SearchRuns: %v %v", a.Errors, runs)
			}

			a = e.graphql(uiGetExperiment, map[string]any{"input": map[string]any{"experimentId": exp}})
			if len(a.Errors) != 0 || dig(a.Data, "mlflowGetExperiment", "experiment", "name") != "gql" {
				t.Fatalf("GetExperiment: %v %v", a.Errors, a.Data)
			}

			a = e.graphql(uiBulkInterval, map[string]any{"data": map[string]any{"runIds": []string{run}, "metricKey": "loss", "maxResults": 100}})
			pts, _ := dig(a.Data, "mlflowGetMetricHistoryBulkInterval", "metrics").([]any)
			if len(a.Errors) != 0 || len(pts) != 2 || dig(pts[0], "runId") != run || dig(pts[0], "timestamp") != "1700000000123" {
				t.Fatalf("bulk interval: %v %v", a.Errors, pts)
			}

			// Artifact listing: a folder's size reads as "0" and a file's
			// isDir as false (proto zero values, as MLflow's GraphQL); a
			// dataset logged without a context tag has context "".
			for _, p := range []string{"dir/a.txt", "top.txt"} {
				if st, _, b := e.raw("POST", ajax+"upload-artifact?run_uuid="+run+"&path="+p, "application/json", "abc"); st != 200 {
					t.Fatalf("upload %s: %d %s", p, st, b)
				}
			}
			a = e.graphql(`query { mlflowListArtifacts(input: {runId: "`+run+`"}) { files { path isDir fileSize } } }`, nil)
			files := map[string]string{}
			for _, f := range dig(a.Data, "mlflowListArtifacts", "files").([]any) {
				files[dig(f, "path").(string)] = fmt.Sprint(dig(f, "isDir"), " ", dig(f, "fileSize"))
			}
			if len(a.Errors) != 0 || files["dir"] != "true 0" || files["top.txt"] != "false 3" {
				t.Fatalf("list artifacts: %v %v", a.Errors, files)
			}
			e.ok("POST", "runs/log-inputs", map[string]any{"run_id": run, "datasets": []map[string]any{{"dataset": map[string]any{
				"name": "ds", "digest": "d1", "source_type": "local", "source": "{}"}}}})
			a = e.graphql(`mutation { mlflowSearchDatasets(input: {experimentIds: ["`+exp+`"]}) { datasetSummaries { name digest context } } }`, nil)
			ds, _ := dig(a.Data, "mlflowSearchDatasets", "datasetSummaries").([]any)
			if len(a.Errors) != 0 || len(ds) != 1 || dig(ds[0], "name") != "ds" || dig(ds[0], "context") != "" {
				t.Fatalf("search datasets: %v %v", a.Errors, ds)
			}

			// Two root fields (aliases) in one request: the UI's batching.
			a = e.graphql(`query { a: mlflowGetExperiment(input: {experimentId: "`+exp+`"}) { experiment { name } } b: mlflowGetExperiment(input: {experimentId: "0"}) { experiment { name } } }`, nil)
			if dig(a.Data, "a", "experiment", "name") != "gql" || dig(a.Data, "b", "experiment", "name") != "Default" {
				t.Fatalf("two root fields: %v %v", a.Errors, a.Data)
			}

			// A REST error is the field's error, in MLflow's words.
			a = e.graphql(uiGetRun, map[string]any{"data": map[string]any{"runId": "nope"}})
			if len(a.Errors) != 1 || !strings.Contains(a.Errors[0], "nope") || dig(a.Data, "mlflowGetRun") != nil {
				t.Fatalf("unknown run: %v %v", a.Errors, a.Data)
			}
			// A query that does not parse, or names an unknown field.
			if a = e.graphql(`query { nope }`, nil); len(a.Errors) == 0 {
				t.Fatal("an unknown field gave no error")
			}
		})
	}
}

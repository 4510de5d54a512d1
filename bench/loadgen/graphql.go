package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// runPageQuery asks /graphql for what a run's page shows: the run's info,
// its metrics' latest values, params and tags.
const runPageQuery = `query RunPage($data: MlflowGetRunInput!) {
  mlflowGetRun(input: $data) {
    apiError { code message }
    run {
      info { runUuid runName status experimentId startTime endTime artifactUri lifecycleStage }
      data { metrics { key value step timestamp } params { key value } tags { key value } }
    }
  }
}`

// RunPage posts the run page's GraphQL query for runID and returns how
// many metrics came back (an error in the answer is an error).
func (c *Client) RunPage(ctx context.Context, runID string) (int, error) {
	in := map[string]any{"query": runPageQuery, "variables": map[string]any{"data": map[string]string{"runId": runID}}}
	var out struct {
		Data struct {
			Get struct {
				APIError *struct{ Message string } `json:"apiError"`
				Run      *struct {
					Data struct {
						Metrics []json.RawMessage `json:"metrics"`
					} `json:"data"`
				} `json:"run"`
			} `json:"mlflowGetRun"`
		} `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	if err := c.Call(ctx, http.MethodPost, "/graphql", in, &out); err != nil {
		return 0, err
	}
	if len(out.Errors) > 0 || out.Data.Get.APIError != nil || out.Data.Get.Run == nil {
		return 0, fmt.Errorf("POST /graphql: errors %s, apiError %v", out.Errors, out.Data.Get.APIError)
	}
	return len(out.Data.Get.Run.Data.Metrics), nil
}

// graphqlRunPage times the run page's GraphQL query on a run with 50
// metrics (100 points each), one query per ten operations.
func graphqlRunPage(ctx context.Context, c *Client, expID string, cfg Config, base int64) (Result, error) {
	run, err := c.CreateRun(ctx, expID, base)
	if err != nil {
		return Result{}, fmt.Errorf("graphql-run-page: create run: %w", err)
	}
	for k := 0; k < 50; k += 10 {
		var batch []Metric
		for j := k; j < k+10; j++ {
			batch = append(batch, Points(fmt.Sprintf("m%02d", j), 0, 100)...)
		}
		if err := c.LogBatch(ctx, run.ID, batch); err != nil {
			return Result{}, fmt.Errorf("graphql-run-page: log metrics: %w", err)
		}
	}
	r := timed(ctx, "graphql-run-page", max(10, cfg.Ops/10), cfg.Concurrency, func(ctx context.Context, i int) error {
		n, err := c.RunPage(ctx, run.ID)
		if err == nil && n != 50 {
			err = fmt.Errorf("graphql-run-page: %d metrics, want 50", n)
		}
		return err
	})
	r.Note = "POST /graphql mlflowGetRun, 50 metrics"
	return r, nil
}

package mlflowtest

import (
	"context"
	"encoding/json"
	"testing"
)

// TraceSummary is what testdata/traces.py logged.
type TraceSummary struct {
	ExperimentID string `json:"experiment_id"`
	Traces       int    `json:"traces"`
	Spans        int    `json:"spans"`
	First        string `json:"first"` // the trace with a tag and a feedback
}

// PopulateTraces logs traces to the server at uri with the stock client.
func PopulateTraces(t testing.TB, ctx context.Context, uri string) TraceSummary {
	t.Helper()
	out := pythonEnv(t, ctx, Venv(t), nil, script("traces.py"), uri)
	var s TraceSummary
	if err := json.Unmarshal(lastLine(out), &s); err != nil {
		t.Fatalf("traces.py output: %v\n%s", err, out)
	}
	return s
}

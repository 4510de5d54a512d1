package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// SpansPerTrace is the size of one trace-ingest request: one trace of a
// root and nine children, as a small agent run would produce.
const SpansPerTrace = 10

// OTLPTrace builds an export request holding one new trace.
func OTLPTrace(startNanos uint64) []byte {
	tid := make([]byte, 16)
	rand.Read(tid)
	var spans []*tracepb.Span
	var root []byte
	for i := range SpansPerTrace {
		sid := make([]byte, 8)
		rand.Read(sid)
		sp := &tracepb.Span{TraceId: tid, SpanId: sid, ParentSpanId: root, Name: fmt.Sprintf("step-%d", i),
			StartTimeUnixNano: startNanos + uint64(i), EndTimeUnixNano: startNanos + 1_000_000,
			Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
			Attributes: []*commonpb.KeyValue{
				{Key: "mlflow.spanType", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: `"LLM"`}}},
				{Key: "mlflow.spanInputs", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: `{"prompt": "what is 2+2?"}`}}},
				{Key: "mlflow.spanOutputs", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: `"4"`}}},
			}}
		if i == 0 {
			root = sid
		}
		spans = append(spans, sp)
	}
	b, _ := proto.Marshal(&collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}}}}})
	return b
}

// LogSpans posts an OTLP/HTTP protobuf export request to /v1/traces for
// experiment expID, as the stock client's exporter does.
func (c *Client) LogSpans(ctx context.Context, expID string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/v1/traces", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Mlflow-Experiment-Id", expID)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("POST /v1/traces: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST /v1/traces: %w", &APIError{Status: resp.StatusCode, Body: string(b)})
	}
	return nil
}

// traceIngest times cfg.Ops OTLP requests of one trace each.
func traceIngest(ctx context.Context, c *Client, expID string, cfg Config, base int64) Result {
	r := timed(ctx, "trace-ingest", cfg.Ops, cfg.Concurrency, func(ctx context.Context, i int) error {
		return c.LogSpans(ctx, expID, OTLPTrace(uint64(base+int64(i))*1_000_000))
	})
	r.Note = fmt.Sprintf("POST /v1/traces, %d spans a request", SpansPerTrace)
	return r
}

// SearchTraces asks for one page of the experiment's traces, newest
// first, with a filter on their state, as mlflow.search_traces does
// (POST /api/3.0/mlflow/traces/search); it returns how many came back.
func (c *Client) SearchTraces(ctx context.Context, expID string, max int) (int, error) {
	in := map[string]any{
		"locations":   []any{map[string]any{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": map[string]any{"experiment_id": expID}}},
		"filter":      "trace.status = 'OK'",
		"max_results": max,
		"order_by":    []string{"timestamp_ms DESC"},
	}
	var out struct {
		Traces []json.RawMessage `json:"traces"`
	}
	if err := c.Call(ctx, http.MethodPost, "/api/3.0/mlflow/traces/search", in, &out); err != nil {
		return 0, err
	}
	return len(out.Traces), nil
}

// searchTraces times searches of the experiment's traces (a page of 100
// newest first, those trace-ingest wrote: run it first), one per ten
// ingest operations.
func searchTraces(ctx context.Context, c *Client, expID string, cfg Config) Result {
	n := max(10, cfg.Ops/10)
	r := timed(ctx, "search-traces", n, cfg.Concurrency, func(ctx context.Context, i int) error {
		got, err := c.SearchTraces(ctx, expID, 100)
		if err == nil && got == 0 {
			err = fmt.Errorf("search-traces found no trace")
		}
		return err
	})
	r.Note = "POST traces/search, 100 newest of the experiment's, filter trace.status"
	return r
}

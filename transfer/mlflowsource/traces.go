package mlflowsource

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer/bundle"
)

// MLflow 3 traces of an experiment: found with SearchTracesV3, read whole
// (spans and assessments) with BatchGetTraces. A server without the v3
// trace API (MLflow 2) has no traces to read.

type mlTraceInfo struct {
	TraceID         string `json:"trace_id"`
	ClientRequestID string `json:"client_request_id"`
	TraceLocation   struct {
		MlflowExperiment struct {
			ExperimentID string `json:"experiment_id"`
		} `json:"mlflow_experiment"`
	} `json:"trace_location"`
	RequestPreview    string            `json:"request_preview"`
	ResponsePreview   string            `json:"response_preview"`
	RequestTime       string            `json:"request_time"`
	ExecutionDuration string            `json:"execution_duration"`
	State             string            `json:"state"`
	TraceMetadata     map[string]string `json:"trace_metadata"`
	Tags              map[string]string `json:"tags"`
	Assessments       []json.RawMessage `json:"assessments"`
}

type mlTrace struct {
	TraceInfo mlTraceInfo       `json:"trace_info"`
	Spans     []json.RawMessage `json:"spans"`
}

// traceBatch is how many traces one BatchGetTraces asks for.
const traceBatch = 10

func (c *Client) exportTraces(ctx context.Context, sink Sink, expID string, st *stats, progress func()) error {
	token := ""
	for {
		var resp struct {
			Traces        []mlTraceInfo `json:"traces"`
			NextPageToken string        `json:"next_page_token"`
		}
		req := map[string]any{"locations": []any{map[string]any{"type": "MLFLOW_EXPERIMENT",
			"mlflow_experiment": map[string]any{"experiment_id": expID}}}, "max_results": 100}
		if token != "" {
			req["page_token"] = token
		}
		err := c.do(ctx, "POST", "/api/3.0/mlflow/traces/search", nil, req, &resp)
		if code := tandem.ErrorCode(err); code == tandem.ENOTFOUND || code == tandem.ENOTIMPLEMENTED {
			return nil // no v3 trace API here
		}
		if err != nil {
			return err
		}
		for i := 0; i < len(resp.Traces); i += traceBatch {
			q := url.Values{}
			for _, t := range resp.Traces[i:min(i+traceBatch, len(resp.Traces))] {
				q.Add("trace_ids", t.TraceID)
			}
			var got struct {
				Traces []mlTrace `json:"traces"`
			}
			if err := c.do(ctx, "GET", "/api/3.0/mlflow/traces/batchGet", q, nil, &got); err != nil {
				return err
			}
			for _, t := range got.Traces {
				rec, err := t.record(expID)
				if err != nil {
					return err
				}
				if _, err := sink.AddObject(bundle.KindTrace, rec.TraceID, rec); err != nil {
					return err
				}
				st.traces.Add(1)
			}
			progress()
		}
		if token = resp.NextPageToken; token == "" {
			return nil
		}
	}
}

func (t mlTrace) record(expID string) (bundle.Trace, error) {
	in := t.TraceInfo
	rec := bundle.Trace{TraceID: in.TraceID, ExperimentID: expID, ClientRequestID: in.ClientRequestID,
		RequestPreview: in.RequestPreview, ResponsePreview: in.ResponsePreview, State: in.State,
		Spans: t.Spans, Assessments: in.Assessments}
	if rec.State == "" {
		rec.State = tandem.TraceStateUnspecified
	}
	if in.RequestTime != "" {
		rt, err := time.Parse(time.RFC3339Nano, in.RequestTime)
		if err != nil {
			return rec, tandem.Errorf(tandem.EINVALID, "trace %s: request_time %q: %v", in.TraceID, in.RequestTime, err)
		}
		rec.RequestTime = rt.UnixMilli()
	}
	if d := strings.TrimSuffix(in.ExecutionDuration, "s"); d != "" {
		f, err := strconv.ParseFloat(d, 64)
		if err != nil {
			return rec, tandem.Errorf(tandem.EINVALID, "trace %s: execution_duration %q", in.TraceID, in.ExecutionDuration)
		}
		rec.ExecutionDuration = int64(f*1000 + 0.5)
	}
	for _, k := range sortedKeys(in.Tags) {
		rec.Tags = append(rec.Tags, bundle.KV{Key: k, Value: in.Tags[k]})
	}
	for _, k := range sortedKeys(in.TraceMetadata) {
		rec.Metadata = append(rec.Metadata, bundle.KV{Key: k, Value: in.TraceMetadata[k]})
	}
	return rec, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

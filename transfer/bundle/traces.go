package bundle

import "encoding/json"

// KindTrace is an MLflow 3 trace with its spans and assessments.
const KindTrace Kind = "trace"

// Trace is the record of one trace. Spans are OTLP JSON
// (opentelemetry.proto.trace.v1.Span, as MLflow's Trace message carries
// them); assessments are MLflow's Assessment JSON. Times in milliseconds.
type Trace struct {
	TraceID           string            `json:"trace_id"`
	ExperimentID      string            `json:"experiment_id"`
	ClientRequestID   string            `json:"client_request_id,omitempty"`
	RequestPreview    string            `json:"request_preview,omitempty"`
	ResponsePreview   string            `json:"response_preview,omitempty"`
	RequestTime       int64             `json:"request_time"`
	ExecutionDuration int64             `json:"execution_duration"`
	State             string            `json:"state"`
	Tags              []KV              `json:"tags,omitempty"`
	Metadata          []KV              `json:"trace_metadata,omitempty"`
	Spans             []json.RawMessage `json:"spans,omitempty"`
	Assessments       []json.RawMessage `json:"assessments,omitempty"`
	Runs              []string          `json:"linked_runs,omitempty"`
	// Prompts are the linked prompt versions, "NAME/VERSION".
	Prompts []string `json:"linked_prompts,omitempty"`
}

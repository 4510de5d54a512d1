package tandem

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Trace states, as MLflow 3 names them (TraceInfoV3.State).
const (
	TraceStateUnspecified = "STATE_UNSPECIFIED"
	TraceStateOK          = "OK"
	TraceStateError       = "ERROR"
	TraceStateInProgress  = "IN_PROGRESS"
)

// Trace tag and metadata keys tandem reads or writes, as MLflow names them.
const (
	TraceTagArtifactLocation = "mlflow.artifactLocation"
	TraceTagSpansLocation    = "mlflow.trace.spansLocation"
	TraceTagName             = "mlflow.traceName"
	TraceMetadataSourceRun   = "mlflow.sourceRun"
	// SpansInTrackingStore is the spans-location value that tells the
	// client the spans are served by the tracking server, not traces.json.
	SpansInTrackingStore = "TRACKING_STORE"
)

// TraceInfo is one trace's record (MLflow's TraceInfoV3), without spans.
// Times are milliseconds since the epoch.
type TraceInfo struct {
	TraceID           string
	ExperimentID      string
	ClientRequestID   string
	RequestPreview    string
	ResponsePreview   string
	RequestTime       int64
	ExecutionDuration int64
	State             string
	Tags              map[string]string
	Metadata          map[string]string
	Assessments       []Assessment
	// Listing, set by a search instead of Tags, Metadata and
	// Assessments, holds them as the store keeps them for listings: JSON
	// to be written out as it is, without decoding. Decode fills the maps
	// from it.
	Listing *TraceListing
}

// TraceListing is a trace's tags and metadata as JSON objects of strings
// and its assessments as a JSON array of their bodies (Assessment.Body).
// An empty one is "{}" or "[]".
type TraceListing struct {
	Tags, Metadata, Assessments json.RawMessage
}

// Decode fills Tags and Metadata from Listing, if the trace has one
// (Assessments stay in the listing: their bodies are what a reader shows).
func (t *TraceInfo) Decode() error {
	if t.Listing == nil {
		return nil
	}
	t.Tags, t.Metadata = map[string]string{}, map[string]string{}
	if err := json.Unmarshal(t.Listing.Tags, &t.Tags); err != nil {
		return err
	}
	return json.Unmarshal(t.Listing.Metadata, &t.Metadata)
}

// Span is one span of a trace. Content is the span as OTLP JSON
// (opentelemetry.proto.trace.v1.Span in proto3 JSON), which is what
// MLflow's Trace message carries; the other fields are what searches and
// ordering need.
type Span struct {
	TraceID      string          `json:"trace_id"`
	SpanID       string          `json:"span_id"`
	ParentSpanID string          `json:"parent_span_id,omitempty"`
	Name         string          `json:"name"`
	Type         string          `json:"type,omitempty"`
	Status       string          `json:"status,omitempty"`
	StartNanos   int64           `json:"start_ns"`
	EndNanos     int64           `json:"end_ns"`
	Content      json.RawMessage `json:"content"`
}

// Assessment is a feedback or expectation on a trace. Body is the whole
// assessment in MLflow's JSON form (mlflow.assessments.Assessment) with the
// server-chosen fields (id, trace id, times) already in it.
type Assessment struct {
	ID      string          `json:"assessment_id"`
	TraceID string          `json:"trace_id"`
	Name    string          `json:"name"`
	Created int64           `json:"create_ms"`
	Updated int64           `json:"update_ms"`
	Body    json.RawMessage `json:"body"`
}

// ValidTraceState reports whether s is a TraceInfoV3 state name.
func ValidTraceState(s string) bool {
	switch s {
	case TraceStateUnspecified, TraceStateOK, TraceStateError, TraceStateInProgress:
		return true
	}
	return false
}

// Limits MLflow's SQL store puts on trace tags and metadata.
const (
	MaxTraceTagKey   = 250
	MaxTraceTagValue = 8000
)

// ValidateTraceTag checks a trace tag as MLflow does (EINVALID).
func ValidateTraceTag(key, value string) error {
	if strings.TrimSpace(key) == "" {
		return Errorf(EINVALID, "Missing value for required parameter 'key'.")
	}
	if !utf8.ValidString(key) || !utf8.ValidString(value) || strings.ContainsRune(key, 0) {
		return Errorf(EINVALID, "Invalid value for trace tag '%s': not valid UTF-8", key)
	}
	if n := utf8.RuneCountInString(key); n > MaxTraceTagKey {
		return Errorf(EINVALID, "'key' exceeds the maximum length of %d characters", MaxTraceTagKey)
	}
	return nil
}

// ValidateTraceID refuses an empty or malformed trace id (EINVALID).
func ValidateTraceID(id string) error {
	if id == "" {
		return Errorf(EINVALID, "Missing value for required parameter 'trace_id'.")
	}
	if len(id) > 256 || !utf8.ValidString(id) || strings.ContainsAny(id, "\x00/") {
		return Errorf(EINVALID, "Invalid value %q for parameter 'trace_id' supplied.", id)
	}
	return nil
}

// TraceCorrelation is how two trace filters co-occur among an experiment's
// traces (MLflow's CalculateTraceFilterCorrelation).
type TraceCorrelation struct {
	NPMI, NPMISmoothed                            float64
	Filter1Count, Filter2Count, JointCount, Total int
}

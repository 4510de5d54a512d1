// Package otlpspan turns OpenTelemetry (OTLP) spans into tandem's spans:
// the MLflow trace they belong to, the fields searches need, and the span
// itself as OTLP JSON, which is what MLflow's Trace message carries.
package otlpspan

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/tandemml/tandem"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// MLflow's span attributes (their values are JSON-encoded strings).
const (
	attrTraceRequestID = "mlflow.traceRequestId"
	attrSpanType       = "mlflow.spanType"
)

// FromRequest turns an export request into tandem spans: the MLflow trace
// id is the span's mlflow.traceRequestId attribute, or "tr-" and the OTLP
// trace id in hex, as MLflow names traces.
func FromRequest(req *collectortrace.ExportTraceServiceRequest) ([]tandem.Span, error) {
	var out []tandem.Span
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				t, err := FromProto(sp)
				if err != nil {
					return nil, err
				}
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// FromProto turns one OTLP span into a tandem span; Content is its OTLP
// JSON, compacted.
func FromProto(sp *tracepb.Span) (tandem.Span, error) {
	if len(sp.GetTraceId()) != 16 || len(sp.GetSpanId()) != 8 {
		return tandem.Span{}, tandem.Errorf(tandem.EINVALID, "Invalid OTLP span %q: trace_id must be 16 bytes and span_id 8", sp.GetName())
	}
	out := tandem.Span{TraceID: "tr-" + hex.EncodeToString(sp.GetTraceId()), SpanID: hex.EncodeToString(sp.GetSpanId()),
		Name: sp.GetName(), StartNanos: int64(sp.GetStartTimeUnixNano()), EndNanos: int64(sp.GetEndTimeUnixNano())}
	if p := sp.GetParentSpanId(); len(p) > 0 {
		out.ParentSpanID = hex.EncodeToString(p)
	}
	out.Status = strings.TrimPrefix(sp.GetStatus().GetCode().String(), "STATUS_CODE_")
	for _, kv := range sp.GetAttributes() {
		switch kv.GetKey() {
		case attrTraceRequestID:
			if id := jsonString(kv.GetValue().GetStringValue()); id != "" {
				out.TraceID = id
			}
		case attrSpanType:
			out.Type = jsonString(kv.GetValue().GetStringValue())
		}
	}
	if err := tandem.ValidateTraceID(out.TraceID); err != nil {
		return tandem.Span{}, err
	}
	b, err := protojson.Marshal(sp)
	if err != nil {
		return tandem.Span{}, tandem.Errorf(tandem.EINVALID, "Invalid OTLP span %q: %v", sp.GetName(), err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		return tandem.Span{}, errors.Join(tandem.Errorf(tandem.EINTERNAL, "span json"), err)
	}
	out.Content = compact.Bytes()
	return out, nil
}

// jsonString decodes MLflow's JSON-encoded string attribute; a value that
// is not JSON is taken as it is.
func jsonString(s string) string {
	var v string
	if json.Unmarshal([]byte(s), &v) == nil {
		return v
	}
	return s
}

// FromJSON reads one span in proto3 JSON (as MLflow's Trace message and a
// bundle carry it: ids in base64, field names in either form) and returns
// it as FromProto does.
func FromJSON(raw []byte) (tandem.Span, error) {
	var sp tracepb.Span
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &sp); err != nil {
		return tandem.Span{}, tandem.Errorf(tandem.EINVALID, "Invalid span JSON: %v", err)
	}
	return FromProto(&sp)
}

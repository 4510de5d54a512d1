// Package otlpspan turns OpenTelemetry (OTLP) spans into tandem's spans:
// the MLflow trace they belong to, the fields searches need, and the span
// itself as OTLP JSON, which is what MLflow's Trace message carries.
package otlpspan

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"

	"github.com/tandemml/tandem"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
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

// MLflowDict turns a span in proto3 JSON into the form MLflow's Span.to_dict
// writes and its traces.json holds (what the MLflow UI's trace view reads
// from get-trace-artifact): ids in base64, times as integers, the status
// code by its OTLP name, attributes as an object of their values.
func MLflowDict(raw []byte) (map[string]any, error) {
	var sp tracepb.Span
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &sp); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "Invalid span JSON: %v", err)
	}
	b64 := base64.StdEncoding.EncodeToString
	var parent any
	if len(sp.ParentSpanId) > 0 {
		parent = b64(sp.ParentSpanId)
	}
	events := []any{}
	for _, ev := range sp.Events {
		events = append(events, map[string]any{"name": ev.Name, "time_unix_nano": ev.TimeUnixNano, "attributes": attrValues(ev.Attributes)})
	}
	links := []any{}
	for _, l := range sp.Links {
		links = append(links, map[string]any{"trace_id": "tr-" + hex.EncodeToString(l.TraceId),
			"span_id": hex.EncodeToString(l.SpanId), "attributes": attrValues(l.Attributes)})
	}
	status := map[string]any{"code": tracepb.Status_STATUS_CODE_UNSET.String(), "message": ""}
	if st := sp.Status; st != nil {
		status = map[string]any{"code": st.Code.String(), "message": st.Message}
	}
	return map[string]any{
		"trace_id": b64(sp.TraceId), "span_id": b64(sp.SpanId), "parent_span_id": parent,
		"name": sp.Name, "start_time_unix_nano": sp.StartTimeUnixNano, "end_time_unix_nano": sp.EndTimeUnixNano,
		"events": events, "status": status, "attributes": attrValues(sp.Attributes), "links": links,
	}, nil
}

func attrValues(kvs []*commonpb.KeyValue) map[string]any {
	out := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		out[kv.Key] = anyValue(kv.Value)
	}
	return out
}

func anyValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return base64.StdEncoding.EncodeToString(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		out := []any{}
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, anyValue(e))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		return attrValues(x.KvlistValue.GetValues())
	}
	return nil
}

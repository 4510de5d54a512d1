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
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/pyjson"
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
		"events": events, "status": status, "attributes": attrJSONText(sp.Attributes), "links": links,
	}, nil
}

// attrJSONText is a span's attributes as MLflow keeps them: each value
// JSON text, as Python's json.dumps writes it (a string attribute "LLM"
// is "\"LLM\"", a list [1, 2] is "[1, 2]").
func attrJSONText(kvs []*commonpb.KeyValue) map[string]any {
	out := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		var b strings.Builder
		pyJSON(&b, kv.Value)
		out[kv.Key] = b.String()
	}
	return out
}

// pyJSON writes v as Python's json.dumps(v, ensure_ascii=False) does
// (package pyjson), objects in their order.
func pyJSON(b *strings.Builder, v *commonpb.AnyValue) {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		pyjson.String(b, x.StringValue, false)
	case *commonpb.AnyValue_BoolValue:
		b.WriteString(strconv.FormatBool(x.BoolValue))
	case *commonpb.AnyValue_IntValue:
		b.WriteString(strconv.FormatInt(x.IntValue, 10))
	case *commonpb.AnyValue_DoubleValue:
		b.WriteString(pyjson.Float(x.DoubleValue))
	case *commonpb.AnyValue_BytesValue:
		pyjson.String(b, base64.StdEncoding.EncodeToString(x.BytesValue), false)
	case *commonpb.AnyValue_ArrayValue:
		b.WriteByte('[')
		for i, e := range x.ArrayValue.GetValues() {
			if i > 0 {
				b.WriteString(", ")
			}
			pyJSON(b, e)
		}
		b.WriteByte(']')
	case *commonpb.AnyValue_KvlistValue:
		b.WriteByte('{')
		for i, kv := range x.KvlistValue.GetValues() {
			if i > 0 {
				b.WriteString(", ")
			}
			pyjson.String(b, kv.GetKey(), false)
			b.WriteString(": ")
			pyJSON(b, kv.GetValue())
		}
		b.WriteByte('}')
	default:
		b.WriteString("null")
	}
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

// int64Fields are the OTLP span's 64-bit integer fields: proto3 JSON
// writes them as strings, MLflow's answers as numbers.
var int64Fields = map[string]bool{"start_time_unix_nano": true, "end_time_unix_nano": true, "time_unix_nano": true, "int_value": true}

// MLflowJSON turns a span in proto3 JSON into the form MLflow's Trace
// message carries it in a REST answer: proto field names (trace_id,
// start_time_unix_nano, string_value) and 64-bit integers as numbers.
func MLflowJSON(raw []byte) (json.RawMessage, error) {
	var sp tracepb.Span
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &sp); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "Invalid span JSON: %v", err)
	}
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(&sp)
	if err != nil {
		return nil, errors.Join(tandem.Errorf(tandem.EINTERNAL, "span json"), err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errors.Join(tandem.Errorf(tandem.EINTERNAL, "span json"), err)
	}
	numbers64(v)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, errors.Join(tandem.Errorf(tandem.EINTERNAL, "span json"), err)
	}
	return bytes.TrimRight(out.Bytes(), "\n"), nil
}

// numbers64 rewrites, in place, the int64 fields written as strings.
func numbers64(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && int64Fields[k] {
				if _, err := json.Number(s).Int64(); err == nil {
					x[k] = json.Number(s)
				} else if _, err := strconv.ParseUint(s, 10, 64); err == nil {
					x[k] = json.Number(s)
				}
				continue
			}
			numbers64(e)
		}
	case []any:
		for _, e := range x {
			numbers64(e)
		}
	}
}

// MLflowText is the span's text as MLflow's store keeps it and its
// trace.text and span.content filters match: Python's json.dumps of the
// span's Span.to_dict form (the fields in its order, each attribute value
// as JSON text), non-ASCII characters kept.
func MLflowText(raw []byte) (string, error) {
	var sp tracepb.Span
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &sp); err != nil {
		return "", tandem.Errorf(tandem.EINVALID, "Invalid span JSON: %v", err)
	}
	var b strings.Builder
	o := &pyObject{b: &b}
	b64 := base64.StdEncoding.EncodeToString
	o.key("trace_id")
	pyjson.String(&b, b64(sp.TraceId), false)
	o.key("span_id")
	pyjson.String(&b, b64(sp.SpanId), false)
	o.key("parent_span_id")
	if len(sp.ParentSpanId) > 0 {
		pyjson.String(&b, b64(sp.ParentSpanId), false)
	} else {
		b.WriteString("null")
	}
	o.key("name")
	pyjson.String(&b, sp.Name, false)
	o.key("start_time_unix_nano")
	b.WriteString(strconv.FormatUint(sp.StartTimeUnixNano, 10))
	o.key("end_time_unix_nano")
	b.WriteString(strconv.FormatUint(sp.EndTimeUnixNano, 10))
	o.key("events")
	b.WriteByte('[')
	for i, ev := range sp.Events {
		if i > 0 {
			b.WriteString(", ")
		}
		e := &pyObject{b: &b}
		e.key("name")
		pyjson.String(&b, ev.Name, false)
		e.key("time_unix_nano")
		b.WriteString(strconv.FormatUint(ev.TimeUnixNano, 10))
		e.key("attributes")
		writeAttrs(&b, ev.Attributes, false)
		e.end()
	}
	b.WriteByte(']')
	o.key("status")
	st := &pyObject{b: &b}
	code, msg := tracepb.Status_STATUS_CODE_UNSET.String(), ""
	if sp.Status != nil {
		code, msg = sp.Status.Code.String(), sp.Status.Message
	}
	st.key("code")
	pyjson.String(&b, code, false)
	st.key("message")
	pyjson.String(&b, msg, false)
	st.end()
	o.key("attributes")
	writeAttrs(&b, sp.Attributes, true)
	o.key("links")
	b.WriteByte('[')
	for i, l := range sp.Links {
		if i > 0 {
			b.WriteString(", ")
		}
		lo := &pyObject{b: &b}
		lo.key("trace_id")
		pyjson.String(&b, "tr-"+hex.EncodeToString(l.TraceId), false)
		lo.key("span_id")
		pyjson.String(&b, hex.EncodeToString(l.SpanId), false)
		lo.key("attributes")
		writeAttrs(&b, l.Attributes, false)
		lo.end()
	}
	b.WriteByte(']')
	o.end()
	return b.String(), nil
}

// pyObject writes a JSON object's keys as json.dumps does.
type pyObject struct {
	b    *strings.Builder
	open bool
}

func (o *pyObject) key(k string) {
	if !o.open {
		o.b.WriteByte('{')
		o.open = true
	} else {
		o.b.WriteString(", ")
	}
	pyjson.String(o.b, k, false)
	o.b.WriteString(": ")
}

func (o *pyObject) end() {
	if !o.open {
		o.b.WriteByte('{')
	}
	o.b.WriteByte('}')
}

// writeAttrs writes attributes as an object of their values (text: each
// value as its JSON text, as a span's own attributes are kept).
func writeAttrs(b *strings.Builder, kvs []*commonpb.KeyValue, text bool) {
	o := &pyObject{b: b}
	for _, kv := range kvs {
		o.key(kv.Key)
		if text {
			var v strings.Builder
			pyJSON(&v, kv.Value)
			pyjson.String(b, v.String(), false)
		} else {
			pyJSON(b, kv.Value)
		}
	}
	o.end()
}

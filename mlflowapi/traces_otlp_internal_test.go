package mlflowapi

import (
	"bytes"
	"compress/gzip"
	"net/http/httptest"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/otlpspan"
)

// An OTLP/JSON request (ids in hex, as OTLP/JSON writes them) and the same
// gzip-encoded give the spans a protobuf request would.
func TestDecodeOTLPJSON(t *testing.T) {
	body := []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[
		{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"1112131415161718","name":"root",
		 "startTimeUnixNano":"1000000","endTimeUnixNano":"3000000","status":{"code":2},
		 "attributes":[{"key":"mlflow.spanType","value":{"stringValue":"\"AGENT\""}}]},
		{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"2122232425262728","parentSpanId":"1112131415161718","name":"child"}]}]}]}`)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(body)
	zw.Close()
	for name, enc := range map[string][]byte{"plain": body, "gzip": gz.Bytes()} {
		r := httptest.NewRequest("POST", "/v1/traces", bytes.NewReader(enc))
		if name == "gzip" {
			r.Header.Set("Content-Encoding", "gzip")
		}
		raw, err := readOTLPBody(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		req, err := decodeOTLP("application/json", raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		spans, err := otlpspan.FromRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		if len(spans) != 2 || spans[0].TraceID != "tr-0102030405060708090a0b0c0d0e0f10" || spans[0].SpanID != "1112131415161718" ||
			spans[0].Type != "AGENT" || spans[0].Status != "ERROR" || spans[0].StartNanos != 1e6 ||
			spans[1].ParentSpanID != "1112131415161718" || spans[1].Name != "child" {
			t.Fatalf("%s: spans %+v", name, spans)
		}
		back, err := otlpspan.FromJSON(spans[0].Content) // the stored form reads back the same
		if err != nil || back.SpanID != spans[0].SpanID || back.Type != "AGENT" {
			t.Fatalf("%s: stored span reads back as %+v, %v", name, back, err)
		}
	}
	for _, bad := range []string{`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"11"}]}]}]}`,
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01","spanId":"1112131415161718"}]}]}]}`, `[`, `{"resourceSpans":7}`} {
		req, err := decodeOTLP("application/json", []byte(bad))
		if err == nil {
			_, err = otlpspan.FromRequest(req)
		}
		if tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("%s: %v; want EINVALID", bad, err)
		}
	}
	if _, err := decodeOTLP("text/plain", body); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("text/plain: %v", err)
	}
}

func FuzzDecodeOTLP(f *testing.F) {
	f.Add("application/json", []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"1112131415161718","name":"x"}]}]}]}`))
	f.Add("application/x-protobuf", []byte{0x0a, 0x02, 0x12, 0x00})
	f.Add("application/json", []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":[1]}]}]}]}`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		req, err := decodeOTLP(ct, body)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("decode error %v is not EINVALID", err)
			}
			return
		}
		spans, err := otlpspan.FromRequest(req)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("span error %v is not EINVALID", err)
			}
			return
		}
		for _, sp := range spans {
			if tandem.ValidateTraceID(sp.TraceID) != nil || len(sp.SpanID) != 16 {
				t.Fatalf("accepted span with ids %q %q", sp.TraceID, sp.SpanID)
			}
		}
	})
}

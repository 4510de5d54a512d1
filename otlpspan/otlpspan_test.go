package otlpspan

import (
	"encoding/json"
	"testing"
)

// TestMLflowDict: a stored span becomes MLflow's Span.to_dict form, every
// OTLP value kind included (attribute values as JSON text, as MLflow keeps
// them), and links name their trace as MLflow does.
func TestMLflowDict(t *testing.T) {
	raw := []byte(`{"traceId":"AQIDBAUGBwgJCgsMDQ4PEA==","spanId":"ERITFBUWFxg=","name":"s",
		"startTimeUnixNano":"5","endTimeUnixNano":"9","status":{"code":"STATUS_CODE_ERROR","message":"boom"},
		"attributes":[{"key":"a","value":{"arrayValue":{"values":[{"stringValue":"x"},{"doubleValue":1.5}]}}},
		  {"key":"m","value":{"kvlistValue":{"values":[{"key":"k","value":{"intValue":"2"}}]}}},
		  {"key":"b","value":{"bytesValue":"AAE="}}],
		"links":[{"traceId":"AQIDBAUGBwgJCgsMDQ4PEA==","spanId":"ERITFBUWFxg="}]}`)
	d, err := MLflowDict(raw)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(d)
	want := `{"attributes":{"a":"[\"x\", 1.5]","b":"\"AAE=\"","m":"{\"k\": 2}"},"end_time_unix_nano":9,"events":[],` +
		`"links":[{"attributes":{},"span_id":"1112131415161718","trace_id":"tr-0102030405060708090a0b0c0d0e0f10"}],` +
		`"name":"s","parent_span_id":null,"span_id":"ERITFBUWFxg=","start_time_unix_nano":5,` +
		`"status":{"code":"STATUS_CODE_ERROR","message":"boom"},"trace_id":"AQIDBAUGBwgJCgsMDQ4PEA=="}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if _, err := MLflowDict([]byte(`{"spanId":7}`)); err == nil {
		t.Fatal("malformed span accepted")
	}
}

// TestPyJSON: attribute values are written as Python's json.dumps writes
// them.
func TestPyJSON(t *testing.T) {
	raw := []byte(`{"traceId":"AQIDBAUGBwgJCgsMDQ4PEA==","spanId":"ERITFBUWFxg=","name":"s","attributes":[
		{"key":"s","value":{"stringValue":"LLM"}},
		{"key":"q","value":{"stringValue":"a\"b\\c\nd\u0001é"}},
		{"key":"f","value":{"arrayValue":{"values":[{"doubleValue":1},{"doubleValue":0.1},{"doubleValue":1e16},{"doubleValue":1.5e-5},{"doubleValue":-2.5}]}}},
		{"key":"o","value":{"kvlistValue":{"values":[{"key":"z","value":{"boolValue":true}},{"key":"a","value":{}}]}}},
		{"key":"e","value":{"arrayValue":{}}}]}`)
	d, err := MLflowDict(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"s": `"LLM"`,
		"q": `"a\"b\\c\nd\u0001é"`,
		"f": `[1.0, 0.1, 1e+16, 1.5e-05, -2.5]`,
		"o": `{"z": true, "a": null}`,
		"e": `[]`,
	}
	attrs := d["attributes"].(map[string]any)
	for k, w := range want {
		if attrs[k] != w {
			t.Errorf("%s: got %s, want %s", k, attrs[k], w)
		}
	}
}

// TestMLflowJSON: a span in a REST answer has proto field names and its
// 64-bit integers as numbers, as MLflow's message_to_json writes it.
func TestMLflowJSON(t *testing.T) {
	raw := []byte(`{"traceId":"AQIDBAUGBwgJCgsMDQ4PEA==","spanId":"ERITFBUWFxg=","parentSpanId":"ERITFBUWFxk=","name":"s",
		"startTimeUnixNano":"1700000000000000001","endTimeUnixNano":"1700000000000000009",
		"events":[{"name":"ev","timeUnixNano":"42"}],"status":{"code":"STATUS_CODE_OK"},
		"attributes":[{"key":"n","value":{"intValue":"7"}},{"key":"s","value":{"stringValue":"<b>"}}]}`)
	got, err := MLflowJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"attributes":[{"key":"n","value":{"int_value":7}},{"key":"s","value":{"string_value":"<b>"}}],` +
		`"end_time_unix_nano":1700000000000000009,"events":[{"name":"ev","time_unix_nano":42}],"name":"s",` +
		`"parent_span_id":"ERITFBUWFxk=","span_id":"ERITFBUWFxg=","start_time_unix_nano":1700000000000000001,` +
		`"status":{"code":"STATUS_CODE_OK"},"trace_id":"AQIDBAUGBwgJCgsMDQ4PEA=="}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// What it writes reads back as the same span.
	back, err := FromJSON(got)
	if err != nil || back.StartNanos != 1700000000000000001 || back.ParentSpanID != "1112131415161719" {
		t.Fatalf("read back: %+v %v", back, err)
	}
	if _, err := MLflowJSON([]byte(`{"spanId":7}`)); err == nil {
		t.Fatal("malformed span accepted")
	}
}

// TestMLflowText: a span's text is what MLflow 3.17.2 writes for the same
// span (json.dumps(Span.from_otel_proto(span).to_dict()), taken from the
// stock client once and kept here).
func TestMLflowText(t *testing.T) {
	raw := []byte(`{"traceId":"AQIDBAUGBwgJCgsMDQ4PEA==","spanId":"ERITFBUWFxg=","parentSpanId":"ERITFBUWFxk=","name":"call é","startTimeUnixNano":"5","endTimeUnixNano":"9","status":{"code":"STATUS_CODE_OK"},"attributes":[{"key":"mlflow.traceRequestId","value":{"stringValue":"tr-0102030405060708090a0b0c0d0e0f10"}},{"key":"mlflow.spanType","value":{"stringValue":"LLM"}},{"key":"mlflow.spanInputs","value":{"kvlistValue":{"values":[{"key":"q","value":{"stringValue":"hello \"world\""}},{"key":"n","value":{"intValue":"2"}}]}}}],"events":[{"name":"ev","timeUnixNano":"7","attributes":[{"key":"k","value":{"boolValue":true}}]}]}`)
	want := `{"trace_id": "AQIDBAUGBwgJCgsMDQ4PEA==", "span_id": "ERITFBUWFxg=", "parent_span_id": "ERITFBUWFxk=", "name": "call é", "start_time_unix_nano": 5, "end_time_unix_nano": 9, "events": [{"name": "ev", "time_unix_nano": 7, "attributes": {"k": true}}], "status": {"code": "STATUS_CODE_OK", "message": ""}, "attributes": {"mlflow.traceRequestId": "\"tr-0102030405060708090a0b0c0d0e0f10\"", "mlflow.spanType": "\"LLM\"", "mlflow.spanInputs": "{\"q\": \"hello \\\"world\\\"\", \"n\": 2}"}, "links": []}`
	got, err := MLflowText(raw)
	if err != nil || got != want {
		t.Fatalf("got  %s\nwant %s (%v)", got, want, err)
	}
	if _, err := MLflowText([]byte(`{"spanId":7}`)); err == nil {
		t.Fatal("malformed span accepted")
	}
}

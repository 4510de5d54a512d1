package otlpspan

import (
	"encoding/json"
	"testing"
)

// TestMLflowDict: a stored span becomes MLflow's Span.to_dict form, every
// OTLP value kind included, and links name their trace as MLflow does.
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
	want := `{"attributes":{"a":["x",1.5],"b":"AAE=","m":{"k":2}},"end_time_unix_nano":9,"events":[],` +
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

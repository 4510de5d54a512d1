//go:build tandemtest

package replication_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/workspace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestTracesReplicate: a trace written on the primary (spans over OTLP,
// its record, a tag, an assessment) reads the same from the secondary,
// including spans sent to the secondary (forwarded to the primary).
func TestTracesReplicate(t *testing.T) {
	t.Setenv("TANDEM_IT_PEER_KEY", peerKey)
	var lns [2]net.Listener
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
	}
	ws, err := workspace.Parse([]byte(fmt.Sprintf(`workspace: tr
primary: east
peer_key: {env: TANDEM_IT_PEER_KEY}
durability: {mode: sync, timeout: 10s}
regions:
  - {name: east, url: "http://%s", metadata: "sqlite://x.db", artifacts: "file://x"}
  - {name: west, url: "http://%s", metadata: "sqlite://y.db", artifacts: "file://y"}
`, lns[0].Addr(), lns[1].Addr())))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var regions [2]*region.Region
	done := make(chan struct{}, 2)
	for i, name := range []string{"east", "west"} {
		r, err := region.Open(ctx, region.Config{Name: name, MetadataURL: storetest.SQLiteURL(t),
			ArtifactsURL: storetest.FileURL(t), Workspace: ws})
		if err != nil {
			t.Fatal(err)
		}
		regions[i] = r
		go func() { r.Serve(ctx, lns[i]); done <- struct{}{} }()
	}
	defer func() {
		cancel()
		<-done
		<-done
		regions[0].Close()
		regions[1].Close()
	}()
	east, west := "http://"+lns[0].Addr().String(), "http://"+lns[1].Addr().String()

	call := func(method, url string, body any) map[string]any {
		t.Helper()
		return callMLflow(t, method, url, body) // genai_test.go
	}
	exp := call("POST", east+"/api/2.0/mlflow/experiments/create", map[string]any{"name": "traced"})["experiment_id"].(string)

	traceID := bytes.Repeat([]byte{0xab}, 16)
	span := func(id byte, parent []byte, name string) *tracepb.Span {
		return &tracepb.Span{TraceId: traceID, SpanId: bytes.Repeat([]byte{id}, 8), ParentSpanId: parent, Name: name,
			StartTimeUnixNano: 1_700_000_000_000_000_000 + uint64(id), EndTimeUnixNano: 1_700_000_001_000_000_000,
			Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
			Attributes: []*commonpb.KeyValue{{Key: "mlflow.spanType",
				Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: `"CHAIN"`}}}}}
	}
	otlp := func(base string, spans ...*tracepb.Span) {
		t.Helper()
		b, _ := proto.Marshal(&collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
			ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans}}}}})
		// A secondary that has not yet heard from its primary answers 503,
		// which the stock client's exporter retries: so does this one, for a
		// while.
		for try := 0; ; try++ {
			req, _ := http.NewRequest("POST", base+"/v1/traces", bytes.NewReader(b))
			req.Header.Set("Content-Type", "application/x-protobuf")
			req.Header.Set("X-Mlflow-Experiment-Id", exp)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && try < 100 {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			if resp.StatusCode != 200 {
				t.Fatalf("otlp via %s: %d %s", base, resp.StatusCode, msg)
			}
			return
		}
	}
	root := span(1, nil, "root")
	otlp(east, root)
	otlp(west, span(2, root.SpanId, "child")) // a write sent to the secondary
	tid := "tr-" + strings.Repeat("ab", 16)
	call("POST", east+"/api/3.0/mlflow/traces", map[string]any{"trace": map[string]any{"trace_info": map[string]any{
		"trace_id": tid, "trace_location": map[string]any{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": map[string]any{"experiment_id": exp}},
		"request_time": "2023-11-14T22:13:20Z", "execution_duration": "1s", "state": "OK",
		"request_preview": `{"q": 1}`, "tags": map[string]string{"mlflow.traceName": "root"}}}})
	call("PATCH", east+"/api/3.0/mlflow/traces/"+tid+"/tags", map[string]any{"key": "team", "value": "east"})
	a := call("POST", east+"/api/3.0/mlflow/traces/"+tid+"/assessments", map[string]any{"assessment": map[string]any{
		"assessment_name": "helpful", "trace_id": tid, "source": map[string]any{"source_type": "HUMAN", "source_id": "me"},
		"feedback": map[string]any{"value": true}}})["assessment"].(map[string]any)

	// Sync durability: acknowledged writes are on the secondary already.
	got := call("GET", west+"/api/3.0/mlflow/traces/get?trace_id="+tid, nil)["trace"].(map[string]any)
	info := got["trace_info"].(map[string]any)
	if info["state"] != "OK" || info["request_preview"] != `{"q": 1}` || info["tags"].(map[string]any)["team"] != "east" {
		t.Fatalf("secondary trace info: %v", info)
	}
	if info["tags"].(map[string]any)["mlflow.trace.spansLocation"] != "TRACKING_STORE" {
		t.Fatalf("spans location tag missing on the secondary: %v", info["tags"])
	}
	spans := got["spans"].([]any)
	if len(spans) != 2 || spans[0].(map[string]any)["name"] != "root" || spans[1].(map[string]any)["name"] != "child" {
		t.Fatalf("secondary spans: %v", spans)
	}
	as := info["assessments"].([]any)
	if len(as) != 1 || as[0].(map[string]any)["assessment_id"] != a["assessment_id"] {
		t.Fatalf("secondary assessments: %v (created %v)", as, a)
	}
	found := call("POST", west+"/api/3.0/mlflow/traces/search", map[string]any{
		"locations": []any{map[string]any{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": map[string]any{"experiment_id": exp}}},
		"filter":    "span.type = 'CHAIN' AND tags.team = 'east' AND feedback.helpful = 'true'"})["traces"].([]any)
	if len(found) != 1 {
		t.Fatalf("search on the secondary: %v", found)
	}
	// A delete on the primary reaches the secondary too.
	call("POST", east+"/api/2.0/mlflow/traces/delete-traces", map[string]any{"experiment_id": exp, "request_ids": []string{tid}})
	left := call("POST", west+"/api/3.0/mlflow/traces/search", map[string]any{
		"locations": []any{map[string]any{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": map[string]any{"experiment_id": exp}}}})
	if l, _ := left["traces"].([]any); len(l) != 0 {
		t.Fatalf("deleted trace still on the secondary: %v", l)
	}
}

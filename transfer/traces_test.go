package transfer_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/transfer/bundle"
	"github.com/tandemml/tandem/transfer/mlflowsource"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func callJSON(t *testing.T, method, url, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		t.Fatalf("%s %s: %d %v", method, url, resp.StatusCode, out)
	}
	return out
}

// TestTraceRoundTrip: traces (spans, tags, metadata, assessments, a linked
// run) are exported with their experiment and imported into an empty
// workspace on SQLite and PostgreSQL, identical record by record; a second
// import finds them present and writes nothing.
func TestTraceRoundTrip(t *testing.T) {
	src := newWorkspace(t, storetest.SQLiteURL(t))
	exp := callJSON(t, "POST", src.URL+"/api/2.0/mlflow/experiments/create", `{"name":"traced"}`)["experiment_id"].(string)
	run := callJSON(t, "POST", src.URL+"/api/2.0/mlflow/runs/create", `{"experiment_id":"`+exp+`","start_time":1}`)["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	tid := bytes.Repeat([]byte{7}, 16)
	b, _ := proto.Marshal(&collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{ScopeSpans: []*tracepb.ScopeSpans{{
		Spans: []*tracepb.Span{
			{TraceId: tid, SpanId: bytes.Repeat([]byte{1}, 8), Name: "root", StartTimeUnixNano: 5e15, EndTimeUnixNano: 6e15},
			{TraceId: tid, SpanId: bytes.Repeat([]byte{2}, 8), ParentSpanId: bytes.Repeat([]byte{1}, 8), Name: "child", StartTimeUnixNano: 5e15 + 1, EndTimeUnixNano: 6e15},
		}}}}}})
	req, _ := http.NewRequest("POST", src.URL+"/v1/traces", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Mlflow-Experiment-Id", exp)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("otlp: %d %s", resp.StatusCode, msg)
	}
	id := "tr-" + strings.Repeat("07", 16)
	callJSON(t, "POST", src.URL+"/api/3.0/mlflow/traces", `{"trace":{"trace_info":{"trace_id":"`+id+`","trace_location":{"type":"MLFLOW_EXPERIMENT","mlflow_experiment":{"experiment_id":"`+exp+`"}},
		"request_time":"2128-06-11T08:53:20Z","execution_duration":"1000s","state":"OK","trace_metadata":{"m":"1"},"tags":{"t":"x"}}}}`)
	callJSON(t, "POST", src.URL+"/api/3.0/mlflow/traces/"+id+"/assessments", `{"assessment":{"assessment_name":"ok","trace_id":"`+id+`","feedback":{"value":true},"source":{"source_type":"HUMAN","source_id":"me"}}}`)
	callJSON(t, "POST", src.URL+"/api/2.0/mlflow/traces/link-to-run", `{"trace_ids":["`+id+`"],"run_id":"`+run+`"}`)

	path := filepath.Join(t.TempDir(), "ws.tgz")
	if st := exportAll(t, src, path); st.Traces != 1 {
		t.Fatalf("export stats %+v", st)
	}
	want, _, err := sqlstore.TransferTrace(t.Context(), src.Store.Reader(), id)
	if err != nil || len(want.Spans) != 2 || len(want.Assessments) != 1 || len(want.Runs) != 1 {
		t.Fatalf("source trace %+v: %v", want, err)
	}
	for _, be := range storetest.MetadataURLs(t) {
		t.Run(be.Name, func(t *testing.T) {
			dst := newWorkspace(t, be.URL)
			rep, err := importBundle(t, dst, path, false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Counts[bundle.KindTrace][sqlstore.ImportNew] != 1 || rep.Conflicts() != 0 {
				t.Fatalf("import: %+v %+v", rep.Counts, rep.Notes)
			}
			got, ok, err := sqlstore.TransferTrace(t.Context(), dst.Store.Reader(), id)
			if err != nil || !ok {
				t.Fatalf("imported trace: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("imported trace differs:\n%+v\n%+v", got, want)
			}
			tr := callJSON(t, "GET", dst.URL+"/api/3.0/mlflow/traces/get?trace_id="+id, "")["trace"].(map[string]any)
			if spans := tr["spans"].([]any); len(spans) != 2 || spans[1].(map[string]any)["name"] != "child" {
				t.Fatalf("spans served after import: %v", spans)
			}
			before := head(t, dst)
			rep, err = importBundle(t, dst, path, false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Counts[bundle.KindTrace][sqlstore.ImportPresent] != 1 || head(t, dst) != before {
				t.Fatalf("second import: %+v, head %v -> %v", rep.Counts, before, head(t, dst))
			}
		})
	}
}

// TestTraceMigrateFromStockMLflow: traces the stock client logged to a
// stock mlflow server (nested spans, a tag, a feedback) are read through
// its REST API and imported; tandem then serves the same spans, tag and
// assessment.
func TestTraceMigrateFromStockMLflow(t *testing.T) {
	ctx := t.Context()
	src := mlflowtest.Start(t)
	sum := mlflowtest.PopulateTraces(t, ctx, src.URL)
	if sum.Traces != 3 || sum.Spans != 9 {
		t.Fatalf("source traces: %+v", sum)
	}
	c, err := mlflowsource.New(src.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mlflow.tar")
	w, err := bundle.Create(path, bundle.Meta{Source: "mlflow"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Export(ctx, w, mlflowsource.Options{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st.Traces != 3 {
		t.Fatalf("read %d traces from the stock server: %+v", st.Traces, st)
	}
	dst := newWorkspace(t, storetest.SQLiteURL(t))
	rep, err := importBundle(t, dst, path, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts[bundle.KindTrace][sqlstore.ImportNew] != 3 || rep.Conflicts() != 0 {
		t.Fatalf("import: %+v %+v", rep.Counts, rep.Notes)
	}
	tr := callJSON(t, "GET", dst.URL+"/api/3.0/mlflow/traces/get?trace_id="+sum.First, "")["trace"].(map[string]any)
	info := tr["trace_info"].(map[string]any)
	if len(tr["spans"].([]any)) != 3 || info["tags"].(map[string]any)["checked"] != "yes" || len(info["assessments"].([]any)) != 1 {
		t.Fatalf("migrated trace: %v", tr)
	}
}

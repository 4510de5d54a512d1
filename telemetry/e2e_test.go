package telemetry_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/tandemml/tandem/regiontest"
)

// collector is an OTLP/HTTP trace receiver written on the protocol's
// official Go types: it keeps every span it is sent, with the region of
// the resource that sent it.
type collector struct {
	mu    sync.Mutex
	spans []span
}

type span struct {
	region, name, traceID, spanID, parentID string
	kind                                    tracepb.Span_SpanKind
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.ResourceSpans {
		reg := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.Key == "tandem.region" {
				reg = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.spans = append(c.spans, span{region: reg, name: s.Name, kind: s.Kind,
					traceID: hex.EncodeToString(s.TraceId), spanID: hex.EncodeToString(s.SpanId), parentID: hex.EncodeToString(s.ParentSpanId)})
			}
		}
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Write(out)
}

func (c *collector) all() []span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]span(nil), c.spans...)
}

// TestForwardedWriteIsOneTrace: an experiment created through the
// secondary is forwarded to the primary, journalled there and applied back
// on the secondary; the collector receives the secondary's server and
// client spans, the primary's server span and the secondary's apply span,
// all in one trace and each the child of the one before.
func TestForwardedWriteIsOneTrace(t *testing.T) {
	col := &collector{}
	otlp := httptest.NewServer(col)
	defer otlp.Close()

	w := regiontest.Start(t, regiontest.Options{Extra: fmt.Sprintf("telemetry: {otlp_endpoint: %q}\n", otlp.URL)})
	stop := func() { w.Stop(0); w.Stop(1) } // Close flushes the spans

	west := w.URLs[1]
	deadline := time.Now().Add(30 * time.Second)
	// The write must reach the secondary once it follows the primary's
	// epoch: before that, its forward is refused as stale and it
	// bootstraps again, so the experiment arrives in a snapshot and no
	// apply span exists to check.
	for rs := w.Client(t); ; {
		st := rs.Statuses(context.Background())[1].Replication
		if st != nil && st.Role.Epoch >= 1 && st.Head.Epoch >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the secondary never followed epoch 1: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var resp *http.Response
	var err error
	for {
		resp, err = http.Post(west+"/api/2.0/mlflow/experiments/create", "application/json", bytes.NewReader([]byte(`{"name":"traced"}`)))
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if resp != nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("create through the secondary: %v %v", err, resp)
		}
		time.Sleep(200 * time.Millisecond)
	}
	resp.Body.Close()
	for {
		r, err := http.Get(west + "/api/2.0/mlflow/experiments/get-by-name?experiment_name=traced")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK && r.Header.Get("X-Tandem-Role") != "" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the secondary never applied the experiment")
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()

	spans := col.all()
	find := func(pred func(span) bool, what string) span {
		t.Helper()
		for _, s := range spans {
			if pred(s) {
				return s
			}
		}
		t.Fatalf("no %s among %d spans: %+v", what, len(spans), spans)
		return span{}
	}
	create := "/api/2.0/mlflow/experiments/create"
	apply := find(func(s span) bool {
		return s.region == "west" && s.name == "replication.apply experiment.create"
	}, "apply span of the experiment on the secondary")
	primary := find(func(s span) bool { return s.spanID == apply.parentID }, "parent of the apply span")
	if primary.region != "east" || primary.kind != tracepb.Span_SPAN_KIND_SERVER || !strings.HasSuffix(primary.name, create) {
		t.Fatalf("the apply span's parent is %+v, want the primary's server span of the create", primary)
	}
	client := find(func(s span) bool { return s.spanID == primary.parentID }, "parent of the primary's span")
	if client.region != "west" || client.kind != tracepb.Span_SPAN_KIND_CLIENT {
		t.Fatalf("the primary's span's parent is %+v, want the secondary's forwarding client span", client)
	}
	server := find(func(s span) bool { return s.spanID == client.parentID }, "parent of the forwarding span")
	if server.region != "west" || server.kind != tracepb.Span_SPAN_KIND_SERVER || !strings.HasSuffix(server.name, create) {
		t.Fatalf("the forwarding span's parent is %+v, want the secondary's server span of the create", server)
	}
	for _, s := range []span{apply, client, server} {
		if s.traceID != primary.traceID {
			t.Fatalf("span %+v is not in the write's trace %s", s, primary.traceID)
		}
	}
}

package serving

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

// TestRequestLogLine: the fields of a line, its JSON names, bodies left
// out when their collection is off, and cut at MaxLoggedBody (never in the
// middle of a character) with the cut said.
func TestRequestLogLine(t *testing.T) {
	at := time.Date(2026, 12, 4, 19, 5, 6, 7000000, time.FixedZone("x", 3600))
	in := []byte(`{"inputs": [[1, 2]]}`)
	l := NewRequestLogLine(at, "west", "iris-ep", "blue", "req-1", 200, 1500*time.Microsecond, in, nil)
	b := l.Marshal()
	if !bytes.HasSuffix(b, []byte("}\n")) || bytes.Count(b, []byte("\n")) != 1 {
		t.Fatalf("not one line: %q", b)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"time": "2026-12-04T18:05:06.007Z", "region": "west", "endpoint": "iris-ep", "deployment": "blue",
		"request_id": "req-1", "status": 200.0, "latency_ms": 1.5, "model_inputs": string(in)}
	if len(got) != len(want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	// Outputs only, and an empty body is still logged as "".
	l = NewRequestLogLine(at, "west", "iris-ep", "blue", "req-2", 400, 0, nil, []byte{})
	if l.ModelInputs != nil || l.ModelOutputs == nil || *l.ModelOutputs != "" || !strings.Contains(string(l.Marshal()), `"model_outputs":""`) {
		t.Fatalf("outputs only: %s", l.Marshal())
	}
	// A long body with a multi-byte character across the cut.
	long := append(bytes.Repeat([]byte("a"), MaxLoggedBody-1), []byte("é and more")...)
	l = NewRequestLogLine(at, "west", "iris-ep", "blue", "req-3", 200, 0, long, long)
	if !l.ModelInputsTruncated || !l.ModelOutputsTruncated || len(*l.ModelInputs) != MaxLoggedBody-1 || !utf8.ValidString(*l.ModelInputs) {
		t.Fatalf("truncation: %d bytes, truncated %v", len(*l.ModelInputs), l.ModelInputsTruncated)
	}
	exact := bytes.Repeat([]byte("b"), MaxLoggedBody)
	if l := NewRequestLogLine(at, "w", "e", "d", "r", 200, 0, exact, nil); l.ModelInputsTruncated || len(*l.ModelInputs) != MaxLoggedBody {
		t.Fatal("a body of exactly MaxLoggedBody is kept whole")
	}
	// What the router captures of a response: one byte more than kept,
	// so that the line says it was cut.
	c := newCapture()
	c.Write(long[:10])
	c.Write(long[10:])
	if l := NewRequestLogLine(at, "w", "e", "d", "r", 200, 0, nil, c.buf); !l.ModelOutputsTruncated || c.n != len(long) {
		t.Fatalf("captured %d of %d bytes, truncated %v", len(c.buf), c.n, l.ModelOutputsTruncated)
	}
}

func TestRequestLogPath(t *testing.T) {
	at := time.Date(2026, 12, 4, 23, 59, 0, 0, time.FixedZone("x", -3600)) // 00:59 UTC the next day
	if got := RequestLogPath("east", at, 0); got != "request_logs/east/2026-12-05/00.jsonl" {
		t.Errorf("part 0: %s", got)
	}
	if got := RequestLogPath("east", at, 2); got != "request_logs/east/2026-12-05/00.2.jsonl" {
		t.Errorf("part 2: %s", got)
	}
}

// TestRequestID: a caller's plain x-request-id is kept; anything else
// (missing, too long, with spaces or quotes) gets a new one.
func TestRequestID(t *testing.T) {
	draw := func() uint64 { return 0xabc }
	for _, c := range []struct{ header, want string }{
		{"", "0000000000000abc"},
		{"client-42:a.b_c", "client-42:a.b_c"},
		{"has space", "0000000000000abc"},
		{`"quoted"`, "0000000000000abc"},
		{strings.Repeat("x", 129), "0000000000000abc"},
	} {
		r := httptest.NewRequest("POST", "/endpoints/e/score", nil)
		if c.header != "" {
			r.Header.Set(RequestIDHeader, c.header)
		}
		if got := requestID(r, draw); got != c.want {
			t.Errorf("%q: %q, want %q", c.header, got, c.want)
		}
	}
}

// TestLogBuffer: the buffer is bounded in bytes (add refuses, never
// waits), take empties it, and lines put back after a failed write go
// first, as many as fit.
func TestLogBuffer(t *testing.T) {
	b := newLogBuffer(10)
	line := func(s string) logLine { return logLine{endpoint: "e", deployment: "d", data: []byte(s)} }
	if !b.add(line("aaaa")) || !b.add(line("bbbb")) || b.add(line("ccc")) {
		t.Fatal("8 of 10 bytes used: a 3-byte line does not fit")
	}
	if !b.add(line("cc")) {
		t.Fatal("a 2-byte line fits")
	}
	got := b.take()
	if len(got) != 3 || b.size != 0 || len(b.take()) != 0 {
		t.Fatalf("take: %d lines, %d bytes left", len(got), b.size)
	}
	b.add(line("new"))
	if dropped := b.putBack(got); dropped != 1 {
		t.Fatalf("put back 10 bytes beside 3: dropped %d, want 1", dropped)
	}
	var order []string
	for _, l := range b.take() {
		order = append(order, string(l.data))
	}
	if strings.Join(order, ",") != "aaaa,cc,new" {
		t.Fatalf("order after put back: %v", order)
	}
}

// TestLogDropsCounted: a line that does not fit the buffer is dropped at
// once (the scoring request does not wait) and counted in /metrics.
func TestLogDropsCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := &Service{logs: newLogBuffer(300), metrics: newMetrics("west", reg)}
	at := time.Now()
	l := NewRequestLogLine(at, "west", "iris-ep", "blue", "r", 200, time.Millisecond, []byte(`{"inputs": [[1]]}`), nil)
	s.logRequest(l, at)
	s.logRequest(l, at) // about 170 bytes each: the second does not fit
	if got := testutil.ToFloat64(s.metrics.logsDropped); got != 1 {
		t.Fatalf("dropped %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(reg, "tandem_endpoint_request_logs_dropped_total"); err != nil || n != 1 {
		t.Fatalf("metric not exported: %d %v", n, err)
	}
	if got := s.logs.take(); len(got) != 1 || got[0].hour != at.UTC().Truncate(time.Hour) || got[0].deployment != "blue" {
		t.Fatalf("kept: %+v", got)
	}
}

// testService is a Service on a fresh SQLite store and artifact folder
// with one deployment, blue of iris-ep (no scoring processes).
func testService(t *testing.T, peerToken string) *Service {
	t.Helper()
	ctx := context.Background()
	store, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := blobstore.Open(ctx, storetest.FileURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	if _, err := store.CreateRegisteredModel(ctx, "iris", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "iris", Source: "s3://elsewhere/iris"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutEndpoint(ctx, tandem.OnlineEndpoint{Name: "iris-ep"}, "sealed", tandem.PutCreate); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutDeployment(ctx, tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "models:/iris/1"}, tandem.PutCreate); err != nil {
		t.Fatal(err)
	}
	return New(Config{Region: "east", Store: store, Blobs: blobs, CacheDir: t.TempDir(), PeerToken: peerToken})
}

// TestAppendRequestLogs: batches of one hour append to one file of the
// deployment's run (created once, in online-endpoints/iris-ep); an hour
// past MaxRequestLogFile continues in its next part; lines of an unknown
// deployment are refused (ENOTFOUND: the flusher drops them).
func TestAppendRequestLogs(t *testing.T) {
	ctx := context.Background()
	s := testService(t, "")
	hour := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	read := func(rel string) string {
		t.Helper()
		root := s.logRuns["iris-ep/blue"]
		rd, err := s.cfg.Blobs.Open(ctx, root+"/"+rel)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		defer rd.Close()
		var b bytes.Buffer
		b.ReadFrom(rd)
		return b.String()
	}
	for _, l := range []string{"{\"n\":1}\n", "{\"n\":2}\n"} {
		if err := s.appendRequestLogs(ctx, "iris-ep", "blue", "west", hour, []byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	if got := read("request_logs/west/2026-12-04/19.jsonl"); got != "{\"n\":1}\n{\"n\":2}\n" {
		t.Fatalf("appended file: %q", got)
	}
	exp, err := s.cfg.Store.GetExperimentByName(ctx, "online-endpoints/iris-ep")
	if err != nil {
		t.Fatal(err)
	}
	runs, _, err := s.cfg.Store.SearchRuns(ctx, sqlstore.SearchRunsInput{ExperimentIDs: []string{exp.ExperimentID}})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %d %v", len(runs), err)
	}
	// A new Service (a restart, or a new primary) finds the same run and file.
	s2 := New(Config{Region: "east", Store: s.cfg.Store, Blobs: s.cfg.Blobs, CacheDir: t.TempDir()})
	if err := s2.appendRequestLogs(ctx, "iris-ep", "blue", "west", hour, []byte("{\"n\":3}\n")); err != nil {
		t.Fatal(err)
	}
	if got := read("request_logs/west/2026-12-04/19.jsonl"); got != "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n" || s2.logRuns["iris-ep/blue"] != s.logRuns["iris-ep/blue"] {
		t.Fatalf("after a restart: %q", got)
	}
	// Past the size bound: the next part.
	big := []byte("{\"pad\":\"" + strings.Repeat("x", MaxRequestLogFile-20) + "\"}\n")
	if err := s.appendRequestLogs(ctx, "iris-ep", "blue", "west", hour, big); err != nil {
		t.Fatal(err)
	}
	if err := s.appendRequestLogs(ctx, "iris-ep", "blue", "west", hour, []byte("{\"n\":4}\n")); err != nil {
		t.Fatal(err)
	}
	if got := read("request_logs/west/2026-12-04/19.1.jsonl"); len(got) != len(big)+8 || !strings.HasSuffix(got, "{\"n\":4}\n") {
		t.Fatalf("part 1: %d bytes", len(got))
	}
	if got := read("request_logs/west/2026-12-04/19.jsonl"); len(got) != 24 {
		t.Fatalf("part 0 changed: %d bytes", len(got))
	}
	if err := s.appendRequestLogs(ctx, "iris-ep", "green", "west", hour, []byte("{}\n")); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("unknown deployment: %v", err)
	}
}

// TestReceiveLogs: the primary takes a region's lines only with the peer
// key, and only as JSON lines; what it takes lands in the region's file.
func TestReceiveLogs(t *testing.T) {
	s := testService(t, "peer-token")
	h := s.APIHandler()
	post := func(token, query, body string) (int, string) {
		r := httptest.NewRequest("POST", APIPrefix+"/iris-ep/deployments/blue/request-logs?"+query, strings.NewReader(body))
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	ok := "region=west&hour=2026-12-04T19"
	for _, c := range []struct {
		token, query, body string
		status             int
		says               string
	}{
		{"", ok, "{}\n", 401, "peer key"},
		{"wrong", ok, "{}\n", 401, "peer key"},
		{"peer-token", "region=../x&hour=2026-12-04T19", "{}\n", 400, "not a region name"},
		{"peer-token", "region=west&hour=today", "{}\n", 400, "hour"},
		{"peer-token", ok, "{}", 400, "ending with a newline"},
		{"peer-token", ok, "{}\nnot json\n", 400, "line 2 is not a JSON object"},
		{"peer-token", ok, "{\"n\":1}\n", 200, ""},
	} {
		status, resp := post(c.token, c.query, c.body)
		if status != c.status || !strings.Contains(resp, c.says) {
			t.Errorf("%q %q %q: %d %s; want %d %q", c.token, c.query, c.body, status, resp, c.status, c.says)
		}
	}
	root := s.logRuns["iris-ep/blue"]
	if ok, err := s.cfg.Blobs.Exists(context.Background(), root+"/request_logs/west/2026-12-04/19.jsonl"); err != nil || !ok {
		t.Fatalf("the accepted batch is not in west's file: %v %v", ok, err)
	}
}

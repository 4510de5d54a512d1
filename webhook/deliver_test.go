package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/tandemml/tandem"
)

type fakeStore []tandem.Webhook

func (f fakeStore) WebhooksForEvent(_ context.Context, e tandem.WebhookEvent) ([]tandem.Webhook, error) {
	var out []tandem.Webhook
	for _, h := range f {
		for _, x := range h.Events {
			if x == e {
				out = append(out, h)
			}
		}
	}
	return out, nil
}

// fakeSecrets "seals" by prefixing: enough to see that the sealed text is
// what is stored and the opened one what signs.
type fakeSecrets struct{}

func (fakeSecrets) SealWebhookSecret(_ context.Context, s string) (string, error) {
	return "sealed:" + s, nil
}
func (fakeSecrets) OpenWebhookSecret(_ context.Context, _, sealed string) (string, error) {
	return strings.TrimPrefix(sealed, "sealed:"), nil
}

type received struct {
	header http.Header
	body   []byte
}

// receiver answers the statuses given in turn (then 200) and records
// every request.
func receiver(t *testing.T, statuses ...int) (*httptest.Server, func() []received) {
	var mu sync.Mutex
	var got []received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, received{r.Header.Clone(), b})
		n := len(got)
		mu.Unlock()
		if n <= len(statuses) {
			w.WriteHeader(statuses[n-1])
		}
		w.Write([]byte("thanks"))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}
}

func fastPolicy() Policy {
	return Policy{MaxRetries: 3, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
}

// TestDeliverRetriesAndSigns: a committed event reaches the subscribed
// webhook after two 503s, each attempt the same signed request (one
// delivery id), the signature valid for the webhook's secret; the disabled
// webhook gets nothing.
func TestDeliverRetriesAndSigns(t *testing.T) {
	srv, got := receiver(t, 503, 503)
	off, offGot := receiver(t)
	hooks := fakeStore{
		{ID: "w1", URL: srv.URL + "/hook", Status: tandem.WebhookActive, Events: []tandem.WebhookEvent{mvCreated}, SealedSecret: "sealed:s3cr3t"},
		{ID: "w2", URL: off.URL, Status: tandem.WebhookDisabled, Events: []tandem.WebhookEvent{mvCreated}},
	}
	s := New(Config{Store: hooks, Secrets: fakeSecrets{}, AllowPrivate: true, Schemes: []string{"http"}, Policy: fastPolicy()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	s.Notify(ctx, mvCreated, Object{{"name", "m"}, {"version", "1"}})
	deadline := time.Now().Add(10 * time.Second)
	for len(got()) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	reqs := got()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (two 503s, then 200)", len(reqs))
	}
	id := reqs[0].header.Get(HeaderDeliveryID)
	for i, r := range reqs {
		if r.header.Get(HeaderDeliveryID) != id || string(r.body) != string(reqs[0].body) {
			t.Fatalf("attempt %d is another request: %v", i+1, r.header)
		}
		if sig := r.header.Get(HeaderSignature); sig != Sign("s3cr3t", id, r.header.Get(HeaderTimestamp), r.body) {
			t.Fatalf("attempt %d: signature %q does not verify with the secret", i+1, sig)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(reqs[0].body, &doc); err != nil || doc["entity"] != "model_version" || doc["action"] != "created" ||
		doc["data"].(map[string]any)["name"] != "m" {
		t.Fatalf("body %s (%v)", reqs[0].body, err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(offGot()); n != 0 {
		t.Fatalf("the disabled webhook got %d requests", n)
	}
	if n := testutil.ToFloat64(s.count.WithLabelValues("delivered")); n != 1 {
		t.Fatalf("delivered counter %v, want 1", n)
	}
}

// TestTestGivesUpOn4xx: a 400 is not retried; the result has the status
// and body; a connection refused is retried and then reported.
func TestTestGivesUpOn4xx(t *testing.T) {
	srv, got := receiver(t, 400)
	s := New(Config{Store: fakeStore{}, AllowPrivate: true, Schemes: []string{"http"}, Policy: fastPolicy()})
	res := s.Test(context.Background(), tandem.Webhook{ID: "w", URL: srv.URL, Events: []tandem.WebhookEvent{rmCreated}}, tandem.WebhookEvent{})
	if res.Status != 400 || res.Body != "thanks" || res.Err != nil || res.Attempts != 1 || len(got()) != 1 {
		t.Fatalf("Test = %+v after %d requests; want one attempt, 400", res, len(got()))
	}
	var doc map[string]any
	json.Unmarshal(got()[0].body, &doc)
	if doc["entity"] != "registered_model" || doc["data"].(map[string]any)["name"] != "example_model" {
		t.Fatalf("test payload %s", got()[0].body)
	}
	srv.Close()
	res = s.Test(context.Background(), tandem.Webhook{ID: "w", URL: srv.URL, Events: []tandem.WebhookEvent{rmCreated}}, mvCreated)
	if res.Err == nil || res.Attempts != 4 {
		t.Fatalf("Test of a closed server = %+v; want an error after 4 attempts", res)
	}
}

// TestURLChecks: MLflow's refusals of webhook URLs, in its words, and the
// check at connection time that keeps a delivery off private addresses.
func TestURLChecks(t *testing.T) {
	ctx := context.Background()
	strict := New(Config{Store: fakeStore{}})
	for url, want := range map[string]string{
		"http://example.com/x": "Invalid webhook URL scheme: 'http'. Allowed schemes are: https.",
		"https://":             "Webhook URL must include a hostname: 'https://'",
		"https://127.0.0.1/x":  "Webhook URL must not resolve to a non-public IP address. '127.0.0.1' resolves to 127.0.0.1.",
		"https://[::1]:8/x":    "Webhook URL must not resolve to a non-public IP address. '::1' resolves to ::1.",
		"https://10.1.2.3/x":   "Webhook URL must not resolve to a non-public IP address. '10.1.2.3' resolves to 10.1.2.3.",
		"  ":                   "Webhook URL cannot be empty or just whitespace: '  '",
	} {
		err := strict.CheckURL(ctx, url)
		if tandem.ErrorCode(err) != tandem.EINVALID || tandem.ErrorMessage(err) != want {
			t.Errorf("CheckURL(%q) = %v, want %q", url, err, want)
		}
	}
	if err := strict.CheckURL(ctx, "https://8.8.8.8/x"); err != nil {
		t.Errorf("a public address refused: %v", err)
	}
	loose := New(Config{Store: fakeStore{}, AllowPrivate: true, Schemes: []string{"http", "https"}})
	if err := loose.CheckURL(ctx, "http://127.0.0.1:9/x"); err != nil {
		t.Errorf("private addresses allowed, still refused: %v", err)
	}
	// Past the URL check (as after DNS rebinding), the connection itself
	// is refused and not retried.
	srv, got := receiver(t)
	var res Result
	o := strict.attempt(ctx, Build(srv.URL, "", mvCreated, nil, "d", time.Now()), &res)
	if !o.Refused || res.Err == nil || !strings.Contains(res.Err.Error(), "not a public IP address") || len(got()) != 0 {
		t.Fatalf("attempt to loopback = %+v, %+v, %d requests; want refused at connect", o, res, len(got()))
	}
}

// TestQueueIsBounded: deliveries beyond the queue are dropped, Notify
// never blocks.
func TestQueueIsBounded(t *testing.T) {
	hooks := fakeStore{{ID: "w", URL: "http://x", Status: tandem.WebhookActive, Events: []tandem.WebhookEvent{mvCreated}}}
	s := New(Config{Store: hooks, Queue: 2})
	done := make(chan struct{})
	go func() {
		for range 5 {
			s.Notify(context.Background(), mvCreated, nil)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify blocked on a full queue")
	}
	if n := len(s.queue); n != 2 {
		t.Fatalf("%d deliveries queued, want 2", n)
	}
	if n := testutil.ToFloat64(s.count.WithLabelValues("dropped")); n != 3 {
		t.Fatalf("dropped counter %v, want 3", n)
	}
}

package webhook

import (
	"errors"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

var (
	mvCreated = tandem.WebhookEvent{Entity: tandem.WebhookModelVersion, Action: tandem.WebhookCreated}
	rmCreated = tandem.WebhookEvent{Entity: tandem.WebhookRegisteredModel, Action: tandem.WebhookCreated}
)

// TestMatch: an event goes to the active webhooks subscribed to it, in
// order, and to no disabled or unsubscribed one.
func TestMatch(t *testing.T) {
	hooks := []tandem.Webhook{
		{ID: "a", Status: tandem.WebhookActive, Events: []tandem.WebhookEvent{rmCreated, mvCreated}},
		{ID: "b", Status: tandem.WebhookDisabled, Events: []tandem.WebhookEvent{mvCreated}},
		{ID: "c", Status: tandem.WebhookActive, Events: []tandem.WebhookEvent{rmCreated}},
		{ID: "d", Status: tandem.WebhookActive, Events: []tandem.WebhookEvent{mvCreated}},
	}
	var got []string
	for _, h := range Match(hooks, mvCreated) {
		got = append(got, h.ID)
	}
	if len(got) != 2 || got[0] != "a" || got[1] != "d" {
		t.Fatalf("model_version.created goes to %v, want [a d]", got)
	}
	if m := Match(hooks, tandem.WebhookEvent{Entity: tandem.WebhookPromptAlias, Action: tandem.WebhookDeleted}); len(m) != 0 {
		t.Fatalf("an event no webhook subscribes to matched %v", m)
	}
}

// TestSign: MLflow's signature of a delivery, checked against a value
// computed with Python's hmac and base64 modules.
func TestSign(t *testing.T) {
	got := Sign("s3", "d-1", "1700000000", []byte(`{"a": 1}`))
	if want := "v1,nneaqLM1BDnO/pjWTiehyl8RINClJVDapkTBJXKuKm8="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	if Sign("other", "d-1", "1700000000", []byte(`{"a": 1}`)) == got {
		t.Fatal("the signature does not depend on the secret")
	}
}

// TestBody: the document is written as Python's json.dumps writes it
// (MLflow's server), key order kept, non-ASCII escaped, null and floats.
func TestBody(t *testing.T) {
	data := Object{{"name", "m\u00e9 \U0001F600\"q"}, {"tags", Object{}}, {"run_id", nil}, {"n", 1.0}}
	got := string(Body(mvCreated, data, time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", 3600))))
	want := `{"entity": "model_version", "action": "created", "timestamp": "2026-01-02T02:04:05.000006+00:00", ` +
		`"data": {"name": "m\u00e9 \ud83d\ude00\"q", "tags": {}, "run_id": null, "n": 1.0}}`
	if got != want {
		t.Fatalf("Body =\n%s\nwant\n%s", got, want)
	}
}

// TestBuild: the headers MLflow sends, the signature over exactly the body
// sent, and no signature without a secret.
func TestBuild(t *testing.T) {
	now := time.Unix(1700000000, 0)
	req := Build("https://h/x", "s3", mvCreated, Object{{"name", "m"}}, "d-1", now)
	one := func(k string) string { // MLflow's spelling, not Go's canonical one
		if v := req.Header[k]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	if one("X-MLflow-Delivery-Id") != "d-1" || one("X-MLflow-Timestamp") != "1700000000" || one("Content-Type") != "application/json" {
		t.Fatalf("headers %v", req.Header)
	}
	if got, want := one("X-MLflow-Signature"), Sign("s3", "d-1", "1700000000", req.Body); got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	if req := Build("https://h/x", "", mvCreated, nil, "d-1", now); len(req.Header[HeaderSignature]) != 0 {
		t.Fatal("signed without a secret")
	}
}

// TestNext: what is retried (connection errors, 429, 500, 502, 503, 504),
// what is not (other statuses, refused URLs), the backoff, Retry-After,
// the cap and the number of retries.
func TestNext(t *testing.T) {
	p := Policy{MaxRetries: 3, Backoff: time.Second, MaxBackoff: 10 * time.Second}
	conn := Outcome{Err: errors.New("connection refused")}
	cases := []struct {
		n     int
		o     Outcome
		again bool
		wait  time.Duration
	}{
		{1, conn, true, 0},
		{2, conn, true, 2 * time.Second},
		{3, Outcome{Status: 503}, true, 4 * time.Second},
		{4, Outcome{Status: 503}, false, 0}, // three retries done
		{1, Outcome{Status: 429, RetryAfter: "7"}, true, 7 * time.Second},
		{1, Outcome{Status: 429, RetryAfter: "3600"}, true, 10 * time.Second},
		{3, Outcome{Status: 500}, true, 4 * time.Second},
		{1, Outcome{Status: 502}, true, 0},
		{1, Outcome{Status: 504}, true, 0},
		{1, Outcome{Status: 200}, false, 0},
		{1, Outcome{Status: 400}, false, 0},
		{1, Outcome{Status: 501}, false, 0},
		{1, Outcome{Err: errors.New("blocked"), Refused: true}, false, 0},
	}
	for _, c := range cases {
		again, wait := p.Next(c.n, c.o, 0)
		if again != c.again || wait != c.wait {
			t.Errorf("Next(%d, %+v) = %v, %v; want %v, %v", c.n, c.o, again, wait, c.again, c.wait)
		}
	}
	if _, wait := p.Next(2, conn, 0.5); wait != 2500*time.Millisecond {
		t.Errorf("jitter 0.5 adds %v, want 500ms", wait-2*time.Second)
	}
	if _, wait := (Policy{MaxRetries: 9, Backoff: time.Second, MaxBackoff: 10 * time.Second}).Next(8, conn, 0.9); wait != 10*time.Second {
		t.Errorf("the wait is not capped: %v", wait)
	}
}

// TestExample: every event MLflow has has an example payload for
// test_webhook.
func TestExample(t *testing.T) {
	for _, ent := range tandem.WebhookEntities() {
		for _, act := range tandem.WebhookEntityActions(ent) {
			ev := tandem.WebhookEvent{Entity: ent, Action: act}
			if d, ok := Example(ev); !ok || len(d) == 0 {
				t.Errorf("no example for %s", ev)
			}
		}
	}
	d, _ := Example(mvCreated)
	if got := string(Body(mvCreated, d, time.Unix(0, 0))); got != `{"entity": "model_version", "action": "created", "timestamp": "1970-01-01T00:00:00.000000+00:00", "data": {"name": "example_model", "version": "1", "source": "models:/123", "run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"}, "description": "An example model version"}}` {
		t.Errorf("example body %s", got)
	}
}

// TestTags: repeated keys keep their first place and their last value.
func TestTags(t *testing.T) {
	got := Tags([]tandem.Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "a", Value: "3"}})
	if len(got) != 2 || got[0] != (Field{"a", "3"}) || got[1] != (Field{"b", "2"}) {
		t.Fatalf("Tags = %v", got)
	}
}

// TestFromEnv: MLflow's variables configure delivery.
func TestFromEnv(t *testing.T) {
	env := map[string]string{"MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http, https", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "True",
		"MLFLOW_WEBHOOK_REQUEST_TIMEOUT": "5", "MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES": "0"}
	c := FromEnv(Config{}, func(k string) string { return env[k] })
	if len(c.Schemes) != 2 || c.Schemes[0] != "http" || c.Schemes[1] != "https" || !c.AllowPrivate ||
		c.Timeout != 5*time.Second || c.Policy.MaxRetries != 0 || c.Policy.Backoff != time.Second {
		t.Fatalf("FromEnv = %+v", c)
	}
	if c := FromEnv(Config{}, func(string) string { return "" }); c.AllowPrivate || c.Schemes != nil {
		t.Fatalf("FromEnv of nothing = %+v", c)
	}
}

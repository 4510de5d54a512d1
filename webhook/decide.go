// Package webhook delivers MLflow's model-registry webhooks: which
// webhooks an event goes to, the signed request each is sent, and whether
// a failed attempt is tried again (this file: pure), and the sending itself
// on a bounded queue after the registry write has committed (deliver.go).
//
// Only the region that commits a registry write delivers its events: the
// MLflow API calls Notify after its store write returned, which happens on
// the primary alone (a secondary forwards writes, and applying a shipped
// journal entry runs no handler).
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/tandemml/tandem"
)

// The headers MLflow's webhook requests carry.
const (
	HeaderDeliveryID = "X-MLflow-Delivery-Id"
	HeaderTimestamp  = "X-MLflow-Timestamp"
	HeaderSignature  = "X-MLflow-Signature"
	signatureVersion = "v1"
)

// Field is one member of a JSON object; Object keeps its members' order
// (MLflow's payloads list their fields in a fixed order).
type Field struct {
	Key   string
	Value any // string, nil, int64, float64, Object
}

// Object is an ordered JSON object.
type Object []Field

// Tags is the object of a request's tags, in their order, a later value of
// a key replacing an earlier one in place (as a Python dict does).
func Tags(tags []tandem.Tag) Object {
	out := Object{}
	for _, t := range tags {
		found := false
		for i := range out {
			if out[i].Key == t.Key {
				out[i].Value, found = t.Value, true
			}
		}
		if !found {
			out = append(out, Field{t.Key, t.Value})
		}
	}
	return out
}

// Match returns the webhooks an event is delivered to: the active ones
// subscribed to it, in the order given.
func Match(hooks []tandem.Webhook, ev tandem.WebhookEvent) []tandem.Webhook {
	var out []tandem.Webhook
	for _, h := range hooks {
		if h.Status != tandem.WebhookActive {
			continue
		}
		for _, e := range h.Events {
			if e == ev {
				out = append(out, h)
				break
			}
		}
	}
	return out
}

// Body is the JSON document a delivery posts: the event's entity and
// action, the time (ISO 8601, UTC, microseconds) and the event's data,
// written as MLflow's server writes it (Python's json.dumps: ", " and ": "
// separators, non-ASCII escaped).
func Body(ev tandem.WebhookEvent, data Object, now time.Time) []byte {
	doc := Object{{"entity", ev.Entity}, {"action", ev.Action},
		{"timestamp", now.UTC().Format("2006-01-02T15:04:05.000000+00:00")}, {"data", data}}
	var b strings.Builder
	writeJSON(&b, doc)
	return []byte(b.String())
}

func writeJSON(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		writeString(b, x)
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64: // as Python's repr of a float: 100.0, 105.5
		f := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(f, ".eEn") {
			f += ".0"
		}
		b.WriteString(f)
	case Object:
		b.WriteByte('{')
		for i, f := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writeString(b, f.Key)
			b.WriteString(": ")
			writeJSON(b, f.Value)
		}
		b.WriteByte('}')
	default:
		panic(fmt.Sprintf("webhook payload value of type %T", v))
	}
}

func writeString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r >= 0x7f:
			if r > 0xffff {
				hi, lo := utf16.EncodeRune(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, hi, lo)
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// Sign is MLflow's signature of a delivery: "v1," and the base64 of the
// HMAC-SHA256, keyed by the secret, of "<delivery id>.<timestamp>.<body>".
func Sign(secret, deliveryID, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(deliveryID + "." + timestamp + "."))
	m.Write(body)
	return signatureVersion + "," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Request is one delivery attempt's HTTP POST.
type Request struct {
	URL    string
	Header http.Header
	Body   []byte
}

// Build returns the request that delivers an event to a webhook: the body,
// MLflow's delivery id and timestamp headers, and the signature when the
// webhook has a secret (secret is the opened one, "" for none).
func Build(url, secret string, ev tandem.WebhookEvent, data Object, deliveryID string, now time.Time) Request {
	body := Body(ev, data, now)
	ts := strconv.FormatInt(now.Unix(), 10)
	// MLflow's header names are not in Go's canonical form (X-Mlflow-...):
	// they are set as MLflow writes them, for receivers that read them
	// case-sensitively.
	h := http.Header{"Content-Type": {"application/json"}, HeaderDeliveryID: {deliveryID}, HeaderTimestamp: {ts}}
	if secret != "" {
		h[HeaderSignature] = []string{Sign(secret, deliveryID, ts, body)}
	}
	return Request{URL: url, Header: h, Body: body}
}

// Policy is how deliveries are retried.
type Policy struct {
	MaxRetries int           // attempts after the first (MLflow's default: 3)
	Backoff    time.Duration // the wait before the second retry; it doubles (1s)
	MaxBackoff time.Duration // the longest wait (60s)
}

// DefaultPolicy is MLflow's.
func DefaultPolicy() Policy {
	return Policy{MaxRetries: 3, Backoff: time.Second, MaxBackoff: time.Minute}
}

// Outcome is what one attempt got: the response's status (0 when there
// was no response: a connection error or a timeout, Err set), and its
// Retry-After header.
type Outcome struct {
	Status     int
	RetryAfter string
	Err        error
	// Refused: the attempt was not sent and must not be repeated (the URL
	// or its address is not allowed).
	Refused bool
}

// Next decides after attempt number n (1 for the first) whether to try
// again and after how long: a connection error, a timeout, 429 and the
// 5xx statuses that mean "try later" (500, 502, 503, 504) are retried,
// with exponential backoff and jitter (jitter in [0, 1) scales up to one
// second more) or the server's Retry-After when it says less than the cap.
func (p Policy) Next(n int, o Outcome, jitter float64) (bool, time.Duration) {
	if o.Refused || n > p.MaxRetries {
		return false, 0
	}
	if o.Err == nil {
		switch o.Status {
		case 429, 500, 502, 503, 504:
		default:
			return false, 0
		}
	}
	if o.RetryAfter != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(o.RetryAfter)); err == nil && s >= 0 {
			return true, min(time.Duration(s)*time.Second, p.MaxBackoff)
		}
	}
	var wait time.Duration
	if n > 1 {
		wait = p.Backoff << (n - 1)
	}
	wait += time.Duration(jitter * float64(time.Second))
	return true, min(wait, p.MaxBackoff)
}

// Jitter is a random jitter for Next.
func Jitter() float64 { return rand.Float64() }

// Example is the data a test delivery of an event sends: MLflow's example
// payload of the event.
func Example(ev tandem.WebhookEvent) (Object, bool) {
	tags := Object{{"example_key", "example_value"}}
	switch ev {
	case tandem.WebhookEvent{Entity: tandem.WebhookRegisteredModel, Action: tandem.WebhookCreated}:
		return Object{{"name", "example_model"}, {"tags", tags}, {"description", "An example registered model"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookModelVersion, Action: tandem.WebhookCreated}:
		return Object{{"name", "example_model"}, {"version", "1"}, {"source", "models:/123"}, {"run_id", "abcd1234abcd5678"},
			{"tags", tags}, {"description", "An example model version"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookModelVersionTag, Action: tandem.WebhookSet}:
		return Object{{"name", "example_model"}, {"version", "1"}, {"key", "example_key"}, {"value", "example_value"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookModelVersionTag, Action: tandem.WebhookDeleted}:
		return Object{{"name", "example_model"}, {"version", "1"}, {"key", "example_key"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookModelVersionAlias, Action: tandem.WebhookCreated}:
		return Object{{"name", "example_model"}, {"alias", "example_alias"}, {"version", "1"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookModelVersionAlias, Action: tandem.WebhookDeleted}:
		return Object{{"name", "example_model"}, {"alias", "example_alias"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookPrompt, Action: tandem.WebhookCreated}:
		return Object{{"name", "example_prompt"}, {"tags", tags}, {"description", "An example prompt"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookPromptVersion, Action: tandem.WebhookCreated}:
		return Object{{"name", "example_prompt"}, {"version", "1"}, {"template", "Hello {{name}}!"}, {"tags", tags},
			{"description", "An example prompt version"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookPromptTag, Action: tandem.WebhookSet}:
		return Object{{"name", "example_prompt"}, {"key", "example_key"}, {"value", "example_value"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookPromptTag, Action: tandem.WebhookDeleted}:
		return Object{{"name", "example_prompt"}, {"key", "example_key"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookPromptVersionTag, Action: tandem.WebhookSet}:
		return Object{{"name", "example_prompt"}, {"version", "1"}, {"key", "example_key"}, {"value", "example_value"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookPromptVersionTag, Action: tandem.WebhookDeleted}:
		return Object{{"name", "example_prompt"}, {"version", "1"}, {"key", "example_key"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookPromptAlias, Action: tandem.WebhookCreated}:
		return Object{{"name", "example_prompt"}, {"alias", "example_alias"}, {"version", "1"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookPromptAlias, Action: tandem.WebhookDeleted}:
		return Object{{"name", "example_prompt"}, {"alias", "example_alias"}}, true
	case tandem.WebhookEvent{Entity: tandem.WebhookBudgetPolicy, Action: tandem.WebhookExceeded}:
		return Object{{"budget_policy_id", "bp-abc123"}, {"budget_unit", "USD"}, {"budget_amount", 100.0},
			{"current_spend", 105.50}, {"duration_unit", "MONTHS"}, {"duration_value", int64(1)}, {"target_scope", "ENDPOINT"},
			{"workspace", "default"}, {"target_value", "ep-abc123"}, {"window_start", int64(1704067200000)}}, true
	}
	return nil, false
}

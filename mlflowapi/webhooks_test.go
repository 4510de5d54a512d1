package mlflowapi_test

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

	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/mlflowapi"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/webhook"
)

// reversing "seals" a secret so that the stored text is not the secret.
type reversing struct{}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

func (reversing) SealWebhookSecret(_ context.Context, s string) (string, error) {
	return "x" + reverse(s), nil
}
func (reversing) OpenWebhookSecret(_ context.Context, _, sealed string) (string, error) {
	return reverse(strings.TrimPrefix(sealed, "x")), nil
}

type hookCall struct {
	header http.Header
	body   []byte
}

// TestWebhookDeliveries: through the MLflow API, a webhook subscribed to
// the registry's events gets each committed write's event with MLflow's
// payload and a signature that verifies with its secret; a prompt's
// version is a prompt_version event; a refused write sends nothing; the
// secret is in no response and not stored as sent.
func TestWebhookDeliveries(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	blobs, err := blobstore.Open(ctx, storetest.FileURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	api := mlflowapi.New(store, blobs, nil)
	if err := api.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	api.SetWebhooks(webhook.New(webhook.Config{Store: store, Secrets: reversing{}, AllowPrivate: true, Schemes: []string{"http"}}))
	go api.Webhooks().Run(ctx)
	srv := httptest.NewServer(api)
	defer srv.Close()

	var mu sync.Mutex
	var calls []hookCall
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, hookCall{r.Header.Clone(), b})
		mu.Unlock()
	}))
	defer recv.Close()

	call := func(method, path, body string) (int, map[string]any, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/api/2.0/mlflow/"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		json.Unmarshal(b, &out)
		return resp.StatusCode, out, string(b)
	}
	const secret = "very-secret-value"
	code, out, raw := call("POST", "webhooks", `{"name":"ci","url":"`+recv.URL+`/hook","secret":"`+secret+`","events":[
		{"entity":"REGISTERED_MODEL","action":"CREATED"},{"entity":"MODEL_VERSION","action":"CREATED"},
		{"entity":"MODEL_VERSION_ALIAS","action":"CREATED"},{"entity":"MODEL_VERSION_TAG","action":"DELETED"},
		{"entity":"PROMPT_VERSION","action":"CREATED"}]}`)
	if code != 200 || strings.Contains(raw, secret) {
		t.Fatalf("create: %d %s", code, raw)
	}
	id := out["webhook"].(map[string]any)["webhook_id"].(string)
	for _, path := range []string{"webhooks/" + id, "webhooks"} {
		if code, _, raw := call("GET", path, ""); code != 200 || strings.Contains(raw, secret) || strings.Contains(raw, reverse(secret)) || !strings.Contains(raw, id) {
			t.Fatalf("GET %s: %d %s", path, code, raw)
		}
	}
	var sealed string
	if err := store.DB().QueryRow(`SELECT sealed_secret FROM webhooks WHERE webhook_id = ?`, id).Scan(&sealed); err != nil || sealed != "x"+reverse(secret) {
		t.Fatalf("stored secret %q (%v)", sealed, err)
	}

	steps := [][2]string{
		{"registered-models/create", `{"name":"m","tags":[{"key":"team","value":"a"}],"description":"d"}`},
		{"registered-models/create", `{"name":"m"}`}, // refused: exists
		{"model-versions/create", `{"name":"m","source":"s3://b/m","tags":[{"key":"k","value":"v"}]}`},
		{"registered-models/alias", `{"name":"m","alias":"champion","version":"1"}`},
		{"model-versions/set-tag", `{"name":"m","version":"1","key":"k","value":"v2"}`}, // not subscribed
		{"registered-models/create", `{"name":"p","tags":[{"key":"mlflow.prompt.is_prompt","value":"true"}]}`},
		{"model-versions/create", `{"name":"p","source":"prompt-template","tags":[{"key":"mlflow.prompt.is_prompt","value":"true"},{"key":"mlflow.prompt.text","value":"Hi {{x}}"}]}`},
	}
	for _, st := range steps {
		method := "POST"
		call(method, st[0], st[1])
	}
	call("DELETE", "model-versions/delete-tag", `{"name":"m","version":"1","key":"k"}`)
	want := []string{
		`{"name": "m", "tags": {"team": "a"}, "description": "d"}`,
		`{"name": "m", "version": "1", "source": "s3://b/m", "run_id": null, "tags": {"k": "v"}, "description": null}`,
		`{"name": "m", "alias": "champion", "version": "1"}`,
		`{"name": "p", "version": "1", "template": "Hi {{x}}", "tags": {}, "description": null}`,
		`{"name": "m", "version": "1", "key": "k"}`,
	}
	events := []string{"registered_model.created", "model_version.created", "model_version_alias.created",
		"prompt_version.created", "model_version_tag.deleted"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(calls)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // nothing more arrives
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != len(want) {
		for _, c := range calls {
			t.Logf("got %s", c.body)
		}
		t.Fatalf("%d deliveries, want %d", len(calls), len(want))
	}
	// Deliveries run concurrently: match them by event.
	got := map[string]hookCall{}
	for _, c := range calls {
		var doc struct{ Entity, Action string }
		json.Unmarshal(c.body, &doc)
		got[doc.Entity+"."+doc.Action] = c
	}
	for i, ev := range events {
		c, ok := got[ev]
		if !ok {
			t.Errorf("no %s delivery", ev)
			continue
		}
		body := string(c.body)
		if !strings.HasSuffix(body, `"data": `+want[i]+`}`) {
			t.Errorf("%s body %s, want data %s", ev, body, want[i])
		}
		sig := webhook.Sign(secret, c.header.Get("X-MLflow-Delivery-Id"), c.header.Get("X-MLflow-Timestamp"), c.body)
		if c.header.Get("X-MLflow-Signature") != sig || !strings.HasPrefix(sig, "v1,") {
			t.Errorf("%s signature %q, want %q", ev, c.header.Get("X-MLflow-Signature"), sig)
		}
	}
}

// TestWebhookAPIErrors: MLflow's words for what its server refuses.
func TestWebhookAPIErrors(t *testing.T) {
	e := newRegEnv(t, storetest.SQLiteURL(t))
	for _, c := range []struct{ method, path, body, want string }{
		{"POST", "webhooks", `{"name":"a","url":"https://h.example/x","events":[{"entity":"FOO","action":"CREATED"}]}`,
			"Invalid value for enum type mlflow.WebhookEntity: 'FOO' for field 'entity'."},
		{"POST", "webhooks", `{"name":"a","url":"https://h.example/x","events":[{"entity":"REGISTERED_MODEL"}]}`,
			"Missing value for required parameter 'events[0].action'. See the API docs for more information about request parameters."},
		{"POST", "webhooks", `{"name":"a","url":"https://127.0.0.1/x","events":[]}`,
			"Webhook URL must not resolve to a non-public IP address. '127.0.0.1' resolves to 127.0.0.1."},
		{"PATCH", "webhooks/nope", `{"name":"-x"}`, "Webhook with ID nope not found."},
	} {
		req, _ := http.NewRequest(c.method, e.srv.URL+"/api/2.0/mlflow/"+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ ErrorCode, Message string }
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		json.Unmarshal(b, &out)
		var m map[string]string
		json.Unmarshal(b, &m)
		if m["message"] != c.want || resp.StatusCode >= 500 {
			t.Errorf("%s %s %s: %d %s\nwant %q", c.method, c.path, c.body, resp.StatusCode, b, c.want)
		}
	}
}

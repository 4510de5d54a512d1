//go:build tandemtest

package replication_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem/regiontest"
)

// TestWebhooksPrimaryDelivers: a webhook created through the secondary
// (forwarded) reaches both regions; registry writes sent to either region
// are delivered once each, by the primary, which committed them; the
// secondary, applying the same entries, sends nothing.
func TestWebhooksPrimaryDelivers(t *testing.T) {
	t.Setenv("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http")
	t.Setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")
	var mu sync.Mutex
	var names []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var doc struct {
			Data struct{ Name string } `json:"data"`
		}
		json.Unmarshal(b, &doc)
		mu.Lock()
		names = append(names, doc.Data.Name)
		mu.Unlock()
	}))
	defer recv.Close()
	w := regiontest.Start(t, regiontest.Options{Extra: "durability: {mode: sync, timeout: 10s}"})
	east, west := w.URLs[0], w.URLs[1]
	const api = "/api/2.0/mlflow/"
	hook := callMLflow(t, "POST", west+api+"webhooks", map[string]any{"name": "ci", "url": recv.URL,
		"events": []map[string]string{{"entity": "REGISTERED_MODEL", "action": "CREATED"}}})["webhook"].(map[string]any)
	id := hook["webhook_id"].(string)
	for _, base := range []string{east, west} {
		if got := callMLflow(t, "GET", base+api+"webhooks/"+id, nil)["webhook"].(map[string]any); got["url"] != recv.URL {
			t.Fatalf("%s: webhook %v", base, got)
		}
	}
	callMLflow(t, "POST", east+api+"registered-models/create", map[string]any{"name": "from-east"})
	callMLflow(t, "POST", west+api+"registered-models/create", map[string]any{"name": "from-west"})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(names)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a second delivery would have come by now
	mu.Lock()
	defer mu.Unlock()
	count := map[string]int{}
	for _, n := range names {
		count[n]++
	}
	if len(names) != 2 || count["from-east"] != 1 || count["from-west"] != 1 {
		t.Fatalf("deliveries %v; want from-east and from-west once each", names)
	}
}

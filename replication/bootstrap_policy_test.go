//go:build tandemtest

package replication_test

import (
	"net/http"
	"testing"
	"time"
)

// TestBootstrapLeavesOutPolicyNone: a secondary that bootstraps from a
// snapshot gets no rows of a kind whose policy is none (registered models
// here), only skip placeholders for its journal entries, as the journal
// stream would have sent; the continuous kinds arrive whole.
func TestBootstrapLeavesOutPolicyNone(t *testing.T) {
	c := newCluster(t, "replication: {kinds: {models: none}}", sqliteSpec(t, "east"), sqliteSpec(t, "west"))
	c.start("east")
	east, west := c.urls["east"], c.urls["west"]
	const api = "/api/2.0/mlflow/"
	exp := callMLflow(t, "POST", east+api+"experiments/create", map[string]any{"name": "kept-and-sent"})["experiment_id"].(string)
	callMLflow(t, "POST", east+api+"registered-models/create", map[string]any{"name": "stays-east"})
	callMLflow(t, "POST", east+api+"model-versions/create", map[string]any{"name": "stays-east", "source": "s3://bucket/model"})
	c.start("west") // bootstraps from east's snapshot: all three entries are in it
	c.following("west")
	c.caughtUp("east", "west", 30*time.Second)
	got := callMLflow(t, "GET", west+api+"experiments/get?experiment_id="+exp, nil)
	if got["experiment"].(map[string]any)["name"] != "kept-and-sent" {
		t.Fatalf("the experiment on west: %v", got)
	}
	resp, err := http.Get(west + api + "registered-models/get?name=stays-east")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("a policy-none model reached west through the bootstrap: %d", resp.StatusCode)
	}
	if lack := c.status("west").Self.Lacking; lack["models"] != 2 {
		t.Fatalf("west should lack the two models entries: %v", lack)
	}
	c.verify()
}

//go:build tandemtest

package leader_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/tandemml/tandem/replication"
)

// forgedForward sends a write to region u as if a secondary had forwarded
// it in epoch (a header any client could set; the receiver must not
// believe more than it can check).
func forgedForward(t *testing.T, u, key, epoch string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", u+"/api/tandem/v1/test/note?"+url.Values{"kind": {"runs"}, "key": {key}, "value": {"v"}}.Encode(), nil)
	req.Header.Set(replication.HeaderForwarded, "c")
	req.Header.Set(replication.HeaderEpoch, epoch)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Details map[string]string `json:"details"`
	}
	json.Unmarshal(b, &e)
	return resp.StatusCode, e.Details
}

// Epoch fencing of forwarded writes with real processes: after a failover
// to epoch 2 the new primary refuses a forwarded write from epoch 1 (and
// counts it), accepts one in its epoch, refuses one claiming a newer epoch
// without being demoted by it (nor by an unauthenticated replication
// request claiming one); a real secondary's forwarded write carries its
// epoch and goes through.
func TestForwardedWritesFencedByEpoch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	c := newManualCluster(t, true, "a", "b", "c")
	for _, n := range []string{"a", "b", "c"} {
		c.start(n)
	}
	e1 := c.waitRoles("a", 1)
	if out, err := c.cli("failover", "--to", "b", "--workspace", c.config, "--wait", "30s"); err != nil {
		t.Fatalf("switchover to b: %v\n%s", err, out)
	}
	e2 := c.waitRoles("b", e1+1)
	before, _ := status(c.urls["b"])

	code, d := forgedForward(t, c.urls["b"], "stale", fmt.Sprint(e1))
	if code != 503 || d["reason"] != replication.ReasonStaleEpoch || d["epoch"] != fmt.Sprint(e2) {
		t.Fatalf("forwarded write from epoch %d to the primary of epoch %d: %d %v", e1, e2, code, d)
	}
	w := &cluster{t: t, urls: c.urls}
	if w.hasNote("b", "stale") {
		t.Fatal("a forwarded write from an older epoch was committed")
	}
	after, _ := status(c.urls["b"])
	if after.Rejected <= before.Rejected {
		t.Fatalf("the refusal was not counted: %d -> %d", before.Rejected, after.Rejected)
	}
	if code, d := forgedForward(t, c.urls["b"], "current", fmt.Sprint(e2)); code != 200 {
		t.Fatalf("forwarded write in the current epoch: %d %v", code, d)
	}
	if code, d := forgedForward(t, c.urls["b"], "future", fmt.Sprint(e2+5)); code != 503 || d["reason"] != replication.ReasonNewerEpoch {
		t.Fatalf("forwarded write claiming a newer epoch: %d %v", code, d)
	}
	resp, err := hc.Get(c.urls["b"] + replication.Prefix + "status?epoch=" + fmt.Sprint(e2+5))
	if err == nil {
		resp.Body.Close()
	}
	if st, err := status(c.urls["b"]); err != nil || st.Epoch != e2 || !st.WritesAllowed {
		t.Fatalf("an unauthenticated claim of a newer epoch changed the primary: %+v %v", st, err)
	}
	// A real forward through a secondary.
	ack, err := w.write("c", "via-c")
	if err != nil || !w.hasNote("b", "via-c") {
		t.Fatalf("write forwarded by c: %+v %v", ack, err)
	}
}

//go:build tandemtest

package replication_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/workspace"
)

// twoRegions opens east (primary) and west (secondary, forwarding writes)
// in this process, each behind its own httptest server, with static roles
// the test sets.
func twoRegions(t *testing.T) (east, west *tandem.RoleBox, eastSrv, westSrv *httptest.Server, westFE *replication.Frontend, forwarded *atomic.Int32) {
	t.Setenv("TANDEM_IT_PEER_KEY", peerKey)
	eastSrv, westSrv = httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)
	ws, err := workspace.Parse([]byte(fmt.Sprintf(`workspace: fence
primary: east
peer_key: {env: TANDEM_IT_PEER_KEY}
forward_writes: true
regions:
  - {name: east, url: "http://%s", metadata: "sqlite://x.db", artifacts: "file://x"}
  - {name: west, url: "http://%s", metadata: "sqlite://y.db", artifacts: "file://y"}
`, eastSrv.Listener.Addr(), westSrv.Listener.Addr())))
	if err != nil {
		t.Fatal(err)
	}
	// Static roles the test sets (no failover driver).
	east = tandem.NewRoleBox(tandem.RoleState{Role: tandem.RolePrimary, Epoch: 1, Primary: "east", PrimaryURL: eastSrv.URL})
	west = tandem.NewRoleBox(tandem.RoleState{Role: tandem.RoleSecondary, Epoch: 1, Primary: "east", PrimaryURL: "http://" + eastSrv.Listener.Addr().String()})
	open := func(name string, roles *tandem.RoleBox) *region.Region {
		r, err := region.Open(context.Background(), region.Config{Name: name, MetadataURL: storetest.SQLiteURL(t),
			ArtifactsURL: storetest.FileURL(t), Workspace: ws, TestHooks: region.TestHooks{TestOps: true}, Roles: roles})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	er, wr := open("east", east), open("west", west)
	westFE = wr.Handler().(*replication.Frontend)
	forwarded = &atomic.Int32{}
	eh := er.Handler()
	eastSrv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(replication.HeaderForwarded) != "" {
			forwarded.Add(1)
		}
		eh.ServeHTTP(w, r)
	})
	westSrv.Config.Handler = westFE
	eastSrv.Start()
	westSrv.Start()
	t.Cleanup(func() { eastSrv.Close(); westSrv.Close(); er.Close(); wr.Close() })
	return east, west, eastSrv, westSrv, westFE, forwarded
}

func putNote(t *testing.T, url, key string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("PUT", url+"/api/tandem/v1/test/note?kind=runs&key="+key+"&value=v", nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	json.Unmarshal(b, &body)
	return resp.StatusCode, body
}

func hasNote(t *testing.T, url, key string) bool {
	resp, err := http.Get(url + "/api/tandem/v1/test/note?kind=runs&key=" + key)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

// The receiving side refuses a forwarded write whose epoch is older than
// its own, with a stale_epoch reason and its epoch, and writes nothing.
func TestForwardedWriteFencedByEpoch(t *testing.T) {
	east, _, eastSrv, _, _, _ := twoRegions(t)
	east.Set(tandem.RoleState{Role: tandem.RolePrimary, Epoch: 3, Primary: "east", PrimaryURL: eastSrv.URL})
	fwd := func(epoch string) map[string]string {
		h := map[string]string{replication.HeaderForwarded: "west"}
		if epoch != "" {
			h[replication.HeaderEpoch] = epoch
		}
		return h
	}
	code, body := putNote(t, eastSrv.URL, "old", fwd("2"))
	details, _ := body["details"].(map[string]any)
	if code != 503 || body["error_code"] != "TEMPORARILY_UNAVAILABLE" || details["reason"] != replication.ReasonStaleEpoch || details["epoch"] != "3" {
		t.Fatalf("forwarded write from epoch 2 to a region in epoch 3: %d %v", code, body)
	}
	if hasNote(t, eastSrv.URL, "old") {
		t.Fatal("a refused forwarded write was committed")
	}
	code, body = putNote(t, eastSrv.URL, "new", fwd("4"))
	details, _ = body["details"].(map[string]any)
	if code != 503 || details["reason"] != replication.ReasonNewerEpoch || hasNote(t, eastSrv.URL, "new") {
		t.Fatalf("forwarded write from a newer epoch 4 to a region in epoch 3: %d %v", code, body)
	}
	if code, body := putNote(t, eastSrv.URL, "none", fwd("")); code != 400 {
		t.Fatalf("forwarded write without an epoch: %d %v", code, body)
	}
	if code, body := putNote(t, eastSrv.URL, "cur", fwd("3")); code != 200 {
		t.Fatalf("forwarded write in the current epoch: %d %v", code, body)
	}
	if code, body := putNote(t, eastSrv.URL, "direct", nil); code != 200 {
		t.Fatalf("a client's own write (not forwarded): %d %v", code, body)
	}
}

// The forwarding side sends its epoch; refused as stale, it learns the
// newer epoch (Fence), waits for the primary and retries: the client sees
// one successful write.
func TestForwarderRetriesAfterStaleEpoch(t *testing.T) {
	east, west, eastSrv, westSrv, fe, forwarded := twoRegions(t)
	east.Set(tandem.RoleState{Role: tandem.RolePrimary, Epoch: 2, Primary: "east", PrimaryURL: eastSrv.URL})
	west.Set(tandem.RoleState{Role: tandem.RoleSecondary, Epoch: 1, Primary: "east", PrimaryURL: eastSrv.URL})
	var mu sync.Mutex
	var seen []int64
	fe.Fence = func(epoch int64, primary string) bool {
		mu.Lock()
		seen = append(seen, epoch)
		mu.Unlock()
		cur := west.Current()
		if epoch > cur.Epoch {
			cur.Epoch = epoch
			west.Set(cur)
		}
		return epoch >= cur.Epoch
	}
	code, body := putNote(t, westSrv.URL, "k", nil)
	if code != 200 {
		t.Fatalf("write through the forwarder: %d %v", code, body)
	}
	if n := forwarded.Load(); n != 2 {
		t.Fatalf("the primary saw %d forwarded attempts, want 2 (refused as stale, then retried)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || seen[0] != 2 {
		t.Fatalf("the forwarder was told epochs %v, want 2 first", seen)
	}
	if !hasNote(t, eastSrv.URL, "k") {
		t.Fatal("the retried write is not on the primary")
	}
}

// A write forwarded to a primary that stops answering (paused, cut off)
// ends as soon as this region learns that the primary changed, with a
// retryable refusal, instead of waiting on the old primary (the gateway's
// chaos test saw a write hang there for the rest of the run).
func TestForwardEndsWhenThePrimaryChanges(t *testing.T) {
	_, west, _, westSrv, _, _ := twoRegions(t)
	var reached atomic.Int32
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		<-r.Context().Done()
	}))
	t.Cleanup(func() { hung.CloseClientConnections(); hung.Close() })
	west.Set(tandem.RoleState{Role: tandem.RoleSecondary, Epoch: 1, Primary: "east", PrimaryURL: hung.URL})
	type answer struct {
		code int
		body map[string]any
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("PUT", westSrv.URL+"/api/tandem/v1/test/note?kind=runs&key=k&value=v", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{code: -1, body: map[string]any{"err": err.Error()}}
			return
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		done <- answer{resp.StatusCode, body}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for reached.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the write was not forwarded to the primary")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case a := <-done:
		t.Fatalf("answered while the primary was still the same: %+v", a)
	case <-time.After(300 * time.Millisecond):
	}
	west.Set(tandem.RoleState{Role: tandem.RolePrimary, Epoch: 2, Primary: "west", PrimaryURL: westSrv.URL})
	select {
	case a := <-done:
		msg, _ := a.body["message"].(string)
		if a.code != http.StatusServiceUnavailable || !strings.Contains(msg, "the primary changed while the write was forwarded") {
			t.Fatalf("the forward's answer: %d %v", a.code, a.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the forward still waits on the old primary after this region became the primary")
	}
}

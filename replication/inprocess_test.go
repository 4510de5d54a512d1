//go:build tandemtest

package replication_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/workspace"
)

// openPrimary opens an in-process primary region of a two-region workspace
// and serves it with httptest.
func openPrimary(t *testing.T) (*region.Region, *httptest.Server) {
	t.Setenv("TANDEM_IT_PEER_KEY", peerKey)
	ws, err := workspace.Parse([]byte(`workspace: ip
primary: east
peer_key: {env: TANDEM_IT_PEER_KEY}
regions:
  - {name: east, url: "http://127.0.0.1:1", metadata: "sqlite://x.db", artifacts: "file://x"}
  - {name: west, url: "http://127.0.0.1:2", metadata: "sqlite://y.db", artifacts: "file://y"}
`))
	if err != nil {
		t.Fatal(err)
	}
	// Static roles: this region is not served, so no failover driver runs.
	roles := tandem.NewRoleBox(tandem.RoleState{Role: tandem.RolePrimary, Epoch: 1, Primary: "east"})
	r, err := region.Open(context.Background(), region.Config{Name: "east", MetadataURL: storetest.SQLiteURL(t),
		ArtifactsURL: storetest.FileURL(t), Workspace: ws, TestHooks: region.TestHooks{TestOps: true}, Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(func() { srv.Close(); r.Close() })
	return r, srv
}

func peerGet(t *testing.T, url string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+replication.Token([]byte(peerKey)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestJournalProtocol(t *testing.T) {
	r, srv := openPrimary(t)
	ctx := context.Background()
	h0, _ := r.Store.Head(ctx) // the Default experiment's entry, if any
	b := h0.Seq
	for i := range 3 {
		if _, err := r.Store.Write(ctx, &sqlstore.Change{Op: "test.note.runs", Key: fmt.Sprint(i), Payload: sqlstore.TestNote{Key: fmt.Sprint(i), Value: "v"}}); err != nil {
			t.Fatal(err)
		}
	}
	j := srv.URL + replication.Prefix + "journal"
	resp, body := peerGet(t, j+fmt.Sprintf("?after=%d&after_epoch=1&region=west", b+1))
	var jr replication.JournalResponse
	json.Unmarshal([]byte(body), &jr)
	if resp.StatusCode != 200 || len(jr.Entries) != 2 || jr.Entries[0].Seq != b+2 || jr.Head.Seq != b+3 {
		t.Fatalf("%s %s", resp.Status, body)
	}
	// The caller knows a newer epoch: this primary is stale.
	if resp, body := peerGet(t, j+"?after=0&epoch=2"); resp.StatusCode != 409 || !strings.Contains(body, "no longer the primary") {
		t.Fatalf("newer epoch: %s %s", resp.Status, body)
	}
	// The caller's history differs at its position.
	if resp, body := peerGet(t, j+fmt.Sprintf("?after=%d&after_epoch=7", b+2)); resp.StatusCode != 409 || !strings.Contains(body, "diverged") {
		t.Fatalf("diverged: %s %s", resp.Status, body)
	}
	if resp, body := peerGet(t, j+fmt.Sprintf("?after=%d&after_epoch=1", b+9)); resp.StatusCode != 409 {
		t.Fatalf("ahead of primary: %s %s", resp.Status, body)
	}
	// Long-poll: returns as soon as an entry commits.
	go func() {
		time.Sleep(200 * time.Millisecond)
		r.Store.Write(ctx, &sqlstore.Change{Op: "test.note.runs", Key: "late", Payload: sqlstore.TestNote{Key: "late"}})
	}()
	t0 := time.Now()
	resp, body = peerGet(t, j+fmt.Sprintf("?after=%d&after_epoch=1&wait=10000&region=west", b+3))
	json.Unmarshal([]byte(body), &jr)
	if resp.StatusCode != 200 || len(jr.Entries) != 1 || time.Since(t0) > 5*time.Second {
		t.Fatalf("long-poll: %s %s after %v", resp.Status, body, time.Since(t0))
	}
	// Headers on every response; the status shows the follower's progress.
	if resp.Header.Get("X-Tandem-Region") != "east" || resp.Header.Get("X-Tandem-Role") != "primary" {
		t.Fatalf("headers %v", resp.Header)
	}
	st, err := r.Replication.Status(ctx)
	if err != nil || st.Followers[0].Region != "west" || st.Followers[0].Applied.Seq != b+3 || st.Followers[0].LagEntries != 1 {
		t.Fatalf("status %+v %v", st.Followers, err)
	}
	// A write response carries the journal position.
	req, _ := http.NewRequest("PUT", srv.URL+"/api/tandem/v1/test/note?kind=runs&key=p&value=v", nil)
	wr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	wr.Body.Close()
	if wr.Header.Get("X-Tandem-Position") != fmt.Sprintf("1/%d", b+5) {
		t.Fatalf("position header %q", wr.Header.Get("X-Tandem-Position"))
	}
}

// A snapshot stream that is cut, malformed or hostile changes nothing on the
// secondary (the load is one transaction).
func FuzzLoadSnapshot(f *testing.F) {
	f.Add([]byte(`{"t":"header","position":{"epoch":1,"seq":3}}
{"t":"table","name":"test_notes","columns":["kind","key","value","blob_path","blob_sha256"]}
{"t":"row","v":[{"s":"runs"},{"s":"k"},{"s":"v"},{},{}]}
{"t":"end","rows":1}
`))
	f.Add([]byte(`{"t":"header","position":{"epoch":1,"seq":3}}
{"t":"table","name":"test_notes","columns":["kind","key","value","blob_path","blob_sha256"]}
{"t":"row","v":[{"s":"runs"},{"s":"k"},{"s":"v"},{},{}]}
`))
	f.Add([]byte(`{"t":"table","name":"journal_state","columns":["id"]}`))
	f.Add([]byte(`{"t":"header","position":{"epoch":1,"seq":3}}
{"t":"table","name":"nope","columns":["a"]}
{"t":"row","v":[{"i":1}]}
{"t":"end"}`))
	f.Add([]byte(`{"t":"header","position":{"epoch":1,"seq":3}}
{"t":"blob","blob":{"path":"a/b","sha256":"00","size":1}}
{"t":"end"}`))
	st, err := sqlstore.Open(context.Background(), storetest.SQLiteURL(f), sqlstore.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		before, _ := st.Head(ctx)
		pos, err := replication.LoadSnapshotForTest(ctx, st, strings.NewReader(string(b)))
		after, _ := st.Head(ctx)
		if err != nil {
			if after != before {
				t.Fatalf("failed load changed the head: %v -> %v", before, after)
			}
			return
		}
		if after != pos {
			t.Fatalf("head %v after loading a snapshot at %v", after, pos)
		}
		// Reset for the next input.
		st.ReplaceState(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE journal_state SET last_epoch = 0, last_seq = 0`)
			return err
		})
	})
}

var _ = tandem.Position{}

// Both regions in this process, so the race detector sees the follower,
// the frontend and the primary's handlers together.
func TestInProcessFollow(t *testing.T) {
	t.Setenv("TANDEM_IT_PEER_KEY", peerKey)
	lns := [2]net.Listener{}
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
	}
	ws, err := workspace.Parse([]byte(fmt.Sprintf(`workspace: ip
primary: east
peer_key: {env: TANDEM_IT_PEER_KEY}
durability: {mode: sync, timeout: 10s}
regions:
  - {name: east, url: "http://%s", metadata: "sqlite://x.db", artifacts: "file://x"}
  - {name: west, url: "http://%s", metadata: "sqlite://y.db", artifacts: "file://y"}
`, lns[0].Addr(), lns[1].Addr())))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var regions [2]*region.Region
	done := make(chan struct{}, 2)
	for i, name := range []string{"east", "west"} {
		r, err := region.Open(ctx, region.Config{Name: name, MetadataURL: storetest.SQLiteURL(t),
			ArtifactsURL: storetest.FileURL(t), Workspace: ws, TestHooks: region.TestHooks{TestOps: true}})
		if err != nil {
			t.Fatal(err)
		}
		regions[i] = r
		go func() { r.Serve(ctx, lns[i]); done <- struct{}{} }()
	}
	defer func() {
		cancel()
		<-done
		<-done
		regions[0].Close()
		regions[1].Close()
	}()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				via := lns[w%2].Addr().String() // half through the secondary
				req, _ := http.NewRequest("PUT", fmt.Sprintf("http://%s/api/tandem/v1/test/note?kind=runs&key=w%d-%d&value=v", via, w, i), strings.NewReader("blob"))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("write via %s: %s", via, resp.Status)
				}
			}
		}()
	}
	wg.Wait()
	// Sync durability: every acknowledged write is already on the secondary.
	want, _ := regions[0].Store.Head(ctx)
	head, _ := regions[1].Store.Head(ctx)
	if head != want {
		t.Fatalf("secondary head %v after 40 sync writes; primary %v", head, want)
	}
	a, err := regions[0].Replication.Checksums(ctx, 0, true, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := regions[1].Replication.Checksums(ctx, 0, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := replication.Compare(a, b, nil); len(d) != 0 || len(a.Artifacts) != 40 {
		t.Fatalf("differences %v (%d artifacts)", d, len(a.Artifacts))
	}
}

// A journal long-poll ends when the region stops, with an empty batch: a
// stopping primary does not wait out its followers' polls (which kept a
// region's shutdown waiting for its server's timeout).
func TestLongPollEndsWhenTheRegionStops(t *testing.T) {
	r, srv := openPrimary(t)
	head, _ := r.Store.Head(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { r.Replication.Run(ctx); close(ran) }()
	type answer struct {
		resp *http.Response
		body string
	}
	got := make(chan answer, 1)
	go func() {
		resp, body := peerGet(t, srv.URL+replication.Prefix+fmt.Sprintf("journal?after=%d&after_epoch=%d&wait=60000&region=west", head.Seq, head.Epoch))
		got <- answer{resp, body}
	}()
	time.Sleep(300 * time.Millisecond) // the poll is waiting
	select {
	case a := <-got:
		t.Fatalf("the poll answered before the region stopped: %s %s", a.resp.Status, a.body)
	default:
	}
	cancel()
	<-ran
	select {
	case a := <-got:
		var jr replication.JournalResponse
		if err := json.Unmarshal([]byte(a.body), &jr); a.resp.StatusCode != 200 || err != nil || len(jr.Entries) != 0 {
			t.Fatalf("after the stop: %s %s", a.resp.Status, a.body)
		}
	case <-time.After(30 * time.Second): // half the poll's wait: the stop ended it
		t.Fatal("the poll still waits after the region stopped")
	}
}

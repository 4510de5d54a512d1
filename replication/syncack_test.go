//go:build tandemtest

package replication_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/workspace"
)

// fakeStandby stands in for the failover node: proposals are recorded and
// confirmed by the test (the machine's own rules are tested in failover).
type fakeStandby struct {
	mu       sync.Mutex
	v        failover.SyncView
	proposed []string
}

func (f *fakeStandby) SyncView() failover.SyncView {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.v
	v.Standbys = slices.Clone(v.Standbys)
	return v
}

func (f *fakeStandby) ProposeSync(r string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proposed = append(f.proposed, r)
	f.v.Changing = true
	if !slices.Contains(f.v.Standbys, r) {
		f.v.Standbys = append(f.v.Standbys, r)
	}
	return true
}

func (f *fakeStandby) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.proposed) == 0 {
		return ""
	}
	return f.proposed[len(f.proposed)-1]
}

// confirm: the witness accepted the last proposal.
func (f *fakeStandby) confirm() {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.proposed[len(f.proposed)-1]
	f.v.Confirmed, f.v.Standbys, f.v.Changing = r, []string{r}, false
}

func openSyncPrimary(t *testing.T, onNoAck string) (*region.Region, *httptest.Server) {
	t.Setenv("TANDEM_IT_PEER_KEY", peerKey)
	ws, err := workspace.Parse([]byte(`workspace: ip
primary: east
peer_key: {env: TANDEM_IT_PEER_KEY}
durability: {mode: sync, timeout: 1500ms, on_no_ack: ` + onNoAck + `}
regions:
  - {name: east, url: "http://127.0.0.1:1", metadata: "sqlite://x.db", artifacts: "file://x"}
  - {name: west, url: "http://127.0.0.1:2", metadata: "sqlite://y.db", artifacts: "file://y"}
  - {name: north, url: "http://127.0.0.1:3", metadata: "sqlite://z.db", artifacts: "file://z"}
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := region.Open(context.Background(), region.Config{Name: "east", MetadataURL: storetest.SQLiteURL(t),
		ArtifactsURL: storetest.FileURL(t), Workspace: ws, TestHooks: region.TestHooks{TestOps: true}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(func() { srv.Close(); r.Close() })
	return r, srv
}

// Sync acknowledgements follow the standby the lease names: nothing is
// acknowledged before one is named (and confirmed by the witness), other
// secondaries' acknowledgements do not count, a lagging standby is
// replaced only by a region holding everything, and until the witness
// confirms the change both count.
func TestSyncAckOnlyFromNamedStandby(t *testing.T) {
	r, srv := openSyncPrimary(t, "fail")
	ctx := context.Background()
	fs := &fakeStandby{v: failover.SyncView{Enabled: true, Primary: true, Self: "east", Confirmed: "east", Standbys: []string{"east"}}}
	r.Replication.SetSyncStandby(fs)
	write := func(k string) int64 {
		t.Helper()
		e, err := r.Store.Write(ctx, &sqlstore.Change{Op: "test.note.runs", Key: k, Payload: sqlstore.TestNote{Key: k, Value: "v"}})
		if err != nil {
			t.Fatal(err)
		}
		return e.Seq
	}
	applied := func(region string, seq int64) {
		t.Helper()
		if resp, body := peerGet(t, srv.URL+replication.Prefix+fmt.Sprintf("journal?after=%d&after_epoch=1&region=%s&limit=1", seq, region)); resp.StatusCode != 200 {
			t.Fatalf("%s reporting %d: %s %s", region, seq, resp.Status, body)
		}
	}
	wait := func(seq int64) chan error {
		ch := make(chan error, 1)
		go func() { ch <- r.Replication.WaitAck(ctx, seq) }()
		return ch
	}
	blocked := func(ch chan error, what string) {
		t.Helper()
		select {
		case err := <-ch:
			t.Fatalf("%s: acknowledged (%v)", what, err)
		case <-time.After(150 * time.Millisecond):
		}
	}
	acked := func(ch chan error, what string) {
		t.Helper()
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(time.Second):
			t.Fatalf("%s: not acknowledged", what)
		}
	}

	// No standby named yet: west applies the write and is proposed, but
	// the write waits until the witness confirmed west.
	s1 := write("one")
	ch := wait(s1)
	blocked(ch, "no standby")
	applied("west", s1)
	waitFor(t, time.Second, "west proposed", func() bool { return fs.last() == "west" })
	blocked(ch, "standby proposed, not confirmed")
	fs.confirm()
	acked(ch, "standby west confirmed")

	// north's acknowledgement does not count while west lags (for less
	// than the switch delay)...
	s2 := write("two")
	applied("north", s2)
	ch = wait(s2)
	blocked(ch, "only north applied")
	// ...then north, which holds everything, is proposed; until the
	// witness confirms it, west must hold the write too.
	waitFor(t, 2*time.Second, "north proposed", func() bool { return fs.last() == "north" })
	blocked(ch, "north proposed, west lacks the write")
	fs.confirm()
	acked(ch, "north confirmed")

	// A standby that never applies: on_no_ack: fail fails the write.
	s3 := write("three")
	err := r.Replication.WaitAck(ctx, s3)
	if tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("no acknowledgement: %v", err)
	}
	// Not primary any more: never acknowledged.
	fs.mu.Lock()
	fs.v.Primary = false
	fs.mu.Unlock()
	applied("north", s3)
	if err := r.Replication.WaitAck(ctx, s3); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("acknowledged after losing the lease: %v", err)
	}
}

// on_no_ack: degrade with a witness: at the timeout the primary has the
// witness name no standby, and acknowledges only once it confirmed that.
func TestSyncAckDegradeNamesNobodyFirst(t *testing.T) {
	r, _ := openSyncPrimary(t, "degrade")
	ctx := context.Background()
	fs := &fakeStandby{v: failover.SyncView{Enabled: true, Primary: true, Self: "east", Confirmed: "west", Standbys: []string{"west"}}}
	r.Replication.SetSyncStandby(fs)
	e, err := r.Store.Write(ctx, &sqlstore.Change{Op: "test.note.runs", Key: "k", Payload: sqlstore.TestNote{Key: "k", Value: "v"}})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	start := time.Now()
	go func() { ch <- r.Replication.WaitAck(ctx, e.Seq) }()
	waitFor(t, 3*time.Second, "nobody proposed", func() bool { fs.mu.Lock(); defer fs.mu.Unlock(); return len(fs.proposed) == 1 && fs.proposed[0] == "" })
	if time.Since(start) < time.Second {
		t.Fatal("degraded before the timeout")
	}
	select {
	case err := <-ch:
		t.Fatalf("acknowledged before the witness confirmed no standby: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	fs.confirm()
	select {
	case err := <-ch:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("not acknowledged once degraded")
	}
	if st, err := r.Replication.Status(ctx); err != nil || !st.Degraded {
		t.Fatalf("status %+v %v", st.Degraded, err)
	}
}

package drill

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/gateway"
	"github.com/tandemml/tandem/leader"
	"github.com/tandemml/tandem/replication"
)

func TestTail(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 5, "a\nb\nc\n"},
		{"a\nb\nc\n", 1, "c\n"},
		{"", 3, ""},
	} {
		if got := string(tail([]byte(c.in), c.n)); got != c.want {
			t.Errorf("tail(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "r1.log"), []byte("start\nlease lost\n"), 0o600)
	var b bytes.Buffer
	writeTails(&b, dir, 1)
	if !strings.Contains(b.String(), "r1.log") || !strings.Contains(b.String(), "lease lost") || strings.Contains(b.String(), "start") {
		t.Fatalf("tails:\n%s", b.String())
	}
}

func TestOptions(t *testing.T) {
	o := Options{Exe: "tandem"}
	if err := o.defaults(); err != nil || o.Fault != "kill" || o.Durability != "sync" || o.Lease != 10*time.Second || o.Rounds != 1 {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	for _, bad := range []Options{{}, {Exe: "x", Fault: "flood"}, {Exe: "x", Durability: "eventual"}, {Exe: "x", Lease: time.Millisecond}, {Exe: "x", Rounds: -1}} {
		if err := bad.defaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// A gateway client sends a failed write again with the same name; when the
// retry finds the experiment already there, the first attempt was applied
// although it was answered as failed: one duplicate, no acknowledgement.
func TestGatewayClientCountsDuplicates(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error_code": "RESOURCE_ALREADY_EXISTS", "message": "exists"}`))
		default:
			w.Header().Set(gateway.HeaderRegion, "r2")
			w.Header().Set("X-Tandem-Position", "3/17")
			w.Write([]byte(`{"experiment_id": "1"}`))
		}
	}))
	defer srv.Close()
	w := newWriters(context.Background(), time.Second)
	w.throughGateway(0, srv.URL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if acks, _ := w.snapshot(viaGateway); len(acks) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.halt()
	acks, dups := w.snapshot("")
	if dups != 1 || len(acks) == 0 || acks[0].region != "r2" || acks[0].pos.Epoch != 3 || acks[0].pos.Seq != 17 || acks[0].via != viaGateway {
		t.Fatalf("dups %d acks %+v", dups, acks)
	}
}

func TestReportPrint(t *testing.T) {
	rep := &Report{Fault: "pause", DurabilityMode: "sync", LeaseTTLSeconds: 2, Gateway: true, Duplicates: 1, GatewayAcknowledged: 7,
		Rounds: []Round{{OldPrimary: "r1", NewPrimary: "r2", OldEpoch: 1, NewEpoch: 2, RTOSeconds: 3.5, GatewayRTOSeconds: 9.25},
			{OldPrimary: "r2", NewPrimary: "r3", OldEpoch: 2, NewEpoch: 3, RTOSeconds: 3}}}
	var b bytes.Buffer
	rep.Print(&b)
	for _, want := range []string{"lease 2s", "round 2", "r2 (epoch 2) -> r3 (epoch 3)", "RTO gateway    9.25s", "1 duplicates"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
}

// A report becomes a record the workspace accepts, with its figures and
// the whole report; a failed drill is recorded as not passed.
func TestReportRecord(t *testing.T) {
	rep := &Report{Fault: "kill", DurabilityMode: "async", OldPrimary: "r1", NewPrimary: "r2", RTOSeconds: 8.5, Acknowledged: 900,
		MissingAfter: 3, MissingInReport: 2, Lost: 1, Rounds: []Round{{}}, VerifyOK: true, FailedBack: true,
		VerifyOutput: strings.Repeat("x", 300<<10)}
	rep.Failure = failure(rep)
	start := time.Now().Add(-time.Minute)
	rec := rep.Record("local", start, time.Now())
	if err := rec.Validate(); err != nil {
		t.Fatal(err)
	}
	if rec.Passed || rec.Failure == "" || rec.Missing != 3 || rec.Lost != 1 || rec.RTOSeconds != 8.5 || rec.Rounds != 1 || rec.StartedMS != start.UnixMilli() {
		t.Fatalf("record %+v", rec)
	}
	if !strings.Contains(string(rec.Report), `"rpo_lost_writes":1`) || len(rec.Report) > 64<<10 {
		t.Fatalf("report %d bytes: %.200s", len(rec.Report), rec.Report)
	}
}

// A direct client still writing to the old primary after a switchover is
// served by the new primary through it: the acknowledgement names the
// region that committed the write, so the RTO is measured to the new
// primary's first write (before, the old primary was taken for the new
// one and the drill waited for it to rejoin itself).
func TestForwardedWriteIsTheNewPrimarys(t *testing.T) {
	rs := &regions{urls: map[string]string{}, hosts: map[string]string{}}
	rs.add("east", "http://127.0.0.1:5000")
	rs.add("west", "http://127.0.0.1:5001/")
	w := newWriters(context.Background(), time.Second)
	w.regionAt = rs.regionAt
	old := http.Header{}
	old.Set("X-Tandem-Position", "1/9")
	w.record(viaDirect, "east", "a", old)
	fwd := http.Header{}
	fwd.Set("X-Tandem-Position", "2/10")
	fwd.Set(replication.HeaderPrimary, "127.0.0.1:5001") // what the frontend sends: the host of the primary's URL
	w.record(viaDirect, "east", "b", fwd)
	acks, _ := w.snapshot(viaDirect)
	first, lastOld, ok := measureRTO(acks, "east", 1)
	if !ok || first.region != "west" || first.pos.Epoch != 2 || lastOld != acks[0].at {
		t.Fatalf("first %+v lastOld %v ok %v from %+v", first, lastOld, ok, acks)
	}
}

// TestRejoinCaughtUp: an old primary counts as rejoined once it follows
// the new primary and holds what the primary held when it was first seen
// following, even while the clients keep the heads apart; a region that is
// not (yet) following, or follows another, is not, and the mark starts
// again when it stops following.
func TestRejoinCaughtUp(t *testing.T) {
	doc := func(role tandem.Role, primary string, seq int64) *leader.StatusDoc {
		st := &leader.StatusDoc{}
		st.Role, st.Primary, st.Head.Seq = role, primary, seq
		return st
	}
	j := &rejoin{old: "east", primary: "west"}
	steps := []struct {
		old, primary *leader.StatusDoc
		want         bool
	}{
		{nil, doc(tandem.RolePrimary, "", 100), false},
		{doc(tandem.RolePrimary, "", 90), doc(tandem.RolePrimary, "", 100), false},
		{doc(tandem.RoleSecondary, "north", 99), doc(tandem.RolePrimary, "", 100), false},
		// first seen following: the mark is 110; 20 behind
		{doc(tandem.RoleSecondary, "west", 90), doc(tandem.RolePrimary, "", 110), false},
		// still 20 behind, but past the mark
		{doc(tandem.RoleSecondary, "west", 109), doc(tandem.RolePrimary, "", 130), false},
		{doc(tandem.RoleSecondary, "west", 110), doc(tandem.RolePrimary, "", 130), true},
		// stopped following: the mark starts again
		{doc(tandem.RoleCandidate, "", 110), doc(tandem.RolePrimary, "", 140), false},
		{doc(tandem.RoleSecondary, "west", 120), doc(tandem.RolePrimary, "", 150), false},
		// within a few entries counts too
		{doc(tandem.RoleSecondary, "west", 146), doc(tandem.RolePrimary, "", 151), true},
	}
	for i, s := range steps {
		if got := j.caughtUp(s.old, s.primary); got != s.want {
			t.Fatalf("step %d: caughtUp = %v, want %v (mark %d; %s)", i, got, s.want, j.mark, j.seen)
		}
	}
	if !strings.Contains(j.seen, "east was secondary following \"west\" at entry 146") {
		t.Fatalf("seen = %q", j.seen)
	}
}

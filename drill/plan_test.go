package drill

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/leader"
	"github.com/tandemml/tandem/workspace"
)

func TestFaultHold(t *testing.T) {
	for _, f := range []string{"pause", "partition"} {
		if h := faultHold(f, 10*time.Second); h <= 10*time.Second {
			t.Errorf("%s holds %s, not longer than the lease", f, h)
		}
	}
	for _, f := range []string{"kill", "switchover"} {
		if h := faultHold(f, 10*time.Second); h != 0 {
			t.Errorf("%s holds %s", f, h)
		}
	}
	for _, f := range Faults {
		if !ValidFault(f) {
			t.Errorf("%s not valid", f)
		}
	}
	for range 100 {
		if j := faultJitter(10 * time.Second); j < 0 || j >= 2500*time.Millisecond {
			t.Fatalf("jitter %s outside [0, lease/4)", j)
		}
	}
	if ValidFault("flood") {
		t.Error("unknown fault accepted")
	}
}

func TestMeasureRTO(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	acks := []ack{
		{region: "r1", pos: tandem.Position{Epoch: 1, Seq: 1}, at: at(0)},
		{region: "r1", pos: tandem.Position{Epoch: 1, Seq: 2}, at: at(1)},
		{region: "r2", pos: tandem.Position{Epoch: 2, Seq: 4}, at: at(9)}, // recorded after a later one
		{region: "r3", pos: tandem.Position{Epoch: 2, Seq: 3}, at: at(8)},
		{region: "r2", pos: tandem.Position{Epoch: 1, Seq: 2}, at: at(5)}, // not the old primary
	}
	if _, _, ok := measureRTO(acks[:2], "r1", 1); ok {
		t.Fatal("found a new epoch among old-epoch acks")
	}
	first, last, ok := measureRTO(acks, "r1", 1)
	if !ok || first.region != "r3" || !last.Equal(at(1)) || first.at.Sub(last) != 7*time.Second {
		t.Fatalf("first %+v last %v ok %v", first, last, ok)
	}
}

func TestClassifyRPO(t *testing.T) {
	acks := []ack{{name: "a"}, {name: "b"}, {name: "c"}, {name: "d"}}
	in := map[string]bool{"a": true, "b": true}
	div := map[string]bool{"c": true, "a": true}
	r := classifyRPO(acks, func(n string) bool { return in[n] }, func(n string) bool { return div[n] })
	if r != (rpo{Missing: 2, InDivergence: 1, Lost: 1}) {
		t.Fatalf("%+v", r)
	}
	rep := &Report{VerifyOK: true, DurabilityMode: "async", MissingAfter: 3, MissingInReport: 3}
	if why := failure(rep); why != "" {
		t.Fatalf("async with every missing write in a report failed: %s", why)
	}
	rep.DurabilityMode = "sync"
	if failure(rep) == "" {
		t.Fatal("sync mode with missing writes passed")
	}
	rep = &Report{VerifyOK: true, DurabilityMode: "async", MissingAfter: 1, Lost: 1}
	if failure(rep) == "" {
		t.Fatal("a silently lost write passed")
	}
	if failure(&Report{DurabilityMode: "async"}) == "" {
		t.Fatal("a failed verify passed")
	}
}

func TestPartitionCuts(t *testing.T) {
	links := allLinks([]string{"r1", "r2", "r3"})
	if len(links) != 9 {
		t.Fatalf("%d links, want 9 (3 regions x (2 regions + witness))", len(links))
	}
	cuts := partitionCuts(links, "r1")
	want := []link{{"r1", "r2"}, {"r1", "r3"}, {"r1", "witness"}, {"r2", "r1"}, {"r3", "r1"}}
	for _, w := range want {
		if !slices.Contains(cuts, w) {
			t.Errorf("partition of r1 keeps %v", w)
		}
	}
	if len(cuts) != len(want) {
		t.Errorf("partition of r1 cuts %v", cuts)
	}
}

// Each region's own workspace file points it at the proxies, keeps its own
// real address, and loads as a valid workspace.
func TestDrillWorkspace(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "peer.key"), []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "witness.key"), []byte("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"), 0o600)
	regions := []region{
		{Name: "r1", URL: "http://127.0.0.1:1001", Metadata: "sqlite://" + dir + "/r1.db", Artifacts: "file://" + dir + "/a1"},
		{Name: "r2", URL: "http://127.0.0.1:1002", Metadata: "sqlite://" + dir + "/r2.db", Artifacts: "file://" + dir + "/a2"},
	}
	load := func(text string) *workspace.Workspace {
		t.Helper()
		p := filepath.Join(dir, "ws.yaml")
		os.WriteFile(p, []byte(text), 0o600)
		ws, err := workspace.Load(p)
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		return ws
	}
	via := map[string]string{"r2": "127.0.0.1:2002", "witness": "127.0.0.1:2000"}
	ws := load(workspaceFile("sync", 10*time.Second, "http://127.0.0.1:1000", regions, "r1", via))
	r1, _ := ws.Region("r1")
	r2, _ := ws.Region("r2")
	if r1.URL != "http://127.0.0.1:1001" || r1.Listen != "127.0.0.1:1001" || r2.URL != "http://127.0.0.1:2002" ||
		ws.Witness != "http://127.0.0.1:2000" || ws.LeaseTTL != 10*time.Second || ws.Failover != "automatic" {
		t.Fatalf("r1's view: %+v %+v witness %s", r1, r2, ws.Witness)
	}
	ws = load(workspaceFile("async", 3*time.Second, "http://127.0.0.1:1000", regions, "", via))
	r2, _ = ws.Region("r2")
	if r2.URL != "http://127.0.0.1:1002" || ws.Witness != "http://127.0.0.1:1000" || ws.LeaseTTL != 3*time.Second {
		t.Fatalf("operator's view: %+v witness %s", r2, ws.Witness)
	}
}

// A live drill switches over to the secondary that has applied the most
// (the workspace file's order breaks ties), never to a region that is
// unreachable, the primary itself, or one following another primary.
func TestBestSecondary(t *testing.T) {
	st := func(role tandem.Role, primary string, seq int64) *leader.StatusDoc {
		d := &leader.StatusDoc{Head: tandem.Position{Epoch: 1, Seq: seq}}
		d.Role, d.Primary = role, primary
		return d
	}
	names := []string{"a", "b", "c", "d"}
	for _, c := range []struct {
		sts  map[string]*leader.StatusDoc
		want string
	}{
		{map[string]*leader.StatusDoc{"a": st(tandem.RolePrimary, "a", 10), "b": st(tandem.RoleSecondary, "a", 8), "c": st(tandem.RoleSecondary, "a", 9)}, "c"},
		{map[string]*leader.StatusDoc{"a": st(tandem.RolePrimary, "a", 10), "b": st(tandem.RoleSecondary, "a", 9), "c": st(tandem.RoleSecondary, "a", 9)}, "b"},
		{map[string]*leader.StatusDoc{"a": st(tandem.RolePrimary, "a", 10), "b": st(tandem.RoleSecondary, "x", 10), "d": st(tandem.RoleSecondary, "a", 1)}, "d"},
		{map[string]*leader.StatusDoc{"a": st(tandem.RolePrimary, "a", 10), "b": st(tandem.RoleCandidate, "a", 10)}, ""},
	} {
		if got := bestSecondary(names, c.sts, "a"); got != c.want {
			t.Errorf("bestSecondary = %q, want %q", got, c.want)
		}
	}
}

// Kill, pause and partition are refused on a live workspace before its
// file is even read.
func TestRunLiveRefusesHarmfulFaults(t *testing.T) {
	for _, f := range []string{"kill", "pause", "partition"} {
		_, err := RunLive(context.Background(), Options{Exe: "tandem", Fault: f}, "/nonexistent/workspace.yaml")
		if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(tandem.ErrorMessage(err), "--local") {
			t.Errorf("--fault %s: %v", f, err)
		}
	}
}

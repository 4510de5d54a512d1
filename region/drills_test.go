package region_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/regiontest"
	"github.com/tandemml/tandem/replication"
)

var send = regiontest.Send

func drillDoc(fault string) map[string]any {
	now := time.Now().UnixMilli()
	return map[string]any{"target": "workspace", "started_ms": now - 3000, "finished_ms": now, "fault": fault, "durability": "sync",
		"old_primary": "east", "new_primary": "west", "rounds": 1, "rto_seconds": 0.05, "acknowledged_writes": 42,
		"rpo_missing_writes": 0, "rpo_missing_in_divergence": 0, "rpo_lost_writes": 0, "failed_back": true, "verify_ok": true,
		"passed": true, "report": map[string]any{"fault": fault}}
}

// drillIDs lists the recorded drills' ids on base, newest first.
func drillIDs(t *testing.T, base, authz string) []string {
	t.Helper()
	code, out := send(t, "GET", base+"/api/tandem/v1/drills", authz, nil)
	if code != 200 {
		t.Fatalf("list drills on %s: %d %v", base, code, out)
	}
	var ids []string
	for _, d := range out["drills"].([]any) {
		ids = append(ids, d.(map[string]any)["id"].(string))
	}
	return ids
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// authWorkspace is a two-region workspace with authentication on, and
// the Authorization headers of an administrator (Contributor) and a
// Reader, once both regions know them.
func authWorkspace(t *testing.T) (w *regiontest.Workspace, admin, reader string) {
	owner, _, err := auth.NewToken("", "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w = regiontest.Start(t, regiontest.Options{Config: func(name string, cfg *region.Config) {
		cfg.Auth = &region.AuthConfig{BootstrapToken: owner, AuditPath: filepath.Join(dir, name+".audit.jsonl")}
		cfg.WorkDir = filepath.Join(dir, name+"-work")
	}})
	if _, err := w.Client(t).WaitElected(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	ob := bearer(owner)
	waitUntil(t, "the owner on east", func() bool { code, _ := send(t, "GET", w.URLs[0]+"/api/tandem/v1/whoami", ob, nil); return code == 200 })
	admin = principalIn(t, w.URLs[0], ob, "ops", tandem.RoleContributor)
	reader = principalIn(t, w.URLs[0], ob, "viewer", tandem.RoleReader)
	// West has the principals and their role assignments (written after
	// them) once it has applied everything east has.
	waitUntil(t, "the principals and their roles on west", func() bool {
		code, _ := send(t, "GET", w.URLs[1]+"/api/tandem/v1/whoami", reader, nil)
		if code != 200 {
			return false
		}
		he, err1 := w.Regions[0].Store.Head(context.Background())
		hw, err2 := w.Regions[1].Store.Head(context.Background())
		return err1 == nil && err2 == nil && hw.Seq >= he.Seq
	})
	return w, admin, reader
}

// principalIn creates a service principal with role at the workspace
// scope through base and returns its Authorization header.
func principalIn(t *testing.T, base, ob, name, role string) string {
	t.Helper()
	code, out := send(t, "POST", base+"/api/tandem/v1/principals", ob, map[string]any{"name": name, "kind": "service_principal"})
	if code != 200 {
		t.Fatalf("create %s: %d %v", name, code, out)
	}
	if code, o := send(t, "POST", base+"/api/tandem/v1/role-assignments", ob, map[string]any{"role": role, "assignee": name, "scope": "/"}); code != 200 {
		t.Fatalf("assign %s: %d %v", name, code, o)
	}
	return bearer(out["token"].(string))
}

// TestDrillRecordsReplicated: a drill report recorded on the primary by
// an administrator (Contributor) or with the workspace peer key is listed
// on the secondary once replicated, newest first; a Reader may list but
// not record; a bad record is refused in the API's error format and
// nothing is stored.
func TestDrillRecordsReplicated(t *testing.T) {
	w, admin, reader := authWorkspace(t)
	east, west := w.URLs[0], w.URLs[1]

	code, out := send(t, "POST", east+"/api/tandem/v1/drills", admin, drillDoc("switchover"))
	if code != 201 || out["id"] == "" || out["recorded_by"] != "ops" || out["fault"] != "switchover" {
		t.Fatalf("record as ops: %d %v", code, out)
	}
	first := out["id"].(string)
	key, err := w.WS.Key()
	if err != nil {
		t.Fatal(err)
	}
	code, out = send(t, "POST", east+"/api/tandem/v1/drills", bearer(replication.Token(key)), drillDoc("kill"))
	if code != 201 || out["recorded_by"] != "peer" {
		t.Fatalf("record with the peer key: %d %v", code, out)
	}
	second := out["id"].(string)
	waitUntil(t, "both drills on west", func() bool { return len(drillIDs(t, west, reader)) == 2 })
	if ids := drillIDs(t, west, reader); ids[0] != second || ids[1] != first {
		t.Fatalf("west lists %v, want [%s %s] (newest first)", ids, second, first)
	}

	if code, out := send(t, "POST", east+"/api/tandem/v1/drills", reader, drillDoc("kill")); code != 403 || out["error_code"] != "PERMISSION_DENIED" {
		t.Fatalf("record as a Reader: %d %v", code, out)
	}
	if code, out := send(t, "POST", east+"/api/tandem/v1/drills", "", drillDoc("kill")); code != 401 {
		t.Fatalf("record anonymously: %d %v", code, out)
	}
	badFault := drillDoc("flood")
	unknownField := drillDoc("kill")
	unknownField["rto"] = 3
	lostMismatch := drillDoc("kill")
	lostMismatch["rpo_missing_writes"] = 5
	for name, bad := range map[string]map[string]any{"fault": badFault, "unknown field": unknownField, "rpo sums": lostMismatch} {
		code, out := send(t, "POST", east+"/api/tandem/v1/drills", admin, bad)
		if code != 400 || out["error_code"] != tandem.EINVALID || out["message"] == "" {
			t.Errorf("bad record (%s): %d %v; want 400 invalid (the API's format) with a message", name, code, out)
		}
	}
	if code, out := send(t, "GET", east+"/api/tandem/v1/drills?limit=0", reader, nil); code != 400 || out["error_code"] != tandem.EINVALID {
		t.Errorf("limit=0: %d %v", code, out)
	}
	time.Sleep(200 * time.Millisecond) // what was refused would have replicated by now
	for _, u := range w.URLs {
		if ids := drillIDs(t, u, admin); len(ids) != 2 {
			t.Fatalf("%s lists %v after refused records: want the two recorded", u, ids)
		}
	}

	// The Go client (tandem drill --record URL) through the secondary,
	// which forwards the write to the primary.
	t.Setenv("TANDEM_TEST_DRILL_TOKEN", strings.TrimPrefix(admin, "Bearer "))
	c, err := client.New(client.Config{Workspace: "test", Endpoints: []string{west}, Auth: client.Auth{Type: "bearer_env", TokenEnv: "TANDEM_TEST_DRILL_TOKEN"}})
	if err != nil {
		t.Fatal(err)
	}
	var rec tandem.DrillRecord
	b, _ := json.Marshal(drillDoc("partition"))
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	rec.Target = tandem.DrillTargetLocal
	stored, err := c.RecordDrill(context.Background(), rec)
	if err != nil || stored.Target != tandem.DrillTargetLocal || stored.RecordedBy != "ops" {
		t.Fatalf("record through the client: %+v %v", stored, err)
	}
	ds, err := c.Drills(context.Background())
	if err != nil || len(ds) != 3 || ds[0].ID != stored.ID {
		t.Fatalf("the client lists %+v %v: want the new drill first of three", ds, err)
	}
}

// TestReplayWithUserToken: a divergence report kept on the secondary is
// listed, read and replayed by an administrator's token (the console's
// way): replay names the report, the secondary reads it and forwards its
// entries to the primary, which commits them once (a second replay says
// already replayed). A Reader and an anonymous caller are refused, and
// entries sent with the request need the peer key. (The failover status
// reads need a role as well: a Reader's.)
func TestReplayWithUserToken(t *testing.T) {
	w, admin, reader := authWorkspace(t)
	east, west := w.URLs[0], w.URLs[1]

	rec := drillDoc("pause")
	rec["id"], rec["recorded_ms"] = "drill-from-the-old-primary", time.Now().UnixMilli()
	payload, _ := json.Marshal(rec)
	head, err := w.Regions[1].Store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fork := tandem.Position{Epoch: 1, Seq: head.Seq + 10}
	rep := w.KeepDivergence(t, 1, "east", 2, fork, []tandem.Entry{{Position: tandem.Position{Epoch: 1, Seq: fork.Seq + 1}, Kind: tandem.KindWorkspace,
		Op: "drill.record", Key: "drill-from-the-old-primary", Payload: payload, Time: time.Now()}})

	for who, authz := range map[string]string{"anonymous": "", "a Reader": reader} {
		if code, out := send(t, "GET", west+"/api/tandem/v1/failover/divergence/"+rep.ID, authz, nil); code != 401 && code != 403 {
			t.Errorf("%s reads the report: %d %v", who, code, out)
		}
		if code, out := send(t, "POST", west+"/api/tandem/v1/failover/replay", authz, map[string]any{"report": rep.ID}); code != 401 && code != 403 {
			t.Errorf("%s replays: %d %v", who, code, out)
		}
	}
	// The status reads of the failover endpoints need a role too.
	for _, p := range []string{"status", "history", "positions?after=0&limit=5"} {
		if code, out := send(t, "GET", west+"/api/tandem/v1/failover/"+p, "", nil); code != 401 {
			t.Errorf("anonymous %s: %d %v", p, code, out)
		}
		if code, out := send(t, "GET", west+"/api/tandem/v1/failover/"+p, reader, nil); code != 200 {
			t.Errorf("a Reader's %s: %d %v", p, code, out)
		}
	}
	code, out := send(t, "GET", west+"/api/tandem/v1/failover/divergence", admin, nil)
	if reps, _ := out["reports"].([]any); code != 200 || len(reps) != 1 || reps[0].(map[string]any)["id"] != rep.ID {
		t.Fatalf("list as an administrator: %d %v", code, out)
	}
	if code, out := send(t, "GET", west+"/api/tandem/v1/failover/divergence/"+rep.ID, admin, nil); code != 200 || out["count"] != 1.0 {
		t.Fatalf("report as an administrator: %d %v", code, out)
	}
	if code, out := send(t, "POST", west+"/api/tandem/v1/failover/replay", admin, map[string]any{"entries": rep.Entries}); code != 403 {
		t.Fatalf("entries sent by an administrator without the peer key: %d %v", code, out)
	}
	for i, wantAgain := range []bool{false, true} {
		code, out := send(t, "POST", west+"/api/tandem/v1/failover/replay", admin, map[string]any{"report": rep.ID})
		res, _ := out["results"].([]any)
		if code != 200 || len(res) != 1 || out["primary"] != "east" {
			t.Fatalf("replay %d: %d %v", i, code, out)
		}
		r := res[0].(map[string]any)
		if r["error"] != nil || (r["already_replayed"] == true) != wantAgain || r["position"] == nil {
			t.Fatalf("replay %d result %v; want already_replayed=%v", i, r, wantAgain)
		}
	}
	for _, u := range []string{east, west} {
		waitUntil(t, "the replayed drill on "+u, func() bool {
			ids := drillIDs(t, u, reader)
			return len(ids) == 1 && ids[0] == "drill-from-the-old-primary"
		})
	}
	if code, out := send(t, "POST", west+"/api/tandem/v1/failover/replay", admin, map[string]any{"report": "west-e9-s9"}); code != 404 {
		t.Fatalf("replay of a report nobody keeps: %d %v", code, out)
	}
}

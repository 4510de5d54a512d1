package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/api"
	"github.com/tandemml/tandem/drill"
)

// drillsOn lists the drills region name has recorded.
func (u *upWorkspace) drillsOn(name string) []tandem.DrillRecord {
	u.t.Helper()
	resp, err := http.Get(u.regionURL(name) + "/api/tandem/v1/drills")
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	var l api.DrillList
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&l) != nil {
		u.t.Fatalf("drills on %s: %s", name, resp.Status)
	}
	return l.Drills
}

// TestLiveSwitchoverDrill: `tandem drill --workspace` on the two regions
// tandem up runs switches the primary over to west under the drill's
// client load, measures it, fails back to east, verifies, and records the
// report in the workspace, where both regions list it, after a local
// drill's report recorded there with --record; a kill drill is refused
// on the live workspace before anything happens.
func TestLiveSwitchoverDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tandem up")
	}
	u := newUpWorkspace(t)
	u.start()
	ws := filepath.Join(u.dir, "data", "workspace.yaml")

	out, err := u.tandem("drill", "--workspace", ws, "--fault", "kill")
	if err == nil || !strings.Contains(out, "--local") || !strings.Contains(out, "switchover") {
		t.Fatalf("a kill drill on the live workspace: %v\n%s", err, out)
	}

	start := time.Now()
	out = u.mustTandem("drill", "--workspace", ws, "--load", "1s", "--json")
	t.Logf("live drill took %s:\n%s", time.Since(start).Round(time.Millisecond), out)
	var rep drill.Report
	i := strings.Index(out, "\n{")
	if i < 0 || json.NewDecoder(strings.NewReader(out[i:])).Decode(&rep) != nil {
		t.Fatalf("no JSON report in\n%s", out)
	}
	if rep.Fault != "switchover" || rep.OldPrimary != "east" || rep.NewPrimary != "west" || rep.NewEpoch <= rep.OldEpoch ||
		rep.Acknowledged == 0 || rep.MissingAfter != 0 || !rep.FailedBack || !rep.VerifyOK || rep.Failure != "" || rep.RTOSeconds <= 0 || rep.RTOSeconds > 10 {
		t.Fatalf("report %+v\n%s", rep, out)
	}
	var id string
	for sc := bufio.NewScanner(strings.NewReader(out)); sc.Scan(); {
		if rest, ok := strings.CutPrefix(sc.Text(), "drill: report recorded as "); ok {
			id, _, _ = strings.Cut(rest, " ")
		}
	}
	if id == "" {
		t.Fatalf("the drill did not say it recorded its report:\n%s", out)
	}
	// A throwaway drill recorded into the same workspace, labelled local.
	out = u.mustTandem("drill", "--local", "--fault", "switchover", "--lease-ttl", "2s", "--load", "300ms", "--record", ws)
	if !strings.Contains(out, "drill: report recorded as ") {
		t.Fatalf("the local drill did not record its report:\n%s", out)
	}
	if ds := u.drillsOn("east"); len(ds) != 2 || ds[0].Target != tandem.DrillTargetLocal || ds[0].Fault != "switchover" || ds[1].ID != id {
		t.Fatalf("east lists %+v: want the local drill, then %s", ds, id)
	}
	for _, region := range []string{"east", "west"} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			ds := u.drillsOn(region)
			if len(ds) == 2 && ds[1].ID == id && ds[1].Target == tandem.DrillTargetWorkspace && ds[1].Fault == "switchover" &&
				ds[1].Passed && ds[1].Acknowledged == rep.Acknowledged && ds[1].RTOSeconds == rep.RTOSeconds {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s lists %+v, want the drill %s", region, ds, id)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

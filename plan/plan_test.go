package plan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/desired"
	"github.com/tandemml/tandem/workspace"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./plan -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}

func loadDesired(t *testing.T) *desired.State {
	w, err := workspace.Load("../workspace/testdata/desired/workspace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Desired.LoadAssets(w.Dir()); err != nil {
		t.Fatal(err)
	}
	return w.Desired
}

// converged is the actual state an apply of s leaves.
func converged(s *desired.State) map[string]*Actual {
	out := map[string]*Actual{"eastus": {Region: "eastus"}, "westus": {Region: "westus"}}
	for _, o := range s.Objects {
		if o.Kind.Regional() {
			for _, r := range o.Regions {
				out[r].Objects = append(out[r].Objects, Object{Kind: o.Kind, Name: o.Name, Region: r, Spec: o.SpecIn(r)})
			}
			continue
		}
		for _, a := range out {
			a.Objects = append(a.Objects, Object{Kind: o.Kind, Name: o.Name, Spec: o.Spec})
		}
	}
	return out
}

func render(t *testing.T, name string, p *Plan) {
	var txt, js bytes.Buffer
	if err := p.Text(&txt); err != nil {
		t.Fatal(err)
	}
	golden(t, name+".txt", txt.Bytes())
	if err := (&Saved{Format: 1, Workspace: "demo", File: "workspace.yaml", Plan: p}).JSON(&js); err != nil {
		t.Fatal(err)
	}
	golden(t, name+".json", js.Bytes())
}

func TestPlanEmpty(t *testing.T) {
	s := loadDesired(t)
	actual := map[string]*Actual{
		"eastus": {Region: "eastus", Objects: []Object{{Kind: desired.KindSecret, Name: "blob-key", Spec: map[string]any{}}},
			Unsupported: []desired.Kind{desired.KindEndpoint, desired.KindDeployment}},
		"westus": {Region: "westus", Unsupported: []desired.Kind{desired.KindEndpoint, desired.KindDeployment}},
	}
	p := Compute(Input{Desired: s, Primary: "eastus", Regions: []string{"eastus", "westus"}, Actual: actual})
	// Everything but the secret (checked, never created) and the kinds
	// without a provider is created, in dependency order.
	var got []string
	for _, a := range p.Actions() {
		got = append(got, string(a.Op)+" "+a.Region+" "+string(a.Kind)+"/"+a.Name)
	}
	want := []string{
		"create eastus role/Run Logger", "create eastus role_assignment/Run Logger|ci-bot|/",
		"create eastus role_assignment/Reader|viewer|/", "create eastus datastore/blob",
		"create eastus environment/sklearn:1", "create eastus component/train:1",
		"create eastus compute/cpu", "create westus compute/cpu",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("actions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p.Total != (Summary{Add: 8}) || !p.Changed() || len(p.Problems) != 0 {
		t.Fatalf("total %+v problems %v", p.Total, p.Problems)
	}
	render(t, "empty", p)
}

func TestPlanConvergedThenDrift(t *testing.T) {
	s := loadDesired(t)
	actual := converged(s)
	in := Input{Desired: s, Primary: "eastus", Regions: []string{"eastus", "westus"}, Actual: actual}
	in.Applied = AppliedFrom(s, in)
	if p := Compute(in); p.Changed() || len(p.Drift) != 0 || len(p.Problems) != 0 {
		t.Fatalf("a converged workspace plans changes: %+v", p)
	}
	// By hand: westus's compute quota lowered, eastus's role edited, an
	// environment archived (replicated: both regions see it).
	for _, a := range actual {
		for i := range a.Objects {
			o := &a.Objects[i]
			switch {
			case o.Kind == desired.KindCompute && a.Region == "westus":
				o.Spec = map[string]any{"type": "local", "size": "small", "min_instances": 0.0, "max_instances": 1.0}
			case o.Kind == desired.KindRole && a.Region == "eastus":
				o.Spec = map[string]any{"description": "", "actions": []any{"*"}, "not_actions": []any{}}
			case o.Kind == desired.KindEnvironment:
				o.Spec = map[string]any{"archived": true}
			}
		}
	}
	before := in.Applied
	p := Compute(in)
	if p.Total != (Summary{Change: 3}) {
		t.Fatalf("total %+v", p.Total)
	}
	for _, a := range p.Actions() {
		if !a.Drift {
			t.Fatalf("%s %s not marked as drift", a.Kind, a.Name)
		}
	}
	if len(p.Drift) != 4 { // role (eastus), environment (both), compute (westus)
		t.Fatalf("drift: %+v", p.Drift)
	}
	if rd := RegionDrift(before, actual["westus"]); len(rd) != 2 || rd[0].Kind != desired.KindCompute {
		t.Fatalf("westus's own drift check: %+v", rd)
	}
	if p.Fingerprint == Compute(Input{Desired: s, Primary: "eastus", Regions: in.Regions, Actual: converged(s)}).Fingerprint {
		t.Fatal("the fingerprint did not change with the actual state")
	}
	render(t, "drift", p)
}

func TestPlanDeletesOnlyOwned(t *testing.T) {
	s := loadDesired(t)
	actual := converged(s)
	extra := Object{Kind: desired.KindRole, Name: "Old Role", Spec: map[string]any{"actions": []any{"*"}}}
	handMade := Object{Kind: desired.KindRole, Name: "Not Ours", Spec: map[string]any{"actions": []any{"*"}}}
	actual["eastus"].Objects = append(actual["eastus"].Objects, extra, handMade,
		Object{Kind: desired.KindRoleAssignment, Name: "Old Role|bob|/", ID: "ra-7", Spec: map[string]any{}})
	in := Input{Desired: s, Primary: "eastus", Regions: []string{"eastus", "westus"}, Actual: actual}
	in.Applied = AppliedFrom(s, in)
	oldDS := Object{Kind: desired.KindDatastore, Name: "old-ds", Spec: map[string]any{"type": "local"}}
	actual["eastus"].Objects = append(actual["eastus"].Objects, oldDS)
	in.Applied.Objects = append(in.Applied.Objects, extra, oldDS, Object{Kind: desired.KindRoleAssignment, Name: "Old Role|bob|/", Spec: map[string]any{}})
	p := Compute(in)
	var got []string
	for _, a := range p.Actions() {
		got = append(got, string(a.Op)+" "+string(a.Kind)+"/"+a.Name+" "+a.ID)
	}
	// The assignment goes before its role; the role made by hand stays.
	if strings.Join(got, ";") != "delete role_assignment/Old Role|bob|/ ra-7;delete role/Old Role " {
		t.Fatalf("actions: %q", got)
	}
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], `datastore "old-ds" is no longer declared; apply leaves it`) {
		t.Fatalf("warnings: %v", p.Warnings)
	}
}

func TestPlanMissingSecretAndCapacity(t *testing.T) {
	s := loadDesired(t)
	actual := converged(s)
	for _, a := range actual {
		a.Objects = a.Objects[1:] // the secret (first in order) is gone
	}
	actual["eastus"].Load = &Load{RunningJobs: 2, QueuedJobs: 1}
	p := Compute(Input{Desired: s, Primary: "eastus", Regions: []string{"eastus", "westus"}, Actual: actual})
	if len(p.Problems) != 1 || !strings.Contains(p.Problems[0], `secret "blob-key" is not in the key vault`) {
		t.Fatalf("problems: %v", p.Problems)
	}
	// westus: cpu max 2 < 3 jobs; iris/blue runs 2 in eastus, cpu allows 2 in westus: fine.
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "westus's compute quota (2 instances) cannot absorb eastus's 2 running and 1 queued jobs") {
		t.Fatalf("warnings: %v", p.Warnings)
	}
	actual["eastus"].Load = nil
	for _, o := range s.Objects {
		if o.Kind == desired.KindDeployment {
			o.Spec["instance_count"].(map[string]any)["eastus"] = 3.0
		}
	}
	p = Compute(Input{Desired: s, Primary: "eastus", Regions: []string{"eastus", "westus"}, Actual: actual})
	if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "deployment iris/blue runs 3 instance(s) in eastus; compute cpu in westus allows 2") {
		t.Fatalf("warnings: %v", p.Warnings)
	}
}

func TestImageWarnings(t *testing.T) {
	got := ImageWarnings([]ImageGap{
		{Region: "west", Environment: "train", Version: "1", Destination: "w:5000/ml/train@sha256:ab"},
		{Region: "east", Environment: "train", Version: "1", Destination: "e:5000/ml/train@sha256:ab", Error: "registry unreachable"},
	})
	want := []string{"west: its registry lacks image w:5000/ml/train@sha256:ab of environment train:1",
		"east: cannot check image e:5000/ml/train@sha256:ab of environment train:1: registry unreachable"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("ImageWarnings = %q", got)
	}
	in := Input{Primary: "east", Regions: []string{"east"}, Actual: map[string]*Actual{"east": {Region: "east"}},
		ImageGaps: []ImageGap{{Region: "east", Environment: "e", Version: "2", Destination: "d"}}}
	in.Desired = &desired.State{Regions: []string{"east"}}
	p := Compute(in)
	if p.Changed() || len(p.Warnings) != 1 || p.Warnings[0] != "east: its registry lacks image d of environment e:2" {
		t.Fatalf("plan with a gap: changed %v, warnings %q", p.Changed(), p.Warnings)
	}
}

// TestPlanEndpointQuota: declared deployments that run more scoring
// instances in a region than its quota allow are a problem (apply stops);
// a quota they fit is none, and a region without a quota has no limit.
func TestPlanEndpointQuota(t *testing.T) {
	s := loadDesired(t)
	actual := converged(s)
	in := Input{Desired: s, Primary: "eastus", Regions: []string{"eastus", "westus"}, Actual: actual}
	// iris/blue runs 2 instances in eastus.
	in.EndpointQuota = tandem.EndpointQuota{"eastus": 2}
	if p := Compute(in); len(p.Problems) != 0 {
		t.Fatalf("within the quota: %v", p.Problems)
	}
	in.EndpointQuota = tandem.EndpointQuota{"eastus": 1}
	p := Compute(in)
	if len(p.Problems) != 1 || !strings.Contains(p.Problems[0], "quota: the deployments placed in eastus run 2 scoring instances there; its quotas.endpoint_instances allows 1") {
		t.Fatalf("problems: %v", p.Problems)
	}
	in.EndpointQuota = tandem.EndpointQuota{"centralus": 1}
	if p := Compute(in); len(p.Problems) != 0 {
		t.Fatalf("no quota in the deployment's regions: %v", p.Problems)
	}
}

// Package plan benchmarks tandem plan's decision: parsing a workspace file
// with N declared objects across 3 regions and computing, rendering and
// encoding its plan against actual states that differ in a tenth of them.
//
//	go test ./bench/plan -run '^$' -bench Plan -benchtime 5x
package plan

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tandemml/tandem/desired"
	"github.com/tandemml/tandem/plan"
	"github.com/tandemml/tandem/workspace"
)

var regions = []string{"eastus", "westus", "northeu"}

// file writes a workspace file declaring n objects: roles, role
// assignments, compute targets (one per region each), endpoints with a
// deployment.
func file(n int) []byte {
	var b strings.Builder
	b.WriteString("workspace: bench\nprimary: eastus\npeer_key: {env: K}\nregions:\n")
	for i, r := range regions {
		fmt.Fprintf(&b, "  - {name: %s, url: 'http://127.0.0.1:%d', metadata: 'sqlite:///x%d', artifacts: 'file:///x%d'}\n", r, 5000+i, i, i)
	}
	per := n / 5
	b.WriteString("roles:\n")
	for i := range per {
		fmt.Fprintf(&b, "  - {name: role-%d, actions: [\"*/runs/read\", \"*/models/read\"]}\n", i)
	}
	b.WriteString("role_assignments:\n")
	for i := range per {
		fmt.Fprintf(&b, "  - {role: role-%d, assignee: user-%d, scope: /}\n", i, i)
	}
	b.WriteString("compute:\n")
	for i := range per {
		fmt.Fprintf(&b, "  - {name: c%d, type: local, max_instances: 8, regions: {eastus: {}, westus: {max_instances: 4}, northeu: {}}}\n", i)
	}
	b.WriteString("endpoints:\n")
	for i := range (n - 3*per) / 2 {
		fmt.Fprintf(&b, "  - {name: e%d, deployments: [{name: blue, model: \"azureml:m:1\", compute: c%d, instance_count: 2}]}\n", i, i%per)
	}
	return []byte(b.String())
}

// actual is every region converged on s except every tenth object.
func actual(s *desired.State) map[string]*plan.Actual {
	out := map[string]*plan.Actual{}
	for _, r := range regions {
		out[r] = &plan.Actual{Region: r}
	}
	for i, o := range s.Objects {
		if i%10 == 0 {
			continue
		}
		for _, r := range o.Regions {
			spec := o.SpecIn(r)
			name := ""
			if o.Kind.Regional() {
				name = r
			}
			out[r].Objects = append(out[r].Objects, plan.Object{Kind: o.Kind, Name: o.Name, Region: name, Spec: spec})
		}
	}
	return out
}

func run(b testing.TB, n int) *plan.Plan {
	w, err := workspace.Parse(file(n))
	if err != nil {
		b.Fatal(err)
	}
	if got := len(w.Desired.Objects); got != n {
		b.Fatalf("%d objects declared, want %d", got, n)
	}
	in := plan.Input{Desired: w.Desired, Primary: "eastus", Regions: regions, Actual: actual(w.Desired)}
	p := plan.Compute(in)
	var txt, js bytes.Buffer
	if err := p.Text(&txt); err != nil {
		b.Fatal(err)
	}
	if err := (&plan.Saved{Format: 1, Plan: p}).JSON(&js); err != nil {
		b.Fatal(err)
	}
	return p
}

func TestPlanSmall(t *testing.T) {
	if p := run(t, 50); !p.Changed() {
		t.Fatal("no changes planned against states lacking a tenth of the objects")
	}
}

func BenchmarkPlan1000x3(b *testing.B) {
	for b.Loop() {
		run(b, 1000)
	}
}

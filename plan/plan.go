// Package plan decides what an apply must do: it compares the desired state
// (package desired) with the actual state every region reports and returns
// ordered actions per region, the drift since the last apply, and warnings.
// It is pure: no I/O, no clock; the same inputs give the same plan, so it
// is tested step by step and its text and JSON forms with golden files.
//
// Ownership follows Terraform's state: an object is deleted only when the
// last applied desired state had it and the file no longer declares it;
// objects made by other means are never touched. Replicated kinds (roles,
// datastores, assets, endpoints) are compared with the primary's state and
// applied through it; regional kinds (compute) per region.
package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/desired"
)

// Op is what an action does.
type Op string

const (
	Create Op = "create"
	Update Op = "update"
	Delete Op = "delete"
	NoOp   Op = "no-op"
)

// Object is one object as a region has it (or as an apply left it).
type Object struct {
	Kind   desired.Kind   `json:"kind"`
	Name   string         `json:"name"`
	Region string         `json:"region,omitempty"` // regional kinds only
	Spec   map[string]any `json:"spec"`
	// ID is the region's own id for objects named by content (a role
	// assignment's id, for delete); not compared.
	ID string `json:"id,omitempty"`
}

// Key identifies an object within a region.
func (o Object) Key() string { return string(o.Kind) + "/" + o.Name }

// Actual is what one region holds, as its providers listed it.
type Actual struct {
	Region  string   `json:"region"`
	Objects []Object `json:"objects"`
	// Unsupported are the kinds this region cannot list (no provider in
	// its build): their objects are neither compared nor applied.
	Unsupported []desired.Kind `json:"unsupported,omitempty"`
	// Load is the region's running work, when it reports it (capacity).
	Load *Load `json:"load,omitempty"`
}

// Applied is the last desired state an apply completed: what tandem owns,
// per region ("" for replicated kinds). Drift is measured against it.
type Applied struct {
	Objects []Object `json:"objects"`
}

// Input is everything a plan is computed from.
type Input struct {
	Desired *desired.State
	Primary string
	Regions []string           // in workspace order
	Actual  map[string]*Actual // by region
	Applied *Applied           // nil: never applied
	// ImageGaps are the environments' images a region's registry lacks
	// (imagecopy.Check asked every registry); plan reports them.
	ImageGaps []ImageGap
	// EndpointQuota is the workspace's limit on scoring instances per
	// region (workspace.yaml quotas:); a desired state over it is a
	// problem.
	EndpointQuota tandem.EndpointQuota
}

// ImageGap is one environment image missing from one region's registry,
// or a registry that could not be asked (Error).
type ImageGap struct {
	Region, Environment, Version, Destination, Error string
}

// ImageWarnings says, per region, which environment images its registry
// lacks: the region copies them itself unless the replication policy of
// environments is none, where they stay missing until copied by hand or
// the policy changes.
func ImageWarnings(gaps []ImageGap) []string {
	var out []string
	for _, g := range gaps {
		if g.Error != "" {
			out = append(out, fmt.Sprintf("%s: cannot check image %s of environment %s:%s: %s", g.Region, g.Destination, g.Environment, g.Version, g.Error))
			continue
		}
		out = append(out, fmt.Sprintf("%s: its registry lacks image %s of environment %s:%s", g.Region, g.Destination, g.Environment, g.Version))
	}
	return out
}

// Change is one field that differs.
type Change struct {
	Field  string `json:"field"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// Action is one step of an apply.
type Action struct {
	Op     Op           `json:"op"`
	Kind   desired.Kind `json:"kind"`
	Name   string       `json:"name"`
	Region string       `json:"region"` // where it is applied (the primary for replicated kinds)
	// Replicated: applied through the primary, reaches every region.
	Replicated bool           `json:"replicated,omitempty"`
	Spec       map[string]any `json:"spec,omitempty"` // the desired spec (create, update)
	Changes    []Change       `json:"changes,omitempty"`
	ID         string         `json:"id,omitempty"` // delete of an object named by content
	// Drift: the object differs from what the last apply left (changed by hand).
	Drift bool `json:"drift,omitempty"`
}

// Drift is one object that differs from the last applied desired state.
type Drift struct {
	Region  string       `json:"region"`
	Kind    desired.Kind `json:"kind"`
	Name    string       `json:"name"`
	Missing bool         `json:"missing,omitempty"`
	Changes []Change     `json:"changes,omitempty"`
}

// RegionPlan is what one region will do.
type RegionPlan struct {
	Region  string   `json:"region"`
	Primary bool     `json:"primary,omitempty"`
	Actions []Action `json:"actions"`
	Summary Summary  `json:"summary"`
}

// Summary counts actions.
type Summary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
}

// Plan is the result.
type Plan struct {
	Regions []RegionPlan `json:"regions"`
	Total   Summary      `json:"total"`
	Drift   []Drift      `json:"drift,omitempty"`
	// Problems stop an apply (a secret the vault lacks).
	Problems []string `json:"problems,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Fingerprint is the SHA-256 of the actual state the plan was computed
	// from: apply refuses a saved plan when the state moved since.
	Fingerprint string `json:"fingerprint"`
}

// Changed reports whether applying the plan would do anything.
func (p *Plan) Changed() bool { return p.Total.Add+p.Total.Change+p.Total.Destroy > 0 }

// Actions lists every action in apply order: region by region as the
// plan lists them (the primary first).
func (p *Plan) Actions() []Action {
	var out []Action
	for _, r := range p.Regions {
		out = append(out, r.Actions...)
	}
	return out
}

// Fingerprint hashes actual states: regions and objects in a fixed order,
// specs as canonical JSON.
func Fingerprint(actual map[string]*Actual) string {
	regions := make([]string, 0, len(actual))
	for r := range actual {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	h := sha256.New()
	for _, r := range regions {
		a := actual[r]
		objs := append([]Object(nil), a.Objects...)
		sort.Slice(objs, func(i, j int) bool { return objs[i].Key() < objs[j].Key() })
		b, _ := json.Marshal(struct {
			R string
			O []Object
			U []desired.Kind
		}{r, objs, a.Unsupported})
		h.Write(b)
		h.Write([]byte{'\n'})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func index(objs []Object) map[string]Object {
	m := make(map[string]Object, len(objs))
	for _, o := range objs {
		m[o.Key()] = o
	}
	return m
}

// diff lists the fields of want that got lacks or holds differently, in
// field order. Fields got has and want does not are not compared: they are
// the region's own (ids, times, defaults).
func diff(got, want map[string]any) []Change {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Change
	for _, k := range keys {
		g, ok := got[k]
		if !ok || !reflect.DeepEqual(norm(g), norm(want[k])) {
			out = append(out, Change{Field: k, Before: g, After: want[k]})
		}
	}
	return out
}

// norm makes a JSON value compare by content: numbers as float64, empty
// lists and maps as nil.
func norm(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	switch t := out.(type) {
	case []any:
		if len(t) == 0 {
			return nil
		}
	case map[string]any:
		if len(t) == 0 {
			return nil
		}
	case string:
		if t == "" {
			return nil
		}
	case bool:
		if !t {
			return nil
		}
	}
	return out
}

func unsupported(a *Actual, k desired.Kind) bool {
	if a == nil {
		return true
	}
	for _, u := range a.Unsupported {
		if u == k {
			return true
		}
	}
	return false
}

// Compute makes the plan.
func Compute(in Input) *Plan {
	p := &Plan{Fingerprint: Fingerprint(in.Actual)}
	actual := map[string]map[string]Object{}
	for r, a := range in.Actual {
		actual[r] = index(a.Objects)
	}
	applied := map[string]map[string]Object{} // region ("" replicated) -> key -> object
	if in.Applied != nil {
		for _, o := range in.Applied.Objects {
			if applied[o.Region] == nil {
				applied[o.Region] = map[string]Object{}
			}
			applied[o.Region][o.Key()] = o
		}
	}
	byRegion := map[string][]Action{}
	declared := map[string]bool{} // region|key
	var skipped = map[string]map[desired.Kind]int{}
	skip := func(region string, k desired.Kind) {
		if skipped[region] == nil {
			skipped[region] = map[desired.Kind]int{}
		}
		skipped[region][k]++
	}
	var objs []*desired.Object
	if in.Desired != nil {
		objs = in.Desired.Objects
	}
	for _, o := range objs {
		if o.Kind.Regional() {
			for _, r := range o.Regions {
				declared[r+"|"+string(o.Kind)+"/"+o.Name] = true
				if unsupported(in.Actual[r], o.Kind) {
					skip(r, o.Kind)
					continue
				}
				if a := step(o, r, o.SpecIn(r), actual[r], applied[r], false); a != nil {
					byRegion[r] = append(byRegion[r], *a)
				}
			}
			continue
		}
		declared["|"+string(o.Kind)+"/"+o.Name] = true
		if unsupported(in.Actual[in.Primary], o.Kind) {
			skip(in.Primary, o.Kind)
			continue
		}
		if o.Kind == desired.KindSecret {
			if _, ok := actual[in.Primary][string(o.Kind)+"/"+o.Name]; !ok {
				p.Problems = append(p.Problems, fmt.Sprintf("secret %q is not in the key vault (set it first: tandem secret set --name %s ...); the file names secrets, never values", o.Name, o.Name))
			}
			continue
		}
		if a := step(o, in.Primary, o.Spec, actual[in.Primary], applied[""], true); a != nil {
			byRegion[in.Primary] = append(byRegion[in.Primary], *a)
		}
	}
	// Deletes: what the last apply owned that the file no longer declares,
	// dependents first (falling kind rank).
	var dels []Object
	if in.Applied != nil {
		for _, o := range in.Applied.Objects {
			if declared[o.Region+"|"+o.Key()] || o.Kind == desired.KindSecret {
				continue
			}
			where := o.Region
			if where == "" {
				where = in.Primary
			}
			if got, ok := actual[where][o.Key()]; ok {
				if o.Kind == desired.KindDatastore { // data assets may point into it: never deleted by apply
					p.Warnings = append(p.Warnings, fmt.Sprintf("datastore %q is no longer declared; apply leaves it (data assets may point into it)", o.Name))
					continue
				}
				o.ID = got.ID
				dels = append(dels, o)
			}
		}
	}
	sort.SliceStable(dels, func(i, j int) bool { return dels[i].Kind.Rank() > dels[j].Kind.Rank() })
	for _, o := range dels {
		where, repl := o.Region, o.Region == ""
		if repl {
			where = in.Primary
		}
		byRegion[where] = append(byRegion[where], Action{Op: Delete, Kind: o.Kind, Name: o.Name, Region: where, Replicated: repl, ID: o.ID})
	}
	p.Drift = drift(in, actual, applied)
	for _, r := range in.Regions {
		rp := RegionPlan{Region: r, Primary: r == in.Primary, Actions: byRegion[r]}
		if rp.Actions == nil {
			rp.Actions = []Action{}
		}
		for _, a := range rp.Actions {
			switch a.Op {
			case Create:
				rp.Summary.Add++
			case Update:
				rp.Summary.Change++
			case Delete:
				rp.Summary.Destroy++
			}
		}
		p.Total.Add += rp.Summary.Add
		p.Total.Change += rp.Summary.Change
		p.Total.Destroy += rp.Summary.Destroy
		p.Regions = append(p.Regions, rp)
		if in.Actual[r] == nil {
			p.Warnings = append(p.Warnings, fmt.Sprintf("%s: the region did not report its state; nothing there was compared", r))
			continue
		}
		for _, k := range desired.Kinds {
			if n := skipped[r][k]; n > 0 {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s: %d %s object(s) not checked: the region's server has no %s provider", r, n, k, k))
			}
		}
	}
	p.Problems = append(p.Problems, QuotaProblems(in)...)
	p.Warnings = append(p.Warnings, CapacityWarnings(in)...)
	p.Warnings = append(p.Warnings, ImageWarnings(in.ImageGaps)...)
	return p
}

// step compares one desired object with the region's actual one.
func step(o *desired.Object, region string, want map[string]any, got, applied map[string]Object, repl bool) *Action {
	key := string(o.Kind) + "/" + o.Name
	a := &Action{Kind: o.Kind, Name: o.Name, Region: region, Replicated: repl, Spec: want}
	cur, ok := got[key]
	if !ok {
		a.Op = Create
		_, a.Drift = applied[key]
		return a
	}
	ch := diff(cur.Spec, want)
	if len(ch) == 0 {
		return nil
	}
	a.Op, a.Changes, a.ID = Update, ch, cur.ID
	if last, ok := applied[key]; ok {
		a.Drift = len(diff(cur.Spec, last.Spec)) > 0
	}
	return a
}

// drift lists, per region, the objects whose actual state differs from the
// last applied one (replicated kinds are checked in every region).
func drift(in Input, actual map[string]map[string]Object, applied map[string]map[string]Object) []Drift {
	var out []Drift
	for _, r := range in.Regions {
		if in.Actual[r] == nil {
			continue
		}
		for _, scope := range []string{"", r} {
			m := applied[scope]
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if d, ok := DriftOf(m[k], actual[r], r, in.Actual[r]); ok {
					out = append(out, d)
				}
			}
		}
	}
	return out
}

// DriftOf compares one applied object with a region's actual objects; a
// region checks itself with it on its timer.
func DriftOf(last Object, got map[string]Object, region string, a *Actual) (Drift, bool) {
	if unsupported(a, last.Kind) {
		return Drift{}, false
	}
	cur, ok := got[last.Key()]
	if !ok {
		return Drift{Region: region, Kind: last.Kind, Name: last.Name, Missing: true}, true
	}
	if ch := diff(cur.Spec, last.Spec); len(ch) > 0 {
		return Drift{Region: region, Kind: last.Kind, Name: last.Name, Changes: ch}, true
	}
	return Drift{}, false
}

// RegionDrift is DriftOf for every applied object that concerns region.
func RegionDrift(applied *Applied, a *Actual) []Drift {
	if applied == nil || a == nil {
		return nil
	}
	got := index(a.Objects)
	var out []Drift
	for _, o := range applied.Objects {
		if o.Region != "" && o.Region != a.Region {
			continue
		}
		if d, ok := DriftOf(o, got, a.Region, a); ok {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return string(out[i].Kind)+"/"+out[i].Name < string(out[j].Kind)+"/"+out[j].Name
	})
	return out
}

// AppliedFrom is the Applied record of a desired state: what an apply that
// completed leaves owned. Secrets are recorded (their disappearance is
// drift) but never deleted.
func AppliedFrom(s *desired.State, in Input) *Applied {
	out := &Applied{Objects: []Object{}}
	if s == nil {
		return out
	}
	for _, o := range s.Objects {
		if o.Kind.Regional() {
			for _, r := range o.Regions {
				if !unsupported(in.Actual[r], o.Kind) {
					out.Objects = append(out.Objects, Object{Kind: o.Kind, Name: o.Name, Region: r, Spec: o.SpecIn(r)})
				}
			}
			continue
		}
		if !unsupported(in.Actual[in.Primary], o.Kind) {
			out.Objects = append(out.Objects, Object{Kind: o.Kind, Name: o.Name, Spec: o.Spec})
		}
	}
	return out
}

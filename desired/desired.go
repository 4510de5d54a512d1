// Package desired reads the desired-state sections of workspace.yaml: what
// every region of the workspace should hold besides its own configuration.
// Compute targets per region, datastores (credentials as secret
// references), custom roles and role assignments, online endpoints and
// their deployments (placement per region), the key vault secrets they
// need (names only), and the assets to keep present (environments,
// components, data) by path to their az ml YAML files.
//
// Parse is pure: it reads yaml.Nodes the workspace loader hands it and
// never touches a file, the network or a database. LoadAssets reads the
// asset files a State names. Every error is EINVALID and names the file,
// line and column, so a user fixes the file without reading code; an
// undeclared compute, secret or role, a dependency cycle and a region
// named twice in an object's placement are errors, and no apply starts.
//
//	secrets: {names: [blob-key]}          # must exist in the key vault
//	compute:
//	  - name: cpu
//	    type: local                       # local | ray | kubernetes
//	    size: small
//	    max_instances: 4                  # the region's quota for the target
//	    regions:                          # placement; a mapping overrides values per region
//	      eastus: {}
//	      westus: {max_instances: 2, address: http://ray-west:8265}
//	datastores:
//	  - file: datastores/blob.yaml        # az ml datastore YAML; credentials ${{secrets.NAME}}
//	roles:
//	  - {name: Run Logger, actions: ["*/runs/*"]}
//	role_assignments:
//	  - {role: Run Logger, assignee: ci-bot, scope: /}
//	endpoints:
//	  - name: iris
//	    regions: [eastus, westus]
//	    deployments:
//	      - {name: blue, model: "iris:1", environment: "sklearn:1", compute: cpu, instance_count: 2,
//	         regions: {westus: {instance_count: 1}}}
//	assets:
//	  environments: [envs/sklearn.yaml]
//	  components: [components/train.yaml]
//	  data: [data/iris.yaml]
//
// Every object may also list depends_on: [kind/name, ...].
package desired

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"go.yaml.in/yaml/v3"
)

// Kind is a kind of desired object.
type Kind string

// The kinds, in the order an apply creates them when nothing else orders
// them (dependencies come first: secrets before datastores, roles before
// assignments, environments before components, compute and endpoints
// before deployments).
const (
	KindSecret         Kind = "secret"
	KindRole           Kind = "role"
	KindRoleAssignment Kind = "role_assignment"
	KindDatastore      Kind = "datastore"
	KindEnvironment    Kind = "environment"
	KindData           Kind = "data"
	KindComponent      Kind = "component"
	KindCompute        Kind = "compute"
	KindEndpoint       Kind = "endpoint"
	KindDeployment     Kind = "deployment"
	// KindSettings holds the workspace-wide settings workspace.yaml
	// declares outside the object sections: one object, "jobs" (the jobs:
	// section), applied through the primary.
	KindSettings Kind = "settings"
)

// Kinds lists every kind in apply order.
var Kinds = []Kind{KindSettings, KindSecret, KindRole, KindRoleAssignment, KindDatastore, KindEnvironment,
	KindData, KindComponent, KindCompute, KindEndpoint, KindDeployment}

// Rank is k's place in Kinds (creates go in rising, deletes in falling rank).
func (k Kind) Rank() int {
	for i, x := range Kinds {
		if x == k {
			return i
		}
	}
	return len(Kinds)
}

// Regional reports whether objects of the kind live in one region each
// (applied through that region); the others are replicated kinds, applied
// once through the primary and present in every region.
func (k Kind) Regional() bool { return k == KindCompute }

// Pos is where an object is declared.
type Pos struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column) }

// Ref names an object: kind/name.
type Ref struct {
	Kind Kind
	Name string
}

func (r Ref) String() string { return string(r.Kind) + "/" + r.Name }

// Object is one declared object. Spec is its canonical, JSON-encodable
// definition (what plan compares with the actual state); for a regional
// kind Specs holds the definition per region (overrides applied), and
// Regions the placement. Asset kinds carry the path of their YAML file
// (relative to the workspace file) until LoadAssets reads it.
type Object struct {
	Kind      Kind
	Name      string
	Regions   []string // placement: the regions the object lives in (every region when not given)
	Spec      map[string]any
	Specs     map[string]map[string]any // regional kinds: per region
	DependsOn []Ref
	File      string        // asset kinds: the YAML file, as written
	Asset     *tandem.Asset // asset kinds: after LoadAssets
	AssetDir  string        // asset kinds: the folder of the YAML file (its files are read from there)
	Pos       Pos
}

// Ref returns the object's reference.
func (o *Object) Ref() Ref { return Ref{o.Kind, o.Name} }

// SpecIn is the object's definition in region (regional kinds), or Spec.
func (o *Object) SpecIn(region string) map[string]any {
	if s, ok := o.Specs[region]; ok {
		return s
	}
	return o.Spec
}

// Placed reports whether the object lives in region.
func (o *Object) Placed(region string) bool {
	for _, r := range o.Regions {
		if r == region {
			return true
		}
	}
	return false
}

// State is the whole desired state: every object, in dependency order
// (an object comes after everything it depends on).
type State struct {
	Objects []*Object
	Regions []string // the workspace's regions, in file order
	// Registries is each region's container registry (regions[].registry),
	// for the images work: environments with image: are copied there.
	Registries map[string]string
}

// Empty reports whether the file declares no object.
func (s *State) Empty() bool { return s == nil || len(s.Objects) == 0 }

// Find returns the object ref names, or nil.
func (s *State) Find(r Ref) *Object {
	for _, o := range s.Objects {
		if o.Kind == r.Kind && o.Name == r.Name {
			return o
		}
	}
	return nil
}

// Input is what Parse reads: the workspace file's name (for messages), its
// regions, and the nodes of the desired-state sections (zero nodes for
// sections the file does not have).
type Input struct {
	File            string
	Regions         []string
	Registries      map[string]string
	Secrets         yaml.Node // secrets.names
	Compute         yaml.Node
	Datastores      yaml.Node
	Roles           yaml.Node
	RoleAssignments yaml.Node
	Endpoints       yaml.Node
	Assets          yaml.Node
}

type parser struct {
	file    string
	regions []string
	objs    []*Object
	seen    map[Ref]*Object
}

func (p *parser) errf(n *yaml.Node, format string, args ...any) error {
	return tandem.Errorf(tandem.EINVALID, "%s:%d:%d: %s", p.file, n.Line, n.Column, fmt.Sprintf(format, args...))
}

func (p *parser) pos(n *yaml.Node) Pos { return Pos{File: p.file, Line: n.Line, Column: n.Column} }

// Parse reads the desired-state sections. It checks every reference and
// orders the objects by their dependencies.
func Parse(in Input) (*State, error) {
	p := &parser{file: in.File, regions: in.Regions, seen: map[Ref]*Object{}}
	if p.file == "" {
		p.file = "workspace.yaml"
	}
	steps := []struct {
		n  *yaml.Node
		fn func(*yaml.Node) error
	}{
		{&in.Secrets, p.secrets},
		{&in.Roles, p.roles},
		{&in.RoleAssignments, p.assignments},
		{&in.Datastores, p.datastores},
		{&in.Assets, p.assets},
		{&in.Compute, p.compute},
		{&in.Endpoints, p.endpoints},
	}
	for _, s := range steps {
		if s.n.Kind == 0 || s.n.Tag == "!!null" {
			continue
		}
		if err := p.noAlias(s.n); err != nil {
			return nil, err
		}
		if err := s.fn(s.n); err != nil {
			return nil, err
		}
	}
	if err := p.checkRefs(); err != nil {
		return nil, err
	}
	ordered, err := p.order()
	if err != nil {
		return nil, err
	}
	regs := map[string]string{}
	for k, v := range in.Registries {
		regs[k] = v
	}
	return &State{Objects: ordered, Regions: append([]string(nil), in.Regions...), Registries: regs}, nil
}

func (p *parser) noAlias(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return p.errf(n, "YAML anchors and aliases are not supported in the desired state")
	}
	for _, c := range n.Content {
		if err := p.noAlias(c); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) add(o *Object, n *yaml.Node) error {
	if o.Name == "" {
		return p.errf(n, "%s: name is required", o.Kind)
	}
	if prev, dup := p.seen[o.Ref()]; dup {
		return p.errf(n, "%s %q is declared twice (first at %s)", o.Kind, o.Name, prev.Pos)
	}
	if o.Regions == nil {
		o.Regions = append([]string(nil), p.regions...)
	}
	o.Pos = p.pos(n)
	p.seen[o.Ref()] = o
	p.objs = append(p.objs, o)
	return nil
}

// list calls fn for each item of a sequence.
func (p *parser) list(n *yaml.Node, what string, fn func(*yaml.Node) error) error {
	if n.Kind != yaml.SequenceNode {
		return p.errf(n, "%s must be a list", what)
	}
	for _, it := range n.Content {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

// fields walks a mapping: each key must be one of allowed.
func (p *parser) fields(n *yaml.Node, what string, allowed map[string]func(*yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "%s must be a mapping", what)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return p.errf(k, "%s: keys must be plain strings", what)
		}
		if seen[k.Value] {
			return p.errf(k, "%s: field %q is repeated", what, k.Value)
		}
		seen[k.Value] = true
		fn, ok := allowed[k.Value]
		if !ok {
			names := make([]string, 0, len(allowed))
			for a := range allowed {
				names = append(names, a)
			}
			sort.Strings(names)
			return p.errf(k, "unknown field %q in %s (allowed: %s)", k.Value, what, strings.Join(names, ", "))
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) str(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", p.errf(n, "expected a string")
	}
	if n.Tag == "!!null" {
		return "", nil
	}
	return n.Value, nil
}

func (p *parser) strInto(dst *string) func(*yaml.Node) error {
	return func(n *yaml.Node) (err error) { *dst, err = p.str(n); return err }
}

func (p *parser) strs(n *yaml.Node) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "expected a list of strings")
	}
	out := []string{}
	for _, it := range n.Content {
		s, err := p.str(it)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *parser) intInto(dst *int, min int) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		s, err := p.str(n)
		if err != nil {
			return err
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < min {
			return p.errf(n, "expected an integer of at least %d, got %q", min, s)
		}
		*dst = v
		return nil
	}
}

func (p *parser) dependsOn(o *Object) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if n.Kind != yaml.SequenceNode {
			return p.errf(n, "depends_on must be a list of kind/name")
		}
		for _, it := range n.Content {
			s, err := p.str(it)
			if err != nil {
				return err
			}
			k, name, ok := strings.Cut(s, "/")
			if !ok || name == "" || Kind(k).Rank() == len(Kinds) {
				return p.errf(it, "depends_on: %q must be kind/name (kinds: %s)", s, kindList())
			}
			o.DependsOn = append(o.DependsOn, Ref{Kind(k), name})
		}
		return nil
	}
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// placement reads regions: a list of region names, or a mapping from
// region name to an override block (read by override, which may be nil
// when the kind takes no per-region values).
func (p *parser) placement(o *Object, n *yaml.Node, override func(region string, n *yaml.Node) error) error {
	known := map[string]bool{}
	for _, r := range p.regions {
		known[r] = true
	}
	seen := map[string]bool{}
	check := func(k *yaml.Node) error {
		name, err := p.str(k)
		if err != nil {
			return err
		}
		if !known[name] {
			return p.errf(k, "%s %q: region %q is not one of the workspace's regions (%s)", o.Kind, o.Name, name, strings.Join(p.regions, ", "))
		}
		if seen[name] {
			return p.errf(k, "%s %q: region %q is named twice", o.Kind, o.Name, name)
		}
		seen[name] = true
		o.Regions = append(o.Regions, name)
		return nil
	}
	o.Regions = []string{}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, k := range n.Content {
			if err := check(k); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if err := check(k); err != nil {
				return err
			}
			if v.Tag == "!!null" || (v.Kind == yaml.MappingNode && len(v.Content) == 0) {
				continue
			}
			if override == nil {
				return p.errf(v, "%s takes no per-region values (give the region names as a list)", o.Kind)
			}
			if err := override(k.Value, v); err != nil {
				return err
			}
		}
	default:
		return p.errf(n, "regions must be a list of region names or a mapping of region name to overrides")
	}
	if len(o.Regions) == 0 {
		return p.errf(n, "%s %q: regions must name at least one region", o.Kind, o.Name)
	}
	return nil
}

// canonical makes v a plain JSON value (maps with sorted keys when
// encoded), so specs from the file and from a region compare equal.
func canonical(v any) map[string]any {
	b, _ := json.Marshal(v)
	out := map[string]any{}
	_ = json.Unmarshal(b, &out)
	return out
}

// JobSettingsName is the settings object of workspace.yaml's jobs: section.
const JobSettingsName = "jobs"

// JobSettingsSpec is the canonical spec of the job settings: every field
// given (the default resubmission policy written out), so a field the
// file drops is changed back, not left as it was.
func JobSettingsSpec(js tandem.JobSettings) map[string]any {
	r := tandem.DefaultResubmit
	if js.Resubmit != nil {
		r = *js.Resubmit
	}
	return map[string]any{"max_instances": float64(js.MaxInstances),
		"resubmit": map[string]any{"policy": r.Policy, "max_attempts": float64(r.MaxAttempts)}}
}

// JobSettingsOf reads a settings spec back.
func JobSettingsOf(spec map[string]any) (tandem.JobSettings, error) {
	js, err := specOf[tandem.JobSettings](spec, "job settings")
	if err != nil {
		return js, err
	}
	return js, js.Validate()
}

// specOf reads a spec back into a T through its JSON form (EINVALID
// naming what).
func specOf[T any](spec map[string]any, what string) (T, error) {
	var v T
	b, err := json.Marshal(spec)
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	if err != nil {
		return v, tandem.Errorf(tandem.EINVALID, "%s: %v", what, err)
	}
	return v, nil
}

// QuotaSettingsName is the settings object of workspace.yaml's quotas:
// section.
const QuotaSettingsName = "quotas"

// QuotaSettingsSpec is the canonical spec of the quota settings.
func QuotaSettingsSpec(q tandem.QuotaSettings) map[string]any {
	regions := map[string]any{}
	for r, own := range q.Regions {
		regions[r] = map[string]any{"endpoint_instances": float64(own.EndpointInstances)}
	}
	return map[string]any{"endpoint_instances": float64(q.EndpointInstances), "regions": regions}
}

// QuotaSettingsOf reads a quota settings spec back.
func QuotaSettingsOf(spec map[string]any) (tandem.QuotaSettings, error) {
	q, err := specOf[tandem.QuotaSettings](spec, "quota settings")
	if err != nil {
		return q, err
	}
	if len(q.Regions) == 0 {
		q.Regions = nil
	}
	return q, q.Validate()
}

// AddQuotaSettings puts the quotas: section's settings first in the state
// (before the deployments they limit), placed in every region.
func (s *State) AddQuotaSettings(q tandem.QuotaSettings, pos Pos) {
	o := &Object{Kind: KindSettings, Name: QuotaSettingsName, Regions: append([]string(nil), s.Regions...), Spec: QuotaSettingsSpec(q), Pos: pos}
	s.Objects = append([]*Object{o}, s.Objects...)
}

// AddJobSettings puts the jobs: section's settings first in the state
// (they are applied before anything else), placed in every region.
func (s *State) AddJobSettings(js tandem.JobSettings, pos Pos) {
	o := &Object{Kind: KindSettings, Name: JobSettingsName, Regions: append([]string(nil), s.Regions...), Spec: JobSettingsSpec(js), Pos: pos}
	s.Objects = append([]*Object{o}, s.Objects...)
}

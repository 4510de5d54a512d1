package desired

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
)

// fileKind reports whether objects of k are named by their YAML file until
// LoadAssets reads it.
func fileKind(k Kind) bool {
	return k == KindDatastore || k == KindEnvironment || k == KindComponent || k == KindData
}

func (p *parser) errAt(o *Object, format string, args ...any) error {
	return tandem.Errorf(tandem.EINVALID, "%s: "+format, append([]any{o.Pos}, args...)...)
}

// checkRefs checks every reference parse could see (compute, secret, role,
// endpoint, explicit depends_on); references to file-named kinds wait for
// LoadAssets while any such object is unread.
func (p *parser) checkRefs() error {
	unread := false
	for _, o := range p.objs {
		unread = unread || (fileKind(o.Kind) && o.Asset == nil)
	}
	for _, o := range p.objs {
		for _, r := range o.DependsOn {
			if fileKind(r.Kind) && unread {
				continue
			}
			t, ok := p.seen[r]
			if !ok {
				return p.errAt(o, "%s %q refers to %s %q, which is not declared", o.Kind, o.Name, r.Kind, r.Name)
			}
			// A regional object needs what it depends on in its own regions.
			if o.Kind == KindDeployment && t.Kind == KindCompute {
				for _, reg := range o.Regions {
					if !t.Placed(reg) {
						return p.errAt(o, "deployment %q runs in %s, where compute %q is not placed", o.Name, reg, t.Name)
					}
				}
			}
		}
	}
	return nil
}

// order sorts the objects so each comes after what it depends on: kind
// rank, then file order, among the objects whose dependencies are placed.
// A cycle is an error naming every object on it.
func (p *parser) order() ([]*Object, error) {
	idx := map[Ref]int{}
	for i, o := range p.objs {
		idx[o.Ref()] = i
	}
	deps := make([][]int, len(p.objs))
	for i, o := range p.objs {
		for _, r := range o.DependsOn {
			if j, ok := idx[r]; ok {
				deps[i] = append(deps[i], j)
			}
		}
	}
	// Depth-first search for a cycle first: its message is what a user needs.
	state := make([]int, len(p.objs)) // 0 new, 1 on stack, 2 done
	var stack []int
	var cycle []int
	var visit func(int) bool
	visit = func(i int) bool {
		state[i] = 1
		stack = append(stack, i)
		for _, j := range deps[i] {
			if state[j] == 1 {
				for k := len(stack) - 1; k >= 0; k-- {
					cycle = append([]int{stack[k]}, cycle...)
					if stack[k] == j {
						break
					}
				}
				return true
			}
			if state[j] == 0 && visit(j) {
				return true
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = 2
		return false
	}
	for i := range p.objs {
		if state[i] == 0 && visit(i) {
			names := make([]string, 0, len(cycle)+1)
			for _, c := range cycle {
				names = append(names, p.objs[c].Ref().String())
			}
			names = append(names, p.objs[cycle[0]].Ref().String())
			return nil, p.errAt(p.objs[cycle[0]], "dependency cycle: %s", strings.Join(names, " -> "))
		}
	}
	// Kahn's algorithm, choosing the lowest (rank, file order) ready object.
	placed := make([]bool, len(p.objs))
	out := make([]*Object, 0, len(p.objs))
	order := make([]int, len(p.objs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return p.objs[order[a]].Kind.Rank() < p.objs[order[b]].Kind.Rank() })
	for len(out) < len(p.objs) {
		for _, i := range order {
			if placed[i] {
				continue
			}
			ready := true
			for _, j := range deps[i] {
				ready = ready && placed[j]
			}
			if ready {
				placed[i] = true
				out = append(out, p.objs[i])
				break
			}
		}
	}
	return out, nil
}

// LoadAssets reads the YAML file of every datastore, environment,
// component and data object (paths relative to dir, the workspace file's
// folder) with package assetyaml, names the objects after their assets,
// adds the dependencies their definitions imply (a datastore's secret
// references, a component's environment, a data asset's datastore, a
// deployment's environment), and checks references and order again.
// A datastore credential that is not a secret reference is an error: the
// workspace file and the files it names never hold secret values.
func (s *State) LoadAssets(dir string) error {
	p := &parser{seen: map[Ref]*Object{}}
	for _, o := range s.Objects {
		if !fileKind(o.Kind) || o.Asset != nil {
			continue
		}
		path := o.File
		if !filepath.IsAbs(path) {
			path = filepath.Join(dir, path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return tandem.Errorf(tandem.EINVALID, "%s: %s: %v", o.Pos, o.Kind, err)
		}
		a, err := assetyaml.Load(o.File, b, tandem.AssetKind(o.Kind))
		if err != nil {
			return tandem.Errorf(tandem.EINVALID, "%s: %s", o.Pos, tandem.ErrorMessage(err))
		}
		if a.Kind.Versioned() && a.Version == "" {
			return tandem.Errorf(tandem.EINVALID, "%s: %s %s: the desired state needs a version (version: in %s)", o.Pos, o.Kind, a.Name, o.File)
		}
		o.Asset = a
		o.Name = AssetName(a.Kind, a.Name, a.Version)
		o.Spec = AssetSpec(a)
		o.AssetDir = filepath.Dir(path)
	}
	for _, o := range s.Objects {
		if prev, dup := p.seen[o.Ref()]; dup {
			return tandem.Errorf(tandem.EINVALID, "%s: %s %q is declared twice (first at %s)", o.Pos, o.Kind, o.Name, prev.Pos)
		}
		p.seen[o.Ref()] = o
		p.objs = append(p.objs, o)
	}
	for _, o := range p.objs {
		if o.Asset == nil {
			continue
		}
		switch spec := o.Asset.Spec.(type) {
		case *tandem.Datastore:
			keys := make([]string, 0, len(spec.Credentials))
			for k := range spec.Credentials {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				name, ok, err := tandem.ParseSecretRef(spec.Credentials[k])
				if err != nil || !ok {
					return p.errAt(o, "datastore %q: credentials.%s must be a secret reference ${{secrets.NAME}} (declare NAME under secrets.names), never a value", o.Name, k)
				}
				if _, declared := p.seen[Ref{KindSecret, name}]; !declared {
					return p.errAt(o, "datastore %q: credentials.%s refers to secret %q, which is not declared under secrets.names", o.Name, k, name)
				}
				o.DependsOn = append(o.DependsOn, Ref{KindSecret, name})
			}
		case *tandem.Component:
			if r, err := tandem.ParseAssetRef(spec.Environment); err == nil {
				p.soft(o, Ref{KindEnvironment, r.Name + ":" + r.Version})
			}
		case *tandem.Data:
			if ds, _, err := tandem.ParseDatastorePath(spec.Path); err == nil {
				p.soft(o, Ref{KindDatastore, ds})
			}
		}
	}
	for _, o := range p.objs {
		if o.Kind == KindDeployment {
			if env, _ := o.Spec["environment"].(string); env != "" {
				if r, err := tandem.ParseAssetRef(env); err == nil {
					p.soft(o, Ref{KindEnvironment, r.Name + ":" + r.Version})
				}
			}
		}
	}
	if err := p.checkRefs(); err != nil {
		return err
	}
	ordered, err := p.order()
	if err != nil {
		return err
	}
	s.Objects = ordered
	return nil
}

// soft adds a dependency on r when r is declared (a reference to an asset
// the file does not manage is the region's business).
func (p *parser) soft(o *Object, r Ref) {
	if _, ok := p.seen[r]; ok {
		o.DependsOn = append(o.DependsOn, r)
	}
}

// AssetName is the object name of an asset: NAME:VERSION for versioned
// kinds (a version is kept present), NAME for a datastore.
func AssetName(k tandem.AssetKind, name, version string) string {
	if k.Versioned() {
		return name + ":" + version
	}
	return name
}

// AssetSpec is what plan compares for an asset. A version is immutable, so
// for versioned kinds only whether it is there and not archived; for a
// datastore its definition without credential values (they are never
// read back) but with whether it has credentials.
func AssetSpec(a *tandem.Asset) map[string]any {
	if a.Kind.Versioned() {
		return map[string]any{"archived": a.Archived}
	}
	ds, _ := a.Spec.(*tandem.Datastore)
	if ds == nil {
		return map[string]any{}
	}
	c := *ds
	c.HasCredentials = c.HasCredentials || len(c.Credentials) > 0
	c.Credentials = nil
	m := canonical(&c)
	if a.Description != "" {
		m["description"] = a.Description
	}
	return m
}

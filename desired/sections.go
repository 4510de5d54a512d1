package desired

import (
	"encoding/json"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
	"go.yaml.in/yaml/v3"
)

// secrets: {names: [a, b]}: the node handed over is the names list.
func (p *parser) secrets(n *yaml.Node) error {
	return p.list(n, "secrets.names", func(it *yaml.Node) error {
		name, err := p.str(it)
		if err != nil {
			return err
		}
		if err := tandem.ValidateSecretName(name); err != nil {
			return p.errf(it, "%s", tandem.ErrorMessage(err))
		}
		return p.add(&Object{Kind: KindSecret, Name: name, Spec: map[string]any{}}, it)
	})
}

func (p *parser) roles(n *yaml.Node) error {
	return p.list(n, "roles", func(it *yaml.Node) error {
		var rd tandem.RoleDefinition
		o := &Object{Kind: KindRole}
		err := p.fields(it, "roles[]", map[string]func(*yaml.Node) error{
			"name":        p.strInto(&rd.Name),
			"description": p.strInto(&rd.Description),
			"actions":     func(n *yaml.Node) (err error) { rd.Actions, err = p.strs(n); return err },
			"not_actions": func(n *yaml.Node) (err error) { rd.NotActions, err = p.strs(n); return err },
			"depends_on":  p.dependsOn(o),
		})
		if err != nil {
			return err
		}
		if err := rd.Validate(); err != nil {
			return p.errf(it, "%s", tandem.ErrorMessage(err))
		}
		for _, b := range tandem.BuiltInRoles() {
			if b.Name == rd.Name {
				return p.errf(it, "role %q is built in: declare custom roles only", rd.Name)
			}
		}
		o.Name = rd.Name
		o.Spec = RoleSpec(&rd)
		return p.add(o, it)
	})
}

// RoleSpec is a role definition's canonical spec.
func RoleSpec(rd *tandem.RoleDefinition) map[string]any {
	return canonical(map[string]any{"description": rd.Description, "actions": rd.Actions, "not_actions": append([]string{}, rd.NotActions...)})
}

// AssignmentName is the name of a role assignment object: what it grants
// to whom where (assignments have no name of their own).
func AssignmentName(role, assignee string, scope tandem.Scope) string {
	return role + "|" + assignee + "|" + string(scope)
}

func (p *parser) assignments(n *yaml.Node) error {
	return p.list(n, "role_assignments", func(it *yaml.Node) error {
		var ra tandem.RoleAssignment
		var scope string
		o := &Object{Kind: KindRoleAssignment}
		err := p.fields(it, "role_assignments[]", map[string]func(*yaml.Node) error{
			"role":       p.strInto(&ra.Role),
			"assignee":   p.strInto(&ra.Assignee),
			"scope":      p.strInto(&scope),
			"depends_on": p.dependsOn(o),
		})
		if err != nil {
			return err
		}
		ra.Scope = tandem.Scope(scope)
		if err := ra.Validate(); err != nil {
			return p.errf(it, "%s", tandem.ErrorMessage(err))
		}
		o.Name = AssignmentName(ra.Role, ra.Assignee, ra.Scope)
		o.Spec = map[string]any{"role": ra.Role, "assignee": ra.Assignee, "scope": string(ra.Scope)}
		if !builtInRole(ra.Role) {
			o.DependsOn = append(o.DependsOn, Ref{KindRole, ra.Role})
		}
		return p.add(o, it)
	})
}

func builtInRole(name string) bool {
	for _, b := range tandem.BuiltInRoles() {
		if b.Name == name {
			return true
		}
	}
	return false
}

// fileObject reads {file: PATH, depends_on: [...]} or a bare PATH.
func (p *parser) fileObject(it *yaml.Node, k Kind) error {
	o := &Object{Kind: k}
	if it.Kind == yaml.ScalarNode {
		s, err := p.str(it)
		if err != nil {
			return err
		}
		o.File = s
	} else if err := p.fields(it, string(k), map[string]func(*yaml.Node) error{
		"file":       p.strInto(&o.File),
		"depends_on": p.dependsOn(o),
	}); err != nil {
		return err
	}
	if o.File == "" {
		return p.errf(it, "%s: file is required (the az ml YAML file, relative to the workspace file)", k)
	}
	// The name comes from the file (LoadAssets); until then the path
	// stands for it, so two entries naming one file are caught here.
	o.Name = "file:" + o.File
	return p.add(o, it)
}

func (p *parser) datastores(n *yaml.Node) error {
	return p.list(n, "datastores", func(it *yaml.Node) error { return p.fileObject(it, KindDatastore) })
}

func (p *parser) assets(n *yaml.Node) error {
	kinds := map[string]Kind{"environments": KindEnvironment, "components": KindComponent, "data": KindData}
	allowed := map[string]func(*yaml.Node) error{}
	for key, k := range kinds {
		allowed[key] = func(v *yaml.Node) error {
			return p.list(v, "assets."+key, func(it *yaml.Node) error { return p.fileObject(it, k) })
		}
	}
	return p.fields(n, "assets", allowed)
}

// ComputeSpec is a compute target's definition in one region.
type ComputeSpec struct {
	Type         string `json:"type"`
	Size         string `json:"size,omitempty"`
	MinInstances int    `json:"min_instances"`
	MaxInstances int    `json:"max_instances"` // the region's quota for the target
	Address      string `json:"address,omitempty"`
}

// ComputeSpecOf is a region's compute target as plan compares it with a
// declared one.
func ComputeSpecOf(t *tandem.ComputeTarget) map[string]any {
	return canonical(ComputeSpec{Type: string(t.Type), Size: t.Size, MinInstances: t.MinInstances, MaxInstances: t.MaxInstances, Address: t.Address})
}

// ComputeTargetOf is the compute target a declared spec makes in a region.
func ComputeTargetOf(name string, spec map[string]any) (*tandem.ComputeTarget, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	var cs ComputeSpec
	if err := json.Unmarshal(b, &cs); err != nil {
		return nil, err
	}
	return &tandem.ComputeTarget{Name: name, Type: tandem.ComputeType(cs.Type), Size: cs.Size, MinInstances: cs.MinInstances,
		MaxInstances: cs.MaxInstances, Address: cs.Address}, nil
}

// ComputeTypes are the compute target types a file may name.
var ComputeTypes = []string{"local", "ray", "kubernetes"}

func (p *parser) computeFields(cs *ComputeSpec, o *Object, top bool) map[string]func(*yaml.Node) error {
	f := map[string]func(*yaml.Node) error{
		"size":          p.strInto(&cs.Size),
		"min_instances": p.intInto(&cs.MinInstances, 0),
		"max_instances": p.intInto(&cs.MaxInstances, 0),
		"address":       p.strInto(&cs.Address),
	}
	if top {
		f["name"] = p.strInto(&o.Name)
		f["type"] = p.strInto(&cs.Type)
		f["depends_on"] = p.dependsOn(o)
	}
	return f
}

func (p *parser) compute(n *yaml.Node) error {
	return p.list(n, "compute", func(it *yaml.Node) error {
		o := &Object{Kind: KindCompute}
		var base ComputeSpec
		var regions *yaml.Node
		f := p.computeFields(&base, o, true)
		f["regions"] = func(v *yaml.Node) error { regions = v; return nil }
		if err := p.fields(it, "compute[]", f); err != nil {
			return err
		}
		if base.Type == "" {
			base.Type = "local"
		}
		ok := false
		for _, t := range ComputeTypes {
			ok = ok || t == base.Type
		}
		if !ok {
			return p.errf(it, "compute %q: type %q must be one of local, ray, kubernetes", o.Name, base.Type)
		}
		specs := map[string]ComputeSpec{}
		if regions != nil {
			err := p.placement(o, regions, func(region string, v *yaml.Node) error {
				cs := base
				if err := p.fields(v, "compute "+o.Name+" regions."+region, p.computeFields(&cs, o, false)); err != nil {
					return err
				}
				specs[region] = cs
				return nil
			})
			if err != nil {
				return err
			}
		}
		if err := p.add(o, it); err != nil {
			return err
		}
		o.Specs = map[string]map[string]any{}
		for _, r := range o.Regions {
			cs, ok := specs[r]
			if !ok {
				cs = base
			}
			if cs.MaxInstances < cs.MinInstances {
				return p.errf(it, "compute %q in %s: max_instances %d is less than min_instances %d", o.Name, r, cs.MaxInstances, cs.MinInstances)
			}
			o.Specs[r] = canonical(cs)
		}
		o.Spec = canonical(base)
		return nil
	})
}

// DeploymentSpec is a deployment's definition; InstanceCount is per region
// (the deployment runs in each region of its endpoint's placement).
type DeploymentSpec struct {
	Endpoint      string         `json:"endpoint"`
	Model         string         `json:"model,omitempty"`
	Environment   string         `json:"environment,omitempty"`
	Compute       string         `json:"compute,omitempty"`
	Traffic       int            `json:"traffic"`
	InstanceCount map[string]int `json:"instance_count"` // region -> instances
	// DataCollector is compared and applied only when declared: without
	// it, apply keeps what tandem online-deployment update set.
	DataCollector *tandem.DataCollector `json:"data_collector,omitempty"`
}

func (p *parser) endpoints(n *yaml.Node) error {
	return p.list(n, "endpoints", func(it *yaml.Node) error {
		o := &Object{Kind: KindEndpoint}
		var authMode string
		var regions, deps *yaml.Node
		err := p.fields(it, "endpoints[]", map[string]func(*yaml.Node) error{
			"name":        p.strInto(&o.Name),
			"auth_mode":   p.strInto(&authMode),
			"regions":     func(v *yaml.Node) error { regions = v; return nil },
			"deployments": func(v *yaml.Node) error { deps = v; return nil },
			"depends_on":  p.dependsOn(o),
		})
		if err != nil {
			return err
		}
		if authMode == "" {
			authMode = "key"
		}
		switch authMode {
		case "key":
		case "aml_token", "aad_token", "token":
			authMode = tandem.EndpointAuthToken // tandem tokens (Azure ML's aml_token)
		default:
			return p.errf(it, "endpoint %q: auth_mode %q must be key or aml_token", o.Name, authMode)
		}
		if regions != nil {
			if err := p.placement(o, regions, nil); err != nil {
				return err
			}
		}
		if err := p.add(o, it); err != nil {
			return err
		}
		// The placement in the workspace's region order, so the same set
		// always compares equal to what a region stores.
		placed := []string{}
		for _, r := range p.regions {
			if o.Placed(r) {
				placed = append(placed, r)
			}
		}
		o.Regions = placed
		o.Spec = canonical(map[string]any{"auth_mode": authMode, "regions": o.Regions})
		if deps == nil {
			return nil
		}
		sum := 0
		err = p.list(deps, "endpoints[].deployments", func(d *yaml.Node) error {
			dep, err := p.deployment(o, d)
			if err == nil {
				sum += dep.Traffic
			}
			return err
		})
		if err == nil && sum != 0 && sum != 100 {
			return p.errf(deps, "endpoint %q: its deployments' traffic sums to %d: the percents must sum to 100 (or 0 to route nothing)", o.Name, sum)
		}
		return err
	})
}

func (p *parser) deployment(ep *Object, n *yaml.Node) (*DeploymentSpec, error) {
	o := &Object{Kind: KindDeployment, Regions: ep.Regions}
	var name string
	var count int = 1
	ds := DeploymentSpec{Endpoint: ep.Name, InstanceCount: map[string]int{}}
	var regions *yaml.Node
	err := p.fields(n, "deployments[]", map[string]func(*yaml.Node) error{
		"name":           p.strInto(&name),
		"model":          p.strInto(&ds.Model),
		"environment":    p.strInto(&ds.Environment),
		"compute":        p.strInto(&ds.Compute),
		"traffic":        p.intInto(&ds.Traffic, 0),
		"instance_count": p.intInto(&count, 1),
		"regions":        func(v *yaml.Node) error { regions = v; return nil },
		"depends_on":     p.dependsOn(o),
		"data_collector": func(v *yaml.Node) error {
			dc, err := assetyaml.DataCollector(p.file, v) // its errors name file:line:column
			if err != nil {
				return err
			}
			if err := dc.Normalize(); err != nil {
				return p.errf(v, "deployment %q: %s", name, tandem.ErrorMessage(err))
			}
			ds.DataCollector = dc
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, p.errf(n, "deployment: name is required")
	}
	if ds.Model == "" {
		return nil, p.errf(n, "deployment %q: model is required (azureml:NAME:VERSION, models:/NAME/VERSION or models:/NAME@ALIAS)", name)
	}
	if _, _, _, err := tandem.ParseModelRef(ds.Model); err != nil {
		return nil, p.errf(n, "deployment %q: %s", name, tandem.ErrorMessage(err))
	}
	if ds.Traffic > 100 {
		return nil, p.errf(n, "deployment %q: traffic %d is more than 100", name, ds.Traffic)
	}
	for _, r := range ep.Regions {
		ds.InstanceCount[r] = count
	}
	if regions != nil {
		// Per-region values only: a deployment runs where its endpoint does.
		if regions.Kind != yaml.MappingNode {
			return nil, p.errf(regions, "deployment %q: regions must map region names of the endpoint to {instance_count: N}", name)
		}
		for i := 0; i+1 < len(regions.Content); i += 2 {
			k, v := regions.Content[i], regions.Content[i+1]
			if !ep.Placed(k.Value) {
				return nil, p.errf(k, "deployment %q: region %q is not in endpoint %q's regions", name, k.Value, ep.Name)
			}
			c := count
			if err := p.fields(v, "deployment "+name+" regions."+k.Value, map[string]func(*yaml.Node) error{
				"instance_count": p.intInto(&c, 0),
			}); err != nil {
				return nil, err
			}
			ds.InstanceCount[k.Value] = c
		}
	}
	o.Name = ep.Name + "/" + name
	o.DependsOn = append(o.DependsOn, Ref{KindEndpoint, ep.Name})
	if ds.Compute != "" {
		o.DependsOn = append(o.DependsOn, Ref{KindCompute, ds.Compute})
	}
	o.Spec = canonical(ds)
	return &ds, p.add(o, n)
}

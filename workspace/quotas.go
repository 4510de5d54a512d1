package workspace

import (
	"github.com/tandemml/tandem"
	"go.yaml.in/yaml/v3"
)

// Quotas is the quotas: section, limits on what the workspace runs:
//
//	quotas:
//	  endpoint_instances: 8          # scoring processes per region, all endpoints together
//	  regions:
//	    west: {endpoint_instances: 4} # a region's own limit
//
// A deployment or endpoint write that would make a region run more
// scoring instances than its limit is refused (nothing is written), and
// plan reports a desired state that does not fit as an error. 0: no limit.
// Jobs have their own quota (jobs.max_instances and each compute's
// max_instances).
type Quotas struct {
	EndpointInstances int
	Regions           map[string]int // region -> its endpoint_instances
}

// Settings are the section as apply writes it to the workspace.
func (q Quotas) Settings() tandem.QuotaSettings {
	out := tandem.QuotaSettings{EndpointInstances: q.EndpointInstances}
	for r, n := range q.Regions {
		if out.Regions == nil {
			out.Regions = map[string]tandem.QuotaRegion{}
		}
		out.Regions[r] = tandem.QuotaRegion{EndpointInstances: n}
	}
	return out
}

// EndpointQuota is each region's limit on scoring instances (a region
// with no limit has no entry).
func (w *Workspace) EndpointQuota() tandem.EndpointQuota {
	names := make([]string, 0, len(w.Regions))
	for _, r := range w.Regions {
		names = append(names, r.Name)
	}
	return w.Quotas.Settings().EndpointQuota(names)
}

// parseQuotas reads the quotas: section; errors name file, line and
// column. regions are the workspace's region names.
func parseQuotas(file string, n *yaml.Node, regions map[string]bool) (Quotas, error) {
	var out Quotas
	if n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return out, nil
	}
	errf := posErr(func(at *yaml.Node, format string, args ...any) error {
		return tandem.Errorf(tandem.EINVALID, "%s:%d:%d: "+format, append([]any{file, at.Line, at.Column}, args...)...)
	})
	if n.Kind != yaml.MappingNode {
		return out, errf(n, "quotas must be a mapping (quotas: {endpoint_instances: N})")
	}
	const what = "must be a whole number of scoring instances, at least 1 (leave it out for no limit)"
	err := errf.fields(n, "quotas", map[string]func(v *yaml.Node) error{
		"endpoint_instances": func(v *yaml.Node) (err error) {
			out.EndpointInstances, err = errf.count(v, "quotas.endpoint_instances "+what)
			return err
		},
		"regions": func(v *yaml.Node) error {
			if v.Kind != yaml.MappingNode {
				return errf(v, "quotas.regions must map region names to their quotas ({west: {endpoint_instances: N}})")
			}
			out.Regions = map[string]int{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, rv := v.Content[i], v.Content[i+1]
				if !regions[k.Value] {
					return errf(k, "quotas.regions names %q, which is not a region of the workspace", k.Value)
				}
				if _, dup := out.Regions[k.Value]; dup {
					return errf(k, "quotas.regions.%s is repeated", k.Value)
				}
				if rv.Kind != yaml.MappingNode {
					return errf(rv, "quotas.regions.%s must be a mapping ({endpoint_instances: N})", k.Value)
				}
				path := "quotas.regions." + k.Value
				if err := errf.fields(rv, path, map[string]func(v *yaml.Node) error{
					"endpoint_instances": func(x *yaml.Node) (err error) {
						out.Regions[k.Value], err = errf.count(x, path+".endpoint_instances "+what)
						return err
					},
				}); err != nil {
					return err
				}
			}
			return nil
		},
	})
	return out, err
}

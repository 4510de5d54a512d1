package assetyaml

import (
	"github.com/tandemml/tandem"
	"go.yaml.in/yaml/v3"
)

// LoadCompute parses a compute target file for tandem compute create, in
// the shape of Azure ML's compute YAML: name, type (local or ray),
// max_instances, min_instances (at most max_instances: local and Ray
// compute keep no idle nodes), size, address (ray) and description. The
// target is validated; errors name file, line and column.
func LoadCompute(file string, data []byte) (*tandem.ComputeTarget, error) {
	if len(data) > MaxFileBytes {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: larger than %d bytes", file, MaxFileBytes)
	}
	root, err := OneDocument(file, data, "compute")
	if err != nil {
		return nil, err
	}
	d := &decoder{file: file}
	c := &tandem.ComputeTarget{}
	var typ, desc string
	min := 0
	var minNode *yaml.Node
	fields := map[string]func(*yaml.Node) error{
		"$schema":       func(n *yaml.Node) error { _, err := d.str(n); return err },
		"name":          d.strInto(&c.Name),
		"type":          d.strInto(&typ),
		"size":          d.strInto(&c.Size),
		"address":       d.strInto(&c.Address),
		"description":   d.strInto(&desc),
		"max_instances": func(n *yaml.Node) (err error) { c.MaxInstances, err = d.integer(n); return err },
		"min_instances": func(n *yaml.Node) (err error) { minNode = n; min, err = d.integer(n); return err },
	}
	if err := d.mapping(root, "compute", fields); err != nil {
		return nil, err
	}
	c.Type = tandem.ComputeType(typ)
	if minNode != nil && min > c.MaxInstances {
		return nil, d.errf(minNode, "min_instances %d is more than max_instances %d", min, c.MaxInstances)
	}
	if err := c.Validate(); err != nil {
		return nil, d.errf(root, "%s", tandem.ErrorMessage(err))
	}
	return c, nil
}

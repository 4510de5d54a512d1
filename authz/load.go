package authz

import (
	"fmt"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
	"go.yaml.in/yaml/v3"
)

// MaxRoleFileBytes bounds a custom role file.
const MaxRoleFileBytes = 64 << 10

// LoadRole reads one custom role definition from YAML, strictly: unknown
// or repeated fields, anchors, a second document and wrong types are
// EINVALID errors naming file:line:column. The format:
//
//	name: Experiment Writer
//	description: Logs runs, reads models.
//	actions:
//	  - Microsoft.MachineLearningServices/workspaces/experiments/*
//	  - Microsoft.MachineLearningServices/workspaces/models/read
//	not_actions:
//	  - Microsoft.MachineLearningServices/workspaces/experiments/delete
func LoadRole(file string, data []byte) (*tandem.RoleDefinition, error) {
	if len(data) > MaxRoleFileBytes {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: larger than %d bytes", file, MaxRoleFileBytes)
	}
	d := decoder{file: file}
	root, err := assetyaml.OneDocument(file, data, "role")
	if err != nil {
		return nil, err
	}
	if err := d.noAlias(root); err != nil {
		return nil, err
	}
	if root.Kind != yaml.MappingNode {
		return nil, d.errf(root, "a role must be a mapping with name, description, actions, not_actions")
	}
	r := &tandem.RoleDefinition{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, d.errf(k, "keys must be plain strings")
		}
		if seen[k.Value] {
			return nil, d.errf(k, "field %q is repeated", k.Value)
		}
		seen[k.Value] = true
		if err := d.noAlias(v); err != nil {
			return nil, err
		}
		var err error
		switch k.Value {
		case "name":
			r.Name, err = d.str(v)
		case "description":
			r.Description, err = d.str(v)
		case "actions":
			r.Actions, err = d.strList(v, "actions")
		case "not_actions":
			r.NotActions, err = d.strList(v, "not_actions")
		default:
			err = d.errf(k, "unknown field %q in role (allowed: actions, description, name, not_actions)", k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := r.Validate(); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: %s", file, tandem.ErrorMessage(err))
	}
	return r, nil
}

type decoder struct{ file string }

func (d decoder) errf(n *yaml.Node, format string, args ...any) error {
	return tandem.Errorf(tandem.EINVALID, "%s:%d:%d: %s", d.file, n.Line, n.Column, fmt.Sprintf(format, args...))
}

func (d decoder) noAlias(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return d.errf(n, "YAML anchors and aliases are not supported in role files")
	}
	return nil
}

func (d decoder) str(n *yaml.Node) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", d.errf(n, "expected a string")
	}
	return n.Value, nil
}

func (d decoder) strList(n *yaml.Node, what string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, d.errf(n, "%s must be a list of action patterns", what)
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		if err := d.noAlias(c); err != nil {
			return nil, err
		}
		s, err := d.str(c)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

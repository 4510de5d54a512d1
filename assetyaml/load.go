// Package assetyaml reads and writes workspace assets in the Azure ML CLI v2
// YAML format (model, environment, data, datastore, command component,
// pipeline job). Load is strict: an unknown field, a value of the wrong
// shape or an invalid definition is an EINVALID error naming the file, line
// and column. Marshal writes the canonical form: fixed key order, sorted
// maps, local paths cleaned, so two equal assets give identical bytes.
package assetyaml

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"go.yaml.in/yaml/v3"
)

// MaxFileBytes bounds an asset YAML file.
const MaxFileBytes = 1 << 20

// Load parses one asset of kind from data, read from file (used in error
// messages). The asset is validated; local paths in it are cleaned but not
// read (see CollectFiles).
func Load(file string, data []byte, kind tandem.AssetKind) (*tandem.Asset, error) {
	d := &decoder{file: file}
	if len(data) > MaxFileBytes {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: larger than %d bytes", file, MaxFileBytes)
	}
	spec := tandem.NewSpec(kind)
	if spec == nil {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: unknown asset kind %q", file, kind)
	}
	root, err := OneDocument(file, data, "asset")
	if err != nil {
		return nil, err
	}
	a := &tandem.Asset{Kind: kind, Spec: spec}
	fields := map[string]func(*yaml.Node) error{
		"$schema":     func(n *yaml.Node) error { _, err := d.str(n); return err },
		"name":        d.strInto(&a.Name),
		"description": d.strInto(&a.Description),
		"tags":        func(n *yaml.Node) (err error) { a.Tags, err = d.strMap(n, "tags"); return err },
	}
	if kind.Versioned() {
		fields["version"] = d.strInto(&a.Version)
	}
	switch s := spec.(type) {
	case *tandem.Model:
		fields["type"] = d.strInto(&s.Type)
		fields["path"] = d.pathInto(&s.Path)
		fields["stage"] = d.strInto(&s.Stage)
		fields["properties"] = func(n *yaml.Node) (err error) { s.Properties, err = d.strMap(n, "properties"); return err }
	case *tandem.Environment:
		d.environmentFields(fields, s)
	case *tandem.Data:
		fields["type"] = d.strInto(&s.Type)
		fields["path"] = d.pathInto(&s.Path)
	case *tandem.Datastore:
		d.datastoreFields(fields, s)
	case *tandem.Component:
		d.componentFields(fields, s)
	case *tandem.Pipeline:
		d.pipelineFields(fields, s)
	}
	if err := d.mapping(root, kind.String(), fields); err != nil {
		return nil, err
	}
	if err := a.Validate(); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: %s", file, tandem.ErrorMessage(err))
	}
	return a, nil
}

type decoder struct {
	file string
	// origin names the --set that made a node (LoadJob), so errors about
	// it point at the option rather than at a line of the file.
	origin map[*yaml.Node]string
	// inlineSteps accepts inline command steps in pipelines (job files).
	inlineSteps bool
}

// OneDocument parses data (the contents of file) as exactly one YAML
// document and returns its top node. An empty file, a syntax error or a
// second document ("one WHAT per file") is EINVALID naming file, and the
// line and column where it can.
func OneDocument(file string, data []byte, what string) (*yaml.Node, error) {
	d := decoder{file: file}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, tandem.Errorf(tandem.EINVALID, "%s: empty file", file)
		}
		return nil, tandem.Errorf(tandem.EINVALID, "%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, d.errf(&extra, "one %s per file: a second YAML document starts here", what)
	} else if !errors.Is(err, io.EOF) {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, d.errf(&doc, "expected one YAML mapping")
	}
	return doc.Content[0], nil
}

func (d *decoder) errf(n *yaml.Node, format string, args ...any) error {
	if n == nil {
		return tandem.Errorf(tandem.EINVALID, "%s: %s", d.file, fmt.Sprintf(format, args...))
	}
	if set, ok := d.origin[n]; ok {
		return tandem.Errorf(tandem.EINVALID, "%s: --set %s: %s", d.file, set, fmt.Sprintf(format, args...))
	}
	return tandem.Errorf(tandem.EINVALID, "%s:%d:%d: %s", d.file, n.Line, n.Column, fmt.Sprintf(format, args...))
}

// mapping walks a mapping node, calling the handler of each key; an unknown
// or repeated key is an error at the key's position.
func (d *decoder) mapping(n *yaml.Node, what string, fields map[string]func(*yaml.Node) error) error {
	if err := d.noAlias(n); err != nil {
		return err
	}
	if n.Kind != yaml.MappingNode {
		return d.errf(n, "%s must be a mapping", what)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return d.errf(k, "%s: keys must be plain strings", what)
		}
		if seen[k.Value] {
			return d.errf(k, "%s: field %q is repeated", what, k.Value)
		}
		seen[k.Value] = true
		fn, ok := fields[k.Value]
		if !ok {
			return d.errf(k, "unknown field %q in %s (allowed: %s)", k.Value, what, strings.Join(sortedFieldNames(fields), ", "))
		}
		if err := d.noAlias(v); err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}

func sortedFieldNames(m map[string]func(*yaml.Node) error) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (d *decoder) noAlias(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return d.errf(n, "YAML anchors and aliases are not supported in asset files")
	}
	return nil
}

// str reads a scalar as text; null is "".
func (d *decoder) str(n *yaml.Node) (string, error) {
	if err := d.noAlias(n); err != nil {
		return "", err
	}
	if n.Kind != yaml.ScalarNode {
		return "", d.errf(n, "expected a string, got a %s", kindName(n))
	}
	if n.Tag == "!!null" {
		return "", nil
	}
	return n.Value, nil
}

func (d *decoder) strInto(p *string) func(*yaml.Node) error {
	return func(n *yaml.Node) (err error) { *p, err = d.str(n); return err }
}

// pathInto reads a path reference, cleaning a local one ("./src/" -> "src").
func (d *decoder) pathInto(p *string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		s, err := d.str(n)
		if err != nil {
			return err
		}
		if tandem.IsLocalPath(s) {
			c, err := tandem.CleanLocalPath(s)
			if err != nil {
				return d.errf(n, "%s", tandem.ErrorMessage(err))
			}
			s = c
		}
		*p = s
		return nil
	}
}

func (d *decoder) boolean(n *yaml.Node) (bool, error) {
	s, err := d.str(n)
	if err != nil {
		return false, err
	}
	switch s {
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE", "":
		return false, nil
	}
	return false, d.errf(n, "expected true or false, got %q", s)
}

func (d *decoder) integer(n *yaml.Node) (int, error) {
	s, err := d.str(n)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, d.errf(n, "expected an integer, got %q", s)
	}
	return v, nil
}

func (d *decoder) strMap(n *yaml.Node, what string) (map[string]string, error) {
	if n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, d.errf(n, "%s must be a mapping of strings", what)
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ks, err := d.str(k)
		if err != nil {
			return nil, err
		}
		if _, dup := out[ks]; dup {
			return nil, d.errf(k, "%s: key %q is repeated", what, ks)
		}
		vs, err := d.str(v)
		if err != nil {
			return nil, fmt.Errorf("%w (in %s.%s)", err, what, ks)
		}
		out[ks] = vs
	}
	return out, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	}
	return "alias"
}

func (d *decoder) environmentFields(f map[string]func(*yaml.Node) error, e *tandem.Environment) {
	f["image"] = d.strInto(&e.Image)
	f["image_digest"] = d.strInto(&e.ImageDigest)
	f["conda_file"] = d.pathInto(&e.CondaFile)
	f["pip_requirements"] = d.pathInto(&e.PipRequirements)
	f["os_type"] = d.strInto(&e.OSType)
	f["build"] = func(n *yaml.Node) error {
		e.Build = &tandem.BuildContext{}
		return d.mapping(n, "build", map[string]func(*yaml.Node) error{
			"path":            d.pathInto(&e.Build.Path),
			"dockerfile_path": d.pathInto(&e.Build.DockerfilePath),
		})
	}
	f["inference_config"] = func(n *yaml.Node) error {
		ic := &tandem.InferenceConfig{}
		e.InferenceConfig = ic
		route := func(name string, p **tandem.Route) func(*yaml.Node) error {
			return func(n *yaml.Node) error {
				r := &tandem.Route{}
				*p = r
				return d.mapping(n, "inference_config."+name, map[string]func(*yaml.Node) error{
					"path": d.strInto(&r.Path),
					"port": func(n *yaml.Node) (err error) { r.Port, err = d.integer(n); return err },
				})
			}
		}
		return d.mapping(n, "inference_config", map[string]func(*yaml.Node) error{
			"liveness_route":  route("liveness_route", &ic.LivenessRoute),
			"readiness_route": route("readiness_route", &ic.ReadinessRoute),
			"scoring_route":   route("scoring_route", &ic.ScoringRoute),
		})
	}
}

func (d *decoder) datastoreFields(f map[string]func(*yaml.Node) error, s *tandem.Datastore) {
	for name, p := range map[string]*string{"type": &s.Type, "path": &s.Path, "bucket": &s.Bucket, "prefix": &s.Prefix,
		"endpoint": &s.Endpoint, "region": &s.Region, "account_name": &s.AccountName,
		"container_name": &s.ContainerName, "protocol": &s.Protocol} {
		f[name] = d.strInto(p)
	}
	f["shared"] = func(n *yaml.Node) (err error) { s.Shared, err = d.boolean(n); return err }
	f["credentials"] = func(n *yaml.Node) (err error) { s.Credentials, err = d.strMap(n, "credentials"); return err }
}

// ports reads declared ports. allowLiteral takes a scalar as a literal
// input (its type from the YAML tag); emptyFolder (the outputs of a
// pipeline or of a step) takes an empty value as a uri_folder port (Azure
// ML's "outputs: {name: }") and reads name and version, which register
// the output as an asset.
// checkpoint (the outputs of a component or a step) reads checkpoint.
func (d *decoder) ports(n *yaml.Node, what string, allowLiteral, emptyFolder, checkpoint bool) (map[string]*tandem.Port, error) {
	if n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, d.errf(n, "%s must be a mapping of names to definitions", what)
	}
	out := map[string]*tandem.Port{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, err := d.str(k)
		if err != nil {
			return nil, err
		}
		if _, dup := out[name]; dup {
			return nil, d.errf(k, "%s: %q is repeated", what, name)
		}
		if err := d.noAlias(v); err != nil {
			return nil, err
		}
		p := &tandem.Port{}
		if emptyFolder && v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			out[name] = &tandem.Port{Type: "uri_folder"}
			continue
		}
		if v.Kind == yaml.ScalarNode && allowLiteral {
			// A literal pipeline input: its type comes from the YAML tag.
			val := v.Value
			p.Default = &val
			switch v.Tag {
			case "!!int":
				p.Type = "integer"
			case "!!float":
				p.Type = "number"
			case "!!bool":
				p.Type = "boolean"
			case "!!null":
				return nil, d.errf(v, "%s.%s: empty value", what, name)
			default:
				p.Type = "string"
			}
			out[name] = p
			continue
		}
		fields := map[string]func(*yaml.Node) error{
			"type":        d.strInto(&p.Type),
			"description": d.strInto(&p.Description),
			"optional":    func(n *yaml.Node) (err error) { p.Optional, err = d.boolean(n); return err },
			"default": func(n *yaml.Node) error {
				s, err := d.str(n)
				p.Default = &s
				return err
			},
			"path": d.pathInto(&p.Path),
			"mode": d.strInto(&p.Mode),
		}
		var nameN, versionN, checkpointN *yaml.Node
		if checkpoint {
			fields["checkpoint"] = func(n *yaml.Node) (err error) { checkpointN = n; p.Checkpoint, err = d.boolean(n); return err }
		}
		if emptyFolder { // a pipeline's or a step's output: name and version register it
			fields["name"] = func(n *yaml.Node) (err error) { nameN = n; p.Name, err = d.str(n); return err }
			fields["version"] = func(n *yaml.Node) (err error) { versionN = n; p.Version, err = d.str(n); return err }
		}
		if err := d.mapping(v, what+"."+name, fields); err != nil {
			return nil, err
		}
		typ := p.Type
		if typ == "" {
			typ = "uri_folder"
		}
		if err := d.checkOutputAsset(typ, p.Name, p.Version, what+"."+name, nameN, versionN); err != nil {
			return nil, err
		}
		if p.Checkpoint && typ != "uri_folder" {
			return nil, d.errf(checkpointN, "%s.%s.checkpoint: a checkpoint output is a uri_folder, not %s", what, name, typ)
		}
		out[name] = p
	}
	return out, nil
}

func (d *decoder) componentFields(f map[string]func(*yaml.Node) error, c *tandem.Component) {
	f["type"] = d.strInto(&c.Type)
	f["display_name"] = d.strInto(&c.DisplayName)
	f["code"] = d.pathInto(&c.Code)
	f["environment"] = d.strInto(&c.Environment)
	f["command"] = d.strInto(&c.Command)
	f["is_deterministic"] = func(n *yaml.Node) error {
		b, err := d.boolean(n)
		c.IsDeterministic = &b
		return err
	}
	f["inputs"] = func(n *yaml.Node) (err error) { c.Inputs, err = d.ports(n, "inputs", false, false, false); return err }
	f["outputs"] = func(n *yaml.Node) (err error) { c.Outputs, err = d.ports(n, "outputs", false, false, true); return err }
}

func (d *decoder) pipelineFields(f map[string]func(*yaml.Node) error, p *tandem.Pipeline) {
	f["type"] = d.strInto(&p.Type)
	f["display_name"] = d.strInto(&p.DisplayName)
	f["experiment_name"] = d.strInto(&p.ExperimentName)
	f["settings"] = func(n *yaml.Node) (err error) { p.Settings, err = d.strMap(n, "settings"); return err }
	f["inputs"] = func(n *yaml.Node) (err error) { p.Inputs, err = d.ports(n, "inputs", true, false, false); return err }
	f["outputs"] = func(n *yaml.Node) (err error) { p.Outputs, err = d.ports(n, "outputs", false, true, false); return err }
	f["jobs"] = func(n *yaml.Node) error {
		if n.Kind != yaml.MappingNode {
			return d.errf(n, "jobs must be a mapping of step names to steps")
		}
		p.Jobs = map[string]*tandem.PipelineStep{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			name, err := d.str(k)
			if err != nil {
				return err
			}
			if _, dup := p.Jobs[name]; dup {
				return d.errf(k, "jobs: step %q is repeated", name)
			}
			s := &tandem.PipelineStep{}
			p.Jobs[name] = s
			where := "jobs." + name
			fields := map[string]func(*yaml.Node) error{
				"type":      d.strInto(&s.Type),
				"component": d.pathInto(&s.Component),
				"compute":   d.strInto(&s.Compute),
				"inputs":    d.stepPorts(&s.Inputs, &s.InputPorts, where+".inputs", false),
				"outputs":   d.stepPorts(&s.Outputs, &s.OutputPorts, where+".outputs", true),
			}
			if d.inlineSteps {
				d.inlineStepFields(fields, s, where)
			}
			if err := d.mapping(v, where, fields); err != nil {
				return err
			}
		}
		return nil
	}
}

// stepPorts reads a step's inputs or outputs: each value a literal scalar,
// a ${{parent...}} binding (checked here so the error has a position) or a
// mapping {type, path, mode}.
func (d *decoder) stepPorts(values *map[string]string, ports *map[string]*tandem.Port, what string, output bool) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return d.errf(n, "%s must be a mapping", what)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			name, err := d.str(k)
			if err != nil {
				return err
			}
			if _, dup := (*values)[name]; dup {
				return d.errf(k, "%s: %q is repeated", what, name)
			}
			if _, dup := (*ports)[name]; dup {
				return d.errf(k, "%s: %q is repeated", what, name)
			}
			if err := d.noAlias(v); err != nil {
				return err
			}
			if v.Kind == yaml.MappingNode || (output && v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
				m, err := d.ports(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{k, v}}, what, false, output, output)
				if err != nil {
					return err
				}
				if *ports == nil {
					*ports = map[string]*tandem.Port{}
				}
				(*ports)[name] = m[name]
				continue
			}
			s, err := d.str(v)
			if err != nil {
				return err
			}
			if _, _, err := tandem.ParseBinding(s); err != nil {
				return d.errf(v, "%s.%s: %s", what, name, tandem.ErrorMessage(err))
			}
			if *values == nil {
				*values = map[string]string{}
			}
			(*values)[name] = s
		}
		return nil
	}
}

// inlineStepFields adds the fields of an inline command step (job files
// only): the command, environment, code and display name written in the
// step itself, or a component mapping instead of a reference. The ports of
// a command written in the step come from the step's inputs and outputs;
// LoadJob fills them once the whole pipeline is read.
func (d *decoder) inlineStepFields(f map[string]func(*yaml.Node) error, s *tandem.PipelineStep, where string) {
	inline := func() *tandem.Component {
		if s.Inline == nil {
			s.Inline = &tandem.Component{Type: "command"}
		}
		return s.Inline
	}
	ref := f["component"]
	f["component"] = func(n *yaml.Node) error {
		if n.Kind != yaml.MappingNode {
			return ref(n)
		}
		c := &tandem.Component{}
		cf := map[string]func(*yaml.Node) error{"$schema": func(n *yaml.Node) error { _, err := d.str(n); return err }}
		d.componentFields(cf, c)
		if err := d.mapping(n, where+".component", cf); err != nil {
			return err
		}
		s.Inline = c
		return nil
	}
	f["command"] = func(n *yaml.Node) (err error) { inline().Command, err = d.str(n); return err }
	f["environment"] = func(n *yaml.Node) (err error) {
		if n.Kind == yaml.MappingNode {
			return d.errf(n, "%s.environment: an inline environment is not supported; register it (tandem environment create -f env.yml) and name it as azureml:NAME:VERSION", where)
		}
		inline().Environment, err = d.str(n)
		return err
	}
	f["code"] = func(n *yaml.Node) error { return d.pathInto(&inline().Code)(n) }
	f["display_name"] = func(n *yaml.Node) (err error) { inline().DisplayName, err = d.str(n); return err }
}

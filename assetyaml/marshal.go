package assetyaml

import (
	"bytes"
	"sort"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"go.yaml.in/yaml/v3"
)

// schemaURL is the Azure ML JSON schema a canonical file names, so editors
// that know Azure ML validate it; kinds Azure ML has no schema for get none.
func schemaURL(a *tandem.Asset) string {
	const base = "https://azuremlschemas.azureedge.net/latest/"
	switch s := a.Spec.(type) {
	case *tandem.Model:
		return base + "model.schema.json"
	case *tandem.Environment:
		return base + "environment.schema.json"
	case *tandem.Data:
		return base + "data.schema.json"
	case *tandem.Component:
		return base + "commandComponent.schema.json"
	case *tandem.Pipeline:
		return base + "pipelineJob.schema.json"
	case *tandem.Datastore:
		if s.Type == tandem.DatastoreAzureBlob {
			return base + "azureBlob.schema.json"
		}
	}
	return ""
}

// Marshal writes the canonical YAML of a: the fields a user writes (never
// credentials, archive state or server timestamps), in a fixed order.
func Marshal(a *tandem.Asset) ([]byte, error) {
	m := &mapNode{}
	m.str("$schema", schemaURL(a))
	m.str("name", a.Name)
	if a.Kind.Versioned() {
		m.str("version", a.Version)
	}
	m.str("description", a.Description)
	m.strMap("tags", a.Tags)
	switch s := a.Spec.(type) {
	case *tandem.Model:
		m.str("type", s.Type)
		m.str("path", s.Path)
		m.str("stage", s.Stage)
		m.strMap("properties", s.Properties)
	case *tandem.Environment:
		m.str("image", s.Image)
		if !strings.Contains(s.Image, "@") {
			m.str("image_digest", s.ImageDigest)
		}
		if s.Build != nil {
			b := &mapNode{}
			b.str("path", s.Build.Path)
			b.str("dockerfile_path", s.Build.DockerfilePath)
			m.node("build", b.n())
		}
		m.str("conda_file", s.CondaFile)
		m.str("pip_requirements", s.PipRequirements)
		m.str("os_type", s.OSType)
		if ic := s.InferenceConfig; ic != nil {
			im := &mapNode{}
			for _, r := range []struct {
				name string
				r    *tandem.Route
			}{{"liveness_route", ic.LivenessRoute}, {"readiness_route", ic.ReadinessRoute}, {"scoring_route", ic.ScoringRoute}} {
				if r.r != nil {
					rm := &mapNode{}
					rm.str("path", r.r.Path)
					rm.scalar("port", strconv.Itoa(r.r.Port), "!!int")
					im.node(r.name, rm.n())
				}
			}
			m.node("inference_config", im.n())
		}
	case *tandem.Data:
		m.str("type", s.Type)
		m.str("path", s.Path)
	case *tandem.Datastore:
		m.str("type", s.Type)
		m.str("path", s.Path)
		m.str("account_name", s.AccountName)
		m.str("container_name", s.ContainerName)
		m.str("bucket", s.Bucket)
		m.str("prefix", s.Prefix)
		m.str("endpoint", s.Endpoint)
		m.str("region", s.Region)
		m.str("protocol", s.Protocol)
		if s.Shared {
			m.scalar("shared", "true", "!!bool")
		}
	case *tandem.Component:
		m.str("type", s.Type)
		m.str("display_name", s.DisplayName)
		m.ports("inputs", s.Inputs)
		m.ports("outputs", s.Outputs)
		m.str("code", s.Code)
		m.str("environment", s.Environment)
		m.str("command", s.Command)
		if s.IsDeterministic != nil {
			m.scalar("is_deterministic", strconv.FormatBool(*s.IsDeterministic), "!!bool")
		}
	case *tandem.Pipeline:
		m.str("type", s.Type)
		m.str("display_name", s.DisplayName)
		m.str("experiment_name", s.ExperimentName)
		m.strMap("settings", s.Settings)
		m.ports("inputs", s.Inputs)
		m.ports("outputs", s.Outputs)
		jobs := &mapNode{}
		for _, name := range tandem.SortedKeys(s.Jobs) {
			st := s.Jobs[name]
			jm := &mapNode{}
			jm.str("type", st.Type)
			jm.str("component", st.Component)
			jm.str("compute", st.Compute)
			jm.stepPorts("inputs", st.Inputs, st.InputPorts)
			jm.stepPorts("outputs", st.Outputs, st.OutputPorts)
			jobs.node(name, jm.n())
		}
		m.node("jobs", jobs.n())
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(m.n()); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// mapNode builds a mapping node, skipping empty values.
type mapNode struct{ content []*yaml.Node }

func (m *mapNode) n() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Content: m.content} }

func (m *mapNode) node(key string, v *yaml.Node) {
	m.content = append(m.content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func (m *mapNode) scalar(key, v, tag string) {
	m.node(key, &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v})
}

func (m *mapNode) str(key, v string) {
	if v == "" {
		return
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	if strings.Contains(v, "\n") {
		n.Style = yaml.LiteralStyle
	}
	m.node(key, n)
}

func (m *mapNode) strMap(key string, v map[string]string) {
	if len(v) == 0 {
		return
	}
	sub := &mapNode{}
	for _, k := range tandem.SortedKeys(v) {
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v[k]}
		sub.node(k, n)
	}
	m.node(key, sub.n())
}

// stepPorts writes a step's scalar values and port mappings as one mapping
// sorted by name.
func (m *mapNode) stepPorts(key string, values map[string]string, ports map[string]*tandem.Port) {
	if len(values)+len(ports) == 0 {
		return
	}
	names := tandem.SortedKeys(values)
	for _, n := range tandem.SortedKeys(ports) {
		if _, dup := values[n]; !dup {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	sub := &mapNode{}
	for _, n := range names {
		if p, ok := ports[n]; ok {
			sub.node(n, portNode(p))
		} else {
			sub.node(n, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: values[n]})
		}
	}
	m.node(key, sub.n())
}

func (m *mapNode) ports(key string, ports map[string]*tandem.Port) {
	if len(ports) == 0 {
		return
	}
	sub := &mapNode{}
	for _, name := range tandem.SortedKeys(ports) {
		sub.node(name, portNode(ports[name]))
	}
	m.node(key, sub.n())
}

func portNode(p *tandem.Port) *yaml.Node {
	pm := &mapNode{}
	pm.str("type", p.Type)
	pm.str("description", p.Description)
	if p.Optional {
		pm.scalar("optional", "true", "!!bool")
	}
	if p.Default != nil {
		tag := "!!str"
		switch p.Type {
		case "integer":
			tag = "!!int"
		case "number":
			tag = "!!float"
		case "boolean":
			tag = "!!bool"
		}
		pm.scalar("default", *p.Default, tag)
	}
	pm.str("path", p.Path)
	pm.str("mode", p.Mode)
	pm.str("name", p.Name)
	pm.str("version", p.Version)
	if p.Checkpoint {
		pm.scalar("checkpoint", "true", "!!bool")
	}
	return pm.n()
}

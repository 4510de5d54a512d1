package assetyaml

import (
	"strconv"

	"github.com/tandemml/tandem"
	"go.yaml.in/yaml/v3"
)

// LoadEndpoint parses an online endpoint in the Azure ML CLI v2 YAML of
// managed online endpoints (managedOnlineEndpoint.schema.json): name,
// description, tags, auth_mode, traffic, mirror_traffic, plus tandem's
// placement, regions: all (the default) or a list of region names.
// Fields of Azure's schema that have no meaning here (compute, identity)
// are refused by name rather than ignored.
func LoadEndpoint(file string, data []byte) (*tandem.OnlineEndpoint, error) {
	if len(data) > MaxFileBytes {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: larger than %d bytes", file, MaxFileBytes)
	}
	d := &decoder{file: file}
	root, err := OneDocument(file, data, "online endpoint")
	if err != nil {
		return nil, err
	}
	ep := &tandem.OnlineEndpoint{}
	fields := map[string]func(*yaml.Node) error{
		"$schema":     func(n *yaml.Node) error { _, err := d.str(n); return err },
		"name":        d.strInto(&ep.Name),
		"description": d.strInto(&ep.Description),
		"tags":        func(n *yaml.Node) (err error) { ep.Tags, err = d.strMap(n, "tags"); return err },
		"auth_mode":   d.strInto(&ep.AuthMode),
		"traffic":     func(n *yaml.Node) (err error) { ep.Traffic, err = d.percents(n, "traffic"); return err },
		"mirror_traffic": func(n *yaml.Node) (err error) {
			ep.MirrorTraffic, err = d.percents(n, "mirror_traffic")
			return err
		},
		"regions": func(n *yaml.Node) (err error) { ep.Regions, err = d.regions(n); return err },
		"public_network_access": func(n *yaml.Node) error {
			s, err := d.str(n)
			if err == nil && s != "" && s != "enabled" {
				return d.errf(n, "public_network_access %q: tandem serves endpoints on each region's own address (enabled only)", s)
			}
			return err
		},
	}
	for _, f := range []string{"compute", "identity"} {
		f := f
		fields[f] = func(n *yaml.Node) error {
			return d.errf(n, "%s is not supported: scoring runs as local processes in each region of the endpoint", f)
		}
	}
	if err := d.mapping(root, "online endpoint", fields); err != nil {
		return nil, err
	}
	if ep.Name == "" {
		return nil, d.errf(root, "online endpoint: name is required")
	}
	if err := ep.Normalize(); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: %s", file, tandem.ErrorMessage(err))
	}
	return ep, nil
}

// LoadDeployment parses an online deployment in the Azure ML CLI v2 YAML
// of managed online deployments (managedOnlineDeployment.schema.json):
// name, endpoint_name, model, instance_count, request_settings,
// liveness_probe, readiness_probe, environment_variables, description,
// tags, data_collector (sampling_rate, rolling_rate: hour, collections
// model_inputs and model_outputs with enabled). instance_type and app_insights_enabled are accepted and have no
// effect (instances are local processes); scale_settings takes its only
// type, default. Custom code and environments are refused by name: tandem
// serves MLflow models with the stock scoring server.
func LoadDeployment(file string, data []byte) (*tandem.OnlineDeployment, error) {
	if len(data) > MaxFileBytes {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: larger than %d bytes", file, MaxFileBytes)
	}
	d := &decoder{file: file}
	root, err := OneDocument(file, data, "online deployment")
	if err != nil {
		return nil, err
	}
	dep := &tandem.OnlineDeployment{}
	intInto := func(p *int) func(*yaml.Node) error {
		return func(n *yaml.Node) (err error) { *p, err = d.integer(n); return err }
	}
	probe := func(p *tandem.Probe, what string) func(*yaml.Node) error {
		return func(n *yaml.Node) error {
			return d.mapping(n, what, map[string]func(*yaml.Node) error{
				"initial_delay":     intInto(&p.InitialDelay),
				"period":            intInto(&p.Period),
				"timeout":           intInto(&p.Timeout),
				"success_threshold": intInto(&p.SuccessThreshold),
				"failure_threshold": intInto(&p.FailureThreshold),
			})
		}
	}
	fields := map[string]func(*yaml.Node) error{
		"$schema":        func(n *yaml.Node) error { _, err := d.str(n); return err },
		"name":           d.strInto(&dep.Name),
		"endpoint_name":  d.strInto(&dep.Endpoint),
		"description":    d.strInto(&dep.Description),
		"tags":           func(n *yaml.Node) (err error) { dep.Tags, err = d.strMap(n, "tags"); return err },
		"model":          d.modelRef(&dep.Model),
		"instance_count": intInto(&dep.InstanceCount),
		"instance_type":  func(n *yaml.Node) error { _, err := d.str(n); return err },
		"app_insights_enabled": func(n *yaml.Node) error {
			_, err := d.boolean(n)
			return err
		},
		"scale_settings": func(n *yaml.Node) error {
			var t string
			if err := d.mapping(n, "scale_settings", map[string]func(*yaml.Node) error{"type": d.strInto(&t)}); err != nil {
				return err
			}
			if t != "" && t != "default" {
				return d.errf(n, "scale_settings.type %q: only default", t)
			}
			return nil
		},
		"request_settings": func(n *yaml.Node) error {
			rs := &dep.RequestSettings
			return d.mapping(n, "request_settings", map[string]func(*yaml.Node) error{
				"request_timeout_ms":                   intInto(&rs.RequestTimeoutMS),
				"max_concurrent_requests_per_instance": intInto(&rs.MaxConcurrentRequestsPerInstance),
			})
		},
		"liveness_probe":  probe(&dep.LivenessProbe, "liveness_probe"),
		"readiness_probe": probe(&dep.ReadinessProbe, "readiness_probe"),
		"environment_variables": func(n *yaml.Node) (err error) {
			dep.EnvironmentVariables, err = d.strMap(n, "environment_variables")
			return err
		},
	}
	fields["data_collector"] = func(n *yaml.Node) (err error) { dep.DataCollector, err = d.dataCollector(n); return err }
	for _, f := range []string{"code_configuration", "environment", "model_mount_path", "egress_public_network_access"} {
		f := f
		fields[f] = func(n *yaml.Node) error {
			return d.errf(n, "%s is not supported: tandem serves MLflow models with the stock MLflow scoring server in each region's scoring environment", f)
		}
	}
	if err := d.mapping(root, "online deployment", fields); err != nil {
		return nil, err
	}
	switch {
	case dep.Name == "":
		return nil, d.errf(root, "online deployment: name is required")
	case dep.Endpoint == "":
		return nil, d.errf(root, "online deployment: endpoint_name is required")
	case dep.Model == "":
		return nil, d.errf(root, "online deployment: model is required (azureml:NAME:VERSION, models:/NAME/VERSION or models:/NAME@ALIAS)")
	}
	if err := dep.Normalize(); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: %s", file, tandem.ErrorMessage(err))
	}
	return dep, nil
}

// DataCollector reads a data_collector mapping (as in a deployment file)
// found in file, such as the deployments of workspace.yaml.
func DataCollector(file string, n *yaml.Node) (*tandem.DataCollector, error) {
	d := &decoder{file: file}
	return d.dataCollector(n)
}

// dataCollector reads data_collector: Azure's sampling_rate, rolling_rate
// and collections.{model_inputs,model_outputs}.enabled. A collection's
// data (a data asset as destination) and request_logging are refused:
// request logs go to the deployment's MLflow run, and headers are never
// logged (they carry the endpoint's keys).
func (d *decoder) dataCollector(n *yaml.Node) (*tandem.DataCollector, error) {
	dc := &tandem.DataCollector{}
	err := d.mapping(n, "data_collector", map[string]func(*yaml.Node) error{
		"sampling_rate": func(n *yaml.Node) error {
			s, err := d.str(n)
			if err != nil {
				return err
			}
			r, perr := strconv.ParseFloat(s, 64)
			if perr != nil || !(r >= 0 && r <= 1) {
				return d.errf(n, "data_collector.sampling_rate %q: a number between 0.0 and 1.0", s)
			}
			dc.SamplingRate = &r
			return nil
		},
		"rolling_rate": d.strInto(&dc.RollingRate),
		"collections": func(n *yaml.Node) error {
			if n.Kind != yaml.MappingNode {
				return d.errf(n, "data_collector.collections must map collection names (model_inputs, model_outputs) to {enabled: true|false}")
			}
			dc.Collections = map[string]tandem.DataCollection{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				name, err := d.str(k)
				if err != nil {
					return err
				}
				if name != tandem.CollectionModelInputs && name != tandem.CollectionModelOutputs {
					return d.errf(k, "data_collector.collections.%s: tandem collects model_inputs (the request body) and model_outputs (the response body) only", name)
				}
				if _, dup := dc.Collections[name]; dup {
					return d.errf(k, "data_collector.collections: %s is repeated", name)
				}
				var c tandem.DataCollection
				what := "data_collector.collections." + name
				if err := d.mapping(v, what, map[string]func(*yaml.Node) error{
					"enabled": func(n *yaml.Node) (err error) { c.Enabled, err = d.boolean(n); return err },
					"data": func(n *yaml.Node) error {
						return d.errf(n, "%s.data is not supported: request logs go to the deployment's MLflow run", what)
					},
				}); err != nil {
					return err
				}
				dc.Collections[name] = c
			}
			return nil
		},
		"request_logging": func(n *yaml.Node) error {
			return d.errf(n, "data_collector.request_logging is not supported: request headers are never logged")
		},
	})
	return dc, err
}

// modelRef reads a model reference and checks its form where it stands.
func (d *decoder) modelRef(p *string) func(*yaml.Node) error {
	return func(n *yaml.Node) error {
		if n.Kind == yaml.MappingNode {
			return d.errf(n, "an inline model is not supported: register it (tandem model create, or mlflow) and refer to it as azureml:NAME:VERSION")
		}
		s, err := d.str(n)
		if err != nil {
			return err
		}
		if _, _, _, err := tandem.ParseModelRef(s); err != nil {
			return d.errf(n, "%s", tandem.ErrorMessage(err))
		}
		*p = s
		return nil
	}
}

// percents reads a mapping of deployment name -> integer percent.
func (d *decoder) percents(n *yaml.Node, what string) (map[string]int, error) {
	if n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, d.errf(n, "%s must map deployment names to percents", what)
	}
	out := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ks, err := d.str(k)
		if err != nil {
			return nil, err
		}
		if _, dup := out[ks]; dup {
			return nil, d.errf(k, "%s: deployment %q is repeated", what, ks)
		}
		p, err := d.integer(v)
		if err != nil {
			return nil, err
		}
		if p < 0 || p > 100 {
			return nil, d.errf(v, "%s.%s = %d: a percent is between 0 and 100", what, ks, p)
		}
		out[ks] = p
	}
	return out, nil
}

// regions reads the placement: "all" or a list of region names.
func (d *decoder) regions(n *yaml.Node) ([]string, error) {
	if n.Kind == yaml.ScalarNode {
		s, err := d.str(n)
		if err != nil {
			return nil, err
		}
		if s != tandem.AllRegions && s != "" {
			return nil, d.errf(n, "regions: %q: all, or a list of region names", s)
		}
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, d.errf(n, "regions: all, or a list of region names")
	}
	var out []string
	for _, it := range n.Content {
		s, err := d.str(it)
		if err != nil {
			return nil, err
		}
		if s == "" || s == tandem.AllRegions {
			return nil, d.errf(it, "regions: %q is not a region name", s)
		}
		out = append(out, s)
	}
	return out, nil
}

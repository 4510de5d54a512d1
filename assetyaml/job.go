package assetyaml

import (
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"go.yaml.in/yaml/v3"
)

// Numbers that queue_settings.priority (and priority: low|medium|high)
// stand for in JobSpec.Priority; a higher number starts first, medium is
// the default (0).
const (
	PriorityLow    = -1
	PriorityMedium = 0
	PriorityHigh   = 1
)

// Job files (tandem job create -f job.yml [--set k=v ...]) accept:
//
// Command job: $schema (not checked), type (command, the default), name,
// display_name, experiment_name, description, tags, command (required),
// code (a local folder below the file's), environment (azureml:NAME:VERSION
// or azureml:NAME@latest; optional), environment_variables, inputs (a
// literal, {type, path, mode} for data, {type, value} for a typed literal),
// outputs (empty for a uri_folder, or {type, mode, name, version,
// checkpoint}; name and version register an mlflow_model, uri_folder,
// uri_file or mltable output as an asset), compute (azureml: dropped),
// resources.instance_count, distribution {type: pytorch,
// process_count_per_instance} or {type: tensorflow, worker_count,
// parameter_server_count}, limits.timeout (seconds), queue_settings.priority (low, medium, high) or
// tandem's priority (an integer, or low/medium/high), and tandem's
// resubmit {policy, max_attempts}.
//
// Pipeline job: $schema, type: pipeline, name, display_name,
// experiment_name, description, tags, compute, settings {default_compute,
// default_datastore, continue_on_step_failure, force_rerun}, inputs,
// outputs (as a step's, with name and version), jobs, priority,
// queue_settings.priority, resubmit. A step: type (command, the default),
// compute, inputs, outputs (a binding, or {type, mode, name, version}),
// and either component
// (azureml:NAME:VERSION, a local component file, or an inline component
// mapping) or command, environment (required), code and display_name
// written in the step.
//
// Refused with a reason: distribution mpi (its ranks need mpirun), a
// distribution in a pipeline job, identity, services, component (in a
// command job), resources.instance_type (and shm_size, docker_args,
// properties, locations, max_instance_count), queue_settings.job_tier,
// outputs.NAME.path, inline environments, code that is not a local folder,
// ${{...}} in a command job's inputs, and the other job types (sweep,
// automl, spark, parallel, import, data_transfer).

// LoadJob parses a job file (Azure ML CLI v2 command or pipeline job, with
// tandem's resubmit and priority) read from file, after applying sets:
// "key.path=value" options like az ml's --set, written into the YAML tree
// before it is decoded. Like Load it is strict: an unknown field, a value
// of the wrong shape, a ${{...}} that names nothing is EINVALID naming
// file:line:column (or the --set that made the value). The spec returned
// passes Validate; local paths in it (code, data inputs) are cleaned but not
// read.
func LoadJob(file string, data []byte, sets []string) (*tandem.JobSpec, error) {
	if len(data) > MaxFileBytes {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: larger than %d bytes", file, MaxFileBytes)
	}
	root, err := OneDocument(file, data, "job")
	if err != nil {
		return nil, err
	}
	d := &decoder{file: file, origin: map[*yaml.Node]string{}, inlineSteps: true}
	for _, s := range sets {
		if err := d.applySet(root, s); err != nil {
			return nil, err
		}
	}
	if err := d.noAlias(root); err != nil {
		return nil, err
	}
	if root.Kind != yaml.MappingNode {
		return nil, d.errf(root, "a job file must be a mapping, got a %s", kindName(root))
	}
	typ := "command"
	_, typeNode := field(root, "type")
	if typeNode != nil {
		s, err := d.str(typeNode)
		if err != nil {
			return nil, err
		}
		if s != "" {
			typ = s
		}
	}
	var spec *tandem.JobSpec
	switch typ {
	case "command":
		spec, err = d.commandJob(root)
	case "pipeline":
		spec, err = d.pipelineJob(root)
	case "sweep", "automl", "spark", "parallel", "import", "data_transfer":
		return nil, d.errf(typeNode, "type %s: tandem runs command and pipeline jobs only", typ)
	default:
		return nil, d.errf(typeNode, "type must be command or pipeline, got %q", typ)
	}
	if err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "%s: %s", file, tandem.ErrorMessage(err))
	}
	return spec, nil
}

// Fields of Azure ML jobs that tandem refuses, with the reason given.
var (
	refusedCommandFields = map[string]string{
		"identity":  "not supported: a job runs with a token scoped to its run, on behalf of who submitted it",
		"services":  "interactive services (jupyter, ssh, tensorboard, vs_code) are not supported",
		"component": "a command job that runs a component is not supported; write command, code, environment and inputs in the job, or run the component as a step of a pipeline job",
		"jobs":      "a field of pipeline jobs: add type: pipeline",
		"settings":  "a field of pipeline jobs: add type: pipeline",
	}
	refusedPipelineFields = map[string]string{
		"command":               "a pipeline job has no command of its own: put it in a step under jobs",
		"code":                  "a pipeline job has no code of its own: put it in a step under jobs",
		"environment":           "a pipeline job has no environment of its own: put it in a step under jobs",
		"environment_variables": "not supported for pipeline jobs",
		"resources":             "not supported for pipeline jobs",
		"limits":                "not supported for pipeline jobs",
		"distribution":          "a pipeline job has no distribution of its own (and its steps run one process each)",
		"identity":              refusedCommandFields["identity"],
		"services":              refusedCommandFields["services"],
	}
	refusedResources = map[string]string{
		"instance_type":      "not supported: tandem runs a job on the compute target named by compute, whose size is set on the target",
		"shm_size":           "not supported: the shared memory of a job's processes is the compute target's",
		"docker_args":        "not supported: tandem does not run jobs with docker arguments",
		"properties":         "not supported",
		"locations":          "not supported: a job runs in the primary region",
		"max_instance_count": "not supported: a job runs resources.instance_count instances",
	}
	refusedQueueSettings = map[string]string{
		"job_tier": "not supported: tandem has no job tiers (use queue_settings.priority or priority)",
	}
	refusedOutputFields = map[string]string{
		"path": "a custom output location is not supported: outputs are uploaded to the run's artifacts under outputs/NAME (give name and version to register them as an asset)",
	}
)

var (
	jobDataTypes  = []string{"uri_folder", "uri_file", "mltable", "mlflow_model", "custom_model", "triton_model"}
	jobInputModes = []string{"ro_mount", "download", "direct", "eval_mount", "eval_download"}
	jobOutModes   = []string{"rw_mount", "upload"}
	jobPortNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,254}$`)
)

func oneOf(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// field returns the first key and value named key of mapping n (nil when
// absent or n is not a mapping).
func field(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// refuse fails at the first key of mapping n that tandem refuses.
func (d *decoder) refuse(n *yaml.Node, what string, refused map[string]string) error {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if why, ok := refused[k.Value]; ok && k.Kind == yaml.ScalarNode {
			return d.errf(k, "%s%s: %s", what, k.Value, why)
		}
	}
	return nil
}

// subMapping decodes an optional mapping (null is nothing), refusing some
// keys with their reason first.
func (d *decoder) subMapping(n *yaml.Node, what string, refused map[string]string, fields map[string]func(*yaml.Node) error) error {
	if isNull(n) {
		return nil
	}
	if err := d.refuse(n, what+".", refused); err != nil {
		return err
	}
	return d.mapping(n, what, fields)
}

// commonJobFields are the fields of both job types beyond the pipeline
// decoder's.
func (d *decoder) commonJobFields(f map[string]func(*yaml.Node) error, spec *tandem.JobSpec) {
	f["$schema"] = func(n *yaml.Node) error { _, err := d.str(n); return err }
	f["name"] = func(n *yaml.Node) (err error) {
		if spec.Name, err = d.str(n); err != nil || spec.Name == "" {
			return err
		}
		if err := tandem.ValidateJobName(spec.Name); err != nil {
			return d.errf(n, "name: %s", tandem.ErrorMessage(err))
		}
		return nil
	}
	f["description"] = d.strInto(&spec.Description)
	f["tags"] = func(n *yaml.Node) (err error) {
		if spec.Tags, err = d.strMap(n, "tags"); err != nil {
			return err
		}
		if err := tandem.ValidateTags(spec.Tags); err != nil {
			return d.errf(n, "tags: %s", tandem.ErrorMessage(err))
		}
		return nil
	}
	f["compute"] = func(n *yaml.Node) error {
		s, err := d.str(n)
		spec.Compute = strings.TrimPrefix(s, "azureml:")
		return err
	}
	f["resubmit"] = func(n *yaml.Node) error {
		if isNull(n) {
			return nil
		}
		r := tandem.DefaultResubmit
		spec.Resubmit = &r
		return d.mapping(n, "resubmit", map[string]func(*yaml.Node) error{
			"policy": func(n *yaml.Node) (err error) {
				if r.Policy, err = d.str(n); err != nil {
					return err
				}
				switch r.Policy {
				case tandem.ResubmitAlways, tandem.ResubmitOnRegionFailure, tandem.ResubmitNever:
					return nil
				}
				return d.errf(n, "resubmit.policy must be always, on_region_failure or never, got %q", r.Policy)
			},
			"max_attempts": func(n *yaml.Node) (err error) {
				if r.MaxAttempts, err = d.integer(n); err == nil && r.MaxAttempts < 1 {
					err = d.errf(n, "resubmit.max_attempts counts attempts in all, the first included: at least 1, got %d", r.MaxAttempts)
				}
				return err
			},
		})
	}
	var prioritySet *yaml.Node
	setPriority := func(n *yaml.Node, named bool) error {
		if isNull(n) {
			return nil
		}
		if prioritySet != nil {
			return d.errf(n, "priority is already set at line %d: use priority or queue_settings.priority, not both", prioritySet.Line)
		}
		prioritySet = n
		s, err := d.str(n)
		if err != nil {
			return err
		}
		switch strings.ToLower(s) {
		case "low":
			spec.Priority = PriorityLow
			return nil
		case "medium":
			spec.Priority = PriorityMedium
			return nil
		case "high":
			spec.Priority = PriorityHigh
			return nil
		}
		if named {
			return d.errf(n, "queue_settings.priority must be low, medium or high, got %q", s)
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < -1000000 || v > 1000000 {
			return d.errf(n, "priority must be an integer (higher starts first) or low, medium, high; got %q", s)
		}
		spec.Priority = v
		return nil
	}
	f["priority"] = func(n *yaml.Node) error { return setPriority(n, false) }
	f["queue_settings"] = func(n *yaml.Node) error {
		return d.subMapping(n, "queue_settings", refusedQueueSettings, map[string]func(*yaml.Node) error{
			"priority": func(n *yaml.Node) error { return setPriority(n, true) },
		})
	}
}

func (d *decoder) commandJob(root *yaml.Node) (*tandem.JobSpec, error) {
	spec := &tandem.JobSpec{Type: "command"}
	if err := d.refuse(root, "", refusedCommandFields); err != nil {
		return nil, err
	}
	var command *yaml.Node
	f := map[string]func(*yaml.Node) error{}
	d.commonJobFields(f, spec)
	f["type"] = func(n *yaml.Node) error { _, err := d.str(n); return err } // read by LoadJob
	f["display_name"] = d.strInto(&spec.DisplayName)
	f["experiment_name"] = d.strInto(&spec.ExperimentName)
	f["command"] = func(n *yaml.Node) (err error) { command = n; spec.Command, err = d.str(n); return err }
	f["code"] = func(n *yaml.Node) (err error) { spec.Code, err = d.code(n, "code"); return err }
	f["environment"] = func(n *yaml.Node) (err error) { spec.Environment, err = d.environmentRef(n, "environment"); return err }
	f["environment_variables"] = func(n *yaml.Node) (err error) {
		spec.EnvironmentVariables, err = d.strMap(n, "environment_variables")
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i].Value; k == "" || strings.ContainsAny(k, "=\x00") {
				return d.errf(n.Content[i], "environment_variables: %q is not a variable name", k)
			}
		}
		return nil
	}
	f["inputs"] = func(n *yaml.Node) (err error) { spec.Inputs, err = d.jobInputs(n); return err }
	f["outputs"] = func(n *yaml.Node) (err error) { spec.Outputs, err = d.jobOutputs(n); return err }
	f["resources"] = func(n *yaml.Node) error {
		return d.subMapping(n, "resources", refusedResources, map[string]func(*yaml.Node) error{
			"instance_count": func(n *yaml.Node) (err error) {
				if spec.InstanceCount, err = d.integer(n); err == nil && spec.InstanceCount < 1 {
					err = d.errf(n, "resources.instance_count must be at least 1, got %d", spec.InstanceCount)
				}
				return err
			},
		})
	}
	f["distribution"] = func(n *yaml.Node) error {
		if isNull(n) {
			return nil
		}
		d0 := &tandem.Distribution{}
		var typeN, countN, workersN, psN *yaml.Node
		count := func(field string, min int, at **yaml.Node, dst *int) func(*yaml.Node) error {
			return func(n *yaml.Node) (err error) {
				*at = n
				if *dst, err = d.integer(n); err == nil && *dst < min {
					err = d.errf(n, "distribution.%s must be at least %d, got %d", field, min, *dst)
				}
				return err
			}
		}
		err := d.subMapping(n, "distribution", nil, map[string]func(*yaml.Node) error{
			"type":                       func(n *yaml.Node) (err error) { typeN = n; d0.Type, err = d.str(n); return err },
			"process_count_per_instance": count("process_count_per_instance", 1, &countN, &d0.ProcessCountPerInstance),
			"worker_count":               count("worker_count", 1, &workersN, &d0.WorkerCount),
			"parameter_server_count":     count("parameter_server_count", 0, &psN, &d0.ParameterServerCount),
		})
		if err != nil {
			return err
		}
		if typeN == nil {
			return d.errf(n, "distribution.type is required (pytorch or tensorflow)")
		}
		if err := d0.Validate(); err != nil {
			at := typeN
			for _, f := range []*yaml.Node{countN, workersN, psN} {
				if f != nil && (d0.Type == tandem.DistributionPyTorch || d0.Type == tandem.DistributionTensorFlow) {
					at = f
					break
				}
			}
			return d.errf(at, "%s", strings.TrimPrefix(tandem.ErrorMessage(err), "job: "))
		}
		spec.Distribution = d0
		return nil
	}
	f["limits"] = func(n *yaml.Node) error {
		return d.subMapping(n, "limits", nil, map[string]func(*yaml.Node) error{
			"timeout": func(n *yaml.Node) (err error) {
				if spec.TimeoutSeconds, err = d.integer(n); err == nil && spec.TimeoutSeconds < 0 {
					err = d.errf(n, "limits.timeout is in seconds and cannot be negative, got %d", spec.TimeoutSeconds)
				}
				return err
			},
		})
	}
	if err := d.mapping(root, "command job", f); err != nil {
		return nil, err
	}
	if command == nil || strings.TrimSpace(spec.Command) == "" {
		at := root
		if command != nil {
			at = command
		}
		return nil, d.errf(at, "command is required")
	}
	err := d.checkCommand(command, "command", spec.Command,
		func(n string) bool { _, ok := spec.Inputs[n]; return ok },
		func(n string) bool { _, ok := spec.Outputs[n]; return ok })
	if err != nil {
		return nil, err
	}
	return spec, nil
}

// checkCommand checks every ${{...}} of a command: it names a declared
// input or output. Errors point at the command's node.
func (d *decoder) checkCommand(n *yaml.Node, what, cmd string, input, output func(string) bool) error {
	refs := tandem.CommandBindings(cmd)
	if strings.Count(cmd, "${{") != len(refs) {
		return d.errf(n, "%s: a ${{ is not closed by }}", what)
	}
	for _, r := range refs {
		switch r.Scope {
		case "inputs":
			if !input(r.Name) {
				return d.errf(n, "%s uses %s, but there is no input %q", what, r.Raw, r.Name)
			}
		case "outputs":
			if !output(r.Name) {
				return d.errf(n, "%s uses %s, but there is no output %q", what, r.Raw, r.Name)
			}
		default:
			return d.errf(n, "%s: %s must be ${{inputs.NAME}} or ${{outputs.NAME}}", what, r.Raw)
		}
	}
	return nil
}

// code reads a job's code folder: a local path only.
func (d *decoder) code(n *yaml.Node, what string) (string, error) {
	s, err := d.str(n)
	if err != nil || s == "" {
		return "", err
	}
	if !tandem.IsLocalPath(s) {
		return "", d.errf(n, "%s %q: only a local folder is supported (a registered code asset or a git URL is not)", what, s)
	}
	if path.Clean(s) == "." {
		return "", d.errf(n, "%s %q: name a folder below the job file's folder (such as ./src): the job file's own folder is not uploaded as code", what, s)
	}
	c, err := tandem.CleanLocalPath(s)
	if err != nil {
		return "", d.errf(n, "%s: %s", what, tandem.ErrorMessage(err))
	}
	return c, nil
}

// environmentRef reads a reference to a registered environment.
func (d *decoder) environmentRef(n *yaml.Node, what string) (string, error) {
	if n.Kind == yaml.MappingNode {
		return "", d.errf(n, "%s: an inline environment is not supported; register it (tandem environment create -f env.yml) and name it as azureml:NAME:VERSION or azureml:NAME@latest", what)
	}
	s, err := d.str(n)
	if err != nil || s == "" {
		return "", err
	}
	if _, err := tandem.ParseAssetRef(s); err != nil {
		return "", d.errf(n, "%s: %s", what, tandem.ErrorMessage(err))
	}
	return s, nil
}

func (d *decoder) portName(k *yaml.Node, what string) (string, error) {
	name, err := d.str(k)
	if err != nil {
		return "", err
	}
	if !jobPortNameRE.MatchString(name) {
		return "", d.errf(k, "%s %q: names use letters, digits and '_', starting with a letter or '_'", what, name)
	}
	return name, nil
}

// jobInputs reads a command job's inputs: literal scalars, or mappings
// {type, path, mode} (data) or {type, value} (a typed literal).
func (d *decoder) jobInputs(n *yaml.Node) (map[string]*tandem.JobInput, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, d.errf(n, "inputs must be a mapping of names to values")
	}
	out := map[string]*tandem.JobInput{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, err := d.portName(k, "inputs: input")
		if err != nil {
			return nil, err
		}
		if _, dup := out[name]; dup {
			return nil, d.errf(k, "inputs: %q is repeated", name)
		}
		if err := d.noAlias(v); err != nil {
			return nil, err
		}
		if out[name], err = d.jobInput(v, "inputs."+name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *decoder) jobInput(v *yaml.Node, what string) (*tandem.JobInput, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if isNull(v) {
			return nil, d.errf(v, "%s: empty value; give a literal, {type, path, mode} or {type, value}", what)
		}
		if strings.Contains(v.Value, "${{") {
			return nil, d.errf(v, "%s: a command job's input is a literal or data, not a ${{...}} binding", what)
		}
		val := v.Value
		return &tandem.JobInput{Value: &val}, nil
	case yaml.MappingNode:
	default:
		return nil, d.errf(v, "%s must be a literal or a mapping, got a %s", what, kindName(v))
	}
	in := &tandem.JobInput{}
	var typeN, pathN, modeN, valueN *yaml.Node
	err := d.mapping(v, what, map[string]func(*yaml.Node) error{
		"type": func(n *yaml.Node) (err error) { typeN = n; in.Type, err = d.str(n); return err },
		"path": func(n *yaml.Node) error { pathN = n; return d.pathInto(&in.Path)(n) },
		"mode": func(n *yaml.Node) (err error) { modeN = n; in.Mode, err = d.str(n); return err },
		"value": func(n *yaml.Node) error {
			valueN = n
			s, err := d.str(n)
			if err == nil && isNull(n) {
				err = d.errf(n, "%s.value is empty", what)
			}
			in.Value = &s
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	if valueN != nil {
		switch {
		case pathN != nil:
			return nil, d.errf(pathN, "%s: an input has a value (a literal) or a path (data), not both", what)
		case modeN != nil:
			return nil, d.errf(modeN, "%s.mode: only data inputs (with a path) have a mode", what)
		case in.Type != "" && !tandem.IsScalarType(in.Type):
			return nil, d.errf(typeN, "%s.type: a literal is integer, number, string or boolean, got %q", what, in.Type)
		}
		var err error
		switch in.Type {
		case "integer":
			_, err = strconv.ParseInt(*in.Value, 10, 64)
		case "number":
			_, err = strconv.ParseFloat(*in.Value, 64)
		case "boolean":
			_, err = strconv.ParseBool(*in.Value)
		}
		if err != nil {
			return nil, d.errf(valueN, "%s.value %q is not a valid %s", what, *in.Value, in.Type)
		}
		return in, nil
	}
	if pathN == nil || in.Path == "" {
		at := v
		if pathN != nil {
			at = pathN
		}
		return nil, d.errf(at, "%s needs a path (data) or a value (a literal)", what)
	}
	if in.Type == "" {
		in.Type = "uri_folder"
	}
	if !oneOf(jobDataTypes, in.Type) {
		return nil, d.errf(typeN, "%s.type must be one of %s (with a path), got %q", what, strings.Join(jobDataTypes, ", "), in.Type)
	}
	if in.Mode != "" && !oneOf(jobInputModes, in.Mode) {
		return nil, d.errf(modeN, "%s.mode must be one of %s, got %q", what, strings.Join(jobInputModes, ", "), in.Mode)
	}
	if err := dataPath(in.Path); err != nil {
		return nil, d.errf(pathN, "%s.path: %s", what, tandem.ErrorMessage(err))
	}
	return in, nil
}

// dataPath checks a data input's path: local, a URL, a datastore path, or a
// registered data asset (azureml:NAME:VERSION, azureml:NAME@latest).
func dataPath(p string) error {
	if strings.HasPrefix(p, "azureml:") && !strings.HasPrefix(p, "azureml://") {
		_, err := tandem.ParseAssetRef(p)
		return err
	}
	return tandem.ValidateDataPath(p)
}

// jobOutputs reads a command job's outputs: empty (a uri_folder) or
// {type, mode, name, version, checkpoint}.
func (d *decoder) jobOutputs(n *yaml.Node) (map[string]*tandem.JobOutput, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, d.errf(n, "outputs must be a mapping of names to definitions")
	}
	out := map[string]*tandem.JobOutput{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, err := d.portName(k, "outputs: output")
		if err != nil {
			return nil, err
		}
		if _, dup := out[name]; dup {
			return nil, d.errf(k, "outputs: %q is repeated", name)
		}
		if err := d.noAlias(v); err != nil {
			return nil, err
		}
		what := "outputs." + name
		o := &tandem.JobOutput{}
		out[name] = o
		var typeN, modeN, nameN, versionN, checkpointN *yaml.Node
		err = d.subMapping(v, what, refusedOutputFields, map[string]func(*yaml.Node) error{
			"type":       func(n *yaml.Node) (err error) { typeN = n; o.Type, err = d.str(n); return err },
			"mode":       func(n *yaml.Node) (err error) { modeN = n; o.Mode, err = d.str(n); return err },
			"name":       func(n *yaml.Node) (err error) { nameN = n; o.Name, err = d.str(n); return err },
			"version":    func(n *yaml.Node) (err error) { versionN = n; o.Version, err = d.str(n); return err },
			"checkpoint": func(n *yaml.Node) (err error) { checkpointN = n; o.Checkpoint, err = d.boolean(n); return err },
		})
		if err != nil {
			return nil, err
		}
		if err := d.checkOutput(o, what, typeN, modeN, checkpointN); err != nil {
			return nil, err
		}
		if err := d.checkOutputAsset(o.Type, o.Name, o.Version, what, nameN, versionN); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *decoder) checkOutput(o *tandem.JobOutput, what string, typeN, modeN, checkpointN *yaml.Node) error {
	if o.Type == "" {
		o.Type = "uri_folder"
	}
	switch {
	case !oneOf(jobDataTypes, o.Type):
		return d.errf(typeN, "%s.type must be one of %s, got %q", what, strings.Join(jobDataTypes, ", "), o.Type)
	case o.Mode != "" && !oneOf(jobOutModes, o.Mode):
		return d.errf(modeN, "%s.mode must be one of %s, got %q", what, strings.Join(jobOutModes, ", "), o.Mode)
	case o.Checkpoint && o.Type != "uri_folder":
		return d.errf(checkpointN, "%s.checkpoint: a checkpoint output is a uri_folder, not %s", what, o.Type)
	}
	return nil
}

// checkOutputAsset checks the name and version that register an output
// (tandem.ValidateOutputAsset), the error at the version when there is no
// name or the version is wrong, else at the name.
func (d *decoder) checkOutputAsset(typ, name, version, what string, nameN, versionN *yaml.Node) error {
	if name == "" && version == "" {
		return nil
	}
	err := tandem.ValidateOutputAsset(typ, name, version)
	if err == nil {
		return nil
	}
	at, field := nameN, "name"
	if versionN != nil && (name == "" || tandem.ValidateOutputAsset(typ, name, "") == nil) {
		at, field = versionN, "version"
	}
	return d.errf(at, "%s.%s: %s", what, field, tandem.ErrorMessage(err))
}

// pipelineJob reads a pipeline job: the pipeline as the asset loader reads
// it (with inline command steps), plus the job's own fields.
func (d *decoder) pipelineJob(root *yaml.Node) (*tandem.JobSpec, error) {
	spec := &tandem.JobSpec{Type: "pipeline"}
	if err := d.refuse(root, "", refusedPipelineFields); err != nil {
		return nil, err
	}
	p := &tandem.Pipeline{}
	f := map[string]func(*yaml.Node) error{}
	d.pipelineFields(f, p)
	d.commonJobFields(f, spec)
	var computeN, defaultN *yaml.Node
	compute := f["compute"]
	f["compute"] = func(n *yaml.Node) error { computeN = n; return compute(n) }
	f["settings"] = func(n *yaml.Node) error {
		p.Settings = map[string]string{}
		flag := func(key string) func(*yaml.Node) error {
			return func(n *yaml.Node) error {
				b, err := d.boolean(n)
				p.Settings[key] = strconv.FormatBool(b)
				return err
			}
		}
		return d.subMapping(n, "settings", nil, map[string]func(*yaml.Node) error{
			"default_compute": func(n *yaml.Node) (err error) {
				defaultN = n
				s, err := d.str(n)
				p.Settings["default_compute"] = strings.TrimPrefix(s, "azureml:")
				return err
			},
			"default_datastore":        func(n *yaml.Node) (err error) { p.Settings["default_datastore"], err = d.str(n); return err },
			"continue_on_step_failure": flag("continue_on_step_failure"),
			"force_rerun":              flag("force_rerun"),
		})
	}
	if err := d.mapping(root, "pipeline job", f); err != nil {
		return nil, err
	}
	if len(p.Settings) == 0 {
		p.Settings = nil
	}
	if def := p.Settings["default_compute"]; def != "" {
		if computeN != nil && spec.Compute != def {
			return nil, d.errf(defaultN, "settings.default_compute %q and compute %q (line %d) differ: give one", def, spec.Compute, computeN.Line)
		}
		spec.Compute = def
	}
	_, jobs := field(root, "jobs")
	if jobs == nil || len(p.Jobs) == 0 {
		at := root
		if jobs != nil {
			at = jobs
		}
		return nil, d.errf(at, "jobs is required: a pipeline job has at least one step")
	}
	if err := d.pipelineSteps(jobs, p); err != nil {
		return nil, err
	}
	spec.DisplayName = p.DisplayName
	spec.ExperimentName = p.ExperimentName
	spec.Pipeline = p
	return spec, nil
}

// inlineKeys are the step fields that write its command in the step.
var inlineKeys = []string{"command", "environment", "code", "display_name"}

// pipelineSteps completes and checks the steps of a pipeline job once the
// whole file is read: step type (command by default), compute without its
// azureml: prefix, the ports of inline steps, and every binding, each error
// at its node.
func (d *decoder) pipelineSteps(jobs *yaml.Node, p *tandem.Pipeline) error {
	var order []string
	nodes := map[string]stepNodes{}
	for i := 0; i+1 < len(jobs.Content); i += 2 {
		name := jobs.Content[i].Value
		order = append(order, name)
		nodes[name] = stepNodes{jobs.Content[i], jobs.Content[i+1]}
	}
	written := map[string]bool{} // steps whose command is written in the step
	for _, name := range order {
		s, sn := p.Jobs[name], nodes[name].node
		where := "jobs." + name
		if s.Type == "" {
			s.Type = "command"
		}
		if s.Type != "command" {
			_, tn := field(sn, "type")
			return d.errf(tn, "%s.type: steps are command steps, got %q", where, s.Type)
		}
		s.Compute = strings.TrimPrefix(s.Compute, "azureml:")
		_, comp := field(sn, "component")
		if comp != nil && isNull(comp) {
			comp = nil
		}
		for _, port := range s.InputPorts {
			if port.Type == "" {
				port.Type = "uri_folder"
			}
		}
		var direct *yaml.Node
		for _, k := range inlineKeys {
			if kn, _ := field(sn, k); kn != nil && direct == nil {
				direct = kn
			}
		}
		switch {
		case comp != nil && direct != nil && comp.Kind == yaml.MappingNode:
			return d.errf(direct, "%s.%s: an inline component is written either as component: {...} or as command, environment and code in the step, not both", where, direct.Value)
		case comp != nil && direct != nil:
			return d.errf(direct, "%s.%s: a step that runs component %q cannot set its own %s", where, direct.Value, s.Component, direct.Value)
		case comp == nil && direct == nil:
			return d.errf(nodes[name].key, "%s: a step needs a component (azureml:NAME:VERSION, a local component file or an inline mapping) or a command", where)
		case direct != nil:
			written[name] = true
		}
	}
	// Output ports first: an input bound to another step's output takes its
	// type from there.
	outType := func(step, port string) string {
		s := p.Jobs[step]
		if s == nil || s.Inline == nil {
			return "uri_folder"
		}
		if written[step] {
			if op := s.OutputPorts[port]; op != nil && op.Type != "" {
				return op.Type
			}
			if b, ok, _ := tandem.ParseBinding(s.Outputs[port]); ok && p.Outputs[b.Name] != nil {
				return p.Outputs[b.Name].Type
			}
		} else if op := s.Inline.Outputs[port]; op != nil {
			return op.Type
		}
		return "uri_folder"
	}
	hasOutput := func(step, port string) (has, known bool) {
		s := p.Jobs[step]
		if s == nil || s.Inline == nil {
			return false, false
		}
		if written[step] {
			_, a := s.Outputs[port]
			_, b := s.OutputPorts[port]
			return a || b, true
		}
		_, ok := s.Inline.Outputs[port]
		return ok, true
	}
	if err := d.checkCycles(p, order, nodes); err != nil {
		return err
	}
	for _, name := range order {
		s, sn := p.Jobs[name], nodes[name].node
		where := "jobs." + name
		_, ins := field(sn, "inputs")
		_, outs := field(sn, "outputs")
		if err := d.checkStepBindings(p, name, ins, outs, hasOutput); err != nil {
			return err
		}
		if s.Inline == nil {
			continue
		}
		c := s.Inline
		if written[name] {
			c.Inputs, c.Outputs = map[string]*tandem.Port{}, map[string]*tandem.Port{}
			for in, v := range s.Inputs {
				t := "string"
				if b, ok, _ := tandem.ParseBinding(v); ok {
					switch b.Scope {
					case "inputs":
						t = p.Inputs[b.Name].Type
					case "jobs":
						t = outType(b.Name, b.Port)
					}
				} else if _, vn := field(ins, in); vn != nil {
					t = literalType(vn)
				}
				c.Inputs[in] = &tandem.Port{Type: t}
			}
			for in, port := range s.InputPorts {
				c.Inputs[in] = &tandem.Port{Type: port.Type}
			}
			for out := range s.Outputs {
				c.Outputs[out] = &tandem.Port{Type: outType(name, out)}
			}
			for out, port := range s.OutputPorts {
				if port.Type == "" {
					port.Type = "uri_folder"
				}
				c.Outputs[out] = &tandem.Port{Type: port.Type, Checkpoint: port.Checkpoint}
			}
		}
		holder := sn
		if !written[name] {
			_, holder = field(sn, "component")
		}
		cmdK, cmdN := field(holder, "command")
		if cmdN == nil || strings.TrimSpace(c.Command) == "" {
			at := nodes[name].key
			if cmdN != nil {
				at = cmdN
			} else if cmdK != nil {
				at = cmdK
			}
			return d.errf(at, "%s: an inline step needs a command", where)
		}
		err := d.checkCommand(cmdN, where+".command", c.Command,
			func(n string) bool { _, ok := c.Inputs[n]; return ok },
			func(n string) bool { _, ok := c.Outputs[n]; return ok })
		if err != nil {
			return err
		}
		_, envN := field(holder, "environment")
		if envN == nil || c.Environment == "" {
			at := nodes[name].key
			if envN != nil {
				at = envN
			}
			return d.errf(at, "%s: an inline step needs an environment (azureml:NAME:VERSION or azureml:NAME@latest)", where)
		}
		if _, err := d.environmentRef(envN, where+".environment"); err != nil {
			return err
		}
		if !written[name] {
			if err := d.checkStepPorts(s, where, nodes[name].key, ins, outs); err != nil {
				return err
			}
		}
	}
	return nil
}

type stepNodes struct{ key, node *yaml.Node }

// checkCycles fails at the input binding that closes a cycle of steps.
func (d *decoder) checkCycles(p *tandem.Pipeline, order []string, nodes map[string]stepNodes) error {
	type dep struct {
		step string
		at   *yaml.Node
		what string
	}
	deps := map[string][]dep{}
	for _, name := range order {
		_, ins := field(nodes[name].node, "inputs")
		if ins == nil || ins.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(ins.Content); i += 2 {
			k, v := ins.Content[i], ins.Content[i+1]
			if b, ok, _ := tandem.ParseBinding(v.Value); ok && v.Kind == yaml.ScalarNode && b.Scope == "jobs" && b.Name != name {
				deps[name] = append(deps[name], dep{b.Name, v, "jobs." + name + ".inputs." + k.Value})
			}
		}
	}
	state := map[string]int{} // 0 new, 1 on the path, 2 done
	var trail []string
	var visit func(string) error
	visit = func(n string) error {
		state[n] = 1
		trail = append(trail, n)
		for _, dp := range deps[n] {
			switch state[dp.step] {
			case 1:
				i := 0
				for trail[i] != dp.step {
					i++
				}
				return d.errf(dp.at, "%s: the steps form a cycle: %s -> %s", dp.what, strings.Join(trail[i:], " -> "), dp.step)
			case 0:
				if err := visit(dp.step); err != nil {
					return err
				}
			}
		}
		trail = trail[:len(trail)-1]
		state[n] = 2
		return nil
	}
	for _, n := range order {
		if state[n] == 0 {
			if err := visit(n); err != nil {
				return err
			}
		}
	}
	return nil
}

// literalType is the port type of a literal step input, from its YAML tag.
func literalType(n *yaml.Node) string {
	switch n.Tag {
	case "!!int":
		return "integer"
	case "!!float":
		return "number"
	case "!!bool":
		return "boolean"
	}
	return "string"
}

// checkStepBindings checks that each ${{parent...}} of a step names what
// exists: a pipeline input or output, another step (and its output when
// that step is inline).
func (d *decoder) checkStepBindings(p *tandem.Pipeline, step string, ins, outs *yaml.Node, hasOutput func(step, port string) (bool, bool)) error {
	where := "jobs." + step
	for _, m := range []struct {
		n      *yaml.Node
		output bool
	}{{ins, false}, {outs, true}} {
		if m.n == nil || m.n.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(m.n.Content); i += 2 {
			k, v := m.n.Content[i], m.n.Content[i+1]
			if v.Kind != yaml.ScalarNode || isNull(v) {
				continue
			}
			b, ok, _ := tandem.ParseBinding(v.Value)
			what := where + ".inputs." + k.Value
			if m.output {
				what = where + ".outputs." + k.Value
				if !ok || b.Scope != "outputs" {
					return d.errf(v, "%s: a step output binds ${{parent.outputs.NAME}}, got %q", what, v.Value)
				}
			}
			if !ok {
				continue
			}
			switch b.Scope {
			case "inputs":
				if _, ok := p.Inputs[b.Name]; !ok {
					return d.errf(v, "%s binds ${{parent.inputs.%s}}, but the pipeline has no such input", what, b.Name)
				}
			case "outputs":
				if !m.output {
					return d.errf(v, "%s: an input cannot bind a pipeline output", what)
				}
				if _, ok := p.Outputs[b.Name]; !ok {
					return d.errf(v, "%s binds ${{parent.outputs.%s}}, but the pipeline has no such output", what, b.Name)
				}
			case "jobs":
				if _, ok := p.Jobs[b.Name]; !ok {
					return d.errf(v, "%s binds an output of step %q, which does not exist", what, b.Name)
				}
				if b.Name == step {
					return d.errf(v, "%s: a step cannot bind its own output", what)
				}
				if has, known := hasOutput(b.Name, b.Port); known && !has {
					return d.errf(v, "%s binds ${{parent.jobs.%s.outputs.%s}}, but step %s has no output %q", what, b.Name, b.Port, b.Name, b.Port)
				}
			}
		}
	}
	return nil
}

// checkStepPorts: the inputs and outputs a step sets are ports of its
// inline component mapping, and its required inputs are set.
func (d *decoder) checkStepPorts(s *tandem.PipelineStep, where string, key, ins, outs *yaml.Node) error {
	for _, m := range []struct {
		n     *yaml.Node
		ports map[string]*tandem.Port
		what  string
	}{{ins, s.Inline.Inputs, "input"}, {outs, s.Inline.Outputs, "output"}} {
		if m.n == nil || m.n.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(m.n.Content); i += 2 {
			k := m.n.Content[i]
			if _, ok := m.ports[k.Value]; !ok {
				return d.errf(k, "%s.%ss.%s: the step's component has no %s %q", where, m.what, k.Value, m.what, k.Value)
			}
		}
	}
	for _, n := range tandem.SortedKeys(s.Inline.Inputs) {
		port := s.Inline.Inputs[n]
		_, a := s.Inputs[n]
		_, b := s.InputPorts[n]
		if !a && !b && !port.Optional && port.Default == nil {
			return d.errf(key, "%s: input %q of the step's component is required and not set", where, n)
		}
	}
	return nil
}

// applySet writes one --set key.path=value into the tree before decoding.
// Intermediate mappings are created; a path through anything else is an
// error naming the option. The value is YAML-typed like a plain scalar in
// the file (0.1 a number, true a boolean, text a string) and kept verbatim;
// quote it ('"1"') to force a string.
func (d *decoder) applySet(root *yaml.Node, set string) error {
	key, val, ok := strings.Cut(set, "=")
	if !ok || key == "" {
		return tandem.Errorf(tandem.EINVALID, "%s: --set %s: expected key.path=value", d.file, set)
	}
	parts := strings.Split(key, ".")
	for _, p := range parts {
		if p == "" {
			return tandem.Errorf(tandem.EINVALID, "%s: --set %s: empty name in the key path %q", d.file, set, key)
		}
	}
	mark := func(n *yaml.Node) *yaml.Node { d.origin[n] = set; return n }
	n := root
	for i, p := range parts {
		if n.Kind != yaml.MappingNode {
			at := "the file's top level"
			if i > 0 {
				at = strings.Join(parts[:i], ".")
			}
			return tandem.Errorf(tandem.EINVALID, "%s: --set %s: %s is a %s (line %d), not a mapping", d.file, set, at, kindName(n), n.Line)
		}
		k, v := field(n, p)
		if i == len(parts)-1 {
			nv := mark(setValue(val))
			if v != nil {
				for j := 1; j < len(n.Content); j += 2 {
					if n.Content[j] == v {
						n.Content[j] = nv
					}
				}
			} else {
				n.Content = append(n.Content, mark(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p}), nv)
			}
			return nil
		}
		if k == nil || isNull(v) {
			nm := mark(&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"})
			if k == nil {
				n.Content = append(n.Content, mark(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p}), nm)
			} else {
				for j := 1; j < len(n.Content); j += 2 {
					if n.Content[j] == v {
						n.Content[j] = nm
					}
				}
			}
			v = nm
		}
		n = v
	}
	return nil
}

// setValue makes the scalar node of a --set value.
func setValue(v string) *yaml.Node {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(v), &doc) == nil && len(doc.Content) == 1 {
			if q := doc.Content[0]; q.Kind == yaml.ScalarNode && q.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
				return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: q.Value, Style: q.Style}
			}
		}
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: v}
	n.Tag = n.ShortTag()
	return n
}

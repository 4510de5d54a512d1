package tandem

import (
	"regexp"
	"strconv"
	"strings"
)

// Component is a command component: a command line with typed inputs and
// outputs, the code folder it runs in and the environment it runs with.
type Component struct {
	Type        string           `json:"type"` // command
	DisplayName string           `json:"display_name,omitempty"`
	Inputs      map[string]*Port `json:"inputs,omitempty"`
	Outputs     map[string]*Port `json:"outputs,omitempty"`
	Code        string           `json:"code,omitempty"`
	Environment string           `json:"environment"`
	Command     string           `json:"command"`
	// IsDeterministic false means a pipeline must rerun the step even
	// when its inputs are unchanged; nil is the Azure ML default (true).
	IsDeterministic *bool `json:"is_deterministic,omitempty"`
}

// Port is a declared input or output. Default holds the default value's
// text (a scalar); Path names data for a pipeline-level data input. Name
// and Version (outputs of a pipeline job or of one of its steps) register
// the output as an asset when the step completes, as a command job's
// JobOutput does.
type Port struct {
	Type        string  `json:"type"`
	Description string  `json:"description,omitempty"`
	Optional    bool    `json:"optional,omitempty"`
	Default     *string `json:"default,omitempty"`
	Path        string  `json:"path,omitempty"`
	Mode        string  `json:"mode,omitempty"`
	Name        string  `json:"name,omitempty"`
	Version     string  `json:"version,omitempty"`
	// Checkpoint (outputs of a component or a pipeline step, uri_folder
	// only) marks the folder a step keeps its checkpoints in: uploaded
	// while the step runs, and restored into the step's next attempt
	// after a failover, as a command job's checkpoint output.
	Checkpoint bool `json:"checkpoint,omitempty"`
}

// Port types.
var (
	dataPortTypes   = []string{"uri_file", "uri_folder", "mltable", "mlflow_model", "custom_model", "triton_model"}
	scalarPortTypes = []string{"integer", "number", "string", "boolean"}
)

// IsScalarType reports whether a port type is a literal (not data).
func IsScalarType(t string) bool { return contains(scalarPortTypes, t) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var portNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,254}$`)

// validatePort checks a port: known type, default of that type.
func validatePort(where, name string, p *Port, output bool) error {
	if !portNameRE.MatchString(name) {
		return Errorf(EINVALID, "%s %q: names use letters, digits and '_', starting with a letter or '_'", where, name)
	}
	if p == nil {
		return Errorf(EINVALID, "%s %q: empty definition", where, name)
	}
	if !contains(dataPortTypes, p.Type) && (output || !IsScalarType(p.Type)) {
		return Errorf(EINVALID, "%s %q: unknown type %q", where, name, p.Type)
	}
	switch p.Mode {
	case "", "ro_mount", "rw_mount", "download", "upload", "direct", "eval_mount", "eval_download":
	default:
		return Errorf(EINVALID, "%s %q: unknown mode %q", where, name, p.Mode)
	}
	if p.Default != nil {
		if output {
			return Errorf(EINVALID, "%s %q: outputs have no default", where, name)
		}
		v := *p.Default
		var err error
		switch p.Type {
		case "integer":
			_, err = strconv.ParseInt(v, 10, 64)
		case "number":
			_, err = strconv.ParseFloat(v, 64)
		case "boolean":
			_, err = strconv.ParseBool(v)
		}
		if err != nil {
			return Errorf(EINVALID, "%s %q: default %q is not a valid %s", where, name, v, p.Type)
		}
	}
	if p.Path != "" {
		if err := ValidateDataPath(p.Path); err != nil {
			return Errorf(EINVALID, "%s %q: %s", where, name, ErrorMessage(err))
		}
	}
	if p.Checkpoint {
		if !output {
			return Errorf(EINVALID, "%s %q: checkpoint marks an output folder; an input has none", where, name)
		}
		if p.Type != "uri_folder" {
			return Errorf(EINVALID, "%s %q: a checkpoint output is a uri_folder, not %s", where, name, p.Type)
		}
	}
	if p.Name != "" || p.Version != "" {
		if !output {
			return Errorf(EINVALID, "%s %q: name and version register an output; an input has none", where, name)
		}
		if err := ValidateOutputAsset(p.Type, p.Name, p.Version); err != nil {
			return Errorf(EINVALID, "%s %q: %s", where, name, ErrorMessage(err))
		}
	}
	return nil
}

// placeholderRE matches ${{...}} expressions.
var placeholderRE = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)

func (*Component) AssetKind() AssetKind { return AssetComponent }

// Validate checks the type, ports, environment reference and that every
// ${{inputs.x}} / ${{outputs.y}} in the command names a declared port.
func (c *Component) Validate() error {
	if c.Type != "command" {
		return Errorf(EINVALID, "component: type must be command, got %q", c.Type)
	}
	if err := requireField(AssetComponent, "command", c.Command); err != nil {
		return err
	}
	if err := requireField(AssetComponent, "environment", c.Environment); err != nil {
		return err
	}
	if _, err := ParseAssetRef(c.Environment); err != nil {
		return Errorf(EINVALID, "component: environment: %s", ErrorMessage(err))
	}
	for _, n := range SortedKeys(c.Inputs) {
		if err := validatePort("component: input", n, c.Inputs[n], false); err != nil {
			return err
		}
	}
	for _, n := range SortedKeys(c.Outputs) {
		if err := validatePort("component: output", n, c.Outputs[n], true); err != nil {
			return err
		}
	}
	if err := checkLocal("component: code", c.Code); err != nil {
		return err
	}
	for _, m := range placeholderRE.FindAllStringSubmatch(c.Command, -1) {
		expr := m[1]
		switch {
		case strings.HasPrefix(expr, "inputs."):
			if _, ok := c.Inputs[strings.TrimPrefix(expr, "inputs.")]; !ok {
				return Errorf(EINVALID, "component: command uses ${{%s}} but there is no such input", expr)
			}
		case strings.HasPrefix(expr, "outputs."):
			if _, ok := c.Outputs[strings.TrimPrefix(expr, "outputs.")]; !ok {
				return Errorf(EINVALID, "component: command uses ${{%s}} but there is no such output", expr)
			}
		default:
			return Errorf(EINVALID, "component: command uses ${{%s}}: only inputs.NAME and outputs.NAME can be used", expr)
		}
	}
	return nil
}

// LocalPaths is the code folder when it is local.
func (c *Component) LocalPaths() []string {
	if c.Code != "" && IsLocalPath(c.Code) {
		return []string{c.Code}
	}
	return nil
}

// AssetRef is a reference to a registered asset: azureml:NAME:VERSION,
// azureml:NAME@latest, or the same without the azureml: prefix.
type AssetRef struct {
	Name    string
	Version string // "latest" for @latest
}

// ParseAssetRef parses a reference to a registered asset.
func ParseAssetRef(s string) (AssetRef, error) {
	rest := strings.TrimPrefix(s, "azureml:")
	var r AssetRef
	if name, ok := strings.CutSuffix(rest, "@latest"); ok {
		r = AssetRef{Name: name, Version: "latest"}
	} else if name, ver, ok := strings.Cut(rest, ":"); ok {
		r = AssetRef{Name: name, Version: ver}
		if err := ValidateVersion(ver); err != nil {
			return r, Errorf(EINVALID, "reference %q: %s", s, ErrorMessage(err))
		}
	} else {
		return r, Errorf(EINVALID, "reference %q must be azureml:NAME:VERSION or azureml:NAME@latest", s)
	}
	if err := ValidateName(r.Name); err != nil {
		return r, Errorf(EINVALID, "reference %q: %s", s, ErrorMessage(err))
	}
	return r, nil
}

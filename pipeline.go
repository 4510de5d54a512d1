package tandem

import (
	"regexp"
	"strings"
)

// Pipeline is a pipeline job definition: pipeline-level inputs and outputs
// and named steps, each running a component with inputs and outputs bound
// to literals or to ${{parent.inputs.x}}, ${{parent.outputs.x}} and
// ${{parent.jobs.STEP.outputs.y}}.
type Pipeline struct {
	Type           string                   `json:"type"` // pipeline
	DisplayName    string                   `json:"display_name,omitempty"`
	ExperimentName string                   `json:"experiment_name,omitempty"`
	Settings       map[string]string        `json:"settings,omitempty"`
	Inputs         map[string]*Port         `json:"inputs,omitempty"`
	Outputs        map[string]*Port         `json:"outputs,omitempty"`
	Jobs           map[string]*PipelineStep `json:"jobs"`
}

// PipelineStep is one step of a pipeline. Component is a registered
// component reference (azureml:NAME:VERSION) or a local component YAML file;
// a step of a pipeline job may instead carry its component Inline (Azure
// ML's inline command step, written in the job file).
type PipelineStep struct {
	Type      string            `json:"type"` // command
	Component string            `json:"component"`
	Inline    *Component        `json:"inline,omitempty"`
	Compute   string            `json:"compute,omitempty"`
	Inputs    map[string]string `json:"inputs,omitempty"`
	Outputs   map[string]string `json:"outputs,omitempty"`
	// InputPorts and OutputPorts hold the mapping forms of step inputs and
	// outputs ({type, path, mode}); YAML shows both kinds under inputs and
	// outputs, a name in only one of the two maps.
	InputPorts  map[string]*Port `json:"input_ports,omitempty"`
	OutputPorts map[string]*Port `json:"output_ports,omitempty"`
}

// Binding is a parsed ${{parent...}} expression.
type Binding struct {
	Scope string // "inputs", "outputs" or "jobs"
	Name  string // the pipeline input/output, or the step name for jobs
	Port  string // the step's output name (jobs only)
}

var bindingRE = regexp.MustCompile(`^\$\{\{\s*parent\.(inputs|outputs)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$|^\$\{\{\s*parent\.jobs\.([A-Za-z_][A-Za-z0-9_-]*)\.outputs\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$`)

// ParseBinding parses a step value. ok is false for a literal (no ${{);
// err is set for a ${{...}} that is not one of the accepted forms.
func ParseBinding(v string) (b Binding, ok bool, err error) {
	if !strings.Contains(v, "${{") {
		return Binding{}, false, nil
	}
	m := bindingRE.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return Binding{}, false, Errorf(EINVALID, "binding %q must be ${{parent.inputs.NAME}}, ${{parent.outputs.NAME}} or ${{parent.jobs.STEP.outputs.NAME}}", v)
	}
	if m[1] != "" {
		return Binding{Scope: m[1], Name: m[2]}, true, nil
	}
	return Binding{Scope: "jobs", Name: m[3], Port: m[4]}, true, nil
}

var stepNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,254}$`)

func (*Pipeline) AssetKind() AssetKind { return AssetPipeline }

// Validate checks the ports, the steps, and every binding: it must name an
// existing pipeline input/output or another step, and the steps' data flow
// must have no cycle.
func (p *Pipeline) Validate() error {
	if p.Type != "pipeline" {
		return Errorf(EINVALID, "pipeline: type must be pipeline, got %q", p.Type)
	}
	for _, n := range SortedKeys(p.Inputs) {
		if err := validatePort("pipeline: input", n, p.Inputs[n], false); err != nil {
			return err
		}
	}
	for _, n := range SortedKeys(p.Outputs) {
		if err := validatePort("pipeline: output", n, p.Outputs[n], true); err != nil {
			return err
		}
	}
	if len(p.Jobs) == 0 {
		return Errorf(EINVALID, "pipeline: jobs is required (at least one step)")
	}
	deps := map[string][]string{}
	for _, name := range SortedKeys(p.Jobs) {
		s := p.Jobs[name]
		where := "pipeline: jobs." + name
		if !stepNameRE.MatchString(name) {
			return Errorf(EINVALID, "%s: step names use letters, digits, '_' and '-'", where)
		}
		if s == nil {
			return Errorf(EINVALID, "%s: empty step", where)
		}
		if s.Type != "command" {
			return Errorf(EINVALID, "%s: type must be command, got %q", where, s.Type)
		}
		if s.Inline != nil {
			if s.Component != "" {
				return Errorf(EINVALID, "%s: a step has a component reference or an inline component, not both", where)
			}
			if err := s.Inline.Validate(); err != nil {
				return Errorf(EINVALID, "%s: %s", where, ErrorMessage(err))
			}
			if err := s.checkInlinePorts(where); err != nil {
				return err
			}
		} else if s.Component == "" {
			return Errorf(EINVALID, "%s: component is required", where)
		} else if IsLocalPath(s.Component) {
			if err := checkLocal(where+".component", s.Component); err != nil {
				return err
			}
		} else if _, err := ParseAssetRef(s.Component); err != nil {
			return Errorf(EINVALID, "%s.component: %s", where, ErrorMessage(err))
		}
		for _, in := range SortedKeys(s.Inputs) {
			b, ok, err := ParseBinding(s.Inputs[in])
			if err != nil {
				return Errorf(EINVALID, "%s.inputs.%s: %s", where, in, ErrorMessage(err))
			}
			if !ok {
				continue
			}
			switch b.Scope {
			case "inputs":
				if _, ok := p.Inputs[b.Name]; !ok {
					return Errorf(EINVALID, "%s.inputs.%s: binds ${{parent.inputs.%s}} but the pipeline has no such input", where, in, b.Name)
				}
			case "outputs":
				return Errorf(EINVALID, "%s.inputs.%s: an input cannot bind a pipeline output", where, in)
			case "jobs":
				if _, ok := p.Jobs[b.Name]; !ok {
					return Errorf(EINVALID, "%s.inputs.%s: binds the output of step %q, which does not exist", where, in, b.Name)
				}
				if b.Name == name {
					return Errorf(EINVALID, "%s.inputs.%s: a step cannot bind its own output", where, in)
				}
				deps[name] = append(deps[name], b.Name)
			}
		}
		for _, in := range SortedKeys(s.InputPorts) {
			if _, dup := s.Inputs[in]; dup {
				return Errorf(EINVALID, "%s.inputs.%s: defined twice", where, in)
			}
			if err := validatePort(where+".inputs", in, s.InputPorts[in], false); err != nil {
				return err
			}
		}
		for _, out := range SortedKeys(s.OutputPorts) {
			if _, dup := s.Outputs[out]; dup {
				return Errorf(EINVALID, "%s.outputs.%s: defined twice", where, out)
			}
			if err := validatePort(where+".outputs", out, s.OutputPorts[out], true); err != nil {
				return err
			}
		}
		for _, out := range SortedKeys(s.Outputs) {
			b, ok, err := ParseBinding(s.Outputs[out])
			if err != nil {
				return Errorf(EINVALID, "%s.outputs.%s: %s", where, out, ErrorMessage(err))
			}
			if !ok {
				return Errorf(EINVALID, "%s.outputs.%s: must be ${{parent.outputs.NAME}}", where, out)
			}
			if b.Scope != "outputs" {
				return Errorf(EINVALID, "%s.outputs.%s: an output can only bind ${{parent.outputs.NAME}}", where, out)
			}
			if _, ok := p.Outputs[b.Name]; !ok {
				return Errorf(EINVALID, "%s.outputs.%s: binds ${{parent.outputs.%s}} but the pipeline has no such output", where, out, b.Name)
			}
		}
	}
	// Cycle check: depth-first search over step dependencies.
	state := map[string]int{} // 0 new, 1 on stack, 2 done
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return Errorf(EINVALID, "pipeline: steps form a cycle through %q", n)
		case 2:
			return nil
		}
		state[n] = 1
		for _, d := range deps[n] {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[n] = 2
		return nil
	}
	for _, n := range SortedKeys(p.Jobs) {
		if err := visit(n); err != nil {
			return err
		}
	}
	return nil
}

// checkInlinePorts: every input and output a step sets is a port of its
// inline component.
func (s *PipelineStep) checkInlinePorts(where string) error {
	for _, n := range append(SortedKeys(s.Inputs), SortedKeys(s.InputPorts)...) {
		if _, ok := s.Inline.Inputs[n]; !ok {
			return Errorf(EINVALID, "%s.inputs.%s: the inline component has no such input", where, n)
		}
	}
	for _, n := range append(SortedKeys(s.Outputs), SortedKeys(s.OutputPorts)...) {
		if _, ok := s.Inline.Outputs[n]; !ok {
			return Errorf(EINVALID, "%s.outputs.%s: the inline component has no such output", where, n)
		}
	}
	return nil
}

// LocalPaths are local component files of the steps, and the local code
// folders of inline components.
func (p *Pipeline) LocalPaths() []string {
	var out []string
	for _, n := range SortedKeys(p.Jobs) {
		s := p.Jobs[n]
		switch {
		case s == nil:
		case s.Inline != nil:
			out = append(out, s.Inline.LocalPaths()...)
		case IsLocalPath(s.Component):
			out = append(out, s.Component)
		}
	}
	return out
}

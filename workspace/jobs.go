package workspace

import (
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"go.yaml.in/yaml/v3"
)

// Jobs is the jobs: section, the workspace-wide settings of the jobs the
// primary runs:
//
//	jobs:
//	  max_instances: 8   # instances running at once, all compute of the region together (default: no limit)
//	  resubmit: {policy: always, max_attempts: 2}   # for jobs that set none (default: on_region_failure, 3)
//
// Each compute target's own max_instances still applies; a job waits
// (queued, saying which quota) until both allow it, and one that needs
// more instances than the workspace allows fails. The resubmit default is
// written into a job that sets no resubmit: of its own when it is
// submitted, so every region applies the same policy to it after a
// failover. Every region reads the section when it starts; only the
// primary schedules.
type Jobs struct {
	MaxInstances int                    // 0: no workspace-wide limit
	Resubmit     *tandem.ResubmitPolicy // nil: tandem.DefaultResubmit
}

// posErr makes errors that name file, line and column.
type posErr func(at *yaml.Node, format string, args ...any) error

// parseJobs reads the jobs: section; its errors name file, line and
// column.
func parseJobs(file string, n *yaml.Node) (Jobs, error) {
	var out Jobs
	if n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return out, nil
	}
	errf := posErr(func(at *yaml.Node, format string, args ...any) error {
		return tandem.Errorf(tandem.EINVALID, "%s:%d:%d: "+format, append([]any{file, at.Line, at.Column}, args...)...)
	})
	if n.Kind != yaml.MappingNode {
		return out, errf(n, "jobs must be a mapping (jobs: {max_instances: N})")
	}
	err := errf.fields(n, "jobs", map[string]func(v *yaml.Node) error{
		"max_instances": func(v *yaml.Node) (err error) {
			out.MaxInstances, err = errf.count(v, "jobs.max_instances must be a whole number of instances, at least 1 (leave it out for no limit)")
			return err
		},
		"resubmit": func(v *yaml.Node) (err error) { out.Resubmit, err = parseResubmit(v, errf); return err },
	})
	return out, err
}

// parseResubmit reads jobs.resubmit, as a job file's resubmit: (fields it
// leaves out take tandem.DefaultResubmit's).
func parseResubmit(n *yaml.Node, errf posErr) (*tandem.ResubmitPolicy, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errf(n, "jobs.resubmit must be a mapping ({policy: always|on_region_failure|never, max_attempts: N})")
	}
	r := tandem.DefaultResubmit
	err := errf.fields(n, "jobs.resubmit", map[string]func(v *yaml.Node) error{
		"policy": func(v *yaml.Node) error {
			switch v.Value {
			case tandem.ResubmitAlways, tandem.ResubmitOnRegionFailure, tandem.ResubmitNever:
				if v.Kind == yaml.ScalarNode {
					r.Policy = v.Value
					return nil
				}
			}
			return errf(v, "jobs.resubmit.policy must be always, on_region_failure or never, got %q", v.Value)
		},
		"max_attempts": func(v *yaml.Node) (err error) {
			r.MaxAttempts, err = errf.count(v, "jobs.resubmit.max_attempts counts attempts in all, the first included: a whole number, at least 1")
			return err
		},
	})
	return &r, err
}

// fields calls each key's handler with its value, refusing a key given
// twice and one that has no handler.
func (errf posErr) fields(n *yaml.Node, what string, handlers map[string]func(v *yaml.Node) error) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return errf(k, "%s.%s is repeated", what, k.Value)
		}
		seen[k.Value] = true
		h, ok := handlers[k.Value]
		if !ok {
			return errf(k, "unknown field %q in %s (allowed: %s)", k.Value, what, strings.Join(tandem.SortedKeys(handlers), ", "))
		}
		if err := h(v); err != nil {
			return err
		}
	}
	return nil
}

// count reads a whole number of at least 1.
func (errf posErr) count(v *yaml.Node, what string) (int, error) {
	m, err := strconv.Atoi(v.Value)
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil || m < 1 {
		return 0, errf(v, "%s, got %q", what, v.Value)
	}
	return m, nil
}

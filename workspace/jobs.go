package workspace

import (
	"strconv"

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

// parseJobs reads the jobs: section; its errors name file, line and
// column.
func parseJobs(file string, n *yaml.Node) (Jobs, error) {
	var out Jobs
	if n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return out, nil
	}
	errf := func(at *yaml.Node, format string, args ...any) error {
		return tandem.Errorf(tandem.EINVALID, "%s:%d:%d: "+format, append([]any{file, at.Line, at.Column}, args...)...)
	}
	if n.Kind != yaml.MappingNode {
		return out, errf(n, "jobs must be a mapping (jobs: {max_instances: N})")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return out, errf(k, "jobs.%s is repeated", k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "max_instances":
			m, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil || m < 1 {
				return out, errf(v, "jobs.max_instances must be a whole number of instances, at least 1 (leave it out for no limit), got %q", v.Value)
			}
			out.MaxInstances = m
		case "resubmit":
			r, err := parseResubmit(v, errf)
			if err != nil {
				return out, err
			}
			out.Resubmit = r
		default:
			return out, errf(k, "unknown field %q in jobs (allowed: max_instances, resubmit)", k.Value)
		}
	}
	return out, nil
}

// parseResubmit reads jobs.resubmit, as a job file's resubmit: (fields it
// leaves out take tandem.DefaultResubmit's).
func parseResubmit(n *yaml.Node, errf func(*yaml.Node, string, ...any) error) (*tandem.ResubmitPolicy, error) {
	if n.Kind != yaml.MappingNode {
		return nil, errf(n, "jobs.resubmit must be a mapping ({policy: always|on_region_failure|never, max_attempts: N})")
	}
	r := tandem.DefaultResubmit
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			return nil, errf(k, "jobs.resubmit.%s is repeated", k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "policy":
			switch v.Value {
			case tandem.ResubmitAlways, tandem.ResubmitOnRegionFailure, tandem.ResubmitNever:
				if v.Kind == yaml.ScalarNode {
					r.Policy = v.Value
					continue
				}
			}
			return nil, errf(v, "jobs.resubmit.policy must be always, on_region_failure or never, got %q", v.Value)
		case "max_attempts":
			m, err := strconv.Atoi(v.Value)
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" || err != nil || m < 1 {
				return nil, errf(v, "jobs.resubmit.max_attempts counts attempts in all, the first included: a whole number, at least 1, got %q", v.Value)
			}
			r.MaxAttempts = m
		default:
			return nil, errf(k, "unknown field %q in jobs.resubmit (allowed: policy, max_attempts)", k.Value)
		}
	}
	return &r, nil
}

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
//
// Each compute target's own max_instances still applies; a job waits
// (queued, saying which quota) until both allow it, and one that needs
// more instances than the workspace allows fails. Every region reads it
// when it starts; only the primary schedules.
type Jobs struct {
	MaxInstances int // 0: no workspace-wide limit
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
		default:
			return out, errf(k, "unknown field %q in jobs (allowed: max_instances)", k.Value)
		}
	}
	return out, nil
}

package schedule

import (
	"fmt"
	"sort"

	"github.com/tandemml/tandem"
)

// ComputeLoad is one compute target of a region with what it runs and
// what waits for it.
type ComputeLoad struct {
	Target tandem.ComputeTarget
	InUse  int
	Queued int
}

// AbsorbWarnings is the source's quota advice as a check: for each
// secondary, each compute the primary is using (running or queued work)
// must exist there with max_instances enough for that work, since after a
// failover the secondary resubmits it on its own compute of the same name.
// loads holds every region's compute (a region missing from it could not
// be read and is not judged). Pure.
func AbsorbWarnings(primary string, loads map[string][]ComputeLoad) []string {
	pl, ok := loads[primary]
	if !ok {
		return nil
	}
	var regions []string
	for r := range loads {
		if r != primary {
			regions = append(regions, r)
		}
	}
	sort.Strings(regions)
	var out []string
	for _, r := range regions {
		have := map[string]tandem.ComputeTarget{}
		for _, c := range loads[r] {
			have[c.Target.Name] = c.Target
		}
		for _, c := range pl {
			need := c.InUse + c.Queued
			if need == 0 {
				continue
			}
			t, ok := have[c.Target.Name]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("capacity: %s has no compute %q, which runs or queues %d instances of jobs on %s: after a failover they would fail there", r, c.Target.Name, need, primary))
			case t.MaxInstances < need:
				out = append(out, fmt.Sprintf("capacity: %s's compute %q allows %d instances; %s runs and queues %d on it: after a failover %d would wait", r, c.Target.Name, t.MaxInstances, primary, need, need-t.MaxInstances))
			}
		}
	}
	return out
}

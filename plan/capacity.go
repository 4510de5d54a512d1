package plan

import (
	"fmt"

	"github.com/tandemml/tandem/desired"
)

// Load is a region's running work: what a secondary must absorb when it
// takes over (the source's advice: enough quota in both regions).
type Load struct {
	RunningJobs int `json:"running_jobs"`
	QueuedJobs  int `json:"queued_jobs"`
}

// CapacityWarnings checks each secondary region against the primary: its
// compute quota (the max_instances of the compute targets placed in it)
// must hold the primary's running and queued jobs (one instance each, when
// the primary reports its load), and each deployment's compute in the
// secondary must hold the instances the deployment runs in the primary.
// Pure: it reads the desired state and the reported loads only.
func CapacityWarnings(in Input) []string {
	if in.Desired == nil {
		return nil
	}
	quota := map[string]int{}
	computeMax := map[string]map[string]int{} // compute -> region -> max_instances
	for _, o := range in.Desired.Objects {
		if o.Kind != desired.KindCompute {
			continue
		}
		computeMax[o.Name] = map[string]int{}
		for _, r := range o.Regions {
			n := intOf(o.SpecIn(r)["max_instances"])
			quota[r] += n
			computeMax[o.Name][r] = n
		}
	}
	var out []string
	var load *Load
	if a := in.Actual[in.Primary]; a != nil {
		load = a.Load
	}
	for _, r := range in.Regions {
		if r == in.Primary {
			continue
		}
		if load != nil {
			if need := load.RunningJobs + load.QueuedJobs; need > quota[r] {
				out = append(out, fmt.Sprintf("capacity: %s's compute quota (%d instances) cannot absorb %s's %d running and %d queued jobs", r, quota[r], in.Primary, load.RunningJobs, load.QueuedJobs))
			}
		}
		for _, o := range in.Desired.Objects {
			if o.Kind != desired.KindDeployment || !o.Placed(r) || !o.Placed(in.Primary) {
				continue
			}
			counts, _ := o.Spec["instance_count"].(map[string]any)
			need := intOf(counts[in.Primary])
			c, _ := o.Spec["compute"].(string)
			if c == "" {
				continue
			}
			if have := computeMax[c][r]; need > have {
				out = append(out, fmt.Sprintf("capacity: deployment %s runs %d instance(s) in %s; compute %s in %s allows %d (max_instances), so %s cannot take its traffic at that size", o.Name, need, in.Primary, c, r, have, r))
			}
		}
	}
	return out
}

func intOf(v any) int {
	switch n := v.(type) {
	case float64:
		return int(n)
	case int:
		return n
	}
	return 0
}

// QuotaProblems checks the declared deployments against the workspace's
// endpoint quota: the instances the deployments placed in a region run
// there, summed, must fit its quotas.endpoint_instances, or apply would
// be refused part way. Pure.
func QuotaProblems(in Input) []string {
	if in.Desired == nil || len(in.EndpointQuota) == 0 {
		return nil
	}
	var out []string
	for _, r := range in.Regions {
		limit := in.EndpointQuota[r]
		if limit <= 0 {
			continue
		}
		total := 0
		for _, o := range in.Desired.Objects {
			if o.Kind != desired.KindDeployment || !o.Placed(r) {
				continue
			}
			counts, _ := o.Spec["instance_count"].(map[string]any)
			total += intOf(counts[r])
		}
		if total > limit {
			out = append(out, fmt.Sprintf("quota: the deployments placed in %s run %d scoring instances there; its quotas.endpoint_instances allows %d", r, total, limit))
		}
	}
	return out
}

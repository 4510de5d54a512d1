package serving

import (
	"context"
	"fmt"

	"github.com/tandemml/tandem"
)

// Instances counts the scoring instances each region runs, all endpoints
// together: region -> instances.
type Instances map[string]int

// InstancesOf counts the instances the fleet's deployments run in each of
// regions, each in the regions its endpoint serves. A deployment whose
// endpoint is not in the fleet runs nowhere.
func InstancesOf(regions []string, f tandem.Fleet) Instances {
	byName := map[string]*tandem.OnlineEndpoint{}
	for _, ep := range f.Endpoints {
		byName[ep.Name] = ep
	}
	n := Instances{}
	for _, d := range f.Deployments {
		ep := byName[d.Endpoint]
		if ep == nil {
			continue
		}
		for _, r := range regions {
			if ep.Serves(r) {
				n[r] += d.InstancesIn(r)
			}
		}
	}
	return n
}

// CheckQuota decides whether a change that turns the instances before
// into after may be written: it is refused when it adds instances to a
// region and leaves that region above its quota. A change that keeps or
// lowers a region's count passes even above the quota (a quota lowered
// after the fact must not block scaling down). what names the change in
// the error (EINVALID). Pure.
func CheckQuota(regions []string, quota tandem.EndpointQuota, before, after Instances, what string) error {
	for _, r := range regions {
		limit, ok := quota[r]
		if !ok || limit <= 0 {
			continue
		}
		if after[r] > before[r] && after[r] > limit {
			return tandem.Errorf(tandem.EINVALID, "%s would run %d scoring instances in region %s, over its quota of %d (quotas.endpoint_instances; %d run there now)", what, after[r], r, limit, before[r])
		}
	}
	return nil
}

// quotaChecks are the checks a write of the endpoint or deployment named
// what runs in its transaction: the workspace's instance quota, if any.
// The quotas tandem apply wrote win over the region's workspace file's.
func (s *Service) quotaChecks(ctx context.Context, kind, name string) ([]tandem.FleetCheck, error) {
	regions := s.cfg.Regions
	if len(regions) == 0 {
		regions = []string{s.cfg.Region}
	}
	quota := s.cfg.Quota
	applied, err := s.cfg.Store.QuotaSettings(ctx)
	switch {
	case err == nil:
		quota = applied.EndpointQuota(regions)
	case tandem.ErrorCode(err) != tandem.ENOTFOUND:
		return nil, err
	}
	if len(quota) == 0 {
		return nil, nil
	}
	what := fmt.Sprintf("online %s %s", kind, name)
	return []tandem.FleetCheck{func(before, after tandem.Fleet) error {
		return CheckQuota(regions, quota, InstancesOf(regions, before), InstancesOf(regions, after), what)
	}}, nil
}

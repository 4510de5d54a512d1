package serving

import (
	"context"
	"fmt"

	"github.com/tandemml/tandem"
)

// Fleet counts the scoring instances each region runs, all endpoints
// together: region -> instances.
type Fleet map[string]int

// FleetOf counts the instances that deployments ds run in each of
// regions, each in the regions its endpoint (from eps) serves. A
// deployment whose endpoint is not in eps runs nowhere.
func FleetOf(regions []string, eps []*tandem.OnlineEndpoint, ds []*tandem.OnlineDeployment) Fleet {
	byName := map[string]*tandem.OnlineEndpoint{}
	for _, ep := range eps {
		byName[ep.Name] = ep
	}
	f := Fleet{}
	for _, d := range ds {
		ep := byName[d.Endpoint]
		if ep == nil {
			continue
		}
		for _, r := range regions {
			if ep.Serves(r) {
				f[r] += d.InstancesIn(r)
			}
		}
	}
	return f
}

// CheckQuota decides whether a change that turns the fleet before into
// after may be written: it is refused when it adds instances to a region
// and leaves that region above its quota. A change that keeps or lowers
// a region's count passes even above the quota (a quota lowered after the
// fact must not block scaling down). what names the change in the error
// (EINVALID). Pure.
func CheckQuota(regions []string, quota tandem.EndpointQuota, before, after Fleet, what string) error {
	for _, r := range regions {
		limit, ok := quota[r]
		if !ok || limit <= 0 {
			continue
		}
		if after[r] > before[r] && after[r] > limit {
			return tandem.Errorf(tandem.EINVALID, "%s would run %d scoring instances in region %s, over its quota of %d (quotas.endpoint_instances in workspace.yaml; %d run there now)", what, after[r], r, limit, before[r])
		}
	}
	return nil
}

// checkQuota reads the region's endpoints and deployments, applies change
// to copies of them and checks the result against the workspace quota.
// Not serialised with other writes: two writes racing each other may
// together pass a quota each alone fits in.
func (s *Service) checkQuota(ctx context.Context, what string, change func([]*tandem.OnlineEndpoint, []*tandem.OnlineDeployment) ([]*tandem.OnlineEndpoint, []*tandem.OnlineDeployment)) error {
	if len(s.cfg.Quota) == 0 {
		return nil
	}
	eps, err := s.cfg.Store.ListEndpoints(ctx)
	if err != nil {
		return err
	}
	ds, err := s.cfg.Store.ListDeployments(ctx, "")
	if err != nil {
		return err
	}
	regions := s.cfg.Regions
	if len(regions) == 0 {
		regions = []string{s.cfg.Region}
	}
	before := FleetOf(regions, eps, ds)
	eps2, ds2 := change(append([]*tandem.OnlineEndpoint(nil), eps...), append([]*tandem.OnlineDeployment(nil), ds...))
	return CheckQuota(regions, s.cfg.Quota, before, FleetOf(regions, eps2, ds2), what)
}

// withDeployment is ds with d in place of the deployment of its name (or
// added).
func withDeployment(ds []*tandem.OnlineDeployment, d *tandem.OnlineDeployment) []*tandem.OnlineDeployment {
	for i, x := range ds {
		if x.Endpoint == d.Endpoint && x.Name == d.Name {
			ds[i] = d
			return ds
		}
	}
	return append(ds, d)
}

// withEndpoint is eps with ep in place of the endpoint of its name (or
// added).
func withEndpoint(eps []*tandem.OnlineEndpoint, ep *tandem.OnlineEndpoint) []*tandem.OnlineEndpoint {
	for i, x := range eps {
		if x.Name == ep.Name {
			eps[i] = ep
			return eps
		}
	}
	return append(eps, ep)
}

func quotaWhat(kind, name string) string { return fmt.Sprintf("online %s %s", kind, name) }

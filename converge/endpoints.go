package converge

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/desired"
	"github.com/tandemml/tandem/plan"
)

// endpoints is the provider of online endpoints (a replicated kind: the
// endpoint's placement says where it serves). regions are the
// workspace's, in file order: an endpoint stored with no placement serves
// in all of them.
type endpoints struct{ regions []string }

func (endpoints) Kind() desired.Kind { return desired.KindEndpoint }

// placement is an endpoint's regions as the desired state writes them.
func placement(ep *tandem.OnlineEndpoint, all []string) []any {
	rs := ep.Regions
	if len(rs) == 0 || (len(rs) == 1 && rs[0] == "all") {
		rs = all
	}
	out := make([]any, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}

func (p endpoints) List(ctx context.Context, r Reader, _ []string) ([]plan.Object, error) {
	eps, err := r.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	out := []plan.Object{}
	for _, ep := range eps {
		out = append(out, plan.Object{Kind: desired.KindEndpoint, Name: ep.Name,
			Spec: map[string]any{"auth_mode": ep.AuthMode, "regions": placement(ep, p.regions)}})
	}
	return out, nil
}

func (p endpoints) Apply(ctx context.Context, w Writer, a plan.Action, o *desired.Object) error {
	if a.Op == plan.Delete {
		err := w.DeleteEndpoint(ctx, a.Name)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil
		}
		return err
	}
	ep := tandem.OnlineEndpoint{Name: a.Name}
	// An update keeps what the deployments set: traffic and mirror.
	if cur, err := w.Endpoint(ctx, a.Name); err == nil {
		ep = *cur
	} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return err
	}
	ep.AuthMode, _ = o.Spec["auth_mode"].(string)
	ep.Regions = strs(o.Spec["regions"])
	if len(ep.Regions) == len(p.regions) {
		ep.Regions = nil // every region: stored as "all", so a region added later serves it too
	}
	ep.CreatedMS, ep.UpdatedMS = 0, 0
	return w.SetEndpoint(ctx, ep)
}

// deployments is the provider of online deployments. A deployment's
// traffic is its endpoint's: the percents of an endpoint's deployments
// must sum to 100 (or 0), so the provider keeps, for one apply, each
// endpoint's traffic as the actions so far leave it, and writes it to the
// endpoint once it is whole again (after the last deployment that changes
// it, or before a delete, which needs the deployment at 0).
type deployments struct {
	regions []string
	traffic map[string]map[string]int // endpoint -> deployment -> percent, this apply
}

func (deployments) Kind() desired.Kind { return desired.KindDeployment }

func (p *deployments) List(ctx context.Context, r Reader, _ []string) ([]plan.Object, error) {
	eps, err := r.Endpoints(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*tandem.OnlineEndpoint{}
	for _, ep := range eps {
		byName[ep.Name] = ep
	}
	ds, err := r.Deployments(ctx)
	if err != nil {
		return nil, err
	}
	out := []plan.Object{}
	for _, d := range ds {
		ep := byName[d.Endpoint]
		if ep == nil {
			continue
		}
		counts := map[string]any{}
		for _, r := range placement(ep, p.regions) {
			counts[r.(string)] = float64(d.InstancesIn(r.(string)))
		}
		spec := map[string]any{"endpoint": d.Endpoint, "traffic": float64(ep.Traffic[d.Name]), "instance_count": counts}
		for k, v := range map[string]string{"model": d.Model, "environment": d.Environment, "compute": d.Compute} {
			if v != "" {
				spec[k] = v
			}
		}
		if d.DataCollector != nil {
			spec["data_collector"] = jsonValue(d.DataCollector)
		}
		out = append(out, plan.Object{Kind: desired.KindDeployment, Name: d.Endpoint + "/" + d.Name, Spec: spec})
	}
	return out, nil
}

func splitDeployment(name string) (string, string, error) {
	ep, dep, ok := strings.Cut(name, "/")
	if !ok {
		return "", "", tandem.Errorf(tandem.EINVALID, "deployment %q: not ENDPOINT/NAME", name)
	}
	return ep, dep, nil
}

func (p *deployments) Apply(ctx context.Context, w Writer, a plan.Action, o *desired.Object) error {
	epName, name, err := splitDeployment(a.Name)
	if err != nil {
		return err
	}
	tr, err := p.trafficOf(ctx, w, epName)
	if err != nil {
		return err
	}
	if a.Op == plan.Delete {
		delete(tr, name)
		if err := p.writeTraffic(ctx, w, epName, tr); err != nil {
			return err
		}
		err := w.DeleteDeployment(ctx, epName, name)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil
		}
		return err
	}
	d := tandem.OnlineDeployment{Endpoint: epName, Name: name, InstanceCounts: map[string]int{}}
	d.Model, _ = o.Spec["model"].(string)
	d.Environment, _ = o.Spec["environment"].(string)
	d.Compute, _ = o.Spec["compute"].(string)
	counts, _ := o.Spec["instance_count"].(map[string]any)
	keys := make([]string, 0, len(counts))
	for r := range counts {
		keys = append(keys, r)
	}
	sort.Strings(keys)
	// The most common count is the deployment's; the others are
	// per-region overrides.
	freq := map[int]int{}
	for _, r := range keys {
		n, _ := counts[r].(float64)
		freq[int(n)]++
	}
	best := 1
	for n, f := range freq {
		if f > freq[best] || (f == freq[best] && n > best) {
			best = n
		}
	}
	d.InstanceCount = max(best, 1)
	for _, r := range keys {
		if n, _ := counts[r].(float64); int(n) != d.InstanceCount {
			d.InstanceCounts[r] = int(n)
		}
	}
	if len(d.InstanceCounts) == 0 {
		d.InstanceCounts = nil
	}
	// Keep what the declaration does not say (request settings, probes,
	// variables, data collector set with tandem online-deployment update).
	if cur, err := w.GetDeployment(ctx, epName, name); err == nil {
		d.Description, d.Tags, d.RequestSettings = cur.Description, cur.Tags, cur.RequestSettings
		d.LivenessProbe, d.ReadinessProbe, d.EnvironmentVariables = cur.LivenessProbe, cur.ReadinessProbe, cur.EnvironmentVariables
		d.DataCollector = cur.DataCollector
	} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return err
	}
	if v, ok := o.Spec["data_collector"]; ok { // declared: the file's wins
		dc := &tandem.DataCollector{}
		if err := fromJSONValue(v, dc); err != nil {
			return tandem.Errorf(tandem.EINVALID, "deployment %s: data_collector: %v", a.Name, err)
		}
		d.DataCollector = dc
	}
	if err := w.SetDeployment(ctx, d); err != nil {
		return err
	}
	want, _ := o.Spec["traffic"].(float64)
	tr[name] = int(want)
	return p.writeTraffic(ctx, w, epName, tr)
}

// trafficOf is the endpoint's traffic as this apply has it so far.
func (p *deployments) trafficOf(ctx context.Context, w Writer, ep string) (map[string]int, error) {
	if tr, ok := p.traffic[ep]; ok {
		return tr, nil
	}
	cur, err := w.Endpoint(ctx, ep)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", ep, err)
	}
	tr := map[string]int{}
	for k, v := range cur.Traffic {
		tr[k] = v
	}
	p.traffic[ep] = tr
	return tr, nil
}

// writeTraffic stores the endpoint's traffic when it sums to 100 or 0 and
// differs from what the endpoint has.
func (p *deployments) writeTraffic(ctx context.Context, w Writer, epName string, tr map[string]int) error {
	sum := 0
	for _, v := range tr {
		sum += v
	}
	if sum != 0 && sum != 100 {
		return nil // the next deployment's action completes it
	}
	cur, err := w.Endpoint(ctx, epName)
	if err != nil {
		return err
	}
	same := true
	for k, v := range tr {
		if cur.Traffic[k] != v {
			same = false
		}
	}
	for k, v := range cur.Traffic {
		if v != 0 && tr[k] != v {
			same = false
		}
	}
	if same {
		return nil
	}
	ep := *cur
	ep.Traffic = map[string]int{}
	for k, v := range tr {
		if v != 0 {
			ep.Traffic[k] = v
		}
	}
	if len(ep.Traffic) == 0 {
		ep.Traffic = nil
	}
	ep.CreatedMS, ep.UpdatedMS = 0, 0
	return w.SetEndpoint(ctx, ep)
}

// jsonValue is v as plan objects hold specs: decoded JSON (maps, lists,
// float64 numbers), so that it compares with a parsed workspace.yaml.
func jsonValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// fromJSONValue reads a spec value into dst.
func fromJSONValue(v any, dst any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

package converge

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/desired"
	"github.com/tandemml/tandem/plan"
	"go.yaml.in/yaml/v3"
)

// fakeEndpoints is a workspace's endpoints and deployments in memory,
// with the store's rule that traffic sums to 100 or 0 and names existing
// deployments, and that a deployment with traffic cannot be deleted.
type fakeEndpoints struct {
	Writer
	Reader
	eps    map[string]tandem.OnlineEndpoint
	deps   map[string]tandem.OnlineDeployment
	writes []map[string]int // each traffic written
}

func (f *fakeEndpoints) Endpoint(_ context.Context, name string) (*tandem.OnlineEndpoint, error) {
	ep, ok := f.eps[name]
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no endpoint %s", name)
	}
	return &ep, nil
}

func (f *fakeEndpoints) SetEndpoint(_ context.Context, ep tandem.OnlineEndpoint) error {
	sum := 0
	for d, p := range ep.Traffic {
		if _, ok := f.deps[ep.Name+"/"+d]; !ok {
			return tandem.Errorf(tandem.EINVALID, "traffic names deployment %s, which does not exist", d)
		}
		sum += p
	}
	if sum != 0 && sum != 100 {
		return tandem.Errorf(tandem.EINVALID, "traffic sums to %d", sum)
	}
	if _, ok := f.eps[ep.Name]; ok {
		f.writes = append(f.writes, ep.Traffic)
	}
	f.eps[ep.Name] = ep
	return nil
}

func (f *fakeEndpoints) DeleteEndpoint(_ context.Context, name string) error {
	delete(f.eps, name)
	return nil
}

func (f *fakeEndpoints) GetDeployment(_ context.Context, ep, name string) (*tandem.OnlineDeployment, error) {
	d, ok := f.deps[ep+"/"+name]
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no deployment %s/%s", ep, name)
	}
	return &d, nil
}

func (f *fakeEndpoints) SetDeployment(_ context.Context, d tandem.OnlineDeployment) error {
	if _, ok := f.eps[d.Endpoint]; !ok {
		return tandem.Errorf(tandem.ENOTFOUND, "no endpoint %s", d.Endpoint)
	}
	f.deps[d.Endpoint+"/"+d.Name] = d
	return nil
}

func (f *fakeEndpoints) DeleteDeployment(_ context.Context, ep, name string) error {
	if f.eps[ep].Traffic[name] != 0 {
		return tandem.Errorf(tandem.ECONFLICT, "deployment %s has traffic", name)
	}
	delete(f.deps, ep+"/"+name)
	return nil
}

func (f *fakeEndpoints) Endpoints(context.Context) ([]*tandem.OnlineEndpoint, error) {
	var out []*tandem.OnlineEndpoint
	for _, ep := range f.eps {
		out = append(out, &ep)
	}
	return out, nil
}

func (f *fakeEndpoints) Deployments(context.Context) ([]*tandem.OnlineDeployment, error) {
	var out []*tandem.OnlineDeployment
	for _, d := range f.deps {
		out = append(out, &d)
	}
	return out, nil
}

func depObj(name, model string, traffic int, counts map[string]int) *desired.Object {
	c := map[string]any{}
	for r, n := range counts {
		c[r] = float64(n)
	}
	return &desired.Object{Kind: desired.KindDeployment, Name: name,
		Spec: map[string]any{"endpoint": "iris", "model": model, "traffic": float64(traffic), "instance_count": c}}
}

// TestDeploymentsTraffic: blue 90 / green 10 created one at a time is
// written once both exist (never a sum other than 100 or 0); moving all
// traffic to green and deleting blue sets blue to 0 before its delete;
// per-region counts become the common count plus overrides; what a
// listing reads back equals what was declared.
func TestDeploymentsTraffic(t *testing.T) {
	ctx := context.Background()
	regions := []string{"east", "west"}
	f := &fakeEndpoints{eps: map[string]tandem.OnlineEndpoint{}, deps: map[string]tandem.OnlineDeployment{}}
	ep := &desired.Object{Kind: desired.KindEndpoint, Name: "iris", Spec: map[string]any{"auth_mode": "key", "regions": []any{"east", "west"}}}
	if err := (endpoints{regions}).Apply(ctx, f, plan.Action{Op: plan.Create, Name: "iris"}, ep); err != nil {
		t.Fatal(err)
	}
	if f.eps["iris"].Regions != nil {
		t.Fatalf("an endpoint in every region is stored as all: %v", f.eps["iris"].Regions)
	}
	blue := depObj("iris/blue", "azureml:m:1", 90, map[string]int{"east": 2, "west": 1})
	green := depObj("iris/green", "azureml:m:2", 10, map[string]int{"east": 1, "west": 1})
	p := providerOf(Providers(regions), desired.KindDeployment).(*deployments)
	for _, o := range []*desired.Object{blue, green} {
		if err := p.Apply(ctx, f, plan.Action{Op: plan.Create, Name: o.Name}, o); err != nil {
			t.Fatal(err)
		}
	}
	if want := []map[string]int{{"blue": 90, "green": 10}}; !reflect.DeepEqual(f.writes, want) {
		t.Fatalf("traffic writes %v, want %v", f.writes, want)
	}
	if d := f.deps["iris/blue"]; d.InstanceCount != 2 || !reflect.DeepEqual(d.InstanceCounts, map[string]int{"west": 1}) {
		t.Fatalf("blue's counts: %d %v", d.InstanceCount, d.InstanceCounts)
	}
	if d := f.deps["iris/green"]; d.InstanceCount != 1 || d.InstanceCounts != nil {
		t.Fatalf("green's counts: %d %v", d.InstanceCount, d.InstanceCounts)
	}
	// Read back: the same specs as declared, and the endpoint's.
	objs, err := p.List(ctx, f, nil)
	if err != nil || len(objs) != 2 {
		t.Fatal(objs, err)
	}
	for _, o := range objs {
		want := blue
		if o.Name == "iris/green" {
			want = green
		}
		if !reflect.DeepEqual(o.Spec, want.Spec) {
			t.Fatalf("%s listed as %v, declared %v", o.Name, o.Spec, want.Spec)
		}
	}
	eo, _ := (endpoints{regions}).List(ctx, f, nil)
	if len(eo) != 1 || !reflect.DeepEqual(eo[0].Spec, ep.Spec) {
		t.Fatalf("endpoint listed as %v, declared %v", eo, ep.Spec)
	}
	// Updating the endpoint (auth mode) keeps the traffic.
	ep.Spec["auth_mode"] = tandem.EndpointAuthToken
	if err := (endpoints{regions}).Apply(ctx, f, plan.Action{Op: plan.Update, Name: "iris"}, ep); err != nil {
		t.Fatal(err)
	}
	if got := f.eps["iris"]; got.AuthMode != tandem.EndpointAuthToken || got.Traffic["blue"] != 90 {
		t.Fatalf("after the endpoint's update: %+v", got)
	}
	// All traffic to green, blue deleted (the plan's order: update, then
	// delete). Green's data collector, set outside the workspace file
	// (tandem online-deployment update), is kept.
	g := f.deps["iris/green"]
	g.DataCollector = &tandem.DataCollector{Collections: map[string]tandem.DataCollection{tandem.CollectionModelInputs: {Enabled: true}}}
	f.deps["iris/green"] = g
	p = providerOf(Providers(regions), desired.KindDeployment).(*deployments)
	f.writes = nil
	if err := p.Apply(ctx, f, plan.Action{Op: plan.Update, Name: "iris/green"}, depObj("iris/green", "azureml:m:2", 100, map[string]int{"east": 1, "west": 1})); err != nil {
		t.Fatal(err)
	}
	if !f.deps["iris/green"].DataCollector.Collects(tandem.CollectionModelInputs) {
		t.Fatal("apply dropped the deployment's data_collector")
	}
	if err := p.Apply(ctx, f, plan.Action{Op: plan.Delete, Name: "iris/blue"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.deps["iris/blue"]; ok || !reflect.DeepEqual(f.writes, []map[string]int{{"green": 100}}) {
		t.Fatalf("after the move: deployments %v, traffic writes %v", f.deps, f.writes)
	}
	// A delete that has already happened is success (a resumed apply).
	if err := p.Apply(ctx, f, plan.Action{Op: plan.Delete, Name: "iris/blue"}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestDeploymentDataCollectorDeclared: a data_collector declared in
// workspace.yaml is applied (the file's wins over what the CLI set), reads
// back as declared (so a second plan has nothing to change), and a bad one
// is refused with its position.
func TestDeploymentDataCollectorDeclared(t *testing.T) {
	ctx := context.Background()
	regions := []string{"east", "west"}
	parse := func(dc string) (*desired.State, error) {
		var n yaml.Node
		src := "- name: iris\n  deployments:\n  - name: blue\n    model: azureml:m:1\n    traffic: 100\n    data_collector:\n" + dc
		if err := yaml.Unmarshal([]byte(src), &n); err != nil {
			t.Fatal(err)
		}
		return desired.Parse(desired.Input{File: "ws.yaml", Regions: regions, Endpoints: *n.Content[0]})
	}
	st, err := parse("      sampling_rate: 0.25\n      collections:\n        model_inputs: {enabled: 'True'}\n")
	if err != nil {
		t.Fatal(err)
	}
	dep := st.Find(desired.Ref{Kind: desired.KindDeployment, Name: "iris/blue"})
	if dep == nil {
		t.Fatal("no deployment parsed")
	}
	f := &fakeEndpoints{eps: map[string]tandem.OnlineEndpoint{}, deps: map[string]tandem.OnlineDeployment{}}
	if err := (endpoints{regions}).Apply(ctx, f, plan.Action{Op: plan.Create, Name: "iris"}, st.Find(desired.Ref{Kind: desired.KindEndpoint, Name: "iris"})); err != nil {
		t.Fatal(err)
	}
	// What the CLI set before: outputs only, every request.
	f.deps["iris/blue"] = tandem.OnlineDeployment{Endpoint: "iris", Name: "blue", Model: "azureml:m:1",
		DataCollector: &tandem.DataCollector{Collections: map[string]tandem.DataCollection{tandem.CollectionModelOutputs: {Enabled: true}}}}
	p := providerOf(Providers(regions), desired.KindDeployment).(*deployments)
	if err := p.Apply(ctx, f, plan.Action{Op: plan.Update, Name: dep.Name}, dep); err != nil {
		t.Fatal(err)
	}
	dc := f.deps["iris/blue"].DataCollector
	if dc.Rate() != 0.25 || !dc.Collects(tandem.CollectionModelInputs) || dc.Collects(tandem.CollectionModelOutputs) {
		t.Fatalf("applied data_collector %+v, want the declared one", dc)
	}
	objs, err := p.List(ctx, f, nil)
	if err != nil || len(objs) != 1 {
		t.Fatal(objs, err)
	}
	if got, want := objs[0].Spec["data_collector"], dep.Spec["data_collector"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("listed data_collector %v, declared %v", got, want)
	}
	if _, err := parse("      sampling_rate: 2\n"); err == nil || !strings.Contains(err.Error(), "ws.yaml:7:") {
		t.Fatalf("a sampling rate of 2: %v", err)
	}
	if _, err := parse("      collections:\n        request_headers: {enabled: true}\n"); err == nil || !strings.Contains(err.Error(), "model_inputs") {
		t.Fatalf("an unknown collection: %v", err)
	}
}

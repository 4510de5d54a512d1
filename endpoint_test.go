package tandem_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func TestRouteRequestStepByStep(t *testing.T) {
	traffic := map[string]int{"blue": 90, "green": 10}
	both := map[string]bool{"blue": true, "green": true}
	// blue occupies [0, 90), green [90, 100): name order.
	for _, c := range []struct {
		r    float64
		want string
	}{{0, "blue"}, {0.5, "blue"}, {0.8999, "blue"}, {0.9, "green"}, {0.95, "green"}, {0.99999, "green"}} {
		if got, ok := tandem.RouteRequest(traffic, both, c.r); !ok || got != c.want {
			t.Errorf("r=%v: got %q %v, want %q", c.r, got, ok, c.want)
		}
	}
	// green down: its share goes to blue.
	blueOnly := map[string]bool{"blue": true}
	if got, ok := tandem.RouteRequest(traffic, blueOnly, 0.95); !ok || got != "blue" {
		t.Errorf("green unhealthy: got %q %v, want blue", got, ok)
	}
	// Nothing healthy: no route.
	if got, ok := tandem.RouteRequest(traffic, map[string]bool{}, 0.1); ok {
		t.Errorf("nothing healthy: got %q", got)
	}
	// A deployment at 0% never gets traffic, even when the other is down.
	if got, ok := tandem.RouteRequest(map[string]int{"blue": 100, "green": 0}, map[string]bool{"green": true}, 0.5); ok {
		t.Errorf("0%% green took traffic: %q", got)
	}
	// No traffic at all.
	if _, ok := tandem.RouteRequest(nil, both, 0.5); ok {
		t.Error("empty traffic routed")
	}
	// Three ways, one down: the rest keep their proportions (a 30/50 split
	// of the remaining 80 after blue, the first, is down).
	three := map[string]int{"a-dep": 20, "b-dep": 30, "c-dep": 50}
	up := map[string]bool{"b-dep": true, "c-dep": true}
	if got, _ := tandem.RouteRequest(three, up, 0.1); got != "b-dep" { // 0.1*80 = 8 < 30
		t.Errorf("three-way fallback r=0.1: %q", got)
	}
	if got, _ := tandem.RouteRequest(three, up, 0.5); got != "c-dep" { // 40 >= 30
		t.Errorf("three-way fallback r=0.5: %q", got)
	}
}

// TestRouteRequestSplit: 1,000 requests at 90/10 land within binomial
// bounds (mean 100 green, sd 9.5; 5 sd either side).
func TestRouteRequestSplit(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	traffic := map[string]int{"blue": 90, "green": 10}
	healthy := map[string]bool{"blue": true, "green": true}
	n := map[string]int{}
	for range 1000 {
		d, ok := tandem.RouteRequest(traffic, healthy, rng.Float64())
		if !ok {
			t.Fatal("no route")
		}
		n[d]++
	}
	if n["green"] < 52 || n["green"] > 148 || n["blue"]+n["green"] != 1000 {
		t.Fatalf("split %v out of bounds for 90/10", n)
	}
}

func TestMirrorRequest(t *testing.T) {
	m := map[string]int{"shadow": 20}
	if d, ok := tandem.MirrorRequest(m, 0.19); !ok || d != "shadow" {
		t.Errorf("r=0.19: %q %v", d, ok)
	}
	if _, ok := tandem.MirrorRequest(m, 0.2); ok {
		t.Error("r=0.2 mirrored at 20%")
	}
	if _, ok := tandem.MirrorRequest(nil, 0); ok {
		t.Error("no mirror configured but mirrored")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	k := 0
	for range 1000 {
		if _, ok := tandem.MirrorRequest(m, rng.Float64()); ok {
			k++
		}
	}
	if k < 136 || k > 264 { // 200 ± 5 sd
		t.Fatalf("mirrored %d of 1000 at 20%%", k)
	}
}

func TestEndpointValidation(t *testing.T) {
	ok := tandem.OnlineEndpoint{Name: "iris-ep", Traffic: map[string]int{"blue": 90, "green": 10}, MirrorTraffic: map[string]int{"shadow": 10}, Regions: []string{"west", "east"}}
	if err := ok.Normalize(); err != nil {
		t.Fatal(err)
	}
	if ok.AuthMode != tandem.EndpointAuthKey || strings.Join(ok.Regions, ",") != "east,west" || !ok.Serves("east") || ok.Serves("north") {
		t.Fatalf("normalized %+v", ok)
	}
	all := tandem.OnlineEndpoint{Name: "iris-ep", Regions: []string{"all"}}
	if err := all.Normalize(); err != nil || all.Regions != nil || !all.Serves("anywhere") {
		t.Fatalf("all: %+v %v", all, err)
	}
	for _, c := range []struct {
		e    tandem.OnlineEndpoint
		want string
	}{
		{tandem.OnlineEndpoint{Name: "ab"}, "invalid endpoint name"},
		{tandem.OnlineEndpoint{Name: "1abc"}, "invalid endpoint name"},
		{tandem.OnlineEndpoint{Name: "abc-"}, "invalid endpoint name"},
		{tandem.OnlineEndpoint{Name: "abc", AuthMode: "aad"}, "auth_mode"},
		{tandem.OnlineEndpoint{Name: "abc", Traffic: map[string]int{"blue": 90}}, "sums to 90"},
		{tandem.OnlineEndpoint{Name: "abc", Traffic: map[string]int{"blue": 101, "g-x": -1}}, "between 0 and 100"},
		{tandem.OnlineEndpoint{Name: "abc", Traffic: map[string]int{"b": 100}}, "invalid deployment name"},
		{tandem.OnlineEndpoint{Name: "abc", MirrorTraffic: map[string]int{"blue": 60}}, "between 0 and 50"},
		{tandem.OnlineEndpoint{Name: "abc", MirrorTraffic: map[string]int{"blue": 10, "green": 10}}, "one deployment at most"},
		{tandem.OnlineEndpoint{Name: "abc", Traffic: map[string]int{"blue": 100}, MirrorTraffic: map[string]int{"blue": 10}}, "cannot also receive mirrored"},
		{tandem.OnlineEndpoint{Name: "abc", Regions: []string{"all", "east"}}, "stands alone"},
		{tandem.OnlineEndpoint{Name: "abc", Regions: []string{"east", "east"}}, "repeated"},
	} {
		err := c.e.Normalize()
		if err == nil || tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want EINVALID with %q", c.e, err, c.want)
		}
	}
	e := tandem.OnlineEndpoint{Name: "abc", Traffic: map[string]int{"blue": 100}}
	if err := e.CheckDeployments(map[string]bool{"green": true}); err == nil || !strings.Contains(err.Error(), "blue") {
		t.Errorf("traffic to a missing deployment: %v", err)
	}
	if err := e.CheckDeployments(map[string]bool{"blue": true}); err != nil {
		t.Error(err)
	}
}

func TestDeploymentValidation(t *testing.T) {
	d := tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "azureml:iris:3"}
	if err := d.Normalize(); err != nil {
		t.Fatal(err)
	}
	if d.InstanceCount != 1 || d.RequestSettings != tandem.DefaultRequestSettings || d.LivenessProbe != tandem.DefaultLivenessProbe {
		t.Fatalf("defaults not filled: %+v", d)
	}
	for _, c := range []struct {
		d    tandem.OnlineDeployment
		want string
	}{
		{tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue"}, "model is required"},
		{tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "iris:1"}, "unknown form"},
		{tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "azureml:iris:1", InstanceCount: -1}, "instance_count"},
		{tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "azureml:iris:1", InstanceCount: 65}, "instance_count"},
		{tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "azureml:iris:1", RequestSettings: tandem.RequestSettings{RequestTimeoutMS: 200000}}, "request_timeout_ms"},
		{tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "azureml:iris:1", ReadinessProbe: tandem.Probe{Period: -2}}, "readiness_probe.period"},
		{tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "azureml:iris:1", EnvironmentVariables: map[string]string{"A-B": "x"}}, "not a variable name"},
		{tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "b", Model: "azureml:iris:1"}, "invalid deployment name"},
	} {
		err := c.d.Normalize()
		if err == nil || tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want EINVALID with %q", c.d, err, c.want)
		}
	}
}

func TestParseModelRef(t *testing.T) {
	for _, c := range []struct {
		ref, name, alias string
		version          int64
	}{
		{"azureml:iris:3", "iris", "", 3},
		{"azureml:my.model:12", "my.model", "", 12},
		{"azureml:iris@champion", "iris", "champion", 0},
		{"models:/iris/7", "iris", "", 7},
		{"models:/iris@champion", "iris", "champion", 0},
	} {
		n, v, a, err := tandem.ParseModelRef(c.ref)
		if err != nil || n != c.name || v != c.version || a != c.alias {
			t.Errorf("%s: got %q %d %q %v", c.ref, n, v, a, err)
		}
	}
	for _, bad := range []string{"", "iris", "azureml:iris", "azureml:iris:0", "azureml:iris:x", "models:/iris", "models:/iris/", "models:/@a", "models:/iris@", "azureml://registries/r/models/m/versions/1", "runs:/abc/model"} {
		if _, _, _, err := tandem.ParseModelRef(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestDataCollectorNormalize: the API path (JSON) is checked as the YAML
// one is, with messages that name the field.
func TestDataCollectorNormalize(t *testing.T) {
	rate := func(r float64) *float64 { return &r }
	for _, c := range []struct {
		dc   tandem.DataCollector
		want string
	}{
		{tandem.DataCollector{SamplingRate: rate(-0.1)}, "deployment blue: data_collector.sampling_rate -0.1: between 0.0 and 1.0"},
		{tandem.DataCollector{SamplingRate: rate(2)}, "data_collector.sampling_rate 2"},
		{tandem.DataCollector{RollingRate: "day"}, "data_collector.rolling_rate \"day\""},
		{tandem.DataCollector{Collections: map[string]tandem.DataCollection{"headers": {Enabled: true}}}, "data_collector.collections.headers: tandem collects model_inputs"},
	} {
		d := tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "azureml:iris:1", DataCollector: &c.dc}
		err := d.Normalize()
		if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(tandem.ErrorMessage(err), c.want) {
			t.Errorf("%+v: got %v, want EINVALID containing %q", c.dc, err, c.want)
		}
	}
	d := tandem.OnlineDeployment{Endpoint: "iris-ep", Name: "blue", Model: "azureml:iris:1", DataCollector: &tandem.DataCollector{}}
	if err := d.Normalize(); err != nil || d.DataCollector.SamplingRate == nil || *d.DataCollector.SamplingRate != 1 || d.DataCollector.RollingRate != "hour" {
		t.Fatalf("defaults: %+v %v", d.DataCollector, err)
	}
	var none *tandem.DataCollector
	if none.Rate() != 0 || none.Collects(tandem.CollectionModelInputs) {
		t.Fatal("no data collector samples nothing")
	}
}

// TestSampleRequest: the decision at the edges, and its rate over many
// draws from a seeded source (binomial bounds, 5 sd).
func TestSampleRequest(t *testing.T) {
	for _, c := range []struct {
		rate, r float64
		want    bool
	}{{1, 0, true}, {1, 0.99999, true}, {0, 0, false}, {0, 0.5, false}, {0.3, 0.29, true}, {0.3, 0.3, false}} {
		if got := tandem.SampleRequest(c.rate, c.r); got != c.want {
			t.Errorf("rate %v r %v: %v", c.rate, c.r, got)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	n := 0
	for range 10000 {
		if tandem.SampleRequest(0.1, rng.Float64()) {
			n++
		}
	}
	// Binomial(10000, 0.1): mean 1000, sd 30.
	if n < 850 || n > 1150 {
		t.Fatalf("sampled %d of 10000 at 0.1", n)
	}
}

package serving

import (
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func TestInstancesOf(t *testing.T) {
	regions := []string{"east", "west"}
	eps := []*tandem.OnlineEndpoint{{Name: "both"}, {Name: "west-only", Regions: []string{"west"}}}
	ds := []*tandem.OnlineDeployment{
		{Endpoint: "both", Name: "blue", InstanceCount: 2},
		{Endpoint: "both", Name: "green", InstanceCount: 1, InstanceCounts: map[string]int{"west": 3}},
		{Endpoint: "west-only", Name: "a", InstanceCount: 4},
		{Endpoint: "gone", Name: "orphan", InstanceCount: 9},
	}
	f := InstancesOf(regions, tandem.Fleet{Endpoints: eps, Deployments: ds})
	if f["east"] != 3 || f["west"] != 9 || len(f) != 2 {
		t.Fatalf("fleet %v, want east 3 (2+1), west 9 (2+3+4)", f)
	}
}

func TestCheckQuota(t *testing.T) {
	regions := []string{"east", "west"}
	quota := tandem.EndpointQuota{"east": 4}
	for _, c := range []struct {
		name          string
		before, after Instances
		refused       string
	}{
		{"within", Instances{"east": 1}, Instances{"east": 4}, ""},
		{"over", Instances{"east": 3}, Instances{"east": 5}, "5 scoring instances in region east, over its quota of 4"},
		{"no limit in west", Instances{}, Instances{"west": 50}, ""},
		{"scale down above the quota", Instances{"east": 8}, Instances{"east": 6}, ""},
		{"unchanged above the quota", Instances{"east": 8}, Instances{"east": 8}, ""},
		{"grow above the quota", Instances{"east": 8}, Instances{"east": 9}, "over its quota of 4"},
	} {
		err := CheckQuota(regions, quota, c.before, c.after, "online deployment e/d")
		switch {
		case c.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.refused != "" && (err == nil || !strings.Contains(err.Error(), c.refused) || tandem.ErrorCode(err) != tandem.EINVALID):
			t.Errorf("%s: got %v, want EINVALID with %q", c.name, err, c.refused)
		}
	}
	if err := CheckQuota(regions, nil, Instances{}, Instances{"east": 100}, "x"); err != nil {
		t.Fatalf("no quota: %v", err)
	}
}

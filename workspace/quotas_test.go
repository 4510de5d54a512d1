package workspace_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/workspace"
)

const twoRegions = "workspace: w\nprimary: east\npeer_key: {env: TANDEM_PEER_KEY}\nregions:\n" +
	"  - {name: east, url: \"http://127.0.0.1:1\", metadata: \"sqlite://x.db\", artifacts: \"file://x\"}\n" +
	"  - {name: west, url: \"http://127.0.0.1:2\", metadata: \"sqlite://y.db\", artifacts: \"file://y\"}\n"

// TestQuotasSection: quotas.endpoint_instances applies to every region,
// a region's own entry overrides it; no section, no limit; bad values and
// unknown regions are errors with file, line and column.
func TestQuotasSection(t *testing.T) {
	ws, err := workspace.Parse([]byte(twoRegions))
	if err != nil || len(ws.EndpointQuota()) != 0 {
		t.Fatalf("no quotas: %v %v", ws.EndpointQuota(), err)
	}
	ws, err = workspace.Parse([]byte(twoRegions + "quotas:\n  endpoint_instances: 6\n  regions:\n    west: {endpoint_instances: 2}\n"))
	if err != nil || !reflect.DeepEqual(ws.EndpointQuota(), tandem.EndpointQuota{"east": 6, "west": 2}) {
		t.Fatalf("quotas: %v %v", ws.EndpointQuota(), err)
	}
	ws, err = workspace.Parse([]byte(twoRegions + "quotas:\n  regions:\n    west: {endpoint_instances: 3}\n"))
	if err != nil || !reflect.DeepEqual(ws.EndpointQuota(), tandem.EndpointQuota{"west": 3}) {
		t.Fatalf("west only: %v %v", ws.EndpointQuota(), err)
	}
	for _, c := range []struct{ yaml, want string }{
		{"quotas:\n  endpoint_instances: 0\n", "workspace.yaml:8:23: quotas.endpoint_instances must be a whole number of scoring instances"},
		{"quotas:\n  endpoint_instances: lots\n", "workspace.yaml:8:23: quotas.endpoint_instances must be a whole number"},
		{"quotas:\n  gpus: 2\n", `workspace.yaml:8:3: unknown field "gpus" in quotas (allowed: endpoint_instances, regions)`},
		{"quotas: 5\n", "workspace.yaml:7:9: quotas must be a mapping"},
		{"quotas:\n  regions:\n    north: {endpoint_instances: 1}\n", `workspace.yaml:9:5: quotas.regions names "north", which is not a region of the workspace`},
		{"quotas:\n  regions:\n    west: 3\n", "workspace.yaml:9:11: quotas.regions.west must be a mapping"},
		{"quotas:\n  regions:\n    west: {endpoint_instances: -1}\n", "workspace.yaml:9:32: quotas.regions.west.endpoint_instances must be a whole number"},
		{"quotas:\n  regions: [west]\n", "workspace.yaml:8:12: quotas.regions must map region names"},
	} {
		_, err := workspace.Parse([]byte(twoRegions + c.yaml))
		if tandem.ErrorCode(err) != tandem.EINVALID || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: got %v, want prefix %q", c.yaml, err, c.want)
		}
	}
}

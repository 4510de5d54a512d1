package workspace_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/workspace"
)

const oneRegion = "workspace: w\nregions:\n  - {name: east, url: \"http://127.0.0.1:1\", metadata: \"sqlite://x.db\", artifacts: \"file://x\"}\n"

// TestJobsSection: jobs.max_instances is the workspace quota; without the
// section there is none; a bad value or an unknown field is an error with
// the file, line and column.
func TestJobsSection(t *testing.T) {
	ws, err := workspace.Parse([]byte(oneRegion))
	if err != nil || ws.Jobs.MaxInstances != 0 {
		t.Fatalf("no jobs section: %+v %v", ws, err)
	}
	ws, err = workspace.Parse([]byte(oneRegion + "jobs:\n  max_instances: 6\n"))
	if err != nil || ws.Jobs.MaxInstances != 6 {
		t.Fatalf("max_instances 6: %+v %v", ws.Jobs, err)
	}
	ws, err = workspace.Parse([]byte(oneRegion + "jobs:\n  resubmit: {policy: always}\n"))
	if err != nil || ws.Jobs.MaxInstances != 0 || *ws.Jobs.Resubmit != (tandem.ResubmitPolicy{Policy: tandem.ResubmitAlways, MaxAttempts: tandem.DefaultResubmit.MaxAttempts}) {
		t.Fatalf("resubmit: %+v %v", ws.Jobs, err)
	}
	cases := []struct{ yaml, want string }{
		{"jobs:\n  max_instances: 0\n", "workspace.yaml:5:18: jobs.max_instances must be a whole number of instances, at least 1"},
		{"jobs:\n  max_instances: two\n", "workspace.yaml:5:18: jobs.max_instances must be a whole number"},
		{"jobs:\n  max_instances: 2.5\n", "workspace.yaml:5:18: jobs.max_instances must be a whole number"},
		{"jobs:\n  max_instances: [1]\n", "workspace.yaml:5:18: jobs.max_instances must be a whole number"},
		{"jobs:\n  max_running: 3\n", `workspace.yaml:5:3: unknown field "max_running" in jobs (allowed: max_instances, resubmit)`},
		{"jobs:\n  max_instances: 1\n  max_instances: 2\n", "workspace.yaml:6:3: jobs.max_instances is repeated"},
		{"jobs: 4\n", "workspace.yaml:4:7: jobs must be a mapping"},
		{"jobs:\n  resubmit: always\n", "workspace.yaml:5:13: jobs.resubmit must be a mapping"},
		{"jobs:\n  resubmit: {policy: sometimes}\n", "workspace.yaml:5:22: jobs.resubmit.policy must be always, on_region_failure or never"},
		{"jobs:\n  resubmit: {max_attempts: 0}\n", "workspace.yaml:5:28: jobs.resubmit.max_attempts counts attempts in all"},
		{"jobs:\n  resubmit: {retries: 2}\n", `workspace.yaml:5:14: unknown field "retries" in jobs.resubmit`},
	}
	for _, c := range cases {
		_, err := workspace.Parse([]byte(oneRegion + c.yaml))
		if tandem.ErrorCode(err) != tandem.EINVALID || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: got %v, want prefix %q", c.yaml, err, c.want)
		}
	}
	// Load names the file it read.
	p := filepath.Join(t.TempDir(), "ws.yaml")
	if err := os.WriteFile(p, []byte(oneRegion+"jobs: {max_instances: -1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := workspace.Load(p); err == nil || !strings.HasPrefix(err.Error(), p+":4:23: jobs.max_instances") {
		t.Fatalf("Load: %v", err)
	}
}

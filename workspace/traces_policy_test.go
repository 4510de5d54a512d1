package workspace_test

import (
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/workspace"
)

// Traces are a kind like any other: continuous unless the file says
// otherwise.
func TestTracesPolicy(t *testing.T) {
	const regions = `
regions:
  - {name: east, url: "http://127.0.0.1:1", metadata: "sqlite://x.db", artifacts: "file://x"}
  - {name: west, url: "http://127.0.0.1:2", metadata: "sqlite://y.db", artifacts: "file://y"}
`
	ws, err := workspace.Parse([]byte("workspace: w\nprimary: east\npeer_key: {env: K}\n" + regions))
	if err != nil {
		t.Fatal(err)
	}
	if p := ws.Policy(tandem.KindTraces); p.Policy != workspace.Continuous {
		t.Fatalf("default traces policy %+v", p)
	}
	ws, err = workspace.Parse([]byte("workspace: w\nprimary: east\npeer_key: {env: K}\nreplication:\n  kinds:\n    traces: snapshot 10m\n" + regions))
	if err != nil {
		t.Fatal(err)
	}
	if p := ws.Policy(tandem.KindTraces); p.Policy != workspace.Snapshot || p.Interval != 10*time.Minute {
		t.Fatalf("traces policy %+v", p)
	}
}

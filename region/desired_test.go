package region_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/storetest"
)

// TestDriftCheck: a serving region checks its own state against the
// applied desired state on its timer: no drift while it matches, a role
// changed by hand and a role deleted by hand are reported by the API and
// the gauge, and it clears when the state matches again.
func TestDriftCheck(t *testing.T) {
	owner, _, err := auth.NewToken("", "", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, err := region.Open(ctx, region.Config{Name: "local", MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: storetest.FileURL(t),
		Auth: &region.AuthConfig{BootstrapToken: owner}, DriftInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; r.Close() })
	base := "http://" + ln.Addr().String()
	get := func(path string) string {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+owner)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	type report struct {
		Applied bool `json:"applied"`
		Drift   []struct {
			Kind, Name string
			Missing    bool
		} `json:"drift"`
	}
	wait := func(what string, ok func(report) bool) report {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var rep report
			body := get("/api/tandem/v1/desired/drift")
			if err := json.Unmarshal([]byte(body), &rep); err == nil && ok(rep) {
				return rep
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s; last: %s", what, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	roleA := &tandem.RoleDefinition{Name: "A", Actions: []string{"*/runs/read"}}
	roleB := &tandem.RoleDefinition{Name: "B", Actions: []string{"*/models/read"}}
	for _, rd := range []*tandem.RoleDefinition{roleA, roleB} {
		if err := r.Identity.PutRole(ctx, rd); err != nil {
			t.Fatal(err)
		}
	}
	wait("report before an apply", func(rep report) bool { return !rep.Applied && len(rep.Drift) == 0 })
	applied := `{"objects":[{"kind":"role","name":"A","spec":{"actions":["*/runs/read"],"description":"","not_actions":[]}},` +
		`{"kind":"role","name":"B","spec":{"actions":["*/models/read"],"description":"","not_actions":[]}}]}`
	if err := r.Store.PutDesiredApplied(ctx, json.RawMessage(applied)); err != nil {
		t.Fatal(err)
	}
	wait("clean check", func(rep report) bool { return rep.Applied && len(rep.Drift) == 0 })

	if err := r.Identity.PutRole(ctx, &tandem.RoleDefinition{Name: "A", Actions: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	if err := r.Identity.DeleteRole(ctx, "B"); err != nil {
		t.Fatal(err)
	}
	rep := wait("drift", func(rep report) bool { return len(rep.Drift) == 2 })
	if rep.Drift[0].Name != "A" || rep.Drift[0].Missing || rep.Drift[1].Name != "B" || !rep.Drift[1].Missing {
		t.Fatalf("drift: %+v", rep.Drift)
	}
	if m := get("/metrics"); !strings.Contains(m, `tandem_desired_drifted_objects{kind="role",region="local"} 2`) {
		t.Fatalf("metrics: %s", m)
	}
	for _, rd := range []*tandem.RoleDefinition{roleA, roleB} {
		if err := r.Identity.PutRole(ctx, rd); err != nil {
			t.Fatal(err)
		}
	}
	wait("drift cleared", func(rep report) bool { return rep.Applied && len(rep.Drift) == 0 })
	if m := get("/metrics"); !strings.Contains(m, `tandem_desired_drifted_objects{kind="role",region="local"} 0`) {
		t.Fatalf("metrics after the repair: %s", m)
	}
}

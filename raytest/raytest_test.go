package raytest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStartStop starts a cluster with a job running, stops the cluster and
// checks that nothing of it is left: not its processes, not the job's
// driver (which Ray runs in a session of its own, here outside the
// cluster's folder).
func TestStartStop(t *testing.T) {
	c := Start(t)
	ctx := context.Background()
	v, err := c.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v != Version {
		t.Logf("cluster runs Ray %s, raytest is written against %s", v, Version)
	}
	body := `{"entrypoint": "cd / && sleep 600", "submission_id": "sleeper"}`
	resp, err := http.Post(c.Address+"/api/jobs/", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("submit: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := http.Get(c.Address + "/api/jobs/sleeper")
		if err != nil {
			t.Fatal(err)
		}
		var j struct{ Status string }
		json.NewDecoder(resp.Body).Decode(&j)
		resp.Body.Close()
		if j.Status == "RUNNING" {
			break
		} else if j.Status != "PENDING" || time.Now().After(deadline) {
			t.Fatalf("job %s", j.Status)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if len(processesUnder(c.Dir)) == 0 {
		t.Fatal("processesUnder finds nothing of a running cluster")
	}

	c.Stop()
	if _, err := http.Get(c.Address + "/api/version"); err == nil {
		t.Fatalf("dashboard %s still answers after Stop", c.Address)
	}
	if err := syscall.Kill(-c.pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process group %d still has members (%v)", c.pgid, err)
	}
	if left := processesUnder(c.Dir); len(left) != 0 {
		t.Fatalf("processes left of %s: %v", c.Dir, left)
	}
}

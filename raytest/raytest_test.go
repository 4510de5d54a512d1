package raytest

import (
	"context"
	"errors"
	"net/http"
	"syscall"
	"testing"
)

// TestStartStop starts a cluster, checks its version and that Stop leaves
// nothing of it running.
func TestStartStop(t *testing.T) {
	c := Start(t)
	v, err := c.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v != Version {
		t.Logf("cluster runs Ray %s, raytest is written against %s", v, Version)
	}
	c.Stop()
	if _, err := http.Get(c.Address + "/api/version"); err == nil {
		t.Fatalf("dashboard %s still answers after Stop", c.Address)
	}
	if err := syscall.Kill(-c.pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process group %d still has members (%v)", c.pgid, err)
	}
	if left := processesUnder(c.Dir); len(left) != 0 {
		t.Fatalf("processes left under %s: %v", c.Dir, left)
	}
}

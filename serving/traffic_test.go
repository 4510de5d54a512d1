package serving

import (
	"testing"
	"time"
)

// TestRequestCounterWindow: totals split 5xx from 4xx; the rate counts
// only the last RateWindow, and a bucket reused a minute later starts
// afresh.
func TestRequestCounterWindow(t *testing.T) {
	var c requestCounter
	t0 := time.Unix(1_000_000, 0)
	for i, code := range []int{200, 200, 503, 401} {
		c.add(t0.Add(time.Duration(i)*time.Second), code)
	}
	got := c.counts(t0.Add(3 * time.Second))
	if got.Requests != 4 || got.Errors != 1 || got.ClientErrors != 1 || got.Recent != 4 || got.RecentErrors != 1 || got.WindowS != 60 {
		t.Fatalf("counts %+v", got)
	}
	if got.PerSecond != 4.0/60 {
		t.Fatalf("rate %v, want 4/60", got.PerSecond)
	}
	// 61 s after the first request, only the last two are recent.
	if got := c.counts(t0.Add(61 * time.Second)); got.Recent != 2 || got.Requests != 4 {
		t.Fatalf("a minute later: %+v (want the last two recent: t0+2, t0+3)", got)
	}
	// The same slot a minute later: the old second is dropped.
	c.add(t0.Add(60*time.Second), 200)
	if got := c.counts(t0.Add(60 * time.Second)); got.Recent != 4 || got.Requests != 5 {
		t.Fatalf("after reusing a bucket: %+v", got)
	}
	// Nothing in the window: no rate.
	got = c.counts(t0.Add(10 * time.Minute))
	if got.Recent != 0 || got.PerSecond != 0 || got.Requests != 5 {
		t.Fatalf("ten minutes later: %+v", got)
	}
	sum := got.Sum(RequestCounts{Requests: 2, Errors: 1, Recent: 6, WindowS: 60})
	if sum.Requests != 7 || sum.Errors != 2 || sum.Recent != 6 || sum.PerSecond != 0.1 {
		t.Fatalf("sum %+v", sum)
	}
}

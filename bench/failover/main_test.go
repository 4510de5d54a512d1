package main

import (
	"strings"
	"testing"
)

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{50, 5}, {99, 10}, {100, 10}, {0, 1}, {10, 1}, {11, 2}} {
		if got := percentile(xs, c.p); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
	if xs[0] != 5 {
		t.Error("percentile sorted its input")
	}
}

func TestSummarize(t *testing.T) {
	runs := []run{
		{Series: "kill/sync", Report: &report{RTOSeconds: 9, Detection: 8, Resumed: 8.5, Acknowledged: 100, VerifyOK: true}},
		{Series: "kill/sync", Report: &report{RTOSeconds: 11, Acknowledged: 50, Missing: 2, MissingInReport: 1, Lost: 1, VerifyOK: false, Failure: "x"}},
		{Series: "kill/sync", Error: "timeout"},
		{Series: "pause/sync", Report: &report{RTOSeconds: 100}},
		{Series: "kill/gw", Report: &report{RTOSeconds: 2, Duplicates: 1, Rounds: []struct {
			RTOSeconds        float64 `json:"rto_seconds"`
			GatewayRTOSeconds float64 `json:"gateway_rto_seconds"`
		}{{2, 3}, {4, 9}}}},
	}
	s := summarize("kill/sync", runs)
	if s.Drills != 3 || s.Errors != 1 || s.RTOP50 != 9 || s.RTOMax != 11 || s.RTOP99 != 11 ||
		s.Acknowledged != 150 || s.Missing != 2 || s.InReport != 1 || s.Lost != 1 || s.VerifyFailed != 1 || s.Failed != 1 || s.DetectP50 != 8 {
		t.Fatalf("summary %+v", s)
	}
	md := table([]summary{s})
	if !strings.Contains(md, "| kill/sync | 3 | 9.00 s | 11.00 s | 11.00 s | - | 8.00 s | 8.50 s | 150 | 2 | 1 | 1 | 0 | 0 | 1 (+1 no report) |") {
		t.Fatalf("table:\n%s", md)
	}
	// Every round is a sample, the gateway's RTO in its own column.
	g := summarize("kill/gw", runs)
	if g.RTOMax != 4 || g.GatewayP50 != 3 || g.GatewayMax != 9 || g.Duplicates != 1 {
		t.Fatalf("gateway summary %+v", g)
	}
	if md := table([]summary{g}); !strings.Contains(md, "| 3.00 / 9.00 / 9.00 s |") {
		t.Fatalf("table:\n%s", md)
	}
}

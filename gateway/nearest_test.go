package gateway

import (
	"net/http"
	"testing"
	"time"
)

// TestNearest: scoring goes to the healthy region with the shortest
// measured round trip, step by step as measurements and health change.
func TestNearest(t *testing.T) {
	ms := time.Millisecond
	v := view{regions: []regionView{
		{name: "east", healthy: true},
		{name: "west", healthy: true},
		{name: "north", healthy: true},
	}}
	set := func(name string, healthy bool, rtt time.Duration) {
		for i := range v.regions {
			if v.regions[i].name == name {
				v.regions[i].healthy, v.regions[i].rtt = healthy, rtt
			}
		}
	}
	for i, s := range []struct {
		do    func()
		avoid map[string]bool
		want  string
	}{
		{func() {}, nil, "east"},                                      // nothing measured: configured order
		{func() { set("west", true, 40*ms) }, nil, "west"},            // a measured region beats unmeasured ones
		{func() { set("east", true, 90*ms) }, nil, "west"},            // the shorter round trip
		{func() { set("north", true, 5*ms) }, nil, "north"},           // a nearer one appears
		{func() {}, map[string]bool{"north": true}, "west"},           // it failed this request: the next nearest
		{func() { set("north", false, 5*ms) }, nil, "west"},           // it is down
		{func() { set("west", false, 40*ms) }, nil, "east"},           // only east is left
		{func() { set("east", false, 90*ms) }, nil, ""},               // nobody
		{func() { set("north", true, 5*ms) }, nil, "north"},           // back
		{func() { set("east", true, 5*ms) }, nil, "east"},             // a tie keeps the configured order
		{func() {}, map[string]bool{"east": true, "north": true}, ""}, // west is still down
	} {
		s.do()
		if got := v.nearest(s.avoid); got != s.want {
			t.Fatalf("step %d: nearest = %q, want %q (%+v)", i, got, s.want, v.regions)
		}
	}
}

func TestSmoothRTT(t *testing.T) {
	ms := time.Millisecond
	if got := smoothRTT(0, 8*ms); got != 8*ms {
		t.Fatalf("first sample: %v", got)
	}
	if got := smoothRTT(8*ms, 88*ms); got != 28*ms {
		t.Fatalf("one slow sample moves the estimate a quarter of the way: %v", got)
	}
	rtt := 100 * ms
	for range 20 {
		rtt = smoothRTT(rtt, 10*ms)
	}
	if rtt > 11*ms {
		t.Fatalf("a lasting change is followed: %v", rtt)
	}
}

// TestScoringGoesToTheNearestRegion: with one region slow to answer,
// scoring goes to the other, whatever the primary, and moves when that
// region goes down; writes still go to the primary.
func TestScoringGoesToTheNearestRegion(t *testing.T) {
	far := newFakeRegion(t, "far", true, 1)
	near := newFakeRegion(t, "near", false, 1)
	slow := make(chan struct{})
	defer close(slow)
	farSlow := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == StatusPath {
			select { // 150 ms behind, the only difference between the two
			case <-time.After(150 * time.Millisecond):
			case <-slow:
			}
		}
		far.serve(w, r)
	}
	far.srv.Config.Handler = http.HandlerFunc(farSlow)
	g, hs := startGateway(t, Config{CheckEvery: 20 * time.Millisecond, Timeout: time.Second}, far, near)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := g.Status()
		if len(st.Regions) == 2 && st.Regions[0].RTTMillis > 0 && st.Regions[1].RTTMillis > 0 &&
			st.Regions[0].RTTMillis > 2*st.Regions[1].RTTMillis {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("round trips never measured apart: %+v", st.Regions)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 5 {
		if code, m, _ := post(t, hs.URL+"/endpoints/iris/score", `{"inputs":[[1]]}`); code != 200 || m["region"] != "near" {
			t.Fatalf("scoring: %d from %q, want the near region", code, m["region"])
		}
	}
	if code, m, _ := post(t, hs.URL+"/api/2.0/mlflow/experiments/create", `{"name":"x"}`); code != 200 || m["region"] != "far" {
		t.Fatalf("a write: %d from %q, want the primary", code, m["region"])
	}
	near.srv.Close()
	if code, m, _ := post(t, hs.URL+"/endpoints/iris/score", `{"inputs":[[1]]}`); code != 200 || m["region"] != "far" {
		t.Fatalf("scoring with the near region down: %d from %q, want far", code, m["region"])
	}
}

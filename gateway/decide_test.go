package gateway

import (
	"testing"
	"time"
)

// step is one moment of a scenario: at (from the start), an event changes
// what the gateway knows, then the decisions are checked: where a write
// goes now, and whether the write sent to region a in epoch 1 at the start
// must be given up.
type step struct {
	at      time.Duration
	event   func(v *view, now time.Time)
	primary string
	abandon bool
}

func status(name, role string, epoch int64) func(*view, time.Time) {
	return func(v *view, now time.Time) {
		for i := range v.regions {
			r := &v.regions[i]
			if r.name == name {
				r.healthy, r.role, r.epoch = true, role, epoch
				if role == "primary" {
					r.primarySeen = now
				}
			}
		}
	}
}

// down: a health check of name failed (timed out: the region is paused).
func down(name string) func(*view, time.Time) {
	return func(v *view, now time.Time) {
		for i := range v.regions {
			if v.regions[i].name == name {
				v.regions[i].healthy = false
			}
		}
	}
}

// lease: the witness answered holder@epoch with ttl left (0: expired).
func lease(holder string, epoch int64, ttl time.Duration) func(*view, time.Time) {
	return func(v *view, now time.Time) {
		v.lease = leaseView{known: true, seen: now, holder: holder, epoch: epoch}
		if ttl > 0 {
			v.lease.expires = now.Add(ttl)
		}
	}
}

func both(fs ...func(*view, time.Time)) func(*view, time.Time) {
	return func(v *view, now time.Time) {
		for _, f := range fs {
			f(v, now)
		}
	}
}

const ms = time.Millisecond

func TestDecide(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	scenarios := []struct {
		name  string
		ttl   time.Duration
		steps []step
	}{
		{"witness: primary paused, lease runs out, b takes over", 2 * time.Second, []step{
			{0, both(status("a", "primary", 1), status("b", "secondary", 1), lease("a", 1, 2*time.Second)), "a", false},
			{500 * ms, lease("a", 1, 2*time.Second), "a", false}, // renewed: runs to 2.5s
			{1000 * ms, down("a"), "", false},                    // paused: new writes wait, the lease still runs
			{2400 * ms, lease("a", 1, 100*ms), "", false},        // not renewed
			{2499 * ms, nil, "", false},
			{2500 * ms, nil, "", true}, // the lease ran out: a cannot commit any more
			{2600 * ms, lease("a", 1, 0), "", true},
			{3000 * ms, lease("b", 2, 2*time.Second), "b", true}, // b took over: writes go there at once
			{3200 * ms, status("b", "primary", 2), "b", true},
			{4000 * ms, status("a", "primary", 1), "b", true}, // a woke up, still thinks it is primary
		}},
		{"witness: planned switchover to b", 2 * time.Second, []step{
			{0, both(status("a", "primary", 1), status("b", "secondary", 1), lease("a", 1, 2*time.Second)), "a", false},
			{100 * ms, lease("b", 2, 2*time.Second), "b", true},
		}},
		{"witness: a renews while a request is slow", 2 * time.Second, []step{
			{0, both(status("a", "primary", 1), status("b", "secondary", 1), lease("a", 1, 2*time.Second)), "a", false},
			{1000 * ms, lease("a", 1, 2*time.Second), "a", false},
			{2000 * ms, lease("a", 1, 2*time.Second), "a", false},
			{3900 * ms, both(status("a", "primary", 1), lease("a", 1, 2*time.Second)), "a", false},
		}},
		{"witness unreachable: its last word holds for 3 TTLs, then status", 2 * time.Second, []step{
			{0, both(status("a", "primary", 1), status("b", "secondary", 1), lease("a", 1, 2*time.Second)), "a", false},
			{1000 * ms, status("a", "primary", 1), "a", false},
			{2000 * ms, status("a", "primary", 1), "", true}, // the lease as last read ran out
			{6000 * ms, status("a", "primary", 1), "", true},
			{6001 * ms, status("a", "primary", 1), "a", false}, // stale witness: a says it is primary, within a TTL
		}},
		{"no witness, lease TTL known: a paused", 2 * time.Second, []step{
			{0, both(status("a", "primary", 1), status("b", "secondary", 1)), "a", false},
			{1000 * ms, down("a"), "", false},
			{1999 * ms, nil, "", false},
			{2000 * ms, nil, "", true}, // a said primary at 0: it cannot write past 2s
			{2500 * ms, status("b", "primary", 2), "b", true},
		}},
		{"no witness, no TTL: only a newer primary ends the wait", 0, []step{
			{0, both(status("a", "primary", 1), status("b", "secondary", 1)), "a", false},
			{1000 * ms, down("a"), "", false},
			{60 * time.Second, nil, "", false},
			{61 * time.Second, status("b", "primary", 2), "b", true},
		}},
		{"no witness: a fenced primary gets no writes", 2 * time.Second, []step{
			{0, both(status("a", "primary", 1), status("b", "secondary", 1)), "a", false},
			{500 * ms, status("a", "primary-fenced", 1), "", false},
			{2000 * ms, status("a", "primary-fenced", 1), "", true},
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			v := view{ttl: sc.ttl, regions: []regionView{{name: "a"}, {name: "b"}, {name: "c"}}}
			f := flight{region: "a", epoch: 1}
			for i, s := range sc.steps {
				now := start.Add(s.at)
				if s.event != nil {
					s.event(&v, now)
				}
				if p, _ := v.primary(now, nil); p != s.primary {
					t.Errorf("step %d (%s): writes go to %q, want %q", i, s.at, p, s.primary)
				}
				if ab, why := v.abandon(f, now); ab != s.abandon {
					t.Errorf("step %d (%s): abandon the write in flight to a = %v (%s), want %v", i, s.at, ab, why, s.abandon)
				}
			}
		})
	}
}

func TestDecideAvoid(t *testing.T) {
	now := time.Now()
	v := view{regions: []regionView{{name: "a", healthy: true, role: "primary", epoch: 1}, {name: "b", healthy: true, role: "primary", epoch: 2}}}
	if p, e := v.primary(now, nil); p != "b" || e != 2 {
		t.Fatalf("newest epoch: %s %d", p, e)
	}
	if p, _ := v.primary(now, map[string]bool{"b": true}); p != "a" {
		t.Fatalf("avoiding b: %s", p)
	}
	lease("a", 3, time.Second)(&v, now)
	if p, e := v.primary(now, nil); p != "a" || e != 3 {
		t.Fatalf("the witness's holder: %s %d", p, e)
	}
	if p, _ := v.primary(now, map[string]bool{"a": true}); p != "" {
		t.Fatalf("the holder avoided: %s", p)
	}
}

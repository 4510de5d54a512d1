package gateway

import "time"

// The gateway's three decisions, kept free of I/O so that they can be tested
// step by step on a fake clock: where a write goes (primary), which region
// answers a request every region answers alike (nearest), and whether a
// request already sent to a region as the primary must be given up
// (abandon). The gateway feeds them what it last learned from the regions'
// status endpoints and headers and from the witness, and the time.

// view is what the gateway knows at one moment.
type view struct {
	regions []regionView
	lease   leaseView
	// ttl is the workspace's lease TTL (zero: unknown). A region that said
	// it is primary with writes allowed at t held a lease that was renewed
	// no later than t, so it cannot write after t+ttl unless it says so
	// again: past that, requests waiting on it are given up.
	ttl time.Duration
}

// regionView is one region as its status endpoint last described it.
type regionView struct {
	name    string
	healthy bool
	role    string // "primary", "primary-fenced", "secondary", "" (unknown)
	epoch   int64
	// primarySeen is when the region last answered that it is primary
	// with writes allowed (zero: never).
	primarySeen time.Time
	// rtt is the smoothed round trip of its status checks (zero: not
	// measured yet).
	rtt time.Duration
}

// leaseView is the lease as the gateway last read it from the witness.
type leaseView struct {
	known  bool      // the witness answered at least once
	seen   time.Time // when it last answered
	holder string    // "" when nobody holds it
	epoch  int64
	// expires is when the lease runs out at the latest, on the gateway's
	// clock: the time the answer arrived plus the TTL left it reported.
	// The witness counted that TTL before it answered, so the lease ran
	// out at the witness no later than this.
	expires time.Time
}

// leaseStale is how long, in lease TTLs, the gateway trusts the last
// answer of a witness it cannot reach any more before it falls back to
// the regions' own status (the regions may still reach the witness when
// the gateway cannot).
const leaseStale = 3

// fresh reports whether the witness's last answer still decides routing.
func (v view) fresh(now time.Time) bool {
	if !v.lease.known {
		return false
	}
	if v.ttl <= 0 {
		return true
	}
	return now.Sub(v.lease.seen) <= leaseStale*v.ttl
}

func (v view) region(name string) (regionView, bool) {
	for _, r := range v.regions {
		if r.name == name {
			return r, true
		}
	}
	return regionView{}, false
}

// expired reports whether r's own word as primary has run out: it has not
// said it is primary for a lease TTL.
func (v view) expired(r regionView, now time.Time) bool {
	return v.ttl > 0 && !r.primarySeen.IsZero() && !now.Before(r.primarySeen.Add(v.ttl))
}

// primary returns the region writes go to now and its epoch, or "" when
// none may take them yet (the request waits). With a fresh witness answer,
// that is the lease's holder while the lease runs, if the gateway can
// reach it; nobody once the lease ran out (the old primary stops writing
// then and the new one has not taken over yet). Without one, it is the
// reachable region in the newest epoch that says it is primary and has
// said so within a lease TTL.
func (v view) primary(now time.Time, avoid map[string]bool) (string, int64) {
	if v.fresh(now) {
		l := v.lease
		if l.holder == "" || !now.Before(l.expires) || avoid[l.holder] {
			return "", 0
		}
		r, ok := v.region(l.holder)
		if !ok || !r.healthy {
			return "", 0
		}
		return r.name, max(l.epoch, r.epoch)
	}
	best, epoch := "", int64(-1)
	for _, r := range v.regions {
		if r.healthy && r.role == "primary" && !avoid[r.name] && !v.expired(r, now) && r.epoch > epoch {
			best, epoch = r.name, r.epoch
		}
	}
	return best, max(epoch, 0)
}

// flight is a request sent to a region as the primary and not answered yet.
type flight struct {
	region string
	epoch  int64 // the epoch the gateway believed current when it sent it
}

// abandon reports whether the gateway must stop waiting for f's answer,
// and why: the witness names another holder, or the lease f's region held
// has run out as far as the gateway knows (then that region can no longer
// commit anything: by the witness's last answer or, without a fresh one,
// a lease TTL after the region last said it is primary), or another region
// is primary in a newer epoch.
func (v view) abandon(f flight, now time.Time) (bool, string) {
	if v.fresh(now) {
		l := v.lease
		if l.holder != f.region {
			if l.holder == "" {
				return true, "the witness holds no lease for " + f.region
			}
			return true, "the witness names " + l.holder + " primary"
		}
		if !now.Before(l.expires) {
			return true, "the lease of " + f.region + " expired"
		}
	} else if r, ok := v.region(f.region); ok && v.expired(r, now) {
		return true, f.region + " has not confirmed its lease for a lease TTL"
	}
	for _, r := range v.regions {
		if r.name != f.region && r.healthy && r.role == "primary" && r.epoch > f.epoch {
			return true, r.name + " is primary in a newer epoch"
		}
	}
	return false, ""
}

// nearest returns the healthy region not in avoid with the shortest
// measured round trip: where a request that every region answers alike
// (scoring with an online endpoint) goes. A region not measured yet counts
// as the farthest; ties keep the configured order. "" when none is healthy.
func (v view) nearest(avoid map[string]bool) string {
	best, bestRTT := "", time.Duration(0)
	for _, r := range v.regions {
		if !r.healthy || avoid[r.name] {
			continue
		}
		if best == "" || (r.rtt > 0 && (bestRTT == 0 || r.rtt < bestRTT)) {
			best, bestRTT = r.name, r.rtt
		}
	}
	return best
}

// smoothRTT folds a new round-trip sample into the running estimate
// (an exponentially weighted mean giving the sample a quarter), so that one
// slow check on a noisy host does not move scoring to another region.
func smoothRTT(old, sample time.Duration) time.Duration {
	if old <= 0 {
		return sample
	}
	return old + (sample-old)/4
}

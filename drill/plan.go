package drill

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/leader"
)

// The drill's decisions, kept apart from its processes so that tests can
// check them: which faults exist and how long they last, where each
// region's workspace file points, which links a partition cuts, and how
// the clients' acknowledgements become an RTO and an RPO.

// Faults are the faults `tandem drill --fault` injects.
var Faults = tandem.DrillFaults

// faultHold is how long a pause or a partition lasts at least: longer than
// the lease, so that the old primary's lease expires and another region
// takes over while it is away. Kill and switchover hold nothing.
func faultHold(fault string, lease time.Duration) time.Duration {
	switch fault {
	case "pause", "partition":
		return lease + lease/2 + time.Second
	}
	return 0
}

// faultJitter is a random delay in [0, lease/4), the primary's renewal
// interval, added to the load before the fault so that drills sample every
// point of the renewal cycle (the time left on the lease at the fault).
func faultJitter(lease time.Duration) time.Duration {
	if lease < 4 {
		return 0
	}
	return rand.N(lease / 4)
}

// ack is one write a drill client saw acknowledged.
type ack struct {
	via    string // viaDirect or viaGateway
	region string
	name   string
	pos    tandem.Position
	at     time.Time
}

// measureRTO finds the first acknowledgement in an epoch newer than oldE
// (the new primary's first) and the last one oldP gave in oldE. ok is false
// while no write has been acknowledged in a newer epoch.
func measureRTO(acks []ack, oldP string, oldE int64) (first ack, lastOld time.Time, ok bool) {
	for _, a := range acks {
		if a.pos.Epoch > oldE && (!ok || a.at.Before(first.at)) {
			first, ok = a, true
		}
		if a.region == oldP && a.pos.Epoch == oldE && a.at.After(lastOld) {
			lastOld = a.at
		}
	}
	return first, lastOld, ok
}

// rpo classifies the acknowledged writes missing from the new
// primary's history.
type rpo struct {
	Missing      int // acknowledged, not in the new primary's history
	InDivergence int // of those, kept in a divergence report
	Lost         int // of those, in no divergence report: dropped silently
}

// classifyRPO counts acknowledged writes that present says are missing
// from the new history, split by whether a divergence report holds them.
func classifyRPO(acks []ack, present func(name string) bool, divergent func(name string) bool) rpo {
	var r rpo
	for _, a := range acks {
		if present(a.name) {
			continue
		}
		r.Missing++
		if divergent(a.name) {
			r.InDivergence++
		} else {
			r.Lost++
		}
	}
	return r
}

// failure says why a drill's outcome breaks an invariant or a target,
// or "" when it passes: verify must pass, sync mode loses nothing
// acknowledged, async mode keeps every missing write in a divergence
// report.
func failure(rep *Report) string {
	var why []string
	if !rep.VerifyOK {
		why = append(why, "verify failed")
	}
	if rep.DurabilityMode == "sync" && rep.MissingAfter > 0 {
		why = append(why, fmt.Sprintf("%d acknowledged writes missing in sync mode", rep.MissingAfter))
	}
	if rep.Lost > 0 {
		why = append(why, fmt.Sprintf("%d acknowledged writes missing and in no divergence report", rep.Lost))
	}
	return strings.Join(why, "; ")
}

// link is one directed network path of a partitioned local drill:
// From reaches To through a proxy. To is a region name or "witness".
type link struct{ From, To string }

// allLinks lists every path a region uses: to each other region and to
// the witness.
func allLinks(regions []string) []link {
	var out []link
	for _, f := range regions {
		for _, t := range regions {
			if t != f {
				out = append(out, link{f, t})
			}
		}
		out = append(out, link{f, "witness"})
	}
	return out
}

// partitionCuts is what a partition of victim cuts: every path from it and
// every path to it. The other regions keep reaching each other and the
// witness.
func partitionCuts(links []link, victim string) []link {
	var out []link
	for _, l := range links {
		if l.From == victim || l.To == victim {
			out = append(out, l)
		}
	}
	return out
}

// region is one region of a drill workspace.
type region struct {
	Name, URL, Metadata, Artifacts string
}

// workspaceFile is a drill's workspace.yaml as seen from region self
// (self "" is the operator's view: the real addresses). via maps the
// destinations self reaches through a proxy (a region name or "witness")
// to the proxy's address; self's own URL is always its real one.
func workspaceFile(mode string, lease time.Duration, witness string, regions []region, self string, via map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "workspace: drill\nprimary: %s\npeer_key: {file: peer.key}\nwitness_key: {file: witness.key}\nforward_writes: false\nauth: {mode: off}\n", regions[0].Name)
	if a, ok := via["witness"]; ok && self != "" {
		witness = "http://" + a
	}
	fmt.Fprintf(&b, "durability: {mode: %s, timeout: 3s, on_no_ack: fail}\nwitness: %s\nfailover: automatic\nlease_ttl: %s\ncooldown: 1s\nregions:\n", mode, witness, lease)
	for _, r := range regions {
		u := r.URL
		if a, ok := via[r.Name]; ok && self != "" && r.Name != self {
			u = "http://" + a
		}
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n", r.Name, u)
		if u != r.URL {
			fmt.Fprintf(&b, "    listen: %s\n", strings.TrimPrefix(r.URL, "http://"))
		}
		fmt.Fprintf(&b, "    metadata: %q\n    artifacts: %q\n", r.Metadata, r.Artifacts)
	}
	return b.String()
}

func ValidFault(f string) bool { return slices.Contains(Faults, f) }

// bestSecondary is the switchover target of a live drill: of the regions
// (in the workspace file's order) that answered and follow primary as
// secondaries, the one that has applied the most; "" when none does.
func bestSecondary(names []string, sts map[string]*leader.StatusDoc, primary string) string {
	best := ""
	for _, n := range names {
		st := sts[n]
		if n == primary || st == nil || st.Role != tandem.RoleSecondary || st.Primary != primary {
			continue
		}
		if best == "" || st.Head.Seq > sts[best].Head.Seq {
			best = n
		}
	}
	return best
}

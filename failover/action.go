package failover

import (
	"fmt"
	"time"

	"github.com/tandemml/tandem"
)

// ActionKind says what an Action asks the caller to do.
type ActionKind int

const (
	// Witness requests. Each carries an ID; the caller performs it and
	// reports the outcome with Machine.LeaseResult(now, ID, lease, err).
	Acquire ActionKind = iota + 1 // CompareAndSwap(Prev, Lease): take the expired lease with a higher epoch
	Renew                         // CompareAndSwap(Prev, Lease): extend our own lease
	Release                       // CompareAndSwap(Prev, Lease): give our lease up at once (TTL 0), naming Target as successor
	Fence                         // CompareAndSwap(Prev, Lease): put a lease nobody can renew at a witness that lost its state
	Observe                       // Get: read the lease

	// Region actions.
	StopWrites  // refuse writes from now on (the Gate already does; close in-flight work)
	StartWrites // this region is primary in Epoch: stop applying replicated entries, then accept writes
	Follow      // Target is primary in Epoch: check for a divergent tail, rewind it, replicate from Target
	CatchUp     // planned switchover: bring Target up to our last entry, then call Machine.CaughtUp
)

var actionNames = map[ActionKind]string{Acquire: "acquire", Renew: "renew", Release: "release", Fence: "fence", Observe: "observe",
	StopWrites: "stop-writes", StartWrites: "start-writes", Follow: "follow", CatchUp: "catch-up"}

func (k ActionKind) String() string {
	if s, ok := actionNames[k]; ok {
		return s
	}
	return fmt.Sprintf("action(%d)", int(k))
}

// IsWitness reports whether the action is a request to the witness.
func (k ActionKind) IsWitness() bool { return k >= Acquire && k <= Observe }

// Action is one thing the caller must do. Fields are set per kind.
type Action struct {
	Kind   ActionKind
	ID     uint64       // witness requests: echo it in LeaseResult
	Prev   tandem.Lease // Acquire/Renew/Release/Fence: the lease expected at the witness
	Lease  tandem.Lease // Acquire/Renew/Release/Fence: the lease to write
	Epoch  int64        // StartWrites, StopWrites, Follow, CatchUp: the epoch concerned
	Target string       // Follow: the new primary; CatchUp/Release: the switchover target
	Reason string       // StopWrites/StartWrites: why, for logs and history
	// DetectedAt (StartWrites after a failover): when this region first saw
	// the old lease expired, on the monotonic clock. Zero for a bootstrap.
	DetectedAt time.Duration
	// DetectedTime is DetectedAt as a wall-clock time, filled in by Node
	// (for `tandem history`).
	DetectedTime time.Time
	// StartWrites: the previous primary ("" at bootstrap) and how many
	// journal entries this region knew existed (its peers' last reported
	// heads) but did not hold when it took over: what may be lost, or found
	// later in a divergence report.
	Previous string
	AtRisk   int64
}

func (a Action) String() string {
	switch a.Kind {
	case Acquire, Renew, Release, Fence:
		return fmt.Sprintf("%s#%d %s->%s", a.Kind, a.ID, a.Prev, a.Lease)
	case Observe:
		return fmt.Sprintf("%s#%d", a.Kind, a.ID)
	case Follow, CatchUp:
		return fmt.Sprintf("%s %s e%d", a.Kind, a.Target, a.Epoch)
	}
	return fmt.Sprintf("%s e%d (%s)", a.Kind, a.Epoch, a.Reason)
}

// SwitchoverState is the progress of an operator's switchover as this
// region sees it.
type SwitchoverState struct {
	Target string `json:"target"`
	Force  bool   `json:"force"`
	// Phase: "catching-up" (primary waits for the target), "releasing"
	// (lease being handed over), "released" (done on the old primary),
	// "waiting-lease" (forced, on the target), "aborted".
	Phase string `json:"phase"`
	Error string `json:"error,omitempty"`
}

// Ready is what Machine.Ready returns: the actions to perform, in order,
// and the state after them.
type Ready struct {
	Actions []Action
	Role    tandem.Role
	Epoch   int64  // newest epoch seen
	Primary string // primary of Epoch as far as known ("" unknown)
	// WritesAllowed: the region may accept writes at the time of the last
	// event, in Epoch. Always ask Machine.CanWrite with a fresh clock
	// reading before committing (this is what Node.WriteEpoch does).
	WritesAllowed bool
	WriteDeadline time.Duration // when the current lease confirmation runs out (primary only)
	Lease         tandem.Lease  // last lease read from the witness
	Switchover    *SwitchoverState
	Rejected      int // inputs rejected so far because they carried an older epoch
	// Behind is how many journal entries other regions were last known to
	// hold that this one does not: what a forced promotion here may lose.
	Behind int64
}

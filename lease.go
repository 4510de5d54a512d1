package tandem

import (
	"context"
	"fmt"
	"time"
)

// Lease is the leadership lease a witness holds for a workspace: which region
// is primary, in which epoch, for how much longer. Epoch is the fencing
// token: it only ever grows at the witness.
//
// TTL is measured on the witness's own clock. In a lease returned by a
// witness it is the time left (zero or less: expired); in a lease passed to
// CompareAndSwap it is the duration asked for, counted from when the witness
// handles the request (zero releases the lease at once). A holder must count
// its lease from the moment it SENT the request, never from the reply, so
// that a slow or paused network can only make it stop writing earlier.
type Lease struct {
	Holder string        `json:"holder"`
	Epoch  int64         `json:"epoch"`
	TTL    time.Duration `json:"ttl"`
	// Next names the region a released lease was handed to (planned
	// switchover). Other regions give it a head start before competing.
	Next string `json:"next,omitempty"`
	// Sync names the sync standby (durability: sync): the region that
	// holds every write the primary acknowledged. Only it may take the
	// lease automatically when it expires. The primary sets it through
	// its own renewals; it equals Holder right after a takeover (no
	// standby named yet) and is empty in async mode, or when the primary
	// degraded to async (on_no_ack: degrade). Witnesses store it with the
	// lease and return it, expired or not, but never judge it.
	Sync string `json:"sync,omitempty"`
	// Rev is the revision of the lease record at the witness: the witness
	// raises it on every successful CompareAndSwap and returns it with
	// the lease. A CompareAndSwap whose prev carries a Rev other than the
	// current one is refused, so a request that was delayed in the
	// network (a renewal the holder gave up on) can never land after a
	// newer one and write back an older Sync. Zero in prev means "not
	// known" (a caller or witness from before revisions): then only Holder
	// and Epoch are compared. Callers send back, unchanged, the Rev of the
	// last lease the witness returned; its value means nothing else.
	Rev int64 `json:"rev,omitempty"`
}

// Expired reports whether the lease, as returned by a witness, has run out
// (or was never taken).
func (l Lease) Expired() bool { return l.TTL <= 0 || l.Holder == "" }

// Same reports whether l and m name the same holder and epoch: the identity
// CompareAndSwap compares (together with Rev, when prev carries one).
func (l Lease) Same(m Lease) bool { return l.Holder == m.Holder && l.Epoch == m.Epoch }

func (l Lease) String() string {
	if l.Holder == "" {
		return fmt.Sprintf("none@%d", l.Epoch)
	}
	if l.Sync != "" {
		return fmt.Sprintf("%s@%d(ttl %s, sync %s)", l.Holder, l.Epoch, l.TTL, l.Sync)
	}
	return fmt.Sprintf("%s@%d(ttl %s)", l.Holder, l.Epoch, l.TTL)
}

// Witness holds the leadership lease outside the regions. Implementations:
// package witness (the built-in HTTP witness and etcd). Every region of a
// workspace talks to the same witness; the lease is named by the workspace.
//
// CompareAndSwap(prev, next) replaces the current lease cur with next, and
// returns the new lease, when all of these hold:
//
//   - cur.Same(prev) (the zero Lease matches a witness that holds none),
//     and prev.Rev is zero or equals cur.Rev (the new lease gets a Rev
//     above every one the witness returned before);
//   - if cur has not expired: next.Holder == cur.Holder and next.Epoch ==
//     cur.Epoch (a renewal, or a release when next.TTL is zero);
//   - if cur has expired: next.Epoch > cur.Epoch (a takeover);
//   - next.Holder is not empty and next.TTL is not negative.
//
// Otherwise it returns the current lease and an ECONFLICT *Error, so the
// caller learns who holds it. A witness that cannot be reached returns an
// EUNAVAILABLE error; the caller then knows nothing about the outcome.
// These rules make the witness the one place where exactly one region can
// win a takeover, and where an unexpired lease can never be taken away.
type Witness interface {
	// Get returns the current lease. An expired lease keeps its holder,
	// epoch, Next and Sync, with a TTL of zero; a witness that never held one
	// returns the zero Lease.
	Get(ctx context.Context) (Lease, error)
	CompareAndSwap(ctx context.Context, prev, next Lease) (Lease, error)
	Close() error
}

// EpochRecord is one change of primary, as the journal records it (the
// failover.epoch entry a new primary commits first) and `tandem history`
// shows it.
type EpochRecord struct {
	Epoch      int64  `json:"epoch"`
	Primary    string `json:"primary"`
	Previous   string `json:"previous"`
	Reason     string `json:"reason"`
	DetectedMS int64  `json:"detected_ms"` // when the old primary's loss was detected (0: not a failover)
	ResumedMS  int64  `json:"resumed_ms"`  // when the new primary accepted its first write
	AtRisk     int64  `json:"at_risk"`     // entries known to exist that the new primary did not hold
	Seq        int64  `json:"seq,omitempty"`
}

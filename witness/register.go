// Package witness holds the leadership lease of a workspace outside its
// regions. It implements tandem.Witness three ways: Memory (in-process, for
// tests and single-machine setups), Client (the built-in `tandem witness`
// HTTP server, Server in this package) and Etcd (go.etcd.io/etcd/client/v3).
// Open chooses one by URL.
package witness

import (
	"time"

	"github.com/tandemml/tandem"
)

// Register is the lease of one workspace and the compare-and-swap rules of
// tandem.Witness, measured on the caller-supplied clock (the witness's own).
// It does no I/O and is not safe for concurrent use: Memory and Server wrap
// it with a lock.
type Register struct {
	Holder    string
	Epoch     int64
	Next      string
	Sync      string
	Rev       int64         // raised by every successful CompareAndSwap
	ExpiresAt time.Duration // on the witness's monotonic clock
}

// Lease returns the lease as seen at now.
func (r *Register) Lease(now time.Duration) tandem.Lease {
	l := tandem.Lease{Holder: r.Holder, Epoch: r.Epoch, Next: r.Next, Sync: r.Sync, Rev: r.Rev}
	if r.Holder != "" && r.ExpiresAt > now {
		l.TTL = r.ExpiresAt - now
	}
	return l
}

// CompareAndSwap applies the rules documented on tandem.Witness at now. It
// returns the new lease, or the current one with an ECONFLICT error (or
// EINVALID for a malformed next).
func (r *Register) CompareAndSwap(now time.Duration, prev, next tandem.Lease) (tandem.Lease, error) {
	cur := r.Lease(now)
	if err := CheckSwap(cur, prev, next); err != nil {
		return cur, err
	}
	r.Holder, r.Epoch, r.Next, r.Sync, r.ExpiresAt = next.Holder, next.Epoch, next.Next, next.Sync, now+next.TTL
	r.Rev++
	return r.Lease(now), nil
}

// CheckSwap says whether a witness whose current lease is cur may replace
// it with next for a caller that expects prev: the rules of tandem.Witness,
// written once for every backend.
func CheckSwap(cur, prev, next tandem.Lease) error {
	switch {
	case next.Holder == "":
		return tandem.Errorf(tandem.EINVALID, "witness: the new lease has no holder")
	case next.TTL < 0:
		return tandem.Errorf(tandem.EINVALID, "witness: negative lease TTL")
	case next.Epoch <= 0:
		return tandem.Errorf(tandem.EINVALID, "witness: epochs start at 1")
	case !cur.Same(prev):
		return tandem.Errorf(tandem.ECONFLICT, "witness: lease is %s, not %s", cur, prev)
	case prev.Rev != 0 && prev.Rev != cur.Rev:
		// A request built on an older (or newer: a witness that lost
		// state) revision of this lease: a delayed duplicate must not
		// undo a change made since.
		return tandem.Errorf(tandem.ECONFLICT, "witness: lease %s is at revision %d, not %d", cur, cur.Rev, prev.Rev)
	case !cur.Expired() && (next.Holder != cur.Holder || next.Epoch != cur.Epoch):
		return tandem.Errorf(tandem.ECONFLICT, "witness: lease %s has not expired", cur)
	case cur.Expired() && next.Epoch <= cur.Epoch:
		return tandem.Errorf(tandem.ECONFLICT, "witness: lease %s expired; a takeover needs an epoch above %d", cur, cur.Epoch)
	}
	return nil
}

// Package replication ships a primary region's journal and artifacts to its
// secondaries, and serves what the other regions and the CLI need to see
// and check it: lag, bootstrap progress, checksums.
//
// Primary side (Service.Handler, under /api/tandem/v1/replication/, peer
// key required except for status and checksum):
//
//	GET journal?after=SEQ&after_epoch=E&epoch=E&region=NAME&wait=MS&limit=N
//	    entries after SEQ (long-poll up to wait). Entries of kinds whose
//	    policy is not continuous arrive as tandem.OpSkip placeholders.
//	    409 (INVALID_STATE) when the caller's history diverges at SEQ or the
//	    caller knows a newer epoch than this region (this primary is stale).
//	GET deferred?kind=K&after=SEQ&upto=SEQ&limit=N  real entries of a
//	    snapshot-policy kind, for the periodic catch-up
//	GET blob?path=P          artifact bytes, streamed; X-Tandem-SHA256 header
//	GET snapshot             a consistent snapshot (NDJSON, see snapshot.go)
//	GET status               role, head, followers and their lag (JSON)
//	GET checksum?upto=SEQ    per-kind journal digests, table digests and
//	    (artifacts=1) artifact digests for verify
//
// Secondary side (Follower): bootstrap from a snapshot when the region is
// new, then follow the journal: for each entry fetch its blobs, check their
// SHA-256, store them, then sqlstore.Apply the entry, in order.
//
// Frontend wraps a region's HTTP handler: role headers on every response,
// write forwarding (or refusal) on secondaries, read-your-writes after a
// forwarded write, and sync durability on the primary.
package replication

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// Prefix is where the replication endpoints live.
const Prefix = "/api/tandem/v1/replication/"

// HTTP headers tandem adds.
const (
	HeaderRegion    = "X-Tandem-Region"    // the region that served the response
	HeaderRole      = "X-Tandem-Role"      // its role (primary, secondary)
	HeaderPosition  = "X-Tandem-Position"  // journal position after a write ("epoch/seq")
	HeaderForwarded = "X-Tandem-Forwarded" // on a forwarded write: the secondary that forwarded it
	HeaderPrimary   = "X-Tandem-Primary"   // on a forwarded response: the primary that served it
	HeaderSHA256    = "X-Tandem-SHA256"    // on a blob: its digest
	HeaderRYW       = "X-Tandem-Read-Your-Writes"
	// HeaderEpoch: on a response, the epoch of the region that served it;
	// on a forwarded write, the epoch the forwarding region believes
	// current (a fencing token: see Frontend).
	HeaderEpoch = "X-Tandem-Epoch"
)

// ReasonStaleEpoch is details.reason of the TEMPORARILY_UNAVAILABLE error
// a region answers to a forwarded write that carries an epoch older than
// the newest it has seen; details.epoch is that newest epoch. The
// forwarder learns the new epoch, finds the current primary and retries.
const ReasonStaleEpoch = "stale_epoch"

// ReasonNewerEpoch is details.reason when a forwarded write carries a
// newer epoch than the receiving region's: it is not the primary of that
// epoch. The receiver does not believe the (unauthenticated) header; its
// lease and its peers tell it whether it lost its role.
const ReasonNewerEpoch = "newer_epoch"

// JournalResponse is the answer to GET journal.
type JournalResponse struct {
	Entries []tandem.Entry  `json:"entries"`
	Head    tandem.Position `json:"head"`  // primary's head when the batch was read
	Epoch   int64           `json:"epoch"` // primary's current epoch
}

// FollowerStatus is one secondary's progress, as the primary (from its
// requests) or the secondary itself sees it.
type FollowerStatus struct {
	Region       string           `json:"region"`
	Applied      tandem.Position  `json:"applied"`
	LagEntries   int64            `json:"lag_entries"`
	LagBytes     int64            `json:"lag_bytes"`
	LagSeconds   float64          `json:"lag_seconds"`
	LastSeen     *time.Time       `json:"last_seen,omitempty"`
	LastApply    *time.Time       `json:"last_apply,omitempty"`
	LastError    string           `json:"last_error,omitempty"`
	LastErrorAt  *time.Time       `json:"last_error_at,omitempty"`
	PrimaryHead  tandem.Position  `json:"primary_head"`
	Bootstrap    *Progress        `json:"bootstrap,omitempty"`
	Lacking      map[string]int   `json:"lacking,omitempty"`  // kind -> entries not replicated (policy none)
	Deferred     map[string]int   `json:"deferred,omitempty"` // kind -> entries waiting for the next snapshot
	SnapshotUpTo map[string]int64 `json:"snapshot_upto,omitempty"`
	// ApplyBlocked is the first entry of the batch this secondary failed
	// to apply at its last attempt (LastError says why), nil once an apply
	// succeeds. The entry is retried, never skipped: while it is set, the
	// region falls further behind.
	ApplyBlocked *tandem.Position `json:"apply_blocked,omitempty"`
}

// Progress is a bootstrap's progress.
type Progress struct {
	Phase      string          `json:"phase"` // metadata, artifacts, done
	Position   tandem.Position `json:"position"`
	Rows       int64           `json:"rows"`
	BlobsTotal int64           `json:"blobs_total"`
	BlobsDone  int64           `json:"blobs_done"`
	BytesTotal int64           `json:"bytes_total"`
	BytesDone  int64           `json:"bytes_done"`
}

// Status is the answer to GET status.
type Status struct {
	Workspace  string            `json:"workspace,omitempty"`
	Region     string            `json:"region"`
	URL        string            `json:"url,omitempty"`
	Role       tandem.RoleState  `json:"role"`
	Head       tandem.Position   `json:"head"`
	Durability string            `json:"durability"`
	Degraded   bool              `json:"degraded,omitempty"` // sync primary running async after a missed ack
	Policies   map[string]string `json:"policies,omitempty"`
	Followers  []FollowerStatus  `json:"followers,omitempty"` // primary: every other region
	Self       *FollowerStatus   `json:"self,omitempty"`      // secondary: its own progress
	Metadata   string            `json:"metadata"`            // sqlite or postgres
	Artifacts  string            `json:"artifacts"`           // storage URL, password removed
}

// Token derives the bearer token regions send each other from the peer key;
// the key itself never crosses the network.
func Token(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("tandem replication v1"))
	return hex.EncodeToString(m.Sum(nil))
}

func authorized(r *http.Request, token string) bool {
	if token == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

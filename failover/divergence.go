package failover

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// A rejoining region (an old primary, or a secondary that applied entries
// the new primary never received) may hold a divergent tail: journal entries
// after the last position its history shares with the new primary's. They
// were acknowledged to clients, so they are never dropped silently
// (invariant 2): they go into a divergence Report, then the region rewinds
// to the fork and replicates from the new primary.
//
// Positions make this cheap: within one epoch only one region ever writes,
// so two journals holding the same (epoch, seq) hold the same entry, and
// journals are prefixes of each other up to the first seq where their
// epochs differ.

// Divergence is what FindDivergence computes.
type Divergence struct {
	Fork tandem.Position // last position both histories share (zero: none)
	Tail []tandem.Entry  // local entries after Fork, in order; empty: no divergence
}

// FindDivergence compares a window of the local journal with the same
// window of the new primary's history. Both start at the same seq: local[i]
// and remote[i] are the entries at seq start+i. remote may be shorter than
// local (the primary has fewer entries); primaryEpoch is the epoch the new
// primary writes in: a local entry from an older epoch that the primary
// does not have will never reach it.
//
// The first entries of both windows must agree (the window must start at
// or before the fork), unless the window starts at seq 1. Errors:
// EINVALID for malformed windows, EINVALIDSTATE with a message saying to
// widen the window when it starts after the fork, or when the local
// history is newer than the primary's (the caller has them the wrong way
// round).
func FindDivergence(local []tandem.Entry, remote []tandem.Position, primaryEpoch int64) (Divergence, error) {
	var d Divergence
	if len(local) == 0 {
		return d, nil
	}
	start := local[0].Seq
	for i, e := range local {
		if e.Seq != start+int64(i) {
			return d, tandem.Errorf(tandem.EINVALID, "divergence: local window has a gap at seq %d", start+int64(i))
		}
	}
	for i, p := range remote {
		if p.Seq != start+int64(i) {
			return d, tandem.Errorf(tandem.EINVALID, "divergence: primary window does not line up with the local one at seq %d", start+int64(i))
		}
	}
	if start > 1 && (len(remote) == 0 || remote[0].Epoch != local[0].Epoch) {
		return d, tandem.Errorf(tandem.EINVALIDSTATE, "divergence: histories already differ at seq %d, the start of the window: widen it", start)
	}
	if start > 1 {
		d.Fork = local[0].Position
	}
	for i, e := range local {
		var diverged bool
		switch {
		case i < len(remote) && remote[i].Epoch == e.Epoch:
			d.Fork = e.Position
			continue
		case i < len(remote) && e.Epoch > remote[i].Epoch, i >= len(remote) && e.Epoch > primaryEpoch:
			return Divergence{}, tandem.Errorf(tandem.EINVALIDSTATE, "divergence: local entry %s is newer than the primary's history (epoch %d)", e.Position, primaryEpoch)
		case i < len(remote):
			diverged = true
		default:
			// The primary does not have this seq yet. An entry from the
			// primary's own epoch came from it: no divergence. An older one
			// it will never accept.
			diverged = e.Epoch < primaryEpoch
			if !diverged {
				return d, nil
			}
		}
		if diverged {
			d.Tail = append([]tandem.Entry(nil), local[i:]...)
			return d, nil
		}
	}
	return d, nil
}

// Report is a divergent tail kept for the operator: `tandem divergence
// list|show|export` print it, `replay` re-applies chosen entries through
// the API. Entries hold payloads as written; payloads of secret values are
// already encrypted or absent in the journal, so a report holds no secret
// in clear text.
//
// Several regions may hold the same divergent tail: in sync mode an entry
// the old primary never acknowledged may have reached a secondary other
// than the one that took over, and both keep it when they rejoin. Their
// reports have the same Tail; Distinct keeps one of them.
type Report struct {
	ID string `json:"id"` // "<region>-e<tail epoch>-s<first seq>"
	// Tail names the divergent tail across the workspace: the first
	// entry's position and a digest of its content (TailID).
	Tail       string              `json:"tail"`
	Region     string              `json:"region"`
	DetectedAt time.Time           `json:"detected_at"`
	NewPrimary string              `json:"new_primary"`
	NewEpoch   int64               `json:"new_epoch"`
	Fork       tandem.Position     `json:"fork"` // last position shared with the new primary
	Head       tandem.Position     `json:"head"` // the region's head before it rewound
	Count      int                 `json:"count"`
	Kinds      map[tandem.Kind]int `json:"kinds"`
	Entries    []tandem.Entry      `json:"entries"`
	// AlsoOn names the other regions that hold the same tail (set by
	// Distinct, never stored).
	AlsoOn []string `json:"also_on,omitempty"`
}

// TailID names a divergent tail that starts with entry first: "e<epoch>-
// s<seq>-<digest>", the digest a SHA-256 of the entry's kind, op, key and
// compacted payload (16 hex digits). Within one epoch only one region writes, so
// tails that start with the same entry are the same tail, one perhaps a
// prefix of the other (the secondary received less than the old primary
// wrote).
func TailID(first tandem.Entry) string {
	// The payload compacted: a report stored as indented JSON holds it
	// re-indented.
	var payload bytes.Buffer
	if json.Compact(&payload, first.Payload) != nil {
		payload.Reset()
		payload.Write(first.Payload)
	}
	h := sha256.New()
	for _, s := range []string{string(first.Kind), first.Op, first.Key, payload.String()} {
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	return fmt.Sprintf("e%d-s%d-%s", first.Epoch, first.Seq, hex.EncodeToString(h.Sum(nil))[:16])
}

// Distinct keeps one report per divergent tail: of reports with the same
// Tail, the one with the most entries (the others hold a prefix of it),
// with AlsoOn naming the regions of the others. Order is kept (the first
// report of each tail gives its place).
func Distinct(reps []Report) []Report {
	var out []Report
	at := map[string]int{}
	for _, r := range reps {
		i, ok := at[r.Tail]
		if !ok || r.Tail == "" {
			at[r.Tail] = len(out)
			out = append(out, r)
			continue
		}
		longer, other := out[i], r
		if r.Count > longer.Count {
			longer, other = r, out[i]
			longer.AlsoOn = other.AlsoOn
		}
		if other.Region != longer.Region && !slices.Contains(longer.AlsoOn, other.Region) {
			longer.AlsoOn = append(slices.Clone(longer.AlsoOn), other.Region)
		}
		out[i] = longer
	}
	return out
}

// NewReport builds the report for d (which must have a tail) found on
// region when it rejoined newPrimary in newEpoch.
func NewReport(region, newPrimary string, newEpoch int64, d Divergence, now time.Time) Report {
	r := Report{Region: region, DetectedAt: now.UTC(), NewPrimary: newPrimary, NewEpoch: newEpoch,
		Fork: d.Fork, Count: len(d.Tail), Kinds: map[tandem.Kind]int{}, Entries: d.Tail}
	if n := len(d.Tail); n > 0 {
		r.Head = d.Tail[n-1].Position
		r.ID = fmt.Sprintf("%s-e%d-s%d", region, d.Tail[0].Epoch, d.Tail[0].Seq)
		r.Tail = TailID(d.Tail[0])
	}
	for _, e := range d.Tail {
		r.Kinds[e.Kind]++
	}
	return r
}

// Summary is one line for listings.
func (r Report) Summary() string {
	kinds := make([]string, 0, len(r.Kinds))
	for k, n := range r.Kinds {
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	also := ""
	if len(r.AlsoOn) > 0 {
		also = fmt.Sprintf(" (the same tail is also kept on %s)", strings.Join(r.AlsoOn, ", "))
	}
	return fmt.Sprintf("%s: %d entries after %s (head %s) on %s, now following %s in epoch %d %v%s",
		r.ID, r.Count, r.Fork, r.Head, r.Region, r.NewPrimary, r.NewEpoch, kinds, also)
}

// Marshal encodes the report as indented JSON.
func (r Report) Marshal() ([]byte, error) { return json.MarshalIndent(r, "", "  ") }

var reportID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}-e[0-9]+-s[0-9]+$`)

// ParseReport decodes and checks a report (an exported file, or one read
// back from storage). EINVALID when it is malformed or inconsistent.
func ParseReport(b []byte) (Report, error) {
	var r Report
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Report{}, tandem.Errorf(tandem.EINVALID, "divergence report: %v", err)
	}
	bad := func(format string, args ...any) (Report, error) {
		return Report{}, tandem.Errorf(tandem.EINVALID, "divergence report %q: "+format, append([]any{r.ID}, args...)...)
	}
	switch {
	case !reportID.MatchString(r.ID):
		return bad("bad id")
	case len(r.Entries) == 0 || r.Count != len(r.Entries):
		return bad("count %d does not match %d entries", r.Count, len(r.Entries))
	case r.NewEpoch <= 0 || r.Fork.Seq < 0 || r.Fork.Epoch < 0:
		return bad("bad epoch or fork")
	}
	kinds := map[tandem.Kind]int{}
	for i, e := range r.Entries {
		if e.Seq != r.Fork.Seq+1+int64(i) {
			return bad("entry %d has seq %d, want %d", i, e.Seq, r.Fork.Seq+1+int64(i))
		}
		if e.Epoch >= r.NewEpoch || e.Epoch < r.Fork.Epoch || (i > 0 && e.Epoch < r.Entries[i-1].Epoch) {
			return bad("entry %s has an impossible epoch", e.Position)
		}
		if e.Op == "" || !json.Valid(e.Payload) {
			return bad("entry %s has no op or an invalid payload", e.Position)
		}
		kinds[e.Kind]++
	}
	if want := fmt.Sprintf("%s-e%d-s%d", r.Region, r.Entries[0].Epoch, r.Entries[0].Seq); r.ID != want {
		return bad("id does not match its entries (want %s)", want)
	}
	// Reports stored before tails were named have none: name it now.
	if want := TailID(r.Entries[0]); r.Tail == "" {
		r.Tail = want
	} else if r.Tail != want {
		return bad("tail %s does not match its first entry (want %s)", r.Tail, want)
	}
	if r.Head != r.Entries[len(r.Entries)-1].Position {
		return bad("head %s is not the last entry", r.Head)
	}
	for k, n := range kinds {
		if r.Kinds[k] != n {
			return bad("kind counts do not match the entries")
		}
	}
	if len(r.Kinds) != len(kinds) {
		return bad("kind counts do not match the entries")
	}
	return r, nil
}

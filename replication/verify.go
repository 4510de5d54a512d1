package replication

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
)

// Checksums is what one region reports for verify: digests of its journal
// per kind up to a position, of its tables (at Head, read in the same
// transaction), and optionally of the artifacts the journal references.
type Checksums struct {
	Region    string            `json:"region"`
	UpTo      int64             `json:"upto"`
	Head      tandem.Position   `json:"head"`
	Kinds     map[string]Digest `json:"kinds"`   // journal entries up to UpTo, per kind
	Skipped   map[string]int64  `json:"skipped"` // skip placeholders up to UpTo, per kind
	Tables    map[string]Digest `json:"tables"`  // table contents at Head
	Artifacts map[string]string `json:"artifacts,omitempty"`
	// ArtifactErrors lists artifacts whose stored bytes are missing or do
	// not match the digest the journal recorded (invariant 3).
	ArtifactErrors []string `json:"artifact_errors,omitempty"`
	// FirstEntry maps kind -> entry digests by seq, only when detail=1; it
	// lets verify name the first differing entry.
	Entries map[string]string `json:"entries,omitempty"`
}

// Digest is a count and a SHA-256.
type Digest struct {
	Count  int64  `json:"count"`
	SHA256 string `json:"sha256"`
}

// Checksums computes this region's checksums. upto <= 0 means the head.
func (s *Service) Checksums(ctx context.Context, upto int64, artifacts, detail bool) (Checksums, error) {
	out := Checksums{Region: s.cfg.Region, Kinds: map[string]Digest{}, Skipped: map[string]int64{}, Tables: map[string]Digest{}}
	type ref struct {
		b    tandem.BlobRef
		kind tandem.Kind
	}
	refs := map[string]ref{}
	if detail {
		out.Entries = map[string]string{}
	}
	err := s.cfg.Store.Read(ctx, func(rd sqlstore.ReplicaReader) error {
		out.Head = rd.Head()
		if upto <= 0 || upto > out.Head.Seq {
			upto = out.Head.Seq
		}
		out.UpTo = upto
		hs := map[string]*runningDigest{}
		err := rd.Journal(upto, func(j sqlstore.JournalRow) error {
			if j.Op == tandem.OpSkip {
				var sp sqlstore.SkipPayload
				json.Unmarshal([]byte(j.Payload), &sp)
				out.Skipped[string(sp.Kind)]++
				return nil
			}
			var bl []tandem.BlobRef
			if j.Blobs != nil && *j.Blobs != "" {
				json.Unmarshal([]byte(*j.Blobs), &bl)
			}
			for _, b := range bl {
				refs[b.Path] = ref{b, tandem.Kind(j.Kind)}
			}
			bj, _ := json.Marshal(bl)
			line := fmt.Sprintf("%d|%d|%s|%s|%q|%s|%s|%d\n", j.Seq, j.Epoch, j.Kind, j.Op, j.Key, canonJSON(j.Payload), bj, j.CreatedMS)
			d := hs[j.Kind]
			if d == nil {
				d = &runningDigest{}
				hs[j.Kind] = d
			}
			d.add(line)
			if detail {
				sum := sha256.Sum256([]byte(line))
				out.Entries[strconv.FormatInt(j.Seq, 10)] = hex.EncodeToString(sum[:8])
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("checksum journal: %w", err)
		}
		for k, d := range hs {
			out.Kinds[k] = d.digest()
		}
		names, err := rd.Tables()
		if err != nil {
			return err
		}
		for _, t := range names {
			if t == "journal" {
				continue
			}
			var lines []string
			if err := rd.Scan(t, func(cols []string, raw []any) error {
				var b strings.Builder
				for i, v := range toValues(raw) {
					b.WriteString(cols[i])
					b.WriteByte('=')
					b.WriteString(v.canonical())
					b.WriteByte(';')
				}
				lines = append(lines, b.String())
				return nil
			}); err != nil {
				return err
			}
			sort.Strings(lines)
			d := &runningDigest{}
			for _, l := range lines {
				d.add(l + "\n")
			}
			out.Tables[t] = d.digest()
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("checksums: %w", err)
	}
	if artifacts {
		out.Artifacts = map[string]string{}
		paths := make([]string, 0, len(refs))
		for p := range refs {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			r := refs[p]
			d, err := s.cfg.Blobs.Digest(ctx, p)
			if err != nil {
				if tandem.ErrorCode(err) == tandem.ENOTFOUND {
					out.Artifacts[p] = "missing"
					continue
				}
				return out, err
			}
			out.Artifacts[p] = d.SHA256
			if !strings.EqualFold(d.SHA256, r.b.SHA256) {
				out.ArtifactErrors = append(out.ArtifactErrors, fmt.Sprintf("%s: stored sha256 %s, journal recorded %s", p, d.SHA256, r.b.SHA256))
			}
		}
	}
	return out, nil
}

func (s *Service) handleChecksum(w http.ResponseWriter, r *http.Request) {
	upto, err := qInt(r, "upto", 0)
	if err != nil {
		writeErr(w, err)
		return
	}
	q := r.URL.Query()
	c, err := s.Checksums(r.Context(), upto, q.Get("artifacts") == "1", q.Get("detail") == "1")
	if err != nil {
		s.log.Error("checksum", "err", err)
		writeErr(w, err)
		return
	}
	writeJSON(w, 200, c)
}

type runningDigest struct {
	n int64
	h []byte
}

func (d *runningDigest) add(line string) {
	h := sha256.New()
	h.Write(d.h)
	h.Write([]byte(line))
	d.h = h.Sum(nil)
	d.n++
}

func (d *runningDigest) digest() Digest { return Digest{Count: d.n, SHA256: hex.EncodeToString(d.h)} }

// canonJSON compacts a JSON payload so formatting differences between
// stores do not count as differences.
func canonJSON(s string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return s
	}
	var h bytes.Buffer
	json.HTMLEscape(&h, b.Bytes())
	return h.String()
}

// Difference is one thing verify found different between two regions.
type Difference struct {
	What   string `json:"what"` // "kind", "table", "artifact", "artifact_integrity"
	Name   string `json:"name"`
	Detail string `json:"detail"`
}

// Compare lists the differences between a primary's and a secondary's
// checksums at the same UpTo, first difference first. Kinds whose policy is
// not continuous are compared only for entries the secondary holds; tables
// are compared only when both were read at the same head and every kind is
// continuous (policies maps kind -> policy; nil means all continuous).
func Compare(a, b Checksums, policies map[string]string) []Difference {
	var out []Difference
	continuous := func(k string) bool {
		p, ok := policies[k]
		return !ok || p == "continuous"
	}
	kinds := map[string]bool{}
	for k := range a.Kinds {
		kinds[k] = true
	}
	for k := range b.Kinds {
		kinds[k] = true
	}
	for _, k := range sortedKeys(kinds) {
		if !continuous(k) {
			continue
		}
		if a.Kinds[k] != b.Kinds[k] {
			out = append(out, Difference{What: "kind", Name: k, Detail: fmt.Sprintf("journal up to seq %d: %s has %d entries (%.12s), %s has %d entries (%.12s)%s",
				a.UpTo, a.Region, a.Kinds[k].Count, a.Kinds[k].SHA256, b.Region, b.Kinds[k].Count, b.Kinds[k].SHA256, firstEntryDiff(a, b))})
		}
	}
	if b.Skipped != nil {
		for _, k := range sortedKeys(toSet(b.Skipped)) {
			if continuous(k) {
				out = append(out, Difference{What: "kind", Name: k, Detail: fmt.Sprintf("%s skipped %d entries of a continuous kind", b.Region, b.Skipped[k])})
			}
		}
	}
	if TablesComparable(a, b, policies) {
		ts := map[string]bool{}
		for t := range a.Tables {
			ts[t] = true
		}
		for t := range b.Tables {
			ts[t] = true
		}
		for _, t := range sortedKeys(ts) {
			if a.Tables[t] != b.Tables[t] {
				out = append(out, Difference{What: "table", Name: t, Detail: fmt.Sprintf("at %s: %s has %d rows (%.12s), %s has %d rows (%.12s)",
					a.Head, a.Region, a.Tables[t].Count, a.Tables[t].SHA256, b.Region, b.Tables[t].Count, b.Tables[t].SHA256)})
			}
		}
	}
	for _, c := range []Checksums{a, b} {
		for _, e := range c.ArtifactErrors {
			out = append(out, Difference{What: "artifact_integrity", Name: c.Region, Detail: e})
		}
	}
	if a.Artifacts != nil && b.Artifacts != nil {
		for _, p := range sortedKeys(toSet(a.Artifacts)) {
			if bv, ok := b.Artifacts[p]; ok && bv != a.Artifacts[p] {
				out = append(out, Difference{What: "artifact", Name: p, Detail: fmt.Sprintf("%s sha256 %s, %s sha256 %s", a.Region, a.Artifacts[p], b.Region, bv)})
			}
		}
	}
	return out
}

// TablesComparable reports whether Compare compares the two regions'
// tables row by row: both were read at the same head, and every kind
// replicates continuously (a kind that does not leaves rows on the primary
// the secondary lacks by design).
func TablesComparable(a, b Checksums, policies map[string]string) bool {
	for _, p := range policies {
		if p != "continuous" {
			return false
		}
	}
	return a.Head == b.Head && a.Head.Seq == a.UpTo
}

func firstEntryDiff(a, b Checksums) string {
	if a.Entries == nil || b.Entries == nil {
		return ""
	}
	for seq := int64(1); seq <= a.UpTo; seq++ {
		k := strconv.FormatInt(seq, 10)
		if a.Entries[k] != b.Entries[k] {
			return fmt.Sprintf("; first differing entry: seq %d", seq)
		}
	}
	return ""
}

func toSet[V any](m map[string]V) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

package replication

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/workspace"
)

// A snapshot is NDJSON, one record a line, read in one consistent read
// transaction of the primary:
//
//	{"t":"header","position":{"epoch":1,"seq":42}}
//	{"t":"table","name":"experiments","columns":["experiment_id",...]}
//	{"t":"row","v":[{"s":"0"},{"i":17},{"f":"NaN"},{},{"b":"AAE="}]}   ... per row
//	{"t":"blob","blob":{"path":"...","sha256":"...","size":10}}         ... per artifact
//	{"t":"end","rows":123,"blobs":4}
//
// It holds every replicated table (including the journal, so that verify
// can compare histories) and the artifacts the journal references that
// still exist. Region-local tables (sqlstore.LocalTable) are left out, and so are
// the rows of kinds whose policy is none (keptKinds): their journal
// entries come as skip placeholders.
type snapRecord struct {
	T        string           `json:"t"`
	Position *tandem.Position `json:"position,omitempty"`
	Name     string           `json:"name,omitempty"`
	Columns  []string         `json:"columns,omitempty"`
	V        []value          `json:"v,omitempty"`
	Blob     *tandem.BlobRef  `json:"blob,omitempty"`
	Rows     int64            `json:"rows,omitempty"`
	Blobs    int64            `json:"blobs,omitempty"`
}

// value is one SQL value, tagged by type so NaN, blobs and 64-bit integers
// survive JSON and both dialects.
type value struct {
	I *int64  `json:"i,omitempty"`
	F *string `json:"f,omitempty"`
	S *string `json:"s,omitempty"`
	B []byte  `json:"b,omitempty"`
}

// toValues converts a row as database/sql gives it.
func toValues(raw []any) []value {
	vals := make([]value, len(raw))
	for i, v := range raw {
		vals[i] = toValue(v)
	}
	return vals
}

func toValue(v any) value {
	switch x := v.(type) {
	case nil:
		return value{}
	case int64:
		return value{I: &x}
	case int32:
		n := int64(x)
		return value{I: &n}
	case int:
		n := int64(x)
		return value{I: &n}
	case bool:
		n := int64(0)
		if x {
			n = 1
		}
		return value{I: &n}
	case float64:
		s := strconv.FormatFloat(x, 'g', -1, 64)
		return value{F: &s}
	case float32:
		s := strconv.FormatFloat(float64(x), 'g', -1, 64)
		return value{F: &s}
	case string:
		return value{S: &x}
	case []byte:
		if x == nil {
			x = []byte{}
		}
		return value{B: x}
	default:
		s := fmt.Sprint(x)
		return value{S: &s}
	}
}

func (v value) sql() any {
	switch {
	case v.I != nil:
		return *v.I
	case v.F != nil:
		f, err := strconv.ParseFloat(*v.F, 64)
		if err != nil {
			return math.NaN()
		}
		return f
	case v.S != nil:
		return *v.S
	case v.B != nil:
		return v.B
	}
	return nil
}

// canonical is the value's digest form, the same on SQLite and PostgreSQL.
func (v value) canonical() string {
	switch {
	case v.I != nil:
		return "i" + strconv.FormatInt(*v.I, 10)
	case v.F != nil:
		return "f" + *v.F
	case v.S != nil:
		return "s" + strconv.Quote(*v.S)
	case v.B != nil:
		return "b" + base64.StdEncoding.EncodeToString(v.B)
	}
	return "n"
}

// handleSnapshot streams a consistent snapshot of this primary.
func (s *Service) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.requirePrimary(w); !ok {
		return
	}
	ctx := r.Context()
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	err := s.cfg.Store.Read(ctx, func(rd sqlstore.ReplicaReader) error {
		pos := rd.Head()
		if err := enc.Encode(snapRecord{T: "header", Position: &pos}); err != nil {
			return err
		}
		names, err := rd.Tables()
		if err != nil {
			return err
		}
		var nrows int64
		blobs := map[string]tandem.BlobRef{}
		kept := s.keptKinds()
		for _, t := range names {
			header := false
			err := rd.Scan(t, func(cols []string, raw []any) error {
				if !header {
					header = true
					if err := enc.Encode(snapRecord{T: "table", Name: t, Columns: cols}); err != nil {
						return err
					}
				}
				vals := toValues(raw)
				if k, ok := sqlstore.RowKind(t, rowText(cols, vals)); ok && kept[k] {
					if t != "journal" {
						return nil // the kind stays in this region
					}
					vals = skipRow(cols, vals, k)
				}
				nrows++
				if t == "journal" {
					collectBlobs(cols, vals, blobs)
				}
				return enc.Encode(snapRecord{T: "row", V: vals})
			})
			if err != nil {
				return err
			}
			if !header { // an empty table is still cleared on the secondary
				cols, err := rd.Columns(t)
				if err != nil {
					return err
				}
				if err := enc.Encode(snapRecord{T: "table", Name: t, Columns: cols}); err != nil {
					return err
				}
			}
		}
		paths := make([]string, 0, len(blobs))
		for p := range blobs {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		var nb int64
		for _, p := range paths {
			b := blobs[p]
			if ok, err := s.cfg.Blobs.Exists(ctx, p); err != nil {
				return err
			} else if !ok {
				continue // deleted by a later change
			}
			nb++
			if err := enc.Encode(snapRecord{T: "blob", Blob: &b}); err != nil {
				return err
			}
		}
		return enc.Encode(snapRecord{T: "end", Rows: nrows, Blobs: nb})
	})
	if err != nil {
		s.log.Warn("snapshot stream failed", "err", err)
		return // the secondary sees no "end" record and retries
	}
	bw.Flush()
}

// keptKinds are the kinds whose replication policy is none: they never
// leave the primary, so a bootstrap snapshot leaves out their rows (and
// the artifacts only they reference) and ships their journal entries as
// skip placeholders, as the journal stream does.
func (s *Service) keptKinds() map[tandem.Kind]bool {
	out := map[tandem.Kind]bool{}
	for _, k := range tandem.Kinds {
		if s.policy(k).Policy == workspace.None {
			out[k] = true
		}
	}
	return out
}

// rowText reads a row's column as text (empty when absent or not text).
func rowText(cols []string, vals []value) func(string) string {
	return func(name string) string {
		for i, c := range cols {
			if c == name && vals[i].S != nil {
				return *vals[i].S
			}
			if c == name && vals[i].B != nil {
				return string(vals[i].B)
			}
		}
		return ""
	}
}

// skipRow turns a journal row of kind k into the skip placeholder the
// journal stream sends for it: kind workspace, op skip, the original kind
// and op as payload, no blobs; its position and time are kept.
func skipRow(cols []string, vals []value, k tandem.Kind) []value {
	out := make([]value, len(vals))
	copy(out, vals)
	op := rowText(cols, vals)("op")
	payload, _ := json.Marshal(sqlstore.SkipPayload{Kind: k, Op: op})
	for i, c := range cols {
		switch c {
		case "kind":
			out[i] = toValue(string(tandem.KindWorkspace))
		case "op":
			out[i] = toValue(tandem.OpSkip)
		case "payload":
			out[i] = toValue(string(payload))
		case "blobs", "trace_parent":
			out[i] = value{}
		}
	}
	return out
}

// collectBlobs adds the blob refs of a journal row (skip entries have none);
// a later entry's ref for a path replaces an earlier one.
func collectBlobs(cols []string, vals []value, into map[string]tandem.BlobRef) {
	for i, c := range cols {
		if c == "blobs" && vals[i].S != nil && *vals[i].S != "" {
			var bs []tandem.BlobRef
			if json.Unmarshal([]byte(*vals[i].S), &bs) == nil {
				for _, b := range bs {
					into[b.Path] = b
				}
			}
		}
	}
}

// loadSnapshot reads a snapshot stream into the store in one transaction:
// every replicated table is replaced, journal_state set to the snapshot's
// position, the artifacts to fetch listed and the bootstrap phase set to
// "artifacts". Nothing is visible unless the whole stream arrived.
func loadSnapshot(ctx context.Context, store *sqlstore.Replica, body io.Reader, progress func(rows int64)) (tandem.Position, int64, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(body, 256<<10))
	var pos tandem.Position
	var rows int64
	err := store.Load(ctx, func(ld sqlstore.ReplicaLoader) (tandem.Position, map[string]string, error) {
		gotHeader, gotEnd := false, false
		for !gotEnd {
			var rec snapRecord
			if err := dec.Decode(&rec); err != nil {
				return pos, nil, fmt.Errorf("snapshot stream: %w", err)
			}
			switch rec.T {
			case "header":
				if rec.Position == nil {
					return pos, nil, fmt.Errorf("snapshot: header without position")
				}
				pos, gotHeader = *rec.Position, true
			case "table":
				if !gotHeader {
					return pos, nil, fmt.Errorf("snapshot: unexpected table %q", rec.Name)
				}
				if err := ld.Table(rec.Name, rec.Columns); err != nil {
					return pos, nil, err
				}
			case "row":
				args := make([]any, len(rec.V))
				for i, v := range rec.V {
					args[i] = v.sql()
				}
				if err := ld.Row(args); err != nil {
					return pos, nil, err
				}
				rows++
				if rows%5000 == 0 && progress != nil {
					progress(rows)
				}
			case "blob":
				if rec.Blob == nil {
					return pos, nil, fmt.Errorf("snapshot: blob record without blob")
				}
				if err := ld.PendingBlob(*rec.Blob); err != nil {
					return pos, nil, err
				}
			case "end":
				gotEnd = true
			default:
				return pos, nil, fmt.Errorf("snapshot: unknown record %q", rec.T)
			}
		}
		return pos, map[string]string{
			"bootstrap":          "artifacts",
			"bootstrap_position": pos.String(),
			"bootstrap_rows":     strconv.FormatInt(rows, 10),
		}, nil
	})
	return pos, rows, err
}

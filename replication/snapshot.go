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
	"strings"

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
// still exist. Region-local tables (localTable) are left out, and so are
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

// localTable reports whether a table belongs to one region only and is
// never copied or compared: schema bookkeeping, the journal head,
// replication's and failover's own state.
func localTable(name string) bool {
	name = strings.ToLower(name)
	if name == "tandem_schema" || name == "journal_state" {
		return true
	}
	for _, p := range []string{"replication_", "failover_", "region_", "witness_", "sqlite_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// tables lists the replicated tables (journal included), sorted.
func tables(ctx context.Context, q sqlstore.Querier) ([]string, error) {
	query := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if q.Dialect() == sqlstore.Postgres {
		query = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		if !localTable(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, rows.Err()
}

// scanTable calls fn for every row of table, with its column names.
func scanTable(ctx context.Context, q sqlstore.Querier, table string, fn func(cols []string, vals []value) error) error {
	rows, err := q.QueryContext(ctx, `SELECT * FROM `+quoteIdent(table))
	if err != nil {
		return fmt.Errorf("read %s: %w", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	raw := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("read %s: %w", table, err)
		}
		vals := make([]value, len(cols))
		for i, v := range raw {
			vals[i] = toValue(v)
		}
		if err := fn(cols, vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// handleSnapshot streams a consistent snapshot of this primary.
func (s *Service) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.requirePrimary(w); !ok {
		return
	}
	ctx := r.Context()
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	err := s.cfg.Store.ReadTx(ctx, func(tx *sqlstore.Tx) error {
		var pos tandem.Position
		if err := tx.QueryRowContext(ctx, `SELECT last_epoch, last_seq FROM journal_state WHERE id = 1`).Scan(&pos.Epoch, &pos.Seq); err != nil {
			return fmt.Errorf("snapshot head: %w", err)
		}
		if err := enc.Encode(snapRecord{T: "header", Position: &pos}); err != nil {
			return err
		}
		names, err := tables(ctx, tx)
		if err != nil {
			return err
		}
		var nrows int64
		blobs := map[string]tandem.BlobRef{}
		kept := s.keptKinds()
		for _, t := range names {
			header := false
			err := scanTable(ctx, tx, t, func(cols []string, vals []value) error {
				if !header {
					header = true
					if err := enc.Encode(snapRecord{T: "table", Name: t, Columns: cols}); err != nil {
						return err
					}
				}
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
				cols, err := columns(ctx, tx, t)
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

func columns(ctx context.Context, tx *sqlstore.Tx, table string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT * FROM `+quoteIdent(table)+` WHERE 1 = 0`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rows.Columns()
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
// position, the artifacts to fetch listed in replication_blobs and the
// bootstrap phase set to "artifacts". Nothing is visible unless the whole
// stream arrived.
func loadSnapshot(ctx context.Context, store *sqlstore.Store, body io.Reader, progress func(rows int64)) (tandem.Position, int64, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(body, 256<<10))
	var pos tandem.Position
	var rows int64
	err := store.ReplaceState(ctx, func(ctx context.Context, tx *sqlstore.Tx) error {
		local, err := tables(ctx, tx)
		if err != nil {
			return err
		}
		for _, t := range local {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+quoteIdent(t)); err != nil {
				return fmt.Errorf("clear %s: %w", t, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM replication_blobs`); err != nil {
			return err
		}
		var insert string
		var table string
		gotHeader, gotEnd := false, false
		for !gotEnd {
			var rec snapRecord
			if err := dec.Decode(&rec); err != nil {
				return fmt.Errorf("snapshot stream: %w", err)
			}
			switch rec.T {
			case "header":
				if rec.Position == nil {
					return fmt.Errorf("snapshot: header without position")
				}
				pos, gotHeader = *rec.Position, true
			case "table":
				if !gotHeader || localTable(rec.Name) {
					return fmt.Errorf("snapshot: unexpected table %q", rec.Name)
				}
				table = rec.Name
				quoted := make([]string, len(rec.Columns))
				marks := make([]string, len(rec.Columns))
				for i, c := range rec.Columns {
					quoted[i], marks[i] = quoteIdent(c), "?"
				}
				insert = `INSERT INTO ` + quoteIdent(table) + ` (` + strings.Join(quoted, ", ") + `) VALUES (` + strings.Join(marks, ", ") + `)`
			case "row":
				if insert == "" {
					return fmt.Errorf("snapshot: row before table")
				}
				args := make([]any, len(rec.V))
				for i, v := range rec.V {
					args[i] = v.sql()
				}
				if _, err := tx.ExecContext(ctx, insert, args...); err != nil {
					return fmt.Errorf("load %s: %w (is this region's schema the primary's?)", table, err)
				}
				rows++
				if rows%5000 == 0 && progress != nil {
					progress(rows)
				}
			case "blob":
				b := rec.Blob
				if b == nil {
					return fmt.Errorf("snapshot: blob record without blob")
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO replication_blobs (path, sha256, size) VALUES (?, ?, ?) ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size`,
					b.Path, b.SHA256, b.Size); err != nil {
					return err
				}
			case "end":
				gotEnd = true
			default:
				return fmt.Errorf("snapshot: unknown record %q", rec.T)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE journal_state SET last_epoch = ?, last_seq = ? WHERE id = 1`, pos.Epoch, pos.Seq); err != nil {
			return err
		}
		return setState(ctx, tx, map[string]string{
			"bootstrap":          "artifacts",
			"bootstrap_position": pos.String(),
			"bootstrap_rows":     strconv.FormatInt(rows, 10),
		})
	})
	return pos, rows, err
}

func setState(ctx context.Context, tx *sqlstore.Tx, kv map[string]string) error {
	for k, v := range kv {
		if _, err := tx.ExecContext(ctx, `INSERT INTO replication_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, v); err != nil {
			return fmt.Errorf("replication state %s: %w", k, err)
		}
	}
	return nil
}

func getState(ctx context.Context, q sqlstore.Querier, key string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM replication_state WHERE key = ?`, key).Scan(&v)
	if sqlstore.IsNoRows(err) {
		return "", nil
	}
	return v, err
}

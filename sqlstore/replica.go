package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// Replica is the store as replication uses it: the journal, the apply
// path, replication's own region-local state and the whole-database reads
// and loads of bootstrap snapshots and verify. Every SQL statement
// replication needs is here; package replication decides what to ship,
// compare and apply, and writes no SQL.
type Replica struct{ s *Store }

// Replica returns the replication view of s.
func (s *Store) Replica() *Replica { return &Replica{s: s} }

// Store is the store the replica views (for the code that also serves
// other APIs from it).
func (r *Replica) Store() *Store { return r.s }

// Head, ReadJournal, WaitJournal, OnCommit, Changed, ApplyBatch,
// ApplyDeferred and IdempotentWrite are the Store's.
func (r *Replica) Head(ctx context.Context) (tandem.Position, error) { return r.s.Head(ctx) }
func (r *Replica) ReadJournal(ctx context.Context, after int64, limit int) ([]tandem.Entry, error) {
	return r.s.ReadJournal(ctx, after, limit)
}
func (r *Replica) WaitJournal(ctx context.Context, after int64, limit int, wait time.Duration) ([]tandem.Entry, error) {
	return r.s.WaitJournal(ctx, after, limit, wait)
}
func (r *Replica) OnCommit(fn func(tandem.Entry)) { r.s.OnCommit(fn) }
func (r *Replica) Changed() <-chan struct{}       { return r.s.Changed() }
func (r *Replica) ApplyBatch(ctx context.Context, es []tandem.Entry) (int, error) {
	return r.s.ApplyBatch(ctx, es)
}
func (r *Replica) ApplyDeferred(ctx context.Context, es []tandem.Entry) (int, error) {
	return r.s.ApplyDeferred(ctx, es)
}
func (r *Replica) IdempotentWrite(ctx context.Context, key string) (tandem.Entry, bool, error) {
	return r.s.IdempotentWrite(ctx, key)
}

// Backend names the metadata database kind ("sqlite", "postgres").
func (r *Replica) Backend() string { return r.s.Dialect().String() }

// LocalTable reports whether a table belongs to one region only and is
// never copied or compared: schema bookkeeping, the journal head,
// replication's and failover's own state.
func LocalTable(name string) bool {
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

// State reads one key of replication's region-local state ("" when unset).
func (r *Replica) State(ctx context.Context, key string) (string, error) {
	return replicationState(ctx, r.s.Reader(), key)
}

func replicationState(ctx context.Context, q Querier, key string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM replication_state WHERE key = ?`, key).Scan(&v)
	if IsNoRows(err) {
		return "", nil
	}
	return v, err
}

// SetState writes keys of replication's region-local state.
func (r *Replica) SetState(ctx context.Context, kv map[string]string) error {
	return r.s.WriteLocal(ctx, func(ctx context.Context, tx *Tx) error { return setReplicationState(ctx, tx, kv) })
}

// MarkBootstrapped records that the bootstrap is done when the journal
// still holds entries, deciding under the journal head's write lock: a
// region that was primary from the start never bootstrapped, and marks
// itself done when it first follows, but a rewind that commits first (the
// region's divergent tail moved into a report, the head back to zero)
// must win, or the region would follow the new primary from entry 1 over
// rows it still holds instead of loading its snapshot. It reports whether
// the mark was written.
func (r *Replica) MarkBootstrapped(ctx context.Context) (bool, error) {
	marked := false
	err := r.s.WriteLocal(ctx, func(ctx context.Context, tx *Tx) error {
		head, err := lockJournalState(ctx, tx)
		if err != nil || head.Seq == 0 {
			return err
		}
		marked = true
		return setReplicationState(ctx, tx, map[string]string{"bootstrap": "done"})
	})
	return marked && err == nil, err
}

func setReplicationState(ctx context.Context, tx *Tx, kv map[string]string) error {
	for _, k := range tandem.SortedKeys(kv) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO replication_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, k, kv[k]); err != nil {
			return fmt.Errorf("replication state %s: %w", k, err)
		}
	}
	return nil
}

// PendingBlobs lists the artifacts a bootstrap still has to fetch, by path.
func (r *Replica) PendingBlobs(ctx context.Context) ([]tandem.BlobRef, error) {
	rows, err := r.s.Reader().QueryContext(ctx, `SELECT path, sha256, size FROM replication_blobs ORDER BY path`)
	if err != nil {
		return nil, fmt.Errorf("pending artifacts: %w", err)
	}
	defer rows.Close()
	var out []tandem.BlobRef
	for rows.Next() {
		var b tandem.BlobRef
		if err := rows.Scan(&b.Path, &b.SHA256, &b.Size); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// BlobFetched takes an artifact off the bootstrap's list.
func (r *Replica) BlobFetched(ctx context.Context, path string) error {
	return r.s.WriteLocal(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM replication_blobs WHERE path = ?`, path)
		return err
	})
}

// SkippedSeqs lists the positions of the skip placeholders of kind k in
// this region's journal.
func (r *Replica) SkippedSeqs(ctx context.Context, k tandem.Kind) ([]int64, error) {
	rows, err := r.s.Reader().QueryContext(ctx, `SELECT seq FROM journal WHERE op = ? AND payload LIKE ? ORDER BY seq`,
		tandem.OpSkip, `%"kind":"`+string(k)+`"%`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var s int64
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SkippedCounts counts the skip placeholders of this region's journal per
// kind they stand for.
func (r *Replica) SkippedCounts(ctx context.Context) (map[tandem.Kind]int, error) {
	rows, err := r.s.Reader().QueryContext(ctx, `SELECT payload FROM journal WHERE op = ?`, tandem.OpSkip)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[tandem.Kind]int{}
	for rows.Next() {
		var p string
		var sp SkipPayload
		if rows.Scan(&p) != nil || json.Unmarshal([]byte(p), &sp) != nil {
			continue
		}
		out[sp.Kind]++
	}
	return out, rows.Err()
}

// SupersededBy is the first entry after seq after that references path
// again (0: none): the bytes an earlier entry recorded are then gone for
// good and that entry brings the current ones.
func (r *Replica) SupersededBy(ctx context.Context, path string, after int64) (int64, error) {
	quoted, _ := json.Marshal(path)
	rows, err := r.s.Reader().QueryContext(ctx,
		`SELECT seq, blobs FROM journal WHERE seq > ? AND blobs LIKE ? ORDER BY seq`, after, "%"+string(quoted[1:len(quoted)-1])+"%")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var blobs string
		if err := rows.Scan(&seq, &blobs); err != nil {
			return 0, err
		}
		var bs []tandem.BlobRef
		json.Unmarshal([]byte(blobs), &bs)
		for _, b := range bs {
			if b.Path == path {
				return seq, nil
			}
		}
	}
	return 0, rows.Err()
}

// Lag measures the entries after applied (at most 100000 of them): their
// payload and referenced artifact bytes and the time of the oldest (0:
// none).
func (r *Replica) Lag(ctx context.Context, applied int64) (bytes, oldestMS int64, err error) {
	rows, err := r.s.Reader().QueryContext(ctx,
		`SELECT LENGTH(payload), blobs, created_ms FROM journal WHERE seq > ? ORDER BY seq LIMIT 100000`, applied)
	if err != nil {
		return 0, 0, fmt.Errorf("lag: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n, ms int64
		var blobs *string
		if err := rows.Scan(&n, &blobs, &ms); err != nil {
			return 0, 0, err
		}
		if oldestMS == 0 {
			oldestMS = ms
		}
		bytes += n
		if blobs != nil && *blobs != "" {
			var bs []tandem.BlobRef
			json.Unmarshal([]byte(*blobs), &bs)
			for _, b := range bs {
				bytes += b.Size
			}
		}
	}
	return bytes, oldestMS, rows.Err()
}

// JournalRow is one journal entry as stored, for checksums.
type JournalRow struct {
	Seq, Epoch             int64
	Kind, Op, Key, Payload string
	Blobs                  *string
	CreatedMS              int64
}

// ReplicaReader reads the whole replicated database in one consistent
// read transaction (a bootstrap snapshot, verify's checksums). Scan's
// values are as database/sql gives them.
type ReplicaReader interface {
	Head() tandem.Position
	Tables() ([]string, error)
	Columns(table string) ([]string, error)
	Scan(table string, fn func(cols []string, vals []any) error) error
	Journal(upto int64, fn func(JournalRow) error) error
}

type replicaReader struct {
	ctx  context.Context
	tx   *Tx
	head tandem.Position
}

// Read calls fn with a reader of one consistent read transaction.
func (r *Replica) Read(ctx context.Context, fn func(ReplicaReader) error) error {
	return r.s.ReadTx(ctx, func(tx *Tx) error {
		rr := &replicaReader{ctx: ctx, tx: tx}
		if err := tx.QueryRowContext(ctx, `SELECT last_epoch, last_seq FROM journal_state WHERE id = 1`).Scan(&rr.head.Epoch, &rr.head.Seq); err != nil {
			return fmt.Errorf("journal head: %w", err)
		}
		return fn(rr)
	})
}

func (rr *replicaReader) Head() tandem.Position { return rr.head }

func (rr *replicaReader) Tables() ([]string, error) { return replicatedTables(rr.ctx, rr.tx) }

// replicatedTables lists the replicated tables (journal included), sorted.
func replicatedTables(ctx context.Context, q Querier) ([]string, error) {
	query := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if q.Dialect() == Postgres {
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
		if !LocalTable(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func (rr *replicaReader) Columns(table string) ([]string, error) {
	rows, err := rr.tx.QueryContext(rr.ctx, `SELECT * FROM `+quoteIdent(table)+` WHERE 1 = 0`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rows.Columns()
}

func (rr *replicaReader) Scan(table string, fn func(cols []string, vals []any) error) error {
	rows, err := rr.tx.QueryContext(rr.ctx, `SELECT * FROM `+quoteIdent(table))
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
		if err := fn(cols, append([]any(nil), raw...)); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (rr *replicaReader) Journal(upto int64, fn func(JournalRow) error) error {
	rows, err := rr.tx.QueryContext(rr.ctx, `SELECT seq, epoch, kind, op, key, payload, blobs, created_ms FROM journal WHERE seq <= ? ORDER BY seq`, upto)
	if err != nil {
		return fmt.Errorf("read journal: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var j JournalRow
		if err := rows.Scan(&j.Seq, &j.Epoch, &j.Kind, &j.Op, &j.Key, &j.Payload, &j.Blobs, &j.CreatedMS); err != nil {
			return err
		}
		if err := fn(j); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ReplicaLoader replaces the replicated database with a snapshot's rows,
// in one transaction: Table starts a table (its columns as the snapshot
// lists them), Row inserts into the current one, PendingBlob lists an
// artifact to fetch afterwards.
type ReplicaLoader interface {
	Table(name string, cols []string) error
	Row(vals []any) error
	PendingBlob(b tandem.BlobRef) error
}

type replicaLoader struct {
	ctx    context.Context
	tx     *Tx
	table  string
	insert string
}

// Load clears every replicated table and the pending artifacts, lets fn
// fill them, then sets the journal head to pos and replication's state
// keys, all in one transaction (nothing shows unless fn succeeds).
func (r *Replica) Load(ctx context.Context, fn func(ReplicaLoader) (tandem.Position, map[string]string, error)) error {
	return r.s.ReplaceState(ctx, func(ctx context.Context, tx *Tx) error {
		tables, err := replicatedTables(ctx, tx)
		if err != nil {
			return err
		}
		for _, t := range tables {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+quoteIdent(t)); err != nil {
				return fmt.Errorf("clear %s: %w", t, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM replication_blobs`); err != nil {
			return err
		}
		pos, state, err := fn(&replicaLoader{ctx: ctx, tx: tx})
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE journal_state SET last_epoch = ?, last_seq = ? WHERE id = 1`, pos.Epoch, pos.Seq); err != nil {
			return err
		}
		return setReplicationState(ctx, tx, state)
	})
}

func (l *replicaLoader) Table(name string, cols []string) error {
	if LocalTable(name) {
		return fmt.Errorf("snapshot: unexpected table %q", name)
	}
	quoted := make([]string, len(cols))
	marks := make([]string, len(cols))
	for i, c := range cols {
		quoted[i], marks[i] = quoteIdent(c), "?"
	}
	l.table = name
	l.insert = `INSERT INTO ` + quoteIdent(name) + ` (` + strings.Join(quoted, ", ") + `) VALUES (` + strings.Join(marks, ", ") + `)`
	return nil
}

func (l *replicaLoader) Row(vals []any) error {
	if l.insert == "" {
		return fmt.Errorf("snapshot: row before table")
	}
	if _, err := l.tx.ExecContext(l.ctx, l.insert, vals...); err != nil {
		return fmt.Errorf("load %s: %w (is this region's schema the primary's?)", l.table, err)
	}
	return nil
}

func (l *replicaLoader) PendingBlob(b tandem.BlobRef) error {
	_, err := l.tx.ExecContext(l.ctx, `INSERT INTO replication_blobs (path, sha256, size) VALUES (?, ?, ?) ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size`,
		b.Path, b.SHA256, b.Size)
	return err
}

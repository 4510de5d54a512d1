package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// Tx is a transaction whose queries are written with "?" placeholders; it
// rewrites them for the database's dialect.
type Tx struct {
	tx      execer
	dialect Dialect
	// On SQLite, a write transaction's statements come from the Store's
	// cache of prepared statements (stmtcache.go): database/sql binds a
	// cached statement to the transaction's connection, preparing it there
	// only the first time. nil: each statement is prepared as it runs.
	stmts *stmtCache
}

// newTx wraps a write transaction of s.
func (s *Store) newTx(sqlTx *sql.Tx) *Tx {
	return &Tx{tx: sqlTx, dialect: s.dialect, stmts: s.stmts}
}

// stmt returns query's cached statement bound to the transaction, and the
// release to call once the statement has run; ok is false when the
// transaction keeps no cache or the statement could not be prepared (the
// caller then runs query itself, which reports the error).
func (t *Tx) stmt(ctx context.Context, query string) (st *sql.Stmt, release func(), ok bool) {
	sqlTx, isTx := t.tx.(*sql.Tx)
	if t.stmts == nil || !isTx {
		return nil, nil, false
	}
	cs, err := t.stmts.get(ctx, query)
	if err != nil {
		return nil, nil, false
	}
	return sqlTx.StmtContext(ctx, cs.stmt), func() { t.stmts.release(cs) }, true
}

// execer is what *sql.Tx and *sql.Conn have in common.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Querier runs read queries written with "?" placeholders, in or out of a
// transaction. Both *Tx and *Reader implement it.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	Dialect() Dialect
}

func (t *Tx) Dialect() Dialect { return t.dialect }

func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st, release, ok := t.stmt(ctx, query); ok {
		defer release()
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, rebind(t.dialect, query), args...)
}

func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st, release, ok := t.stmt(ctx, query); ok {
		defer release()
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, rebind(t.dialect, query), args...)
}

func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st, release, ok := t.stmt(ctx, query); ok {
		defer release()
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, rebind(t.dialect, query), args...)
}

// Reader runs read queries outside a transaction.
type Reader struct {
	db      *sql.DB
	dialect Dialect
	stmts   *stmtCache // SQLite's prepared statements (nil: none)
}

// Reader returns a Querier on the whole database, for reads.
func (s *Store) Reader() *Reader { return &Reader{db: s.db, dialect: s.dialect, stmts: s.stmts} }

func (r *Reader) Dialect() Dialect { return r.dialect }

func (r *Reader) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if r.stmts != nil {
		cs, err := r.stmts.get(ctx, query)
		if err != nil {
			return nil, err
		}
		defer r.stmts.release(cs)
		return cs.stmt.QueryContext(ctx, args...)
	}
	return r.db.QueryContext(ctx, rebind(r.dialect, query), args...)
}

func (r *Reader) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if r.stmts != nil {
		if cs, err := r.stmts.get(ctx, query); err == nil {
			defer r.stmts.release(cs)
			return cs.stmt.QueryRowContext(ctx, args...)
		}
	}
	return r.db.QueryRowContext(ctx, rebind(r.dialect, query), args...)
}

// ReadTx runs fn in a read-only snapshot of the database (a consistent view
// across several queries, used by snapshots and verify).
func (s *Store) ReadTx(ctx context.Context, fn func(tx *Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	var sqlTx *sql.Tx
	var err error
	if s.dialect == SQLite {
		// _txlock=immediate would take the write lock; a deferred read
		// transaction in WAL mode is a consistent snapshot from its first read.
		conn, cerr := s.db.Conn(ctx)
		if cerr != nil {
			return cerr
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
			return err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return fn(&Tx{tx: conn, dialect: s.dialect})
	}
	sqlTx, err = s.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	defer sqlTx.Rollback()
	return fn(s.newTx(sqlTx))
}

// rebind rewrites "?" placeholders as "$1", "$2", ... for PostgreSQL. It
// skips question marks inside single-quoted literals.
func rebind(d Dialect, q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	inQuote := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

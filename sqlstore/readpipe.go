package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Pipelined reads.
//
// A search page reads the matching ids, then the runs and five child tables
// for them. Sent one by one, on PostgreSQL every query (and the BEGIN and
// ROLLBACK of the snapshot around them) is a network round trip; a page
// took eleven. A pipeline sends a step's independent queries together (a
// pgx batch: one round trip) and hands each one's rows to its scan
// function in order. On SQLite, and in a write transaction, the queries
// simply run one after another.

// rowScanner is what *sql.Rows and pgx.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// readQuery is one query of a pipeline ("?" placeholders) and the
// function that consumes each of its rows (nil: a statement without rows).
type readQuery struct {
	sql  string
	args []any
	scan func(rowScanner) error
}

// pipeline runs read queries, in order, in one snapshot. last says no
// more queries follow (PostgreSQL then ends the snapshot in the same round
// trip).
type pipeline interface {
	Dialect() Dialect
	run(ctx context.Context, last bool, qs ...readQuery) error
}

// querierPipe runs a pipeline's queries one by one on a Querier.
type querierPipe struct{ q Querier }

func (p querierPipe) Dialect() Dialect { return p.q.Dialect() }

func (p querierPipe) run(ctx context.Context, _ bool, qs ...readQuery) error {
	for _, rq := range qs {
		scan := rq.scan
		if scan == nil {
			scan = func(rowScanner) error { return nil }
		}
		if err := scanAll(p.q.QueryContext(ctx, rq.sql, rq.args...))(scan); err != nil {
			return err
		}
	}
	return nil
}

func scanAll(rows *sql.Rows, err error) func(func(rowScanner) error) error {
	return func(scan func(rowScanner) error) error {
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
}

// pgPipe sends each run's queries as one pgx batch on a connection that
// holds a repeatable-read, read-only transaction; the BEGIN rides with the
// first batch.
type pgPipe struct {
	conn  *pgx.Conn
	begun bool
}

func (p *pgPipe) Dialect() Dialect { return Postgres }

func (p *pgPipe) run(ctx context.Context, last bool, qs ...readQuery) error {
	b := &pgx.Batch{}
	begin := !p.begun
	if begin {
		b.Queue(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`)
		p.begun = true
	}
	for _, rq := range qs {
		b.Queue(rebind(Postgres, rq.sql), rq.args...)
	}
	if last {
		b.Queue(`ROLLBACK`)
	}
	res := p.conn.SendBatch(ctx, b)
	defer res.Close()
	if begin {
		if _, err := res.Exec(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
	}
	for _, rq := range qs {
		if rq.scan == nil {
			if _, err := res.Exec(); err != nil {
				return err
			}
			continue
		}
		rows, err := res.Query()
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := rq.scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	if last {
		if _, err := res.Exec(); err != nil {
			return fmt.Errorf("end snapshot: %w", err)
		}
	}
	return res.Close()
}

// readPipeline runs fn with a pipeline over one consistent snapshot of the
// database: pipelined batches on PostgreSQL, ReadTx on SQLite.
func (s *Store) readPipeline(ctx context.Context, fn func(p pipeline) error) error {
	if s.dialect != Postgres {
		return s.ReadTx(ctx, func(tx *Tx) error { return fn(querierPipe{tx}) })
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("read: unexpected driver connection %T", dc)
		}
		pc := sc.Conn()
		err := fn(&pgPipe{conn: pc})
		// End the snapshot; a connection left in a transaction is not
		// reused (stdlib's ResetSession discards it), but close it
		// explicitly when even ROLLBACK fails.
		if pc.PgConn().TxStatus() != 'I' {
			if _, rerr := pc.Exec(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
				pc.Close(context.WithoutCancel(ctx))
			}
		}
		return err
	})
}

// idsIn returns a condition "col IN ids" and its arguments: one array
// argument on PostgreSQL (one statement text whatever the count, so the
// prepared statement is reused), a placeholder list elsewhere.
func idsIn(d Dialect, col string, ids []string) (string, []any) {
	if d == Postgres {
		return col + ` = ANY(?)`, []any{ids}
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return col + ` IN (` + placeholders(len(ids)) + `)`, args
}

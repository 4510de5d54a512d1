package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// openProbe opens a SQLite Store with an empty table cache_probe (n INTEGER).
func openProbe(t *testing.T) *Store {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "t.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE cache_probe (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStmtCache: a SQLite Store's reads reuse one prepared statement per
// query text; the cache keeps at most stmtCacheSize of them, the least
// recently used going first, and rows read from an evicted statement
// still come; a statement read partly does not hold its table, and one
// prepared before its table is dropped and made again reads the new one.
func TestStmtCache(t *testing.T) {
	ctx := context.Background()
	s := openProbe(t)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO cache_probe VALUES (1), (2), (3)`); err != nil {
		t.Fatal(err)
	}
	count := func(q string, args ...any) int {
		t.Helper()
		rows, err := s.Reader().QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const q = `SELECT n FROM cache_probe WHERE n >= ?`
	if count(q, 2) != 2 || count(q, 1) != 3 {
		t.Fatal("wrong rows")
	}
	first := s.stmts.byKey[q].Value.(*cachedStmt).stmt
	count(q, 3)
	if got := s.stmts.byKey[q].Value.(*cachedStmt); got.stmt != first || got.users != 0 || s.stmts.lru.Len() != 1 {
		t.Fatalf("the second read prepared again (%d cached)", s.stmts.lru.Len())
	}

	// Rows opened before their statement is evicted are read to the end.
	open, err := s.Reader().QueryContext(ctx, q, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range stmtCacheSize + 10 {
		var n int
		if err := s.Reader().QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&n); err != nil || n != i {
			t.Fatalf("SELECT %d: %d, %v", i, n, err)
		}
	}
	if s.stmts.lru.Len() != stmtCacheSize || s.stmts.byKey[q] != nil {
		t.Fatalf("%d cached, the oldest still there: %v", s.stmts.lru.Len(), s.stmts.byKey[q] != nil)
	}
	n := 0
	for open.Next() {
		n++
	}
	if open.Close(); n != 3 {
		t.Fatalf("rows of an evicted statement: %d of 3", n)
	}

	// A statement evicted while a caller holds it (between get and its
	// query) still runs, and is closed by the caller's release.
	held, err := s.stmts.get(ctx, `SELECT n FROM cache_probe`)
	if err != nil {
		t.Fatal(err)
	}
	for i := range stmtCacheSize + 1 {
		var n int
		if err := s.Reader().QueryRowContext(ctx, fmt.Sprintf(`SELECT %d + 0`, i)).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	if !held.evicted {
		t.Fatal("the held statement was not evicted")
	}
	rows, err := held.stmt.QueryContext(ctx)
	if err != nil {
		t.Fatalf("an evicted statement still held: %v", err)
	}
	rows.Close()
	s.stmts.release(held)
	if _, err := held.stmt.QueryContext(ctx); err == nil {
		t.Fatal("the last release did not close the evicted statement")
	}

	// A schema change under a prepared statement, the last read of which
	// stopped after its first row (a statement left unreset would hold
	// the table and the WAL).
	if count(q, 0) != 3 {
		t.Fatal("wrong rows")
	}
	var first1 int
	if err := s.Reader().QueryRowContext(ctx, q, 0).Scan(&first1); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`DROP TABLE cache_probe`, `CREATE TABLE cache_probe (n INTEGER, m TEXT)`, `INSERT INTO cache_probe VALUES (5, 'x')`} {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if got := count(q, 0); got != 1 {
		t.Fatalf("after the table was made again: %d rows, want 1", got)
	}
}

// TestStmtCacheInWriteTx: a SQLite write transaction runs its statements
// from the cache (one prepared statement per text, across transactions),
// sees its own writes through them, and a statement evicted while the
// transaction's rows from it are open still reads them; a rolled back
// transaction leaves nothing.
func TestStmtCacheInWriteTx(t *testing.T) {
	ctx := context.Background()
	s := openProbe(t)
	const ins, sel = `INSERT INTO cache_probe VALUES (?)`, `SELECT n FROM cache_probe ORDER BY n`
	write := func(commit bool, vals ...int) {
		t.Helper()
		sqlTx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		tx := s.newTx(sqlTx)
		for _, v := range vals {
			if _, err := tx.ExecContext(ctx, ins, v); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := tx.QueryContext(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		// Evict everything while the rows are open.
		for i := range stmtCacheSize + 1 {
			var n int
			if err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&n); err != nil || n != i {
				t.Fatalf("SELECT %d: %d, %v", i, n, err)
			}
		}
		seen := 0
		for rows.Next() {
			seen++
		}
		if rows.Close(); seen < len(vals) {
			t.Fatalf("the transaction read %d rows of its own %d", seen, len(vals))
		}
		if commit {
			err = sqlTx.Commit()
		} else {
			err = sqlTx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	write(true, 1, 2)
	if s.stmts.byKey[ins] != nil {
		t.Fatal("the insert was not evicted")
	}
	write(false, 3)
	write(true, 4)
	var n int
	if err := s.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM cache_probe`).Scan(&n); err != nil || n != 3 {
		t.Fatalf("%d rows after two commits and a rollback (%v), want 3", n, err)
	}
	// Without evictions, the transactions share one statement.
	var stmts []any
	for range 2 {
		sqlTx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.newTx(sqlTx).ExecContext(ctx, ins, 9); err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, s.stmts.byKey[ins].Value.(*cachedStmt).stmt)
		sqlTx.Commit()
	}
	if stmts[0] != stmts[1] {
		t.Fatal("the second transaction prepared the insert again")
	}
}

package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/tandemml/tandem/bench/loadgen"
)

// The search-runs data set (1k to 1M runs) is loaded straight into each
// server's own metadata store, in that server's own schema, instead of
// through its API: the stock server takes hours to create a million runs
// one request at a time, and the load is not what is measured.
//
// To stay honest, the loader does not carry a copy of anyone's schema. The
// server itself creates one template run through its API (runs/create with
// a tag, then log-batch with one metric and one param:
// SearchSet.NewSearchTemplate), in an experiment of its own. The loader
// reads every row the server wrote for that run, in every table that has a
// run_id or run_uuid column, and writes one copy per search run with only
// what differs by design replaced: the run id, the experiment, and the
// values of loadgen.SearchSpec(k) (name, start time, the kind tag, the
// group param, the loss metric and its timestamp; FastTrackML's row_num
// counter). Every other column keeps what the server wrote. Afterwards
// SearchSet.CheckRun compares a loaded run with the template through the
// API, and CheckFirstPage checks the timed query's first page against the
// expected one, on every server alike.

// bulkTables are the tables the loader knows how to copy a run's rows in;
// a template run with rows elsewhere stops the load (the server writes
// something this loader does not understand: use --load api).
var bulkTables = []string{"runs", "tags", "params", "metrics", "latest_metrics"}

// bulkStore is one server's metadata database, opened by the loader.
type bulkStore struct {
	dialect string    // sqlite or postgres
	db      *sql.DB   // SQLite
	pg      *pgx.Conn // PostgreSQL
}

func (s *server) sqlitePath(cfg *compareConfig) string {
	file := map[string]string{"tandem": "tandem.db", "mlflow": "mlflow.db", "fasttrackml": "fml.db"}[s.name]
	return filepath.Join(cfg.Work, s.backend, s.name, file)
}

func openBulk(ctx context.Context, cfg *compareConfig, s *server) (*bulkStore, error) {
	switch s.backend {
	case "sqlite":
		return openBulkStore(ctx, "sqlite", s.sqlitePath(cfg))
	case "postgres":
		u, err := pgURL(cfg.PostgresURL, s.dbName, "postgres", true)
		if err != nil {
			return nil, err
		}
		return openBulkStore(ctx, "postgres", u)
	}
	return nil, fmt.Errorf("bulk load: unknown backend %q", s.backend)
}

// openBulkStore opens a SQLite file (target is its path) or a PostgreSQL
// database (target is its URL).
func openBulkStore(ctx context.Context, dialect, target string) (*bulkStore, error) {
	switch dialect {
	case "sqlite":
		// The server keeps its journal mode; foreign keys are not
		// enforced by this connection (every copied row is consistent).
		dsn := "file:" + target + "?_pragma=busy_timeout(60000)&_pragma=foreign_keys(OFF)&_pragma=synchronous(OFF)&_txlock=immediate"
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(1)
		return &bulkStore{dialect: "sqlite", db: db}, nil
	case "postgres":
		c, err := pgx.Connect(ctx, target)
		if err != nil {
			return nil, err
		}
		return &bulkStore{dialect: "postgres", pg: c}, nil
	}
	return nil, fmt.Errorf("bulk load: unknown dialect %q", dialect)
}

func (b *bulkStore) Close() {
	if b.db != nil {
		b.db.Close()
	}
	if b.pg != nil {
		b.pg.Close(context.Background())
	}
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// runTables maps every table with a run_id or run_uuid column to that column.
func (b *bulkStore) runTables(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	if b.dialect == "postgres" {
		rows, err := b.pg.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND column_name IN ('run_id', 'run_uuid')`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var t, c string
			if err := rows.Scan(&t, &c); err != nil {
				return nil, err
			}
			out[t] = c
		}
		return out, rows.Err()
	}
	rows, err := b.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return nil, err
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, err
		}
		tables = append(tables, t)
	}
	rows.Close()
	for _, t := range tables {
		rows, err := b.db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, t)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return nil, err
			}
			if c == "run_id" || c == "run_uuid" {
				out[t] = c
			}
		}
		rows.Close()
	}
	return out, nil
}

// query returns column names and rows (Go values as the driver gives them).
func (b *bulkStore) query(ctx context.Context, q string, args ...any) ([]string, [][]any, error) {
	var out [][]any
	if b.dialect == "postgres" {
		for i := range args {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", i+1), 1)
		}
		rows, err := b.pg.Query(ctx, q, args...)
		if err != nil {
			return nil, nil, err
		}
		defer rows.Close()
		var cols []string
		for _, f := range rows.FieldDescriptions() {
			cols = append(cols, f.Name)
		}
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				return nil, nil, err
			}
			out = append(out, v)
		}
		return cols, out, rows.Err()
	}
	rows, err := b.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		v := make([]any, len(cols))
		p := make([]any, len(cols))
		for i := range v {
			p[i] = &v[i]
		}
		if err := rows.Scan(p...); err != nil {
			return nil, nil, err
		}
		out = append(out, v)
	}
	return cols, out, rows.Err()
}

// bulkTemplate is what the server wrote for the template run.
type bulkTemplate struct {
	table, runCol string
	cols          []string
	rows          [][]any
}

// bulkPlan is a prepared copy of the template into a search set.
type bulkPlan struct {
	store              *bulkStore
	tables             []bulkTemplate
	tmplID             string
	tmplLoc, searchLoc string // artifact locations of the two experiments
	searchExp          string
	rowNum             int64 // FastTrackML: next runs.row_num
}

// planBulk reads the template run's rows from the server's database.
func planBulk(ctx context.Context, b *bulkStore, ss *loadgen.SearchSet, tmplLoc, searchLoc string) (*bulkPlan, error) {
	if ss.Template == nil {
		return nil, errors.New("no template run")
	}
	p := &bulkPlan{store: b, tmplID: ss.Template.ID, tmplLoc: tmplLoc, searchLoc: searchLoc, searchExp: ss.ExpID}
	tables, err := b.runTables(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	names := make([]string, 0, len(tables))
	for t := range tables {
		names = append(names, t)
	}
	slices.Sort(names)
	for _, t := range names {
		col := tables[t]
		cols, rows, err := b.query(ctx, "SELECT * FROM "+quoteIdent(t)+" WHERE "+quoteIdent(col)+" = ?", p.tmplID)
		if err != nil {
			return nil, fmt.Errorf("read template rows of %s: %w", t, err)
		}
		if len(rows) == 0 {
			continue
		}
		if !slices.Contains(bulkTables, t) {
			return nil, fmt.Errorf("the server wrote the template run into table %q, which the bulk loader does not know (use --load api)", t)
		}
		p.tables = append(p.tables, bulkTemplate{table: t, runCol: col, cols: cols, rows: rows})
	}
	slices.SortFunc(p.tables, func(a, b bulkTemplate) int { // runs first (foreign keys)
		return slices.Index(bulkTables, a.table) - slices.Index(bulkTables, b.table)
	})
	if len(p.tables) == 0 || p.tables[0].table != "runs" || len(p.tables[0].rows) != 1 {
		return nil, errors.New("template run has no single row in table runs")
	}
	if slices.Contains(p.tables[0].cols, "row_num") {
		_, rows, err := b.query(ctx, "SELECT COALESCE(MAX(row_num), 0) FROM runs")
		if err != nil {
			return nil, fmt.Errorf("read row_num: %w", err)
		}
		p.rowNum = toInt64(rows[0][0]) + 1
	}
	return p, nil
}

func toInt64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case float64:
		return int64(x)
	}
	return 0
}

// bulkRunID is run k's id: 32 hex digits like the servers' own, distinct
// from theirs (which are random UUIDs) with overwhelming probability.
func bulkRunID(k int) string { return fmt.Sprintf("b0c4%012x%016x", 0xbe7c4, k) }

// row returns template row tr of table t rewritten for run k.
func (p *bulkPlan) row(t *bulkTemplate, tr []any, k int) []any {
	sp := loadgen.SearchSpec(k)
	id := bulkRunID(k)
	out := make([]any, len(tr))
	key, _ := colValue(t.cols, tr, "key").(string)
	for i, c := range t.cols {
		v := tr[i]
		if s, ok := v.(string); ok {
			if p.tmplLoc != "" && strings.HasPrefix(s, p.tmplLoc+"/") {
				s = p.searchLoc + s[len(p.tmplLoc):]
			}
			v = strings.ReplaceAll(s, p.tmplID, id)
		}
		switch {
		case c == t.runCol:
			v = id
		case c == "experiment_id":
			v = sameType(tr[i], p.searchExp)
		case t.table == "runs" && c == "name":
			v = sp.Name
		case t.table == "runs" && c == "start_time":
			v = sameType(tr[i], fmt.Sprint(sp.StartTime))
		case t.table == "runs" && c == "row_num":
			v = sameType(tr[i], fmt.Sprint(p.rowNum+int64(k)))
		case t.table == "tags" && c == "value" && key == "mlflow.runName":
			v = sp.Name
		case t.table == "tags" && c == "value" && key == "kind":
			v = sp.Kind
		case t.table == "params" && (c == "value" || c == "value_str") && key == "group":
			v = sp.Group
		case (t.table == "metrics" || t.table == "latest_metrics") && key == "loss" && c == "value":
			v = sp.Loss
		case (t.table == "metrics" || t.table == "latest_metrics") && key == "loss" && c == "timestamp":
			v = sameType(tr[i], fmt.Sprint(sp.StartTime))
		}
		out[i] = v
	}
	return out
}

func colValue(cols []string, row []any, name string) any {
	if i := slices.Index(cols, name); i >= 0 {
		return row[i]
	}
	return nil
}

// sameType converts a decimal string to the Go type of like (the column's).
func sameType(like any, s string) any {
	var n int64
	fmt.Sscan(s, &n)
	switch like.(type) {
	case int64:
		return n
	case int32:
		return int32(n)
	case int:
		return int(n)
	case float64:
		return float64(n)
	}
	return s
}

// load writes runs [from, to) of the search set in one transaction.
func (p *bulkPlan) load(ctx context.Context, from, to int) error {
	if to <= from {
		return nil
	}
	if p.store.dialect == "postgres" {
		tx, err := p.store.pg.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		// Skip the foreign-key triggers for this scratch load when allowed
		// (superuser); the rows are consistent either way.
		tx.Exec(ctx, "SAVEPOINT r")
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			tx.Exec(ctx, "ROLLBACK TO SAVEPOINT r")
		}
		for ti := range p.tables {
			t := &p.tables[ti]
			k, r := from, 0
			src := pgx.CopyFromFunc(func() ([]any, error) {
				if k >= to {
					return nil, nil
				}
				row := p.row(t, t.rows[r], k)
				if r++; r == len(t.rows) {
					r, k = 0, k+1
				}
				return row, nil
			})
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.table}, t.cols, src); err != nil {
				return fmt.Errorf("copy into %s: %w", t.table, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		// A backend reports its row counts to PostgreSQL's statistics at
		// most once a second and otherwise up to 10 s later: an ANALYZE
		// right after the load would then be followed by the late report,
		// and the tables would look changed since their last analysis
		// (n_mod_since_analyze) until autovacuum analyses them again, a
		// minute on. Force the report now; the second statement returns
		// only after the backend went idle once, i.e. after the flush.
		// (PostgreSQL 15+; older servers flush on their own schedule.)
		if _, err := p.store.pg.Exec(ctx, "SELECT pg_stat_force_next_flush()"); err == nil {
			p.store.pg.Exec(ctx, "SELECT 1")
		}
		return nil
	}
	conn, err := p.store.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for ti := range p.tables {
		t := &p.tables[ti]
		perRow := len(t.cols)
		batch := max(1, min(500, 30000/perRow)) // rows a statement (SQLite's variable limit is 32766)
		rowPH := "(" + strings.TrimSuffix(strings.Repeat("?,", perRow), ",") + ")"
		cols := make([]string, len(t.cols))
		for i, c := range t.cols {
			cols[i] = quoteIdent(c)
		}
		head := "INSERT INTO " + quoteIdent(t.table) + " (" + strings.Join(cols, ",") + ") VALUES "
		stmts := map[int]*sql.Stmt{}
		args := make([]any, 0, batch*perRow)
		flush := func() error {
			n := len(args) / perRow
			if n == 0 {
				return nil
			}
			st := stmts[n]
			if st == nil {
				var err error
				if st, err = tx.PrepareContext(ctx, head+strings.TrimSuffix(strings.Repeat(rowPH+",", n), ",")); err != nil {
					return err
				}
				stmts[n] = st
			}
			_, err := st.ExecContext(ctx, args...)
			args = args[:0]
			return err
		}
		for k := from; k < to; k++ {
			for _, tr := range t.rows {
				args = append(args, p.row(t, tr, k)...)
				if len(args) >= batch*perRow {
					if err := flush(); err != nil {
						return fmt.Errorf("insert into %s: %w", t.table, err)
					}
				}
			}
		}
		if err := flush(); err != nil {
			return fmt.Errorf("insert into %s: %w", t.table, err)
		}
		for _, st := range stmts {
			st.Close()
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// Fold a write-ahead log back into the database (no-op otherwise), so
	// that reads do not wade through a gigabyte of WAL.
	_, err = conn.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

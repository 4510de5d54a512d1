// Package sqlstore is tandem's metadata store on database/sql: SQLite
// (modernc.org/sqlite, pure Go, WAL) by default and PostgreSQL (pgx) in
// production, chosen by URL. One schema serves both; migrations are embedded
// and applied at start.
//
// Every mutation goes through Store.Mutate (on a primary) or Store.Apply (on
// a secondary): both run the op's registered applier and append the journal
// entry in the same transaction, so a change without its journal entry cannot
// happen.
package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/tandemml/tandem"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Dialect is the SQL flavour of the database behind a Store.
type Dialect int

const (
	SQLite Dialect = iota
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is the metadata store of one region.
type Store struct {
	db       *sql.DB
	dialect  Dialect
	gate     tandem.Gate
	log      *slog.Logger
	appliers map[string]applier

	mu      sync.Mutex
	waiters chan struct{} // closed and replaced at every commit; see Wait
	hooks   []func(tandem.Entry)
	// replaced counts snapshot loads (ReplaceState): caches of replicated
	// state (IdentityStore.Generation) drop what they hold.
	replaced atomic.Uint64

	group     groupQueue   // writes waiting for a group commit; see Mutate
	planStats plannerStats // see plannerStatsFresh
	stmts     *stmtCache   // SQLite's prepared statements (nil on PostgreSQL: pgx has its own)
}

type applier struct {
	kind tandem.Kind
	fn   ApplyFunc
}

// ApplyFunc applies one journal entry's change to the tables, inside tx. It
// must be deterministic: given the same state and entry it makes the same
// change, on the primary and on every secondary.
type ApplyFunc func(ctx context.Context, tx *Tx, e *tandem.Entry) error

// Options configure Open.
type Options struct {
	Gate   tandem.Gate  // nil means a single region, always writable in epoch 1
	Logger *slog.Logger // nil means slog.Default()
}

// Open opens (creating if needed) the metadata database named by rawURL:
// sqlite:///abs/path.db, sqlite://relative/path.db, or postgres://... /
// postgresql://..., and applies pending migrations.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	driver, dsn, dialect, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open metadata: %w", err)
	}
	// Keep as many idle connections as may be open: database/sql's default
	// of 2 closed and reopened connections under concurrency, and a new
	// PostgreSQL connection costs a backend fork, authentication and its
	// prepared-statement cache (the benchmark saw 300 sessions a minute).
	maxConns := 8
	if dialect == Postgres {
		maxConns = 32
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open metadata %s: %w", redactURL(rawURL), err)
	}
	s := &Store{db: db, dialect: dialect, gate: opts.Gate, log: opts.Logger,
		appliers: map[string]applier{}, waiters: make(chan struct{})}
	if s.gate == nil {
		s.gate = tandem.FixedGate(1)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if dialect == SQLite {
		s.stmts = &stmtCache{db: db}
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.testSchema(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("test schema: %w", err)
	}
	s.registerAll()
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if s.stmts != nil {
		s.stmts.close()
	}
	return s.db.Close()
}

// Dialect reports the SQL flavour.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB exposes the database handle for read queries of other packages' tests.
func (s *Store) DB() *sql.DB { return s.db }

// SetGate replaces the write gate (the failover machinery installs its own).
func (s *Store) SetGate(g tandem.Gate) { s.mu.Lock(); s.gate = g; s.mu.Unlock() }

func (s *Store) register(op string, kind tandem.Kind, fn ApplyFunc) {
	if _, dup := s.appliers[op]; dup {
		panic("sqlstore: op registered twice: " + op)
	}
	s.appliers[op] = applier{kind: kind, fn: fn}
}

// Ops lists every registered mutation op, sorted. Tests use it to check that
// every write endpoint journals its change.
func (s *Store) Ops() []string {
	ops := make([]string, 0, len(s.appliers))
	for op := range s.appliers {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

func parseURL(raw string) (driver, dsn string, d Dialect, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", 0, tandem.Errorf(tandem.EINVALID, "metadata URL: %v", err)
	}
	switch u.Scheme {
	case "sqlite", "sqlite3":
		path := u.Host + u.Path // sqlite://rel/path.db or sqlite:///abs/path.db
		if path == "" {
			return "", "", 0, tandem.Errorf(tandem.EINVALID, "metadata URL %q: no file path", raw)
		}
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", "", 0, fmt.Errorf("metadata dir: %w", err)
			}
		}
		q := url.Values{}
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "busy_timeout(20000)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(OFF)")
		q.Set("_txlock", "immediate")
		return "sqlite", "file:" + path + "?" + q.Encode(), SQLite, nil
	case "postgres", "postgresql":
		// Plan every execution of a prepared statement with its
		// arguments. pgx prepares and caches each query per connection,
		// and after five executions PostgreSQL may switch to a generic
		// plan made for the table sizes of that moment; tandem's tables
		// grow from empty, so a plan chosen on a fresh database (a
		// sequential scan of params) stayed in use at 100k rows and
		// log-batch ran 8 times slower. A URL that sets
		// plan_cache_mode itself keeps its value.
		//
		// random_page_cost: PostgreSQL's default (4) prices a random page
		// read as on a spinning disk, so fetching the child rows of a
		// result page (run_id = ANY of 100 ids) by primary key looked
		// dearer than reading the whole table up to ~100k rows: 4-10 times
		// slower in the search benchmark. tandem's working set is its
		// index pages, cached or on SSD; 1.1 is the usual setting there.
		// A URL (or the server's configuration through the URL) that
		// names its own value keeps it.
		q := u.Query()
		if !q.Has("plan_cache_mode") {
			q.Set("plan_cache_mode", "force_custom_plan")
		}
		if !q.Has("random_page_cost") {
			q.Set("random_page_cost", "1.1")
		}
		u.RawQuery = q.Encode()
		return "pgx", u.String(), Postgres, nil
	default:
		return "", "", 0, tandem.Errorf(tandem.EINVALID, "metadata URL %q: scheme must be sqlite or postgres", redactURL(raw))
	}
}

// redactURL hides a password in a database URL so it can be logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// SchemaVersion is the newest schema version this build knows.
func SchemaVersion() int {
	return len(migrationNames())
}

func migrationNames() []string {
	ents, _ := migrationFS.ReadDir("migrations")
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// migrationFor reports whether the statements of migration name apply to
// dialect d: all do, except those named NNNN_name.postgres.sql or
// NNNN_name.sqlite.sql, which apply to that dialect only.
func migrationFor(name string, d Dialect) bool {
	switch {
	case strings.HasSuffix(name, ".postgres.sql"):
		return d == Postgres
	case strings.HasSuffix(name, ".sqlite.sql"):
		return d == SQLite
	}
	return true
}

// migrate applies the embedded migrations this database lacks, each in its
// own transaction together with its row in tandem_schema. Migrations are
// recorded by name, so one added between two applied ones is still applied;
// a database holding a migration this build does not know was written by a
// newer tandem and is refused.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS tandem_schema (name TEXT PRIMARY KEY, applied_ms BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM tandem_schema`)
	if err != nil {
		return fmt.Errorf("migrate: %w (a database from an older development build of tandem: recreate it)", err)
	}
	applied := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: %w", err)
		}
		applied[n] = true
	}
	rows.Close()
	names := migrationNames()
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	for n := range applied {
		if !known[n] {
			return tandem.Errorf(tandem.EINVALIDSTATE,
				"metadata database has schema migration %s, written by a newer tandem (this one is %s and knows %d migrations): upgrade tandem",
				n, tandem.Version, len(names))
		}
	}
	for _, name := range names {
		if applied[name] {
			continue
		}
		if _, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0]); err != nil {
			return fmt.Errorf("migrate: migration %s is not named NNNN_name.sql", name)
		}
		body, _ := migrationFS.ReadFile("migrations/" + name)
		if !migrationFor(name, s.dialect) {
			// NNNN_name.postgres.sql (or .sqlite.sql) holds statements
			// of one dialect only; elsewhere it is recorded as applied
			// with nothing to run, so every database knows every name.
			body = nil
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		for _, stmt := range splitSQL(string(body)) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("migrate %s: %w\n%s", name, err, stmt)
			}
		}
		if _, err := tx.ExecContext(ctx, rebind(s.dialect, `INSERT INTO tandem_schema (name, applied_ms) VALUES (?, ?)`), name, time.Now().UnixMilli()); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		s.log.Debug("applied migration", "name", name)
	}
	return nil
}

// splitSQL splits a migration file on ";" at line ends; migrations hold no
// semicolons inside literals.
func splitSQL(body string) []string {
	var out []string
	for _, part := range strings.Split(body, ";\n") {
		var lines []string
		for _, l := range strings.Split(part, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
				lines = append(lines, l)
			}
		}
		if st := strings.TrimSpace(strings.TrimSuffix(strings.Join(lines, "\n"), ";")); st != "" {
			out = append(out, st)
		}
	}
	return out
}

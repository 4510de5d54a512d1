package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
)

// The root's search types, kept here while mlflowapi, api and jobs name
// them so.
type (
	ViewType        = tandem.ViewType
	SearchRunsInput = tandem.SearchRunsInput
)

// View types: tandem's.
const (
	ActiveOnly  = tandem.ActiveOnly
	DeletedOnly = tandem.DeletedOnly
	AllStages   = tandem.AllStages
)

// viewStages are the lifecycle stages a view type selects.
func viewStages(v tandem.ViewType) []any {
	switch v {
	case tandem.DeletedOnly:
		return []any{tandem.LifecycleDeleted}
	case tandem.AllStages:
		return []any{tandem.LifecycleActive, tandem.LifecycleDeleted}
	default:
		return []any{tandem.LifecycleActive}
	}
}

// run attributes: filter/order name -> column, and whether it is numeric.
var runAttributes = map[string]struct {
	col     string
	numeric bool
}{
	"run_id":       {"r.run_id", false},
	"run_name":     {"r.name", false},
	"user_id":      {"r.user_id", false},
	"status":       {"r.status", false},
	"artifact_uri": {"r.artifact_uri", false},
	"start_time":   {"r.start_time", true},
	"end_time":     {"r.end_time", true},
}

func runAttributeAlias(k string) string {
	switch k {
	case "created", "Created":
		return "start_time"
	case "run name", "Run name", "Run Name":
		return "run_name"
	}
	return k
}

var numericOps = map[string]bool{"=": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true}

// compileRunFilter turns a filter into SQL conditions on runs r, with their
// arguments. Everything the user wrote is a bound argument.
func compileRunFilter(d Dialect, filter string) (string, []any, error) {
	clauses, err := parseFilter(filter)
	if err != nil {
		return "", nil, err
	}
	return compileRunClauses(d, clauses, "")
}

// compileRunClauses compiles parsed filter clauses. With pin, the metric of
// that name is the inner join o0 of the first order_by clause (see
// pinnedOrderMetric), and comparisons on it are conditions on o0.
func compileRunClauses(d Dialect, clauses []clause, pin string) (string, []any, error) {
	var conds []string
	var args []any
	for _, c := range clauses {
		if pin != "" && pinsMetric(c, pin) {
			args = append(args, c.Num)
			conds = append(conds, "o0.value "+c.Op+" ? AND o0.is_nan = 0")
			continue
		}
		cond, err := runCondition(d, c, &args)
		if err != nil {
			return "", nil, err
		}
		conds = append(conds, cond)
	}
	return strings.Join(conds, " AND "), args, nil
}

// pinsMetric reports whether clause c requires metric key to hold a number:
// a numeric comparison other than != (which also matches NaN).
func pinsMetric(c clause, key string) bool {
	return c.Type == entMetric && c.Key == key && c.IsNum && c.Op != "!=" && numericOps[c.Op]
}

// pinnedOrderMetric returns the metric the first order_by clause sorts by
// when the filter also requires that metric to hold a number, else "".
// Every matching run then has the metric, so the order's join can be an
// inner join, the filter's comparisons conditions on it, and the order
// needs no "NaN and missing last" term: the database walks the
// (key, value) index in order and stops at the end of the page instead of
// sorting every match (over 100k runs on SQLite: 8 ms instead of 250 ms).
func pinnedOrderMetric(clauses []clause, orderBy []string) string {
	if len(orderBy) == 0 {
		return ""
	}
	o, err := parseOrderBy(orderBy[0])
	if err != nil || o.Type != entMetric {
		return ""
	}
	for _, c := range clauses {
		if pinsMetric(c, o.Key) {
			return o.Key
		}
	}
	return ""
}

// compileRunSearch compiles a search's filter and order together: the
// joins (with their arguments), the conditions (with theirs) and the
// ORDER BY list. Errors in the filter come before errors in the order.
func compileRunSearch(d Dialect, filter string, orderBy []string) (joins string, joinArgs []any, where string, whereArgs []any, order string, err error) {
	clauses, err := parseFilter(filter)
	if err != nil {
		return "", nil, "", nil, "", err
	}
	pin := pinnedOrderMetric(clauses, orderBy)
	if where, whereArgs, err = compileRunClauses(d, clauses, pin); err != nil {
		return "", nil, "", nil, "", err
	}
	if joins, joinArgs, order, err = compileRunOrderPinned(orderBy, pin); err != nil {
		return "", nil, "", nil, "", err
	}
	return joins, joinArgs, where, whereArgs, order, nil
}

// runCondition compiles one clause. Metric, param and tag clauses are
// uncorrelated "r.run_id [NOT] IN (SELECT run_id ... WHERE key = ? AND
// value ...)" subqueries rather than correlated EXISTS probes: the
// (key, value, run_id) indexes of migration 0009 answer them alone, and
// the plan stays linear when PostgreSQL's statistics are stale (a
// correlated probe per run became a nested loop there, cost ~ runs²).
// run_id is NOT NULL in every table, so IN/NOT IN mean exactly what
// EXISTS/NOT EXISTS meant.
func runCondition(d Dialect, c clause, args *[]any) (string, error) {
	stringOps := map[string]bool{"=": true, "!=": true, "LIKE": true, "ILIKE": true}
	switch c.Type {
	case entMetric:
		if !numericOps[c.Op] {
			return "", invalidFilter("Invalid comparator '%s' not one of '['!=', '<', '<=', '=', '>', '>=']'", c.Op)
		}
		if !c.IsNum {
			found := c.Str
			if c.quoted {
				found = "'" + found + "'" // the token as written, as MLflow shows it
			}
			return "", invalidFilter("Expected numeric value type for metric. Found %s", found)
		}
		*args = append(*args, c.Key, c.Num)
		cmp := "m.value " + c.Op + " ? AND m.is_nan = 0"
		if c.Op == "!=" {
			cmp = "(m.value != ? OR m.is_nan = 1)"
		}
		return "r.run_id IN (SELECT m.run_id FROM latest_metrics m WHERE m.key = ? AND " + cmp + ")", nil
	case entParam, entTag:
		table := "params"
		if c.Type == entTag {
			table = "tags"
		}
		switch {
		case c.Op == "IS NULL" || c.Op == "IS NOT NULL":
			in := "r.run_id IN "
			if c.Op == "IS NULL" {
				in = "r.run_id NOT IN "
			}
			return in + keyValueSubquery(d, table, c, args, false), nil
		case !stringOps[c.Op]:
			return "", invalidFilter("Invalid comparator '%s' not one of '['!=', '=', 'ILIKE', 'IS NOT NULL', 'IS NULL', 'LIKE']'", c.Op)
		case !c.quoted:
			return "", invalidFilter("Expected a quoted string value for %s. Got value %s", c.Type, c.Str)
		}
		return "r.run_id IN " + keyValueSubquery(d, table, c, args, true), nil
	case entAttribute:
		key := runAttributeAlias(c.Key)
		a, ok := runAttributes[key]
		if !ok {
			return "", invalidFilter("Invalid attribute key '%s' specified. Valid keys are '%s'", c.Key, "['artifact_uri', 'end_time', 'run_id', 'run_name', 'start_time', 'status', 'user_id']")
		}
		if a.numeric {
			if !numericOps[c.Op] {
				return "", invalidFilter("Invalid comparator '%s' not one of '['!=', '<', '<=', '=', '>', '>=']'", c.Op)
			}
			if !c.IsNum || c.Num != float64(int64(c.Num)) {
				return "", invalidFilter("Expected numeric value type for numeric attribute: %s. Found %s", key, c.Str)
			}
			*args = append(*args, int64(c.Num))
			return a.col + " " + c.Op + " ?", nil
		}
		if (c.Op == "IN" || c.Op == "NOT IN") && key != "run_id" {
			return "", invalidFilter("Invalid comparator '%s' for attribute '%s'; IN is supported for run_id only", c.Op, key)
		}
		if !stringOps[c.Op] && c.Op != "IN" && c.Op != "NOT IN" {
			return "", invalidFilter("Invalid comparator '%s' not one of '['!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN']'", c.Op)
		}
		if c.Op != "IN" && c.Op != "NOT IN" && !c.quoted {
			return "", invalidFilter("Expected a quoted string value for attributes. Got value %s", c.Str)
		}
		return strCompare(d, a.col, c, args), nil
	case entDataset:
		if !stringOps[c.Op] && c.Op != "IN" && c.Op != "NOT IN" {
			return "", invalidFilter("Invalid comparator '%s' not one of '['!=', '=', 'ILIKE', 'IN', 'LIKE', 'NOT IN']'", c.Op)
		}
		if c.Op != "IN" && c.Op != "NOT IN" && !c.quoted {
			return "", invalidFilter("Expected a quoted string value for dataset attributes. Got value %s", c.Str)
		}
		base := "EXISTS (SELECT 1 FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id"
		where := " WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND i.destination_id = r.run_id AND "
		switch c.Key {
		case "name":
			return base + where + strCompare(d, "d.name", c, args) + ")", nil
		case "digest":
			return base + where + strCompare(d, "d.digest", c, args) + ")", nil
		case "context":
			return base + " JOIN input_tags t ON t.input_uuid = i.input_uuid AND t.name = 'mlflow.data.context'" + where + strCompare(d, "t.value", c, args) + ")", nil
		}
		return "", invalidFilter("Invalid dataset key '%s' specified. Valid keys are '['context', 'digest', 'name']'", c.Key)
	}
	return "", invalidFilter("Invalid search expression type '%s'", c.Type)
}

// compileRunOrder returns the LEFT JOINs (with their arguments) and the
// ORDER BY list for order_by clauses, with MLflow's rules: missing values
// last (NaN metrics before missing ones), then start_time DESC unless
// ordered by it, then run_id.
func compileRunOrder(orderBy []string) (joins string, joinArgs []any, order string, err error) {
	return compileRunOrderPinned(orderBy, "")
}

// compileRunOrderPinned is compileRunOrder where the first clause, a
// metric named pin, is an inner join (see pinnedOrderMetric).
func compileRunOrderPinned(orderBy []string, pin string) (joins string, joinArgs []any, order string, err error) {
	var parts []string
	seen := map[string]bool{}
	byStart := false
	for i, ob := range orderBy {
		o, err := parseOrderBy(ob)
		if err != nil {
			return "", nil, "", err
		}
		dir := " ASC"
		if !o.Asc {
			dir = " DESC"
		}
		id := o.Type + "\x00" + o.Key
		if seen[id] {
			return "", nil, "", invalidFilter("`order_by` contains duplicate fields: %v", orderBy)
		}
		seen[id] = true
		alias := "o" + strconv.Itoa(i)
		switch o.Type {
		case entAttribute:
			key := runAttributeAlias(o.Key)
			a, ok := runAttributes[key]
			if !ok {
				return "", nil, "", invalidFilter("Invalid attribute key '%s' specified. Valid keys are '%s'", o.Key, "['artifact_uri', 'end_time', 'run_id', 'run_name', 'start_time', 'status', 'user_id']")
			}
			if key == "start_time" {
				byStart = true
			}
			parts = append(parts, "CASE WHEN "+a.col+" IS NULL THEN 1 ELSE 0 END", a.col+dir)
		case entMetric:
			if i == 0 && pin != "" && o.Key == pin {
				joins += " JOIN latest_metrics o0 ON o0.run_id = r.run_id AND o0.key = ?"
				joinArgs = append(joinArgs, o.Key)
				parts = append(parts, "o0.value"+dir)
				continue
			}
			joins += " LEFT JOIN latest_metrics " + alias + " ON " + alias + ".run_id = r.run_id AND " + alias + ".key = ?"
			joinArgs = append(joinArgs, o.Key)
			parts = append(parts, "CASE WHEN "+alias+".is_nan = 1 THEN 1 WHEN "+alias+".value IS NULL THEN 2 ELSE 0 END", alias+".value"+dir)
		case entParam, entTag:
			table := "params"
			if o.Type == entTag {
				table = "tags"
			}
			joins += " LEFT JOIN " + table + " " + alias + " ON " + alias + ".run_id = r.run_id AND " + alias + ".key = ?"
			joinArgs = append(joinArgs, o.Key)
			parts = append(parts, "CASE WHEN "+alias+".value IS NULL THEN 1 ELSE 0 END", alias+".value"+dir)
		default:
			return "", nil, "", invalidFilter("Invalid order_by entity type '%s'", o.Type)
		}
	}
	if !byStart {
		parts = append(parts, "r.start_time DESC")
	}
	parts = append(parts, "r.run_id ASC")
	return joins, joinArgs, strings.Join(parts, ", "), nil
}

// SearchRuns returns one page of the runs of the given experiments that
// match the filter, in order, and the next page token ("" at the end).
// Bad filters, order_by or tokens are EINVALID; nothing is loaded beyond
// the page.
func (s *Store) SearchRuns(ctx context.Context, in SearchRunsInput) ([]*tandem.Run, string, error) {
	max := in.MaxResults
	if max == 0 {
		max = tandem.SearchMaxResultsDefault
	}
	if max < 0 || max > tandem.SearchMaxResultsThreshold {
		return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid value for request parameter max_results. It must be at most %d, but got value %d", tandem.SearchMaxResultsThreshold, max)
	}
	off, err := decodePageToken(in.PageToken)
	if err != nil {
		return nil, "", err
	}
	joins, joinArgs, where, whereArgs, order, err := compileRunSearch(s.dialect, in.Filter, in.OrderBy)
	if err != nil {
		return nil, "", err
	}
	for _, id := range in.ExperimentIDs {
		if err := checkExperimentID(id); err != nil {
			return nil, "", err
		}
	}
	if len(in.ExperimentIDs) == 0 {
		return nil, "", nil
	}
	var args []any
	args = append(args, joinArgs...)
	exps := make([]any, len(in.ExperimentIDs))
	for i, e := range in.ExperimentIDs {
		exps[i] = e
	}
	args = append(args, exps...)
	stages := viewStages(in.ViewType)
	args = append(args, stages...)
	q := `SELECT r.run_id FROM runs r` + joins +
		` WHERE r.experiment_id IN (` + placeholders(len(exps)) + `) AND r.lifecycle_stage IN (` + placeholders(len(stages)) + `)`
	if where != "" {
		q += " AND " + where
		args = append(args, whereArgs...)
	}
	q += ` ORDER BY ` + order + ` LIMIT ? OFFSET ?`
	args = append(args, max+1, off)
	var runs []*tandem.Run
	next := ""
	// On PostgreSQL, joins and filter subqueries are planned without nested
	// loops: with statistics taken before the keys being filtered on were
	// logged (autovacuum after a bulk load, a fresh database) every input
	// is estimated at one row and a nested loop over index ranges costs
	// runs²; hash joins are linear whatever the estimates. Only for the
	// search query itself: the loaders below keep the default. With fresh
	// statistics the planner's own choice is better (at 10k runs its
	// index-driven nested loops took 5-15 ms, forced hash joins 25-33 ms),
	// so the override applies only while they are stale.
	noNestLoop := s.dialect == Postgres && (where != "" || joins != "") && !s.plannerStatsFresh(ctx)
	err = s.readPipeline(ctx, func(p pipeline) error {
		var ids []string
		var qs []readQuery
		if noNestLoop {
			qs = append(qs, readQuery{sql: "SET LOCAL enable_nestloop = off"})
		}
		qs = append(qs, readQuery{sql: q, args: args, scan: func(rows rowScanner) error {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
			return nil
		}})
		if noNestLoop {
			qs = append(qs, readQuery{sql: "RESET enable_nestloop"})
		}
		if err := p.run(ctx, false, qs...); err != nil {
			return fmt.Errorf("search runs: %w", err)
		}
		if len(ids) > max {
			ids = ids[:max]
			next = encodePageToken(off + max)
		}
		var err error
		runs, err = loadRuns(ctx, p, ids, true)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return runs, next, nil
}

// statsCheckEvery bounds how often plannerStatsFresh asks PostgreSQL.
const statsCheckEvery = 10 * time.Second

// plannerStats caches whether PostgreSQL's statistics of the tables a run
// search joins can be trusted.
type plannerStats struct {
	mu    sync.Mutex
	at    time.Time
	fresh bool
}

// plannerStatsFresh reports whether every table a run search joins has
// been analysed and changed by less than autovacuum's own re-analyse
// threshold since (10% of its rows + 50). Any doubt (an error, a table
// never analysed) answers false, which keeps the planner away from nested
// loops. The answer is cached for statsCheckEvery.
func (s *Store) plannerStatsFresh(ctx context.Context) bool {
	st := &s.planStats
	st.mu.Lock()
	if time.Since(st.at) < statsCheckEvery {
		fresh := st.fresh
		st.mu.Unlock()
		return fresh
	}
	st.mu.Unlock()
	var stale sql.NullBool
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT bool_or((last_analyze IS NULL AND last_autoanalyze IS NULL) OR n_mod_since_analyze > 0.1 * n_live_tup + 50), COUNT(*)
		FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname IN ('runs', 'latest_metrics', 'params', 'tags')`).Scan(&stale, &n)
	fresh := err == nil && n == 4 && stale.Valid && !stale.Bool
	st.mu.Lock()
	st.at, st.fresh = time.Now(), fresh
	st.mu.Unlock()
	return fresh
}

// pgShortValue is the value size (bytes) up to which PostgreSQL indexes a
// param or tag value in (key, value, run_id); longer values are in a
// (key, run_id) index of their own (migration 0011).
const pgShortValue = "1600"

// keyValueSubquery is "(SELECT x.run_id FROM table x WHERE x.key = ? [AND
// value comparison])". On PostgreSQL it names the partial index that holds
// the rows: an equality with a value of at most 1600 bytes can only match
// short values; anything else asks both parts, each with its index's
// predicate so the planner may use it.
func keyValueSubquery(d Dialect, table string, c clause, args *[]any, compare bool) string {
	part := func(size string) string {
		*args = append(*args, c.Key)
		q := "SELECT x.run_id FROM " + table + " x WHERE x.key = ?" + size
		if compare {
			q += " AND " + strCompare(d, "x.value", c, args)
		}
		return q
	}
	if d != Postgres {
		return "(" + part("") + ")"
	}
	short := " AND octet_length(x.value) <= " + pgShortValue
	if compare && c.Op == "=" && len(c.Str) <= 1600 {
		return "(" + part(short) + ")"
	}
	return "(" + part(short) + " UNION ALL " + part(" AND octet_length(x.value) > "+pgShortValue) + ")"
}

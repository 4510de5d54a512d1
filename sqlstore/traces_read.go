package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/tracefilter"
)

const traceColumns = `trace_id, experiment_id, client_request_id, request_preview, response_preview, request_time, execution_duration, state`

// GetTraceInfo returns a trace's record with its tags, metadata and
// assessments (ENOTFOUND when there is none).
func (s *Store) GetTraceInfo(ctx context.Context, id string) (*tandem.TraceInfo, error) {
	return loadTraceInfo(ctx, s.Reader(), id)
}

func loadTraceInfo(ctx context.Context, q Querier, id string) (*tandem.TraceInfo, error) {
	ts, err := loadTraceInfos(ctx, q, []string{id})
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, notFoundTrace(id)
	}
	return ts[0], nil
}

// BatchTraceInfos returns the records of the traces named that exist, in
// the order asked.
func (s *Store) BatchTraceInfos(ctx context.Context, ids []string) ([]*tandem.TraceInfo, error) {
	return loadTraceInfos(ctx, s.Reader(), ids)
}

func loadTraceInfos(ctx context.Context, q Querier, ids []string) ([]*tandem.TraceInfo, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.QueryContext(ctx, `SELECT `+traceColumns+` FROM traces WHERE trace_id IN (`+placeholders(len(ids))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("read traces: %w", err)
	}
	byID := map[string]*tandem.TraceInfo{}
	for rows.Next() {
		t, err := scanTraceRow(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		byID[t.TraceID] = t
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]*tandem.TraceInfo, 0, len(byID))
	for _, id := range ids {
		if t := byID[id]; t != nil {
			out = append(out, t)
			delete(byID, id)
		}
	}
	return out, fillTraceInfos(ctx, q, out)
}

// scanTraceRow reads one row of traceColumns.
func scanTraceRow(r scanner) (*tandem.TraceInfo, error) {
	t := &tandem.TraceInfo{Tags: map[string]string{}, Metadata: map[string]string{}}
	err := r.Scan(&t.TraceID, &t.ExperimentID, &t.ClientRequestID, &t.RequestPreview, &t.ResponsePreview,
		&t.RequestTime, &t.ExecutionDuration, &t.State)
	return t, err
}

// fillTraceInfos reads the tags, metadata and assessments of traces read
// from their table (one query for tags and metadata together, one for the
// assessments). Linked runs are not shown in a trace's record, as the
// stock server does not show them: a search's run_id filter finds them.
func fillTraceInfos(ctx context.Context, q Querier, ts []*tandem.TraceInfo) error {
	if len(ts) == 0 {
		return nil
	}
	byID := make(map[string]*tandem.TraceInfo, len(ts))
	args := make([]any, len(ts))
	for i, t := range ts {
		byID[t.TraceID], args[i] = t, t.TraceID
	}
	in := placeholders(len(ts))
	rows, err := q.QueryContext(ctx, `SELECT 0, trace_id, key, value FROM trace_tags WHERE trace_id IN (`+in+`)
		UNION ALL SELECT 1, trace_id, key, value FROM trace_metadata WHERE trace_id IN (`+in+`)`, append(args, args...)...)
	if err != nil {
		return fmt.Errorf("read trace tags and metadata: %w", err)
	}
	for rows.Next() {
		var meta int
		var id, k, v string
		if err := rows.Scan(&meta, &id, &k, &v); err != nil {
			rows.Close()
			return err
		}
		if t := byID[id]; t != nil {
			if meta == 0 {
				t.Tags[k] = v
			} else {
				t.Metadata[k] = v
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.QueryContext(ctx, `SELECT assessment_id, trace_id, name, create_ms, update_ms, body FROM trace_assessments
		WHERE trace_id IN (`+in+`) ORDER BY create_ms, assessment_id`, args...)
	if err != nil {
		return fmt.Errorf("read assessments: %w", err)
	}
	for rows.Next() {
		a, err := scanAssessment(rows)
		if err != nil {
			rows.Close()
			return err
		}
		if t := byID[a.TraceID]; t != nil {
			t.Assessments = append(t.Assessments, *a)
		}
	}
	rows.Close()
	return rows.Err()
}

type scanner interface{ Scan(...any) error }

func scanAssessment(r scanner) (*tandem.Assessment, error) {
	var a tandem.Assessment
	var body string
	if err := r.Scan(&a.ID, &a.TraceID, &a.Name, &a.Created, &a.Updated, &body); err != nil {
		return nil, err
	}
	a.Body = json.RawMessage(body)
	return &a, nil
}

func loadAssessment(ctx context.Context, q Querier, traceID, id string) (*tandem.Assessment, error) {
	a, err := scanAssessment(q.QueryRowContext(ctx, `SELECT assessment_id, trace_id, name, create_ms, update_ms, body
		FROM trace_assessments WHERE assessment_id = ? AND trace_id = ?`, id, traceID))
	if IsNoRows(err) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "Assessment with ID '%s' not found for trace '%s'", id, traceID)
	}
	return a, err
}

// GetAssessment returns one assessment of a trace (ENOTFOUND).
func (s *Store) GetAssessment(ctx context.Context, traceID, id string) (*tandem.Assessment, error) {
	if _, err := traceExperiment(ctx, s.Reader(), traceID); err != nil {
		return nil, err
	}
	return loadAssessment(ctx, s.Reader(), traceID, id)
}

// TraceSpans returns the spans of the traces named, by trace, in start
// order.
func (s *Store) TraceSpans(ctx context.Context, ids []string) (map[string][]tandem.Span, error) {
	out := map[string][]tandem.Span{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.Reader().QueryContext(ctx, `SELECT trace_id, span_id, parent_span_id, name, span_type, status, start_ns, end_ns, content
		FROM trace_spans WHERE trace_id IN (`+placeholders(len(ids))+`) ORDER BY trace_id, start_ns, span_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("read spans: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sp tandem.Span
		var content string
		if err := rows.Scan(&sp.TraceID, &sp.SpanID, &sp.ParentSpanID, &sp.Name, &sp.Type, &sp.Status, &sp.StartNanos, &sp.EndNanos, &content); err != nil {
			return nil, err
		}
		sp.Content = json.RawMessage(content)
		out[sp.TraceID] = append(out[sp.TraceID], sp)
	}
	return out, rows.Err()
}

// SearchTraces finds traces of the experiments named with MLflow's trace
// filter grammar (package tracefilter), newest first unless orderBy says
// otherwise. Returns a page and the next page's token ("" at the end).
// Each trace comes with its Listing, or with its maps when its row has none.
func (s *Store) SearchTraces(ctx context.Context, experimentIDs []string, filter string, maxResults int, orderBy []string, token string) ([]*tandem.TraceInfo, string, error) {
	if len(experimentIDs) == 0 {
		return nil, "", tandem.Errorf(tandem.EINVALID, "At least one experiment ID (location) must be specified.")
	}
	if maxResults <= 0 {
		maxResults = 100
	}
	if maxResults > 50000 {
		return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be at most 50000.", maxResults)
	}
	offset, err := decodePageToken(token)
	if err != nil {
		return nil, "", err
	}
	clauses, err := tracefilter.Parse(filter)
	if err != nil {
		return nil, "", err
	}
	d := s.dialect
	var args []any
	where := []string{"t.experiment_id IN (" + placeholders(len(experimentIDs)) + ")"}
	for _, id := range experimentIDs {
		args = append(args, id)
	}
	for _, c := range clauses {
		w, err := traceClauseSQL(d, c, &args)
		if err != nil {
			return nil, "", err
		}
		where = append(where, w)
	}
	order := []string{}
	for _, ob := range orderBy {
		o, err := tracefilter.ParseOrder(ob)
		if err != nil {
			return nil, "", err
		}
		dir := " ASC"
		if !o.Asc {
			dir = " DESC"
		}
		switch o.Entity {
		case tracefilter.Tag, tracefilter.Metadata:
			table := "trace_tags"
			if o.Entity == tracefilter.Metadata {
				table = "trace_metadata"
			}
			order = append(order, "(SELECT g.value FROM "+table+" g WHERE g.trace_id = t.trace_id AND g.key = "+sqlQuote(o.Key)+")"+dir)
		default:
			order = append(order, traceOrderColumn(o.Key)+dir)
		}
	}
	order = append(order, "t.request_time DESC", "t.trace_id ASC")
	// The page's rows come with the search itself, their tags, metadata
	// and assessments as the appliers keep them on the row
	// (refreshTraceListing). A row written before those columns were
	// added has none, and is filled from the tables.
	cols := "t." + strings.ReplaceAll(traceColumns, ", ", ", t.")
	q := `SELECT ` + cols + `, t.tags_json, t.metadata_json, t.assessments_json FROM traces t WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY ` + strings.Join(order, ", ") + fmt.Sprintf(` LIMIT %d OFFSET %d`, maxResults+1, offset)
	rd := s.Reader()
	rows, err := rd.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("search traces: %w", err)
	}
	var infos []*tandem.TraceInfo
	for rows.Next() {
		t := &tandem.TraceInfo{}
		var tags, meta, assessments []byte
		if err := rows.Scan(&t.TraceID, &t.ExperimentID, &t.ClientRequestID, &t.RequestPreview, &t.ResponsePreview,
			&t.RequestTime, &t.ExecutionDuration, &t.State, &tags, &meta, &assessments); err != nil {
			rows.Close()
			return nil, "", err
		}
		if tags != nil && meta != nil && assessments != nil {
			t.Listing = &tandem.TraceListing{Tags: tags, Metadata: meta, Assessments: assessments}
		}
		infos = append(infos, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(infos) > maxResults {
		infos, next = infos[:maxResults], encodePageToken(offset+maxResults)
	}
	var unlisted []*tandem.TraceInfo
	for _, t := range infos {
		if t.Listing == nil {
			t.Tags, t.Metadata = map[string]string{}, map[string]string{}
			unlisted = append(unlisted, t)
		}
	}
	return infos, next, fillTraceInfos(ctx, rd, unlisted)
}

// sqlQuote quotes a string literal (order_by tag keys come from the
// request: quoted, never spliced raw).
func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func traceOrderColumn(key string) string {
	switch key {
	case "timestamp_ms":
		return "t.request_time"
	case "execution_time_ms":
		return "t.execution_duration"
	case "end_time_ms":
		return "(t.request_time + t.execution_duration)"
	case "status":
		return "t.state"
	case "request_id":
		return "t.trace_id"
	case "experiment_id":
		return "t.experiment_id"
	case "name":
		return "(SELECT g.value FROM trace_tags g WHERE g.trace_id = t.trace_id AND g.key = '" + tandem.TraceTagName + "')"
	default: // run_id
		return "(SELECT g.value FROM trace_metadata g WHERE g.trace_id = t.trace_id AND g.key = '" + tandem.TraceMetadataSourceRun + "')"
	}
}

func asClause(c tracefilter.Clause) clause {
	return clause{Op: c.Op, Str: c.Str, List: c.List, Num: c.Num, IsNum: c.IsNum}
}

func traceClauseSQL(d Dialect, c tracefilter.Clause, args *[]any) (string, error) {
	kv := func(table, key string) string {
		switch c.Op {
		case "IS NULL":
			*args = append(*args, key)
			return "NOT EXISTS (SELECT 1 FROM " + table + " g WHERE g.trace_id = t.trace_id AND g.key = ?)"
		case "IS NOT NULL":
			*args = append(*args, key)
			return "EXISTS (SELECT 1 FROM " + table + " g WHERE g.trace_id = t.trace_id AND g.key = ?)"
		}
		*args = append(*args, key)
		return "EXISTS (SELECT 1 FROM " + table + " g WHERE g.trace_id = t.trace_id AND g.key = ? AND " + strCompare(d, "g.value", asClause(c), args) + ")"
	}
	switch c.Entity {
	case tracefilter.Tag:
		if c.Key == tracefilter.LinkedPrompts { // the links, not the tag
			*args = append(*args, c.Str)
			return "EXISTS (SELECT 1 FROM trace_prompts p WHERE p.trace_id = t.trace_id AND p.prompt_id = ?)", nil
		}
		return kv("trace_tags", c.Key), nil
	case tracefilter.Metadata:
		return kv("trace_metadata", c.Key), nil
	case tracefilter.Span:
		col := map[string]string{"name": "s.name", "type": "s.span_type", "status": "s.status", "content": spanText}[c.Key]
		if col == "" {
			return spanAttributeSQL(d, c, args)
		}
		return "EXISTS (SELECT 1 FROM trace_spans s WHERE s.trace_id = t.trace_id AND " + strCompare(d, col, asClause(c), args) + ")", nil
	case tracefilter.Feedback, tracefilter.Expectation:
		kind := c.Entity
		val := "CASE json_type(a.body, '$." + kind + ".value') WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract(a.body, '$." + kind + ".value') AS TEXT) END"
		if d == Postgres {
			val = "((a.body::jsonb)->'" + kind + "'->>'value')"
		}
		hasKind := "json_type(a.body, '$." + kind + "') IS NOT NULL"
		if d == Postgres {
			hasKind = "(a.body::jsonb)->'" + kind + "' IS NOT NULL"
		}
		*args = append(*args, c.Key)
		base := "EXISTS (SELECT 1 FROM trace_assessments a WHERE a.trace_id = t.trace_id AND a.name = ? AND " + hasKind
		switch c.Op {
		case "IS NULL":
			return "NOT " + base + ")", nil
		case "IS NOT NULL":
			return base + ")", nil
		case "<", "<=", ">", ">=":
			*args = append(*args, c.Num)
			num := "CAST(" + val + " AS REAL)"
			if d == Postgres {
				num = "CAST(" + val + " AS DOUBLE PRECISION)"
			}
			return base + " AND " + num + " " + c.Op + " ?)", nil
		}
		return base + " AND " + strCompare(d, val, asClause(c), args) + ")", nil
	}
	// Attributes.
	switch c.Key {
	case "timestamp_ms", "execution_time_ms", "end_time_ms":
		// Beyond the column's range (1e309 is +Inf) the bound compares as
		// the number does: above or below every time.
		bound := int64(math.MaxInt64)
		switch {
		case c.Num < -(1 << 62):
			bound = math.MinInt64
		case c.Num < 1<<62:
			bound = int64(c.Num)
		}
		*args = append(*args, bound)
		return traceOrderColumn(c.Key) + " " + c.Op + " ?", nil
	case "status":
		return strCompare(d, "t.state", asClause(c), args), nil
	case "request_id":
		return strCompare(d, "t.trace_id", asClause(c), args), nil
	case "client_request_id":
		return strCompare(d, "t.client_request_id", asClause(c), args), nil
	case "experiment_id":
		return strCompare(d, "t.experiment_id", asClause(c), args), nil
	case "name":
		return kv("trace_tags", tandem.TraceTagName), nil
	case "run_id":
		// A trace's run is its source-run metadata or a linked run.
		m := kv("trace_metadata", tandem.TraceMetadataSourceRun)
		linked := "EXISTS (SELECT 1 FROM trace_runs r WHERE r.trace_id = t.trace_id"
		switch c.Op {
		case "IS NULL":
			return "(" + m + " AND NOT " + linked + "))", nil
		case "IS NOT NULL":
			return "(" + m + " OR " + linked + "))", nil
		}
		return "(" + m + " OR " + linked + " AND " + strCompare(d, "r.run_id", asClause(c), args) + "))", nil
	case "text":
		return "EXISTS (SELECT 1 FROM trace_spans s WHERE s.trace_id = t.trace_id AND " + strCompare(d, spanText, asClause(c), args) + ")", nil
	}
	return "", tandem.Errorf(tandem.EINVALID, "Invalid attribute key '%s' specified.", c.Key)
}

// spanAttributeSQL matches span.attributes.<key> against the attribute as
// the span's stored OTLP JSON (compacted) holds it: MLflow writes
// attribute values JSON-encoded ("\"hello\"" for hello), other OTLP
// senders plain. = and != match either form exactly; LIKE and ILIKE match
// the value's text anywhere in it.
// spanText is what trace.text and span.content match: a span's text in
// MLflow's form, or its OTLP JSON for spans stored before it was kept.
const spanText = "COALESCE(s.text, s.content)"

func spanAttributeSQL(d Dialect, c tracefilter.Clause, args *[]any) (string, error) {
	key := strings.TrimPrefix(c.Key, "attributes.")
	esc := func(s string) string {
		s = strings.NewReplacer("%", "_", "_", "_").Replace(s)
		if d == Postgres {
			s = strings.ReplaceAll(s, `\`, `\\`)
		}
		return s
	}
	prefix := `%"key":"` + esc(jsonInner(key)) + `","value":{"stringValue":"`
	var pats []string
	switch c.Op {
	case "=", "!=":
		pats = []string{prefix + esc(jsonInner(`"`+c.Str+`"`)) + `"}%`, prefix + esc(jsonInner(c.Str)) + `"}%`}
	case "LIKE", "ILIKE":
		pats = []string{prefix + "%" + strings.Trim(c.Str, "%") + "%"}
	default:
		return "", tandem.Errorf(tandem.EINVALID, "Invalid comparator '%s' for span attribute '%s'", c.Op, c.Key)
	}
	var ors []string
	for _, p := range pats {
		cc := clause{Op: "LIKE", Str: p}
		if c.Op == "ILIKE" {
			cc.Op = "ILIKE"
		}
		ors = append(ors, strCompare(d, "s.content", cc, args))
	}
	w := "EXISTS (SELECT 1 FROM trace_spans s WHERE s.trace_id = t.trace_id AND (" + strings.Join(ors, " OR ") + "))"
	if c.Op == "!=" {
		w = "NOT " + w
	}
	return w, nil
}

// jsonInner is s as it appears between the quotes of a JSON string.
func jsonInner(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// TraceExperiment returns the experiment of a trace (the scope of
// per-experiment role assignments). ENOTFOUND.
func (is *IdentityStore) TraceExperiment(ctx context.Context, traceID string) (string, error) {
	return traceExperiment(ctx, is.s.Reader(), traceID)
}

package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
)

// Journal ops of MLflow 3 issues (kind issues). The payload is the whole
// issue as written (its id and times chosen in prepare).
const (
	OpIssuePut    = "issue.put"
	OpIssueImport = "issue.import"
)

func (s *Store) registerIssues() {
	s.register(OpIssuePut, tandem.KindIssues, applyIssue)
	s.register(OpIssueImport, tandem.KindIssues, applyIssue)
}

func applyIssue(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var is tandem.Issue
	if err := decodePayload(e, &is); err != nil {
		return err
	}
	return putIssue(ctx, tx, is)
}

// jsonOrEmpty is the JSON text of a list or map column, "" when empty.
func jsonOrEmpty[T ~[]string | ~map[string]string](v T) string {
	if len(v) == 0 {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func putIssue(ctx context.Context, tx *Tx, is tandem.Issue) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO issues (issue_id, experiment_id, name, description, status, severity, root_causes,
		source_run_id, categories, created_by, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (issue_id) DO UPDATE SET experiment_id = excluded.experiment_id, name = excluded.name,
		description = excluded.description, status = excluded.status, severity = excluded.severity,
		root_causes = excluded.root_causes, source_run_id = excluded.source_run_id, categories = excluded.categories,
		created_by = excluded.created_by, created_ms = excluded.created_ms, updated_ms = excluded.updated_ms`,
		is.IssueID, is.ExperimentID, is.Name, is.Description, is.Status, is.Severity, jsonOrEmpty(is.RootCauses),
		is.SourceRunID, jsonOrEmpty(is.Categories), is.CreatedBy, is.Created, is.Updated)
	if err != nil {
		return fmt.Errorf("write issue: %w", err)
	}
	return nil
}

const issueCols = `i.issue_id, i.experiment_id, i.name, i.description, i.status, i.severity, i.root_causes, i.source_run_id,
	i.categories, i.created_by, i.created_ms, i.updated_ms`

func scanIssue(sc interface{ Scan(...any) error }, count bool) (tandem.Issue, error) {
	var is tandem.Issue
	var roots, cats string
	dst := []any{&is.IssueID, &is.ExperimentID, &is.Name, &is.Description, &is.Status, &is.Severity, &roots,
		&is.SourceRunID, &cats, &is.CreatedBy, &is.Created, &is.Updated}
	var n int64
	if count {
		dst = append(dst, &n)
	}
	if err := sc.Scan(dst...); err != nil {
		return is, err
	}
	if roots != "" {
		json.Unmarshal([]byte(roots), &is.RootCauses)
	}
	if cats != "" {
		json.Unmarshal([]byte(cats), &is.Categories)
	}
	if count {
		is.TraceCount = &n
	}
	return is, nil
}

func notFoundIssue(id string) error {
	return tandem.Errorf(tandem.ENOTFOUND, "Issue with ID '%s' not found", id)
}

func loadIssue(ctx context.Context, q Querier, id string) (*tandem.Issue, error) {
	is, err := scanIssue(q.QueryRowContext(ctx, `SELECT `+issueCols+` FROM issues i WHERE i.issue_id = ?`, id), false)
	if IsNoRows(err) {
		return nil, notFoundIssue(id)
	}
	if err != nil {
		return nil, fmt.Errorf("read issue: %w", err)
	}
	return &is, nil
}

// validateIssue checks what MLflow requires of an issue and the text
// every backend can store.
func validateIssue(is *tandem.Issue) error {
	if err := tandem.RequireParams("name", is.Name, "description", is.Description); err != nil {
		return err
	}
	if err := tandem.ValidateIssueStatus(is.Status); err != nil {
		return err
	}
	if is.Severity != "" {
		if err := tandem.ValidateIssueSeverity(is.Severity); err != nil {
			return err
		}
	}
	texts := map[string]string{"name": is.Name, "description": is.Description, "source_run_id": is.SourceRunID, "created_by": is.CreatedBy}
	for i, r := range is.RootCauses {
		texts[fmt.Sprintf("root_causes[%d]", i)] = r
	}
	for i, c := range is.Categories {
		texts[fmt.Sprintf("categories[%d]", i)] = c
	}
	return tandem.CheckTexts(texts)
}

// CreateIssue creates an issue in an active experiment (status pending
// when none is given) and returns it with its id ("iss-" and 32 hex
// digits) and times.
func (s *Store) CreateIssue(ctx context.Context, is tandem.Issue) (*tandem.Issue, error) {
	if is.ExperimentID == "" {
		return nil, tandem.MissingParam("experiment_id")
	}
	if is.Status == "" {
		is.Status = "pending"
	}
	is.TraceCount = nil
	if err := validateIssue(&is); err != nil {
		return nil, err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := activeExperiment(ctx, tx, is.ExperimentID); err != nil {
			return nil, err
		}
		if is.SourceRunID != "" { // a run of the workspace, as MLflow's foreign key wants
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM runs WHERE run_id = ?`, is.SourceRunID).Scan(&n); err != nil {
				return nil, fmt.Errorf("read run: %w", err)
			}
			if n == 0 {
				return nil, tandem.Errorf(tandem.EINVALID, "Invalid value '%s' for parameter 'source_run_id' supplied: no run has this id.", is.SourceRunID)
			}
		}
		is.IssueID = "iss-" + newUUIDHex()
		is.Created = nowMillis()
		is.Updated = is.Created
		return &Change{Op: OpIssuePut, Key: is.IssueID, Payload: &is}, nil
	})
	if err != nil {
		return nil, err
	}
	return &is, nil
}

// GetIssue returns an issue (ENOTFOUND when there is none).
func (s *Store) GetIssue(ctx context.Context, id string) (*tandem.Issue, error) {
	return loadIssue(ctx, s.Reader(), id)
}

// UpdateIssue changes an issue's status, name, description or severity
// and its last update time.
func (s *Store) UpdateIssue(ctx context.Context, id string, u tandem.IssueUpdate) (*tandem.Issue, error) {
	var out tandem.Issue
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		cur, err := loadIssue(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		for _, f := range []struct {
			v   string
			dst *string
		}{{u.Name, &cur.Name}, {u.Description, &cur.Description}, {u.Status, &cur.Status}, {u.Severity, &cur.Severity}} {
			if f.v != "" {
				*f.dst = f.v
			}
		}
		if err := validateIssue(cur); err != nil {
			return nil, err
		}
		cur.Updated = max(nowMillis(), cur.Updated)
		out = *cur
		return &Change{Op: OpIssuePut, Key: id, Payload: cur}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// issueCond is one comparison of an issue search filter.
type issueCond struct{ key, op, value string }

// parseIssueFilter reads MLflow's issue filter: comparisons of status or
// source_run_id with = or != joined by AND, values quoted or bare.
func parseIssueFilter(f string) ([]issueCond, error) {
	toks, err := issueTokens(f)
	if err != nil {
		return nil, err
	}
	var out []issueCond
	for i := 0; i < len(toks); {
		if len(out) > 0 {
			if !strings.EqualFold(toks[i], "AND") {
				return nil, tandem.Errorf(tandem.EINVALID, "Invalid clause(s) in filter string: %s", strings.Join(toks[i:], " "))
			}
			i++
		}
		if i+3 > len(toks) {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid comparison: expected 3 tokens, got %d", len(toks)-i)
		}
		key := strings.Trim(toks[i], "\"`")
		if key != "status" && key != "source_run_id" {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid filter field '%s'. Supported fields: {'status', 'source_run_id'}", key)
		}
		op := toks[i+1]
		if op != "=" && op != "!=" {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid comparator '%s'. Supported comparators: {'=', '!='}", strings.ToUpper(op))
		}
		v := toks[i+2]
		if len(v) >= 2 && (v[0] == '\'' || v[0] == '"' || v[0] == '`') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out = append(out, issueCond{key, op, strings.TrimSpace(v)})
		i += 3
	}
	return out, nil
}

// issueTokens splits a filter into words, quoted strings and operators.
func issueTokens(f string) ([]string, error) {
	var out []string
	for i := 0; i < len(f); {
		c := f[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"' || c == '`':
			j := strings.IndexByte(f[i+1:], c)
			if j < 0 {
				return nil, tandem.Errorf(tandem.EINVALID, "Invalid filter string '%s': a quote is not closed", f)
			}
			out = append(out, f[i:i+j+2])
			i += j + 2
		case c == '=':
			out = append(out, "=")
			i++
		case c == '!' || c == '<' || c == '>':
			j := i + 1
			for j < len(f) && (f[j] == '=' || f[j] == '>') {
				j++
			}
			out = append(out, f[i:j])
			i = j
		default:
			j := i
			for j < len(f) && !strings.ContainsRune(" \t\n\r'\"`=!<>", rune(f[j])) {
				j++
			}
			out = append(out, f[i:j])
			i = j
		}
	}
	return out, nil
}

// SearchIssues lists issues as MLflow orders them: by severity, highest
// first (none last), then by the traces they affect when counted, then
// newest first.
func (s *Store) SearchIssues(ctx context.Context, in tandem.IssueSearch) ([]tandem.Issue, string, error) {
	if in.MaxResults < 0 || in.MaxResults > tandem.MaxIssueSearch {
		return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer at most %d", in.MaxResults, tandem.MaxIssueSearch)
	}
	if in.MaxResults == 0 {
		in.MaxResults = tandem.DefaultIssueSearch
	}
	conds, err := parseIssueFilter(in.Filter)
	if err != nil {
		return nil, "", err
	}
	off, err := decodePageToken(in.PageToken)
	if err != nil {
		return nil, "", err
	}
	r := s.Reader()
	var where []string
	var args []any
	if in.ExperimentID != "" {
		where, args = append(where, "i.experiment_id = ?"), append(args, in.ExperimentID)
	}
	for _, c := range conds {
		op := "="
		if c.op == "!=" {
			op = "<>"
		}
		where, args = append(where, "i."+c.key+" "+op+" ?"), append(args, c.value)
	}
	q := `SELECT ` + issueCols
	if in.IncludeTraceCount {
		hasIssue := "json_type(a.body, '$.issue') IS NOT NULL"
		if r.Dialect() == Postgres {
			hasIssue = "(a.body::jsonb)->'issue' IS NOT NULL"
		}
		q += `, (SELECT COUNT(DISTINCT a.trace_id) FROM trace_assessments a WHERE a.name = i.issue_id AND ` + hasIssue + `) AS trace_count`
	}
	q += ` FROM issues i`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rank := "CASE i.severity"
	for n, sev := range tandem.IssueSeverities {
		rank += fmt.Sprintf(" WHEN '%s' THEN %d", sev, n)
	}
	rank += " ELSE -1 END"
	q += ` ORDER BY ` + rank + ` DESC`
	if in.IncludeTraceCount {
		q += `, trace_count DESC`
	}
	q += ` , i.created_ms DESC, i.issue_id DESC LIMIT ? OFFSET ?`
	args = append(args, in.MaxResults+1, off)
	rows, err := r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("search issues: %w", err)
	}
	defer rows.Close()
	out := []tandem.Issue{}
	for rows.Next() {
		is, err := scanIssue(rows, in.IncludeTraceCount)
		if err != nil {
			return nil, "", fmt.Errorf("search issues: %w", err)
		}
		out = append(out, is)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("search issues: %w", err)
	}
	next := ""
	if len(out) > in.MaxResults {
		out, next = out[:in.MaxResults], encodePageToken(off+in.MaxResults)
	}
	return out, next, nil
}

// TransferIssues reads the issues of an experiment as bundle records,
// oldest first (no trace counts: traces travel on their own).
func TransferIssues(ctx context.Context, q Querier, experimentID string) ([]tandem.Issue, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+issueCols+` FROM issues i WHERE i.experiment_id = ? ORDER BY i.created_ms, i.issue_id`, experimentID)
	if err != nil {
		return nil, fmt.Errorf("list issues: %w", err)
	}
	defer rows.Close()
	var out []tandem.Issue
	for rows.Next() {
		is, err := scanIssue(rows, false)
		if err != nil {
			return nil, fmt.Errorf("list issues: %w", err)
		}
		out = append(out, is)
	}
	return out, rows.Err()
}

// PlanIssue compares a bundle's issue (its experiment already the one it
// is imported into) with this workspace: new, present (the same issue) or
// conflict (the id holds another).
func PlanIssue(ctx context.Context, q Querier, rec tandem.Issue) (ImportResult, error) {
	rec.TraceCount = nil
	cur, err := loadIssue(ctx, q, rec.IssueID)
	switch {
	case tandem.ErrorCode(err) == tandem.ENOTFOUND:
		return ImportResult{Status: ImportNew}, nil
	case err != nil:
		return ImportResult{}, err
	}
	a, _ := json.Marshal(cur)
	b, _ := json.Marshal(rec)
	if string(a) == string(b) {
		return ImportResult{Status: ImportPresent}, nil
	}
	return ImportResult{Status: ImportConflict, Reason: fmt.Sprintf("issue %s exists with different content", rec.IssueID)}, nil
}

// ImportIssue writes a bundle's issue with its id and times kept. Its
// source run need not be here (a bundle may hold the experiment's issues
// without the run that found them).
func (s *Store) ImportIssue(ctx context.Context, rec tandem.Issue) (ImportResult, error) {
	rec.TraceCount = nil
	if !strings.HasPrefix(rec.IssueID, "iss-") {
		return ImportResult{}, tandem.Errorf(tandem.EINVALID, "import issue %q: an issue id starts with iss-", rec.IssueID)
	}
	if err := validateIssue(&rec); err != nil {
		return ImportResult{}, err
	}
	var res ImportResult
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, _, err := experimentStage(ctx, tx, rec.ExperimentID); err != nil {
			return nil, err
		}
		var err error
		if res, err = PlanIssue(ctx, tx, rec); err != nil {
			return nil, err
		}
		if res.Status != ImportNew {
			return nil, errImportNoop
		}
		return &Change{Op: OpIssueImport, Key: rec.IssueID, Payload: &rec}, nil
	})
	if err == errImportNoop {
		return res, nil
	}
	return res, err
}

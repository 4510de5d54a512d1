package sqlstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
)

// Reads of the model registry and logged models. They use the Reader
// (outside write transactions); prepare functions use the check helpers in
// registry.go instead.

const mvColumns = `name, version, creation_time, last_updated_time, user_id, current_stage, description, source,
	storage_location, run_id, run_link, status, status_message, model_id`

func scanMV(sc interface{ Scan(...any) error }) (tandem.ModelVersion, error) {
	var mv tandem.ModelVersion
	err := sc.Scan(&mv.Name, &mv.Version, &mv.CreationTime, &mv.LastUpdatedTime, &mv.UserID, &mv.CurrentStage,
		&mv.Description, &mv.Source, &mv.StorageLocation, &mv.RunID, &mv.RunLink, &mv.Status, &mv.StatusMessage, &mv.ModelID)
	return mv, err
}

// GetRegisteredModel returns a model with its tags, aliases and latest
// version per stage. ENOTFOUND.
func (s *Store) GetRegisteredModel(ctx context.Context, name string) (tandem.RegisteredModel, error) {
	if err := tandem.ValidateModelName(name); err != nil {
		return tandem.RegisteredModel{}, err
	}
	q := s.Reader()
	var rm tandem.RegisteredModel
	err := q.QueryRowContext(ctx, `SELECT name, creation_time, last_updated_time, description FROM registered_models WHERE name = ?`, name).
		Scan(&rm.Name, &rm.CreationTime, &rm.LastUpdatedTime, &rm.Description)
	if IsNoRows(err) {
		return rm, errRMNotFound(name)
	} else if err != nil {
		return rm, fmt.Errorf("read registered model: %w", err)
	}
	if err := s.fillRegisteredModels(ctx, q, []*tandem.RegisteredModel{&rm}); err != nil {
		return rm, err
	}
	return rm, nil
}

// fillRegisteredModels loads tags, aliases and latest versions.
func (s *Store) fillRegisteredModels(ctx context.Context, q Querier, rms []*tandem.RegisteredModel) error {
	for _, rm := range rms {
		tags, err := readTags(ctx, q, `SELECT key, value FROM registered_model_tags WHERE name = ? ORDER BY key`, rm.Name)
		if err != nil {
			return err
		}
		rm.Tags = tags
		aliases, err := readAliases(ctx, q, rm.Name)
		if err != nil {
			return err
		}
		rm.Aliases = aliases
		latest, err := s.latestVersions(ctx, q, rm.Name, nil, false)
		if err != nil {
			return err
		}
		rm.LatestVersions = latest
	}
	return nil
}

func readTags(ctx context.Context, q Querier, query string, args ...any) ([]tandem.Tag, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read tags: %w", err)
	}
	defer rows.Close()
	var out []tandem.Tag
	for rows.Next() {
		var t tandem.Tag
		if err := rows.Scan(&t.Key, &t.Value); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func readAliases(ctx context.Context, q Querier, name string) ([]tandem.Alias, error) {
	rows, err := q.QueryContext(ctx, `SELECT alias, version FROM registered_model_aliases WHERE name = ? ORDER BY alias`, name)
	if err != nil {
		return nil, fmt.Errorf("read aliases: %w", err)
	}
	defer rows.Close()
	var out []tandem.Alias
	for rows.Next() {
		var a tandem.Alias
		if err := rows.Scan(&a.Alias, &a.Version); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// latestVersions returns, for each stage (or each of the given stages), the
// newest version in it, ordered by version.
func (s *Store) latestVersions(ctx context.Context, q Querier, name string, stages []string, withAliases bool) ([]tandem.ModelVersion, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+mvColumns+` FROM model_versions m WHERE name = ? AND current_stage <> ?
		AND version = (SELECT MAX(version) FROM model_versions m2 WHERE m2.name = m.name AND m2.current_stage = m.current_stage)
		ORDER BY version`, name, tandem.StageDeletedInternal)
	if err != nil {
		return nil, fmt.Errorf("latest versions: %w", err)
	}
	var out []tandem.ModelVersion
	for rows.Next() {
		mv, err := scanMV(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		if len(stages) > 0 {
			keep := false
			for _, st := range stages {
				if strings.EqualFold(st, mv.CurrentStage) {
					keep = true
				}
			}
			if !keep {
				continue
			}
		}
		out = append(out, mv)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if err := fillMV(ctx, q, &out[i], withAliases); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func fillMV(ctx context.Context, q Querier, mv *tandem.ModelVersion, withAliases bool) error {
	tags, err := readTags(ctx, q, `SELECT key, value FROM model_version_tags WHERE name = ? AND version = ? ORDER BY key`, mv.Name, mv.Version)
	if err != nil {
		return err
	}
	mv.Tags = tags
	if !withAliases {
		return nil
	}
	rows, err := q.QueryContext(ctx, `SELECT alias FROM registered_model_aliases WHERE name = ? AND version = ? ORDER BY alias`, mv.Name, mv.Version)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return err
		}
		mv.Aliases = append(mv.Aliases, a)
	}
	return rows.Err()
}

// GetLatestVersions returns the newest version in each stage (or in each of
// the given stages). ENOTFOUND, EINVALID for an unknown stage.
func (s *Store) GetLatestVersions(ctx context.Context, name string, stages []string) ([]tandem.ModelVersion, error) {
	if err := tandem.ValidateModelName(name); err != nil {
		return nil, err
	}
	for _, st := range stages {
		if _, err := tandem.CanonicalStage(st); err != nil {
			return nil, err
		}
	}
	q := s.Reader()
	if err := rmExists(ctx, q, name); err != nil {
		return nil, err
	}
	return s.latestVersions(ctx, q, name, stages, true)
}

// GetModelVersion returns a version with its tags and aliases. ENOTFOUND.
func (s *Store) GetModelVersion(ctx context.Context, name string, version int64) (tandem.ModelVersion, error) {
	if err := tandem.ValidateModelName(name); err != nil {
		return tandem.ModelVersion{}, err
	}
	q := s.Reader()
	mv, err := scanMV(q.QueryRowContext(ctx, `SELECT `+mvColumns+` FROM model_versions WHERE name = ? AND version = ? AND current_stage <> ?`,
		name, version, tandem.StageDeletedInternal))
	if IsNoRows(err) {
		return mv, errMVNotFound(name, version)
	} else if err != nil {
		return mv, fmt.Errorf("read model version: %w", err)
	}
	return mv, fillMV(ctx, q, &mv, true)
}

// GetModelVersionByAlias resolves name@alias. ENOTFOUND for a missing
// model; EINVALID for a missing alias (MLflow's code for it).
func (s *Store) GetModelVersionByAlias(ctx context.Context, name, alias string) (tandem.ModelVersion, error) {
	if err := tandem.ValidateModelName(name); err != nil {
		return tandem.ModelVersion{}, err
	}
	if alias == "" {
		return tandem.ModelVersion{}, tandem.MissingParam("alias")
	}
	q := s.Reader()
	if err := rmExists(ctx, q, name); err != nil {
		return tandem.ModelVersion{}, err
	}
	var v int64
	if strings.EqualFold(alias, "latest") { // MLflow's reserved alias: the newest version
		err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM model_versions WHERE name = ? AND current_stage <> ?`,
			name, tandem.StageDeletedInternal).Scan(&v)
		if err != nil {
			return tandem.ModelVersion{}, fmt.Errorf("read latest version: %w", err)
		}
		if v == 0 {
			return tandem.ModelVersion{}, tandem.Errorf(tandem.ENOTFOUND, "Latest version not found for model %s.", name)
		}
		return s.GetModelVersion(ctx, name, v)
	}
	err := q.QueryRowContext(ctx, `SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?`, name, alias).Scan(&v)
	if IsNoRows(err) {
		return tandem.ModelVersion{}, tandem.Errorf(tandem.EINVALID, "Registered model alias %s not found.", alias)
	} else if err != nil {
		return tandem.ModelVersion{}, fmt.Errorf("read alias: %w", err)
	}
	return s.GetModelVersion(ctx, name, v)
}

var _ tandem.RegistryStore = (*Store)(nil)

// GetModelVersionDownloadURI is where the client downloads a version's
// files from: the logged model's artifact location for a "models:/m-..."
// source, the source itself otherwise. ENOTFOUND.
func (s *Store) GetModelVersionDownloadURI(ctx context.Context, name string, version int64) (string, error) {
	mv, err := s.GetModelVersion(ctx, name, version)
	if err != nil {
		return "", err
	}
	if mv.StorageLocation != "" {
		return mv.StorageLocation, nil
	}
	return mv.Source, nil
}

// Page tokens are base64 JSON {"offset": n}, as MLflow's are.

func regEncodeToken(offset int) string {
	if offset <= 0 {
		return ""
	}
	b, _ := json.Marshal(map[string]int{"offset": offset})
	return base64.StdEncoding.EncodeToString(b)
}

func regDecodeToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		b, err = base64.URLEncoding.DecodeString(tok)
	}
	var v struct {
		Offset *int `json:"offset"`
	}
	if err != nil || json.Unmarshal(b, &v) != nil || v.Offset == nil || *v.Offset < 0 {
		return 0, tandem.Errorf(tandem.EINVALID, "Invalid page token, could not base64-decode")
	}
	return *v.Offset, nil
}

// regOrder parses one order_by clause: "<key> [ASC|DESC]".
func regOrder(clause string) (key string, asc bool, err error) {
	f := strings.Fields(clause)
	if len(f) == 0 || len(f) > 2 {
		return "", false, tandem.Errorf(tandem.EINVALID, "Invalid order_by clause '%s'.", clause)
	}
	asc = true
	if len(f) == 2 {
		switch strings.ToUpper(f[1]) {
		case "ASC":
		case "DESC":
			asc = false
		default:
			return "", false, tandem.Errorf(tandem.EINVALID, "Invalid ordering key in order_by clause '%s'.", clause)
		}
	}
	key = strings.Trim(f[0], "`")
	if k, ok := strings.CutPrefix(key, "attributes."); ok {
		key = k
	} else if k, ok := strings.CutPrefix(key, "attribute."); ok {
		key = k
	}
	return key, asc, nil
}

// regWhere builds "AND ..." SQL for string conditions on a column.
func regStringCond(d Dialect, col string, c regCond) (string, []any, error) {
	switch c.Op {
	case "=", "!=":
		if c.Number {
			return "", nil, tandem.Errorf(tandem.EINVALID, "Invalid filter: expected a quoted string value for '%s'", c.Key)
		}
		op := c.Op
		if op == "!=" {
			op = "<>"
		}
		return col + " " + op + " ?", []any{c.Values[0]}, nil
	case "LIKE", "ILIKE":
		sql, args := regLikeSQL(d, col, c.Op, c.Values[0])
		return sql, args, nil
	case "IN", "NOT IN":
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(c.Values)), ", ")
		args := make([]any, len(c.Values))
		for i, v := range c.Values {
			args[i] = v
		}
		return col + " " + c.Op + " (" + ph + ")", args, nil
	}
	return "", nil, tandem.Errorf(tandem.EINVALID, "Invalid comparator '%s' for '%s'", c.Op, c.Key)
}

func regNumberCond(col string, c regCond) (string, []any, error) {
	switch c.Op {
	case "=", "!=", "<", "<=", ">", ">=":
	default:
		return "", nil, tandem.Errorf(tandem.EINVALID, "Invalid comparator '%s' for numeric attribute '%s'", c.Op, c.Key)
	}
	n, err := strconv.ParseInt(c.Values[0], 10, 64)
	if err != nil {
		return "", nil, tandem.Errorf(tandem.EINVALID, "Invalid value '%s' for numeric attribute '%s'", c.Values[0], c.Key)
	}
	op := c.Op
	if op == "!=" {
		op = "<>"
	}
	return col + " " + op + " ?", []any{n}, nil
}

func checkMaxResults(max, def, limit int64) (int64, error) {
	if max == 0 {
		return def, nil
	}
	if max < 1 || max > limit {
		return 0, tandem.Errorf(tandem.EINVALID, "Invalid value for request parameter max_results. It must be at most %d, but got value %d", limit, max)
	}
	return max, nil
}

// SearchRegisteredModels finds registered models. filter: name and tags.<key>
// with =, !=, LIKE, ILIKE; orderBy: name, timestamp / last_updated_timestamp,
// creation_timestamp. max 0 means 100 (limit 1000). EINVALID for a bad
// filter, order or token.
func (s *Store) SearchRegisteredModels(ctx context.Context, filter string, max int64, orderBy []string, pageToken string) ([]tandem.RegisteredModel, string, error) {
	max, err := checkMaxResults(max, 100, 1000)
	if err != nil {
		return nil, "", err
	}
	offset, err := regDecodeToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	conds, err := parseRegFilter(filter)
	if err != nil {
		return nil, "", err
	}
	d := s.dialect
	var where []string
	var args []any
	conds, prompts := regPromptFilter(conds)
	if !prompts {
		where = append(where, "NOT EXISTS (SELECT 1 FROM registered_model_tags p WHERE p.name = r.name AND p.key = ? AND p.value = 'true')")
		args = append(args, tagIsPrompt)
	}
	for _, c := range conds {
		var sql string
		var a []any
		switch {
		case c.Entity == "attribute" && c.Key == "name":
			sql, a, err = regStringCond(d, "r.name", c)
		case c.Entity == "tag":
			if c.Op == "IN" || c.Op == "NOT IN" {
				return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid comparator '%s' for tag '%s'", c.Op, c.Key)
			}
			var inner string
			inner, a, err = regStringCond(d, "t.value", c)
			sql = "EXISTS (SELECT 1 FROM registered_model_tags t WHERE t.name = r.name AND t.key = ? AND " + inner + ")"
			a = append([]any{c.Key}, a...)
		default:
			return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid attribute key '%s' specified. Valid keys are '{'name'}'", c.Key)
		}
		if err != nil {
			return nil, "", err
		}
		where = append(where, sql)
		args = append(args, a...)
	}
	var order []string
	seen := map[string]bool{}
	for _, ob := range orderBy {
		key, asc, err := regOrder(ob)
		if err != nil {
			return nil, "", err
		}
		col := map[string]string{"name": "r.name", "timestamp": "r.last_updated_time", "last_updated_timestamp": "r.last_updated_time",
			"creation_timestamp": "r.creation_time"}[key]
		if col == "" {
			return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid order by key '%s' specified. Valid keys are '{'name', 'timestamp', 'last_updated_timestamp', 'creation_timestamp'}'", key)
		}
		if seen[col] {
			return nil, "", tandem.Errorf(tandem.EINVALID, "`order_by` contains duplicate fields: %s", regPyList(orderBy))
		}
		seen[col] = true
		dir := " ASC"
		if !asc {
			dir = " DESC"
		}
		order = append(order, col+dir)
	}
	if !seen["r.name"] {
		order = append(order, "r.name ASC")
	}
	q := `SELECT r.name, r.creation_time, r.last_updated_time, r.description FROM registered_models r`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + strings.Join(order, ", ") + " LIMIT ? OFFSET ?"
	args = append(args, max+1, offset)
	r := s.Reader()
	rows, err := r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("search registered models: %w", err)
	}
	var out []tandem.RegisteredModel
	for rows.Next() {
		var rm tandem.RegisteredModel
		if err := rows.Scan(&rm.Name, &rm.CreationTime, &rm.LastUpdatedTime, &rm.Description); err != nil {
			rows.Close()
			return nil, "", err
		}
		out = append(out, rm)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if int64(len(out)) > max {
		out = out[:max]
		next = regEncodeToken(offset + int(max))
	}
	ptrs := make([]*tandem.RegisteredModel, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := s.fillRegisteredModels(ctx, r, ptrs); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// SearchModelVersions finds model versions. filter: name, run_id (also IN /
// NOT IN), source_path, version_number (numeric), tags.<key>; orderBy:
// name, version_number, creation_timestamp, last_updated_timestamp
// (default last_updated_timestamp DESC, name ASC, version DESC, as MLflow). max 0 means 10000 (limit 200000).
func (s *Store) SearchModelVersions(ctx context.Context, filter string, max int64, orderBy []string, pageToken string) ([]tandem.ModelVersion, string, error) {
	if max < 0 {
		return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid value for max_results. It must be a positive integer, but got %d", max)
	}
	max, err := checkMaxResults(max, 10000, 200000)
	if err != nil {
		return nil, "", err
	}
	offset, err := regDecodeToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	conds, err := parseRegFilter(filter)
	if err != nil {
		return nil, "", err
	}
	d := s.dialect
	where := []string{"m.current_stage <> ?"}
	args := []any{tandem.StageDeletedInternal}
	conds, prompts := regPromptFilter(conds)
	if !prompts {
		where = append(where, "NOT EXISTS (SELECT 1 FROM model_version_tags p WHERE p.name = m.name AND p.key = ? AND p.value = 'true')")
		args = append(args, tagIsPrompt)
	}
	for _, c := range conds {
		var sql string
		var a []any
		switch {
		case c.Entity == "attribute" && (c.Key == "name" || c.Key == "run_id" || c.Key == "source_path"):
			col := map[string]string{"name": "m.name", "run_id": "m.run_id", "source_path": "m.source"}[c.Key]
			if (c.Op == "IN" || c.Op == "NOT IN") && c.Key == "source_path" {
				return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid comparator '%s' for attribute 'source_path'", c.Op)
			}
			sql, a, err = regStringCond(d, col, c)
		case c.Entity == "attribute" && c.Key == "version_number":
			sql, a, err = regNumberCond("m.version", c)
		case c.Entity == "tag":
			if c.Op == "IN" || c.Op == "NOT IN" {
				return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid comparator '%s' for tag '%s'", c.Op, c.Key)
			}
			var inner string
			inner, a, err = regStringCond(d, "t.value", c)
			sql = "EXISTS (SELECT 1 FROM model_version_tags t WHERE t.name = m.name AND t.version = m.version AND t.key = ? AND " + inner + ")"
			a = append([]any{c.Key}, a...)
		default:
			return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid attribute key '%s' specified. Valid keys are '{'name', 'run_id', 'source_path', 'version_number'}'", c.Key)
		}
		if err != nil {
			return nil, "", err
		}
		where = append(where, sql)
		args = append(args, a...)
	}
	if len(orderBy) == 0 {
		orderBy = []string{"last_updated_timestamp DESC"} // MLflow's default, then name ASC, version DESC
	}
	var order []string
	seen := map[string]bool{}
	for _, ob := range orderBy {
		key, asc, err := regOrder(ob)
		if err != nil {
			return nil, "", err
		}
		col := map[string]string{"name": "m.name", "version_number": "m.version", "creation_timestamp": "m.creation_time",
			"last_updated_timestamp": "m.last_updated_time"}[key]
		if col == "" {
			return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid order by key '%s' specified. Valid keys are {'name', 'version_number', 'creation_timestamp', 'last_updated_timestamp'}", key)
		}
		if seen[col] {
			return nil, "", tandem.Errorf(tandem.EINVALID, "`order_by` contains duplicate fields: %s", regPyList(orderBy))
		}
		seen[col] = true
		dir := " ASC"
		if !asc {
			dir = " DESC"
		}
		order = append(order, col+dir)
	}
	if !seen["m.name"] {
		order = append(order, "m.name ASC")
	}
	if !seen["m.version"] {
		order = append(order, "m.version DESC")
	}
	q := `SELECT ` + strings.ReplaceAll(mvColumnsPrefixed, "\n", " ") + ` FROM model_versions m WHERE ` + strings.Join(where, " AND ") +
		" ORDER BY " + strings.Join(order, ", ") + " LIMIT ? OFFSET ?"
	args = append(args, max+1, offset)
	r := s.Reader()
	rows, err := r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("search model versions: %w", err)
	}
	var out []tandem.ModelVersion
	for rows.Next() {
		mv, err := scanMV(rows)
		if err != nil {
			rows.Close()
			return nil, "", err
		}
		out = append(out, mv)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if int64(len(out)) > max {
		out = out[:max]
		next = regEncodeToken(offset + int(max))
	}
	for i := range out {
		if err := fillMV(ctx, r, &out[i], false); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

var mvColumnsPrefixed = func() string {
	cols := strings.Split(mvColumns, ",")
	for i, c := range cols {
		cols[i] = "m." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}()

// GetLoggedModel returns a logged model with its tags and params.
// ENOTFOUND (also for a deleted one unless allowDeleted).
func (s *Store) GetLoggedModel(ctx context.Context, id string, allowDeleted bool) (tandem.LoggedModel, error) {
	q := s.Reader()
	lm, err := scanLM(q.QueryRowContext(ctx, `SELECT `+lmColumns+` FROM logged_models WHERE model_id = ?`, id))
	if IsNoRows(err) || (err == nil && !allowDeleted && lm.LifecycleStage == tandem.LoggedModelDeleted) {
		return tandem.LoggedModel{}, errLMNotFound(id)
	} else if err != nil {
		return lm, fmt.Errorf("read logged model: %w", err)
	}
	return lm, fillLM(ctx, q, &lm)
}

const lmColumns = `model_id, experiment_id, name, artifact_location, creation_time, last_updated_time, status, status_message,
	model_type, source_run_id, lifecycle_stage`

func scanLM(sc interface{ Scan(...any) error }) (tandem.LoggedModel, error) {
	var lm tandem.LoggedModel
	err := sc.Scan(&lm.ModelID, &lm.ExperimentID, &lm.Name, &lm.ArtifactLocation, &lm.CreationTime, &lm.LastUpdatedTime,
		&lm.Status, &lm.StatusMessage, &lm.ModelType, &lm.SourceRunID, &lm.LifecycleStage)
	return lm, err
}

func fillLM(ctx context.Context, q Querier, lm *tandem.LoggedModel) error {
	tags, err := readTags(ctx, q, `SELECT key, value FROM logged_model_tags WHERE model_id = ? ORDER BY key`, lm.ModelID)
	if err != nil {
		return err
	}
	params, err := readTags(ctx, q, `SELECT key, value FROM logged_model_params WHERE model_id = ? ORDER BY key`, lm.ModelID)
	if err != nil {
		return err
	}
	lm.Tags, lm.Params = tags, params
	rows, err := q.QueryContext(ctx, `SELECT key, value, is_nan, timestamp, step, run_id, dataset_name, dataset_digest
		FROM logged_model_metrics WHERE model_id = ? ORDER BY key, timestamp, step, run_id`, lm.ModelID)
	if err != nil {
		return fmt.Errorf("read logged model metrics: %w", err)
	}
	defer rows.Close()
	lm.Metrics = nil
	for rows.Next() {
		m := tandem.LoggedModelMetric{Metric: tandem.Metric{ModelID: lm.ModelID}}
		var nan int
		if err := rows.Scan(&m.Key, &m.Value, &nan, &m.Timestamp, &m.Step, &m.RunID, &m.DatasetName, &m.DatasetDigest); err != nil {
			return fmt.Errorf("read logged model metrics: %w", err)
		}
		if nan == 1 {
			m.Value = math.NaN()
		}
		lm.Metrics = append(lm.Metrics, m)
	}
	return rows.Err()
}

// SearchLoggedModels finds active logged models of the given experiments.
// filter: attributes name, model_id, model_type, status, source_run_id
// (strings), creation_time / creation_timestamp, last_updated_timestamp
// (numbers), params.<key>, tags.<key>, metrics.<key> (a model matches
// when any point of the metric it was logged with satisfies the
// comparison, on one of datasets when they are given). datasets without a
// metric condition keep the models with a metric on one of them. max 0
// means 100; pages hold at most 10000.
func (s *Store) SearchLoggedModels(ctx context.Context, experimentIDs []string, filter string, datasets []tandem.LoggedModelDataset, orderBy []tandem.LoggedModelOrder, max int64, pageToken string) ([]tandem.LoggedModel, string, error) {
	if len(experimentIDs) == 0 {
		return nil, "", tandem.MissingParam("experiment_ids")
	}
	// MLflow sets no upper bound; pages of at most 10000 keep memory
	// bounded, and the page token carries on.
	if max <= 0 {
		max = 100
	} else if max > 10000 {
		max = 10000
	}
	offset, err := regDecodeToken(pageToken)
	if err != nil {
		return nil, "", err
	}
	conds, err := parseRegFilter(filter)
	if err != nil {
		return nil, "", err
	}
	d := s.dialect
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(experimentIDs)), ", ")
	where := []string{"l.lifecycle_stage = ?", "l.experiment_id IN (" + ph + ")"}
	args := []any{tandem.LoggedModelActive}
	for _, e := range experimentIDs {
		args = append(args, e)
	}
	strCols := map[string]string{"name": "l.name", "model_id": "l.model_id", "model_type": "l.model_type", "status": "l.status",
		"source_run_id": "l.source_run_id", "experiment_id": "l.experiment_id"}
	numCols := map[string]string{"creation_time": "l.creation_time", "creation_timestamp": "l.creation_time",
		"creation_timestamp_ms": "l.creation_time", "last_updated_timestamp": "l.last_updated_time",
		"last_updated_timestamp_ms": "l.last_updated_time", "last_updated_time": "l.last_updated_time"}
	// The datasets a metric condition must be on (any of them).
	dsSQL, dsArgs := "", []any(nil)
	if len(datasets) > 0 {
		var ors []string
		for _, ds := range datasets {
			if ds.Digest != "" {
				ors = append(ors, "(mm.dataset_name = ? AND mm.dataset_digest = ?)")
				dsArgs = append(dsArgs, ds.Name, ds.Digest)
			} else {
				ors = append(ors, "mm.dataset_name = ?")
				dsArgs = append(dsArgs, ds.Name)
			}
		}
		dsSQL = "(" + strings.Join(ors, " OR ") + ")"
	}
	hasMetric := false
	for _, c := range conds {
		var sql string
		var a []any
		switch c.Entity {
		case "attribute":
			if col, ok := strCols[c.Key]; ok {
				sql, a, err = regStringCond(d, col, c)
			} else if col, ok := numCols[c.Key]; ok {
				sql, a, err = regNumberCond(col, c)
			} else {
				return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid attribute key '%s' specified.", c.Key)
			}
		case "tag", "param":
			table := "logged_model_tags"
			if c.Entity == "param" {
				table = "logged_model_params"
			}
			var inner string
			inner, a, err = regStringCond(d, "t.value", c)
			sql = "EXISTS (SELECT 1 FROM " + table + " t WHERE t.model_id = l.model_id AND t.key = ? AND " + inner + ")"
			a = append([]any{c.Key}, a...)
		case "metric":
			hasMetric = true
			var inner string
			inner, a, err = lmMetricCond(c)
			sql = "EXISTS (SELECT 1 FROM logged_model_metrics mm WHERE mm.model_id = l.model_id AND mm.key = ? AND " + inner
			a = append([]any{c.Key}, a...)
			if dsSQL != "" {
				sql += " AND " + dsSQL
				a = append(a, dsArgs...)
			}
			sql += ")"
		default:
			return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid entity '%s' in filter.", c.Entity)
		}
		if err != nil {
			return nil, "", err
		}
		where = append(where, sql)
		args = append(args, a...)
	}
	if dsSQL != "" && !hasMetric {
		where = append(where, "EXISTS (SELECT 1 FROM logged_model_metrics mm WHERE mm.model_id = l.model_id AND "+dsSQL+")")
		args = append(args, dsArgs...)
	}
	var order []string
	var orderArgs []any
	for _, ob := range orderBy {
		f := strings.TrimPrefix(strings.TrimPrefix(ob.Field, "attributes."), "attribute.")
		col := strCols[f]
		if col == "" {
			col = numCols[f]
		}
		if col == "" {
			key, ok := strings.CutPrefix(f, "metrics.")
			if !ok {
				return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid order by field name '%s'.", ob.Field)
			}
			// The model's latest point of the metric (on the dataset
			// asked for); NULL, sorted last, for a model without one.
			ds, a := "", []any{key}
			if ob.DatasetName != "" {
				ds += " AND mm.dataset_name = ?"
				a = append(a, ob.DatasetName)
			}
			if ob.DatasetDigest != "" {
				ds += " AND mm.dataset_digest = ?"
				a = append(a, ob.DatasetDigest)
			}
			col = "(SELECT mm.value FROM logged_model_metrics mm WHERE mm.model_id = l.model_id AND mm.key = ?" + ds +
				" ORDER BY mm.timestamp DESC, mm.step DESC, mm.run_id ASC LIMIT 1)"
			order = append(order, "CASE WHEN "+col+" IS NULL THEN 1 ELSE 0 END ASC")
			orderArgs = append(orderArgs, a...)
			orderArgs = append(orderArgs, a...)
		}
		dir := " ASC"
		if !ob.Ascending {
			dir = " DESC"
		}
		order = append(order, col+dir)
	}
	order = append(order, "l.creation_time DESC", "l.model_id ASC")
	q := `SELECT l.` + strings.ReplaceAll(strings.ReplaceAll(lmColumns, "\n\t", " "), ", ", ", l.") + ` FROM logged_models l WHERE ` +
		strings.Join(where, " AND ") + " ORDER BY " + strings.Join(order, ", ") + " LIMIT ? OFFSET ?"
	args = append(append(args, orderArgs...), max+1, offset)
	r := s.Reader()
	rows, err := r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("search logged models: %w", err)
	}
	var out []tandem.LoggedModel
	for rows.Next() {
		lm, err := scanLM(rows)
		if err != nil {
			rows.Close()
			return nil, "", err
		}
		out = append(out, lm)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if int64(len(out)) > max {
		out = out[:max]
		next = regEncodeToken(offset + int(max))
	}
	for i := range out {
		if err := fillLM(ctx, r, &out[i]); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// lmMetricCond is the SQL of a metric comparison on logged_model_metrics mm:
// a number compared with the point's value (a NaN point matches nothing).
func lmMetricCond(c regCond) (string, []any, error) {
	switch c.Op {
	case "=", "!=", "<", "<=", ">", ">=":
	default:
		return "", nil, tandem.Errorf(tandem.EINVALID, "Invalid comparator '%s' for metric '%s'", c.Op, c.Key)
	}
	v, err := strconv.ParseFloat(c.Values[0], 64)
	if err != nil || !c.Number {
		return "", nil, tandem.Errorf(tandem.EINVALID, "Invalid value '%s' for metric '%s': expected a number", c.Values[0], c.Key)
	}
	op := c.Op
	if op == "!=" {
		op = "<>"
	}
	return "mm.is_nan = 0 AND mm.value " + op + " ?", []any{v}, nil
}

// tagIsPrompt marks registered models and versions that are MLflow prompts.
const tagIsPrompt = "mlflow.prompt.is_prompt"

// regPromptFilter applies MLflow's rule for prompts in registry searches:
// a search returns prompts only when it asks for them (is_prompt = 'true'
// or != 'false'); otherwise it returns only models without the prompt tag,
// and any condition on that tag is dropped (the client adds
// "tag.`mlflow.prompt.is_prompt` != 'true'" to every model search).
func regPromptFilter(conds []regCond) ([]regCond, bool) {
	for _, c := range conds {
		if c.Entity == "tag" && c.Key == tagIsPrompt && len(c.Values) == 1 {
			v := strings.ToLower(c.Values[0])
			if (c.Op == "=" && v == "true") || (c.Op == "!=" && v == "false") {
				return conds, true
			}
		}
	}
	out := conds[:0:0]
	for _, c := range conds {
		if !(c.Entity == "tag" && c.Key == tagIsPrompt) {
			out = append(out, c)
		}
	}
	return out, false
}

// regPyList formats strings as Python prints a list, as MLflow's messages do.
func regPyList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = "'" + s + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

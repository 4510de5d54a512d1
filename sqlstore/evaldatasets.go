package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
)

var _ tandem.GenAIStore = (*Store)(nil)

// Journal ops of MLflow 3 evaluation datasets (kind evaluation_datasets).
// Every op carries a tpDataset fully resolved in prepare (ids, times,
// merged records, the new schema, profile and digest): the one applier
// only writes it.
const (
	OpDatasetCreate        = "evaldataset.create"
	OpDatasetDelete        = "evaldataset.delete"
	OpDatasetSetTags       = "evaldataset.set_tags"
	OpDatasetDeleteTag     = "evaldataset.delete_tag"
	OpDatasetUpsertRecords = "evaldataset.upsert_records"
	OpDatasetDeleteRecords = "evaldataset.delete_records"
	OpDatasetExperiments   = "evaldataset.experiments"
	OpDatasetImport        = "evaldataset.import"
)

// MLflow's tag that names the user behind a dataset or record write.
const tagMLflowUser = "mlflow.user"

func (s *Store) registerEvalDatasets() {
	k := tandem.KindEvalDatasets
	for _, op := range []string{OpDatasetCreate, OpDatasetDelete, OpDatasetSetTags, OpDatasetDeleteTag,
		OpDatasetUpsertRecords, OpDatasetDeleteRecords, OpDatasetExperiments, OpDatasetImport} {
		s.register(op, k, applyDataset)
	}
}

// tpDataset is one resolved change to a dataset. Row, when set, is the
// dataset's new row; the other fields say what else changes. Replace (an
// import) drops what the dataset had before writing the rest.
type tpDataset struct {
	DatasetID     string                    `json:"dataset_id"`
	Row           *tandem.EvaluationDataset `json:"row,omitempty"`
	Delete        bool                      `json:"delete,omitempty"`
	Replace       bool                      `json:"replace,omitempty"`
	SetTags       map[string]string         `json:"set_tags,omitempty"`
	DeleteTags    []string                  `json:"delete_tags,omitempty"`
	AddExps       []string                  `json:"add_experiments,omitempty"`
	RemoveExps    []string                  `json:"remove_experiments,omitempty"`
	PutRecords    []tandem.DatasetRecord    `json:"put_records,omitempty"`
	DeleteRecords []string                  `json:"delete_records,omitempty"`
}

var datasetTables = []string{"evaluation_datasets", "evaluation_dataset_tags", "evaluation_dataset_experiments", "evaluation_dataset_records"}

func applyDataset(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpDataset
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	if p.Delete || p.Replace {
		for _, t := range datasetTables {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE dataset_id = ?`, p.DatasetID); err != nil {
				return fmt.Errorf("delete dataset from %s: %w", t, err)
			}
		}
		if p.Delete {
			return nil
		}
	}
	if r := p.Row; r != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO evaluation_datasets (dataset_id, name, schema_json, profile_json, digest,
			created_time, last_update_time, created_by, last_updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (dataset_id) DO UPDATE SET name = excluded.name, schema_json = excluded.schema_json,
			profile_json = excluded.profile_json, digest = excluded.digest, created_time = excluded.created_time,
			last_update_time = excluded.last_update_time, created_by = excluded.created_by, last_updated_by = excluded.last_updated_by`,
			p.DatasetID, r.Name, r.Schema, r.Profile, r.Digest, r.Created, r.Updated, r.CreatedBy, r.LastUpdatedBy); err != nil {
			return fmt.Errorf("write dataset: %w", err)
		}
	}
	for _, k := range sortedKeys(p.SetTags) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO evaluation_dataset_tags (dataset_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT (dataset_id, key) DO UPDATE SET value = excluded.value`, p.DatasetID, k, p.SetTags[k]); err != nil {
			return fmt.Errorf("write dataset tag: %w", err)
		}
	}
	for _, k := range p.DeleteTags {
		if _, err := tx.ExecContext(ctx, `DELETE FROM evaluation_dataset_tags WHERE dataset_id = ? AND key = ?`, p.DatasetID, k); err != nil {
			return fmt.Errorf("delete dataset tag: %w", err)
		}
	}
	for _, x := range p.AddExps {
		if _, err := tx.ExecContext(ctx, `INSERT INTO evaluation_dataset_experiments (dataset_id, experiment_id) VALUES (?, ?)
			ON CONFLICT (dataset_id, experiment_id) DO NOTHING`, p.DatasetID, x); err != nil {
			return fmt.Errorf("link dataset: %w", err)
		}
	}
	for _, x := range p.RemoveExps {
		if _, err := tx.ExecContext(ctx, `DELETE FROM evaluation_dataset_experiments WHERE dataset_id = ? AND experiment_id = ?`, p.DatasetID, x); err != nil {
			return fmt.Errorf("unlink dataset: %w", err)
		}
	}
	for _, id := range p.DeleteRecords {
		if _, err := tx.ExecContext(ctx, `DELETE FROM evaluation_dataset_records WHERE dataset_id = ? AND dataset_record_id = ?`, p.DatasetID, id); err != nil {
			return fmt.Errorf("delete dataset record: %w", err)
		}
	}
	for _, r := range p.PutRecords {
		if _, err := tx.ExecContext(ctx, `INSERT INTO evaluation_dataset_records (dataset_record_id, dataset_id, input_hash, inputs,
			outputs, expectations, tags, source, source_id, source_type, created_time, last_update_time, created_by, last_updated_by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dataset_record_id) DO UPDATE SET
			input_hash = excluded.input_hash, inputs = excluded.inputs, outputs = excluded.outputs, expectations = excluded.expectations,
			tags = excluded.tags, source = excluded.source, source_id = excluded.source_id, source_type = excluded.source_type,
			created_time = excluded.created_time, last_update_time = excluded.last_update_time, created_by = excluded.created_by,
			last_updated_by = excluded.last_updated_by`,
			r.ID, p.DatasetID, r.InputHash, string(r.Inputs), string(r.Outputs), string(r.Expectations), string(r.Tags),
			string(r.Source), r.SourceID, r.SourceType, r.Created, r.Updated, r.CreatedBy, r.LastUpdatedBy); err != nil {
			return fmt.Errorf("write dataset record: %w", err)
		}
	}
	return nil
}

// Reads.

func notFoundDataset(id string) error {
	return tandem.Errorf(tandem.ENOTFOUND, "Evaluation dataset with id '%s' not found", id)
}

const datasetCols = `dataset_id, name, schema_json, profile_json, digest, created_time, last_update_time, created_by, last_updated_by`

func scanDataset(sc interface{ Scan(...any) error }) (*tandem.EvaluationDataset, error) {
	d := &tandem.EvaluationDataset{}
	err := sc.Scan(&d.ID, &d.Name, &d.Schema, &d.Profile, &d.Digest, &d.Created, &d.Updated, &d.CreatedBy, &d.LastUpdatedBy)
	return d, err
}

// loadDataset reads a dataset with its tags and experiments, or ENOTFOUND.
func loadDataset(ctx context.Context, q Querier, id string) (*tandem.EvaluationDataset, error) {
	d, err := scanDataset(q.QueryRowContext(ctx, `SELECT `+datasetCols+` FROM evaluation_datasets WHERE dataset_id = ?`, id))
	if IsNoRows(err) {
		return nil, notFoundDataset(id)
	}
	if err != nil {
		return nil, fmt.Errorf("read dataset: %w", err)
	}
	if err := fillDatasets(ctx, q, []*tandem.EvaluationDataset{d}); err != nil {
		return nil, err
	}
	return d, nil
}

// fillDatasets reads the tags and experiments of ds.
func fillDatasets(ctx context.Context, q Querier, ds []*tandem.EvaluationDataset) error {
	if len(ds) == 0 {
		return nil
	}
	byID := map[string]*tandem.EvaluationDataset{}
	args := make([]any, len(ds))
	for i, d := range ds {
		d.Tags = map[string]string{}
		byID[d.ID] = d
		args[i] = d.ID
	}
	in := placeholders(len(ds))
	rows, err := q.QueryContext(ctx, `SELECT dataset_id, key, value FROM evaluation_dataset_tags WHERE dataset_id IN (`+in+`)`, args...)
	if err != nil {
		return fmt.Errorf("read dataset tags: %w", err)
	}
	for rows.Next() {
		var id, k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			rows.Close()
			return err
		}
		byID[id].Tags[k] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.QueryContext(ctx, `SELECT dataset_id, experiment_id FROM evaluation_dataset_experiments WHERE dataset_id IN (`+in+`)`, args...)
	if err != nil {
		return fmt.Errorf("read dataset experiments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, x string
		if err := rows.Scan(&id, &x); err != nil {
			return err
		}
		byID[id].ExperimentIDs = append(byID[id].ExperimentIDs, x)
	}
	for _, d := range ds {
		sortExperimentIDs(d.ExperimentIDs)
	}
	return rows.Err()
}

// sortExperimentIDs orders numeric ids numerically, then the others.
func sortExperimentIDs(ids []string) {
	sort.Slice(ids, func(i, j int) bool { return experimentIDLess(ids[i], ids[j]) })
}

func experimentIDLess(x, y string) bool {
	a, ea := strconv.ParseInt(x, 10, 64)
	b, eb := strconv.ParseInt(y, 10, 64)
	if ea == nil && eb == nil {
		return a < b
	}
	return x < y
}

// GetEvaluationDataset returns a dataset with its tags and experiments
// (ENOTFOUND when there is none).
func (s *Store) GetEvaluationDataset(ctx context.Context, id string) (*tandem.EvaluationDataset, error) {
	return loadDataset(ctx, s.Reader(), id)
}

// MaxDatasetSearchResults is the largest page of a dataset search.
const MaxDatasetSearchResults = 50000

var datasetAttrs = map[string]string{"name": "d.name", "created_time": "d.created_time", "last_update_time": "d.last_update_time",
	"created_by": "d.created_by", "last_updated_by": "d.last_updated_by"}

// SearchEvaluationDatasets returns a page of datasets and the next page's
// token ("" on the last page). Filters: name, created_by, last_updated_by
// (= != LIKE ILIKE, and name IN), created_time and last_update_time
// (numeric comparisons) and tags.<key> (= != LIKE ILIKE), AND-ed. Order:
// name, created_time, last_update_time (default created_time DESC), ties
// broken by dataset_id DESC.
func (s *Store) SearchEvaluationDatasets(ctx context.Context, in tandem.DatasetSearch) ([]*tandem.EvaluationDataset, string, error) {
	if in.MaxResults == 0 {
		in.MaxResults = 1000
	}
	if in.MaxResults < 0 || in.MaxResults > MaxDatasetSearchResults {
		return nil, "", tandem.Errorf(tandem.EINVALID,
			"Invalid value %d for parameter 'max_results' supplied. It must be a positive integer at most %d", in.MaxResults, MaxDatasetSearchResults)
	}
	offset, err := decodePageToken(in.PageToken)
	if err != nil {
		return nil, "", err
	}
	clauses, err := parseFilter(in.Filter)
	if err != nil {
		return nil, "", err
	}
	r := s.Reader()
	var where []string
	var args []any
	for _, c := range clauses {
		switch c.Type {
		case entAttribute:
			col, ok := datasetAttrs[c.Key]
			if !ok {
				return nil, "", invalidFilter("Invalid attribute key '%s' specified. Valid keys are: %s", c.Key, "name, created_time, last_update_time, created_by, last_updated_by")
			}
			if c.Key == "created_time" || c.Key == "last_update_time" {
				n, err := strconv.ParseInt(c.Str, 10, 64)
				if !c.IsNum || err != nil {
					return nil, "", invalidFilter("Invalid value for numeric attribute '%s': '%s'", c.Key, c.Str)
				}
				switch c.Op {
				case "=", "!=", "<", "<=", ">", ">=":
				default:
					return nil, "", invalidFilter("Invalid comparator for numeric attribute: %s", c.Op)
				}
				where = append(where, col+" "+c.Op+" ?")
				args = append(args, n)
				continue
			}
			switch c.Op {
			case "=", "!=", "LIKE", "ILIKE":
			case "IN":
				if c.Key != "name" {
					return nil, "", invalidFilter("Invalid comparator for string attribute: %s", c.Op)
				}
			default:
				return nil, "", invalidFilter("Invalid comparator for string attribute: %s", c.Op)
			}
			if c.IsNum {
				return nil, "", invalidFilter("Invalid value for string attribute '%s': expected a quoted string", c.Key)
			}
			where = append(where, strCompare(r.Dialect(), col, c, &args))
		case entTag:
			switch c.Op {
			case "=", "!=", "LIKE", "ILIKE":
			default:
				return nil, "", invalidFilter("Invalid comparator for tag: %s", c.Op)
			}
			args = append(args, c.Key)
			where = append(where, `EXISTS (SELECT 1 FROM evaluation_dataset_tags t WHERE t.dataset_id = d.dataset_id AND t.key = ? AND `+
				strCompare(r.Dialect(), "t.value", c, &args)+`)`)
		default:
			return nil, "", invalidFilter("Invalid token type: %s", c.Type)
		}
	}
	if len(in.ExperimentIDs) > 0 {
		where = append(where, `d.dataset_id IN (SELECT dataset_id FROM evaluation_dataset_experiments WHERE experiment_id IN (`+placeholders(len(in.ExperimentIDs))+`))`)
		for _, x := range in.ExperimentIDs {
			args = append(args, x)
		}
	}
	order := []string{}
	for _, o := range in.OrderBy {
		k, err := parseOrderBy(o)
		if err != nil {
			return nil, "", err
		}
		col, ok := datasetAttrs[k.Key]
		if k.Type != entAttribute || !ok || k.Key == "created_by" || k.Key == "last_updated_by" {
			return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid order_by clause '%s': datasets are ordered by name, created_time or last_update_time", o)
		}
		dir := " ASC"
		if !k.Asc {
			dir = " DESC"
		}
		order = append(order, col+dir)
	}
	if len(order) == 0 {
		order = append(order, "d.created_time DESC")
	}
	order = append(order, "d.dataset_id DESC")
	q := `SELECT ` + prefixCols("d.", datasetCols) + ` FROM evaluation_datasets d`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY ` + strings.Join(order, ", ") + ` LIMIT ? OFFSET ?`
	args = append(args, in.MaxResults+1, offset)
	rows, err := r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("search datasets: %w", err)
	}
	var out []*tandem.EvaluationDataset
	for rows.Next() {
		d, err := scanDataset(rows)
		if err != nil {
			rows.Close()
			return nil, "", err
		}
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > in.MaxResults {
		out = out[:in.MaxResults]
		next = encodePageToken(offset + in.MaxResults)
	}
	if err := fillDatasets(ctx, r, out); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

func prefixCols(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

const recordCols = `dataset_record_id, dataset_id, input_hash, inputs, outputs, expectations, tags, source, source_id, source_type,
	created_time, last_update_time, created_by, last_updated_by`

func scanRecord(sc interface{ Scan(...any) error }) (tandem.DatasetRecord, error) {
	var r tandem.DatasetRecord
	var in, out, exp, tags, src string
	err := sc.Scan(&r.ID, &r.DatasetID, &r.InputHash, &in, &out, &exp, &tags, &src, &r.SourceID, &r.SourceType,
		&r.Created, &r.Updated, &r.CreatedBy, &r.LastUpdatedBy)
	r.Inputs, r.Outputs, r.Expectations, r.Tags, r.Source = rawOrNil(in), rawOrNil(out), rawOrNil(exp), rawOrNil(tags), rawOrNil(src)
	return r, err
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// DatasetRecords returns a page of a dataset's records in (created_time,
// record id) order and the next page's token ("" on the last page). The
// token is MLflow's: base64 of "created_time:record_id". A dataset that does
// not exist has no records.
func (s *Store) DatasetRecords(ctx context.Context, datasetID string, maxResults int, pageToken string) ([]tandem.DatasetRecord, string, error) {
	if maxResults <= 0 {
		maxResults = tandem.MaxDatasetRecordsPage
	}
	q := `SELECT ` + recordCols + ` FROM evaluation_dataset_records WHERE dataset_id = ?`
	args := []any{datasetID}
	if pageToken != "" {
		raw, err := base64.StdEncoding.DecodeString(pageToken)
		ts, id, ok := strings.Cut(string(raw), ":")
		n, perr := strconv.ParseInt(ts, 10, 64)
		if err != nil || !ok || perr != nil {
			return nil, "", tandem.Errorf(tandem.EINVALID, "Invalid page token '%s'", pageToken)
		}
		q += ` AND (created_time > ? OR (created_time = ? AND dataset_record_id > ?))`
		args = append(args, n, n, id)
	}
	q += ` ORDER BY created_time, dataset_record_id LIMIT ?`
	args = append(args, maxResults+1)
	rows, err := s.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("read dataset records: %w", err)
	}
	defer rows.Close()
	var out []tandem.DatasetRecord
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > maxResults {
		out = out[:maxResults]
		last := out[len(out)-1]
		next = base64.StdEncoding.EncodeToString([]byte(strconv.FormatInt(last.Created, 10) + ":" + last.ID))
	}
	return out, next, nil
}

// DatasetExperimentIDs lists the experiments a dataset is linked to.
func (s *Store) DatasetExperimentIDs(ctx context.Context, datasetID string) ([]string, error) {
	d, err := loadDataset(ctx, s.Reader(), datasetID)
	if err != nil {
		return nil, err
	}
	return d.ExperimentIDs, nil
}

// Writes.

// datasetDigest is MLflow's digest of a dataset's state: the first eight
// hex digits of sha256("name:last_update_time").
func datasetDigest(name string, updated int64) string {
	h := sha256.Sum256([]byte(name + ":" + strconv.FormatInt(updated, 10)))
	return hex.EncodeToString(h[:])[:8]
}

// checkExperiments refuses experiment ids that do not exist (ENOTFOUND).
func checkExperiments(ctx context.Context, q Querier, ids []string) error {
	for _, x := range ids {
		if _, _, err := experimentStage(ctx, q, x); tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return tandem.Errorf(tandem.ENOTFOUND, "No Experiment with id=%s exists", x)
		} else if err != nil {
			return err
		}
	}
	return nil
}

func dedupe(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range ids {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// CreateEvaluationDataset creates a dataset with a server-chosen id
// ("d-<hex>"), its tags and its links to existing experiments (ENOTFOUND
// for one that does not exist). The mlflow.user tag names its creator.
func (s *Store) CreateEvaluationDataset(ctx context.Context, name string, tags map[string]string, experimentIDs []string) (*tandem.EvaluationDataset, error) {
	if err := tandem.ValidateDatasetName(name); err != nil {
		return nil, err
	}
	for k := range tags {
		if strings.TrimSpace(k) == "" {
			return nil, tandem.Errorf(tandem.EINVALID, "Dataset tag keys must not be empty.")
		}
	}
	id := "d-" + newUUIDHex()
	experimentIDs = dedupe(experimentIDs)
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := checkExperiments(ctx, tx, experimentIDs); err != nil {
			return nil, err
		}
		now := nowMillis()
		row := &tandem.EvaluationDataset{ID: id, Name: name, Digest: datasetDigest(name, now), Created: now, Updated: now,
			CreatedBy: tags[tagMLflowUser], LastUpdatedBy: tags[tagMLflowUser]}
		return &Change{Op: OpDatasetCreate, Key: id, Payload: &tpDataset{DatasetID: id, Row: row, SetTags: tags, AddExps: experimentIDs}}, nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetEvaluationDataset(ctx, id)
}

// DeleteEvaluationDataset deletes a dataset with its records, tags and
// links. Deleting one that does not exist changes nothing and succeeds, as
// MLflow's does.
func (s *Store) DeleteEvaluationDataset(ctx context.Context, id string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := loadDataset(ctx, tx, id); err != nil {
			return nil, err
		}
		return &Change{Op: OpDatasetDelete, Key: id, Payload: &tpDataset{DatasetID: id, Delete: true}}, nil
	})
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return nil
	}
	return err
}

// SetEvaluationDatasetTags merges tags into a dataset's (ENOTFOUND when it
// does not exist). Tags is the client's JSON object: null values are
// skipped, non-string values kept as Python's str() writes them.
func (s *Store) SetEvaluationDatasetTags(ctx context.Context, id string, tags map[string]json.RawMessage) error {
	set := map[string]string{}
	for k, raw := range tags {
		if strings.TrimSpace(k) == "" {
			return tandem.Errorf(tandem.EINVALID, "Dataset tag keys must not be empty.")
		}
		if v, ok := pythonStr(raw); ok {
			set[k] = v
		}
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := loadDataset(ctx, tx, id); err != nil {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "Could not find evaluation dataset with ID %s", id)
		}
		return &Change{Op: OpDatasetSetTags, Key: id, Payload: &tpDataset{DatasetID: id, SetTags: set}}, nil
	})
	return err
}

// pythonStr renders a JSON value as Python's str() of its decoded value;
// false for null.
func pythonStr(raw json.RawMessage) (string, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || v == nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		if x {
			return "True", true
		}
		return "False", true
	case json.Number:
		return x.String(), true
	}
	return string(raw), true
}

// DeleteEvaluationDatasetTag deletes one tag; a dataset or tag that does
// not exist changes nothing and succeeds, as MLflow's does.
func (s *Store) DeleteEvaluationDatasetTag(ctx context.Context, id, key string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		d, err := loadDataset(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if _, ok := d.Tags[key]; !ok {
			return nil, errNothingToDo
		}
		return &Change{Op: OpDatasetDeleteTag, Key: id, Payload: &tpDataset{DatasetID: id, DeleteTags: []string{key}}}, nil
	})
	if tandem.ErrorCode(err) == tandem.ENOTFOUND || errors.Is(err, errNothingToDo) {
		return nil
	}
	return err
}

// LinkEvaluationDataset adds a dataset to experiments and removes it from
// others, idempotently; the experiments added must exist (ENOTFOUND), the
// dataset too. Returns the dataset.
func (s *Store) LinkEvaluationDataset(ctx context.Context, id string, add, remove []string) (*tandem.EvaluationDataset, error) {
	add, remove = dedupe(add), dedupe(remove)
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		d, err := loadDataset(ctx, tx, id)
		if err != nil {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "Dataset '%s' not found", id)
		}
		if err := checkExperiments(ctx, tx, add); err != nil {
			return nil, err
		}
		have := map[string]bool{}
		for _, x := range d.ExperimentIDs {
			have[x] = true
		}
		p := &tpDataset{DatasetID: id}
		for _, x := range add {
			if !have[x] {
				p.AddExps = append(p.AddExps, x)
			}
		}
		for _, x := range remove {
			if have[x] {
				p.RemoveExps = append(p.RemoveExps, x)
			}
		}
		if len(p.AddExps) == 0 && len(p.RemoveExps) == 0 {
			return nil, errNothingToDo
		}
		row := *d
		row.Tags, row.ExperimentIDs = nil, nil
		row.Updated = max(nowMillis(), d.Updated)
		p.Row = &row
		return &Change{Op: OpDatasetExperiments, Key: id, Payload: p}, nil
	})
	if err != nil && !errors.Is(err, errNothingToDo) {
		return nil, err
	}
	return s.GetEvaluationDataset(ctx, id)
}

// UpsertDatasetRecords merges records into a dataset (ENOTFOUND when it does
// not exist), as MLflow does: a record whose inputs equal an existing
// record's updates it (outputs replaced when given, expectations and tags
// merged key by key), any other is inserted with a server-chosen id
// ("dr-<hex>"). The dataset's schema, profile, digest and update time follow.
func (s *Store) UpsertDatasetRecords(ctx context.Context, datasetID string, records []tandem.RecordInput) (tandem.UpsertResult, error) {
	type prepared struct {
		in   tandem.RecordInput
		hash string
		inp  json.RawMessage
		exp  map[string]json.RawMessage
		tags map[string]json.RawMessage
	}
	var ps []prepared
	for i, r := range records {
		inp := r.Inputs
		if len(inp) == 0 || string(inp) == "null" {
			inp = json.RawMessage(`{}`)
		}
		canon, err := canonicalJSON(inp)
		if err != nil || canon[0] != '{' {
			return tandem.UpsertResult{}, tandem.Errorf(tandem.EINVALID, "Record %d: 'inputs' must be a JSON object", i)
		}
		exp, err := jsonObject(r.Expectations)
		if err != nil {
			return tandem.UpsertResult{}, tandem.Errorf(tandem.EINVALID, "Record %d: 'expectations' must be a JSON object", i)
		}
		tags, err := jsonObject(r.Tags)
		if err != nil {
			return tandem.UpsertResult{}, tandem.Errorf(tandem.EINVALID, "Record %d: 'tags' must be a JSON object", i)
		}
		h := sha256.Sum256(canon)
		ps = append(ps, prepared{in: r, hash: hex.EncodeToString(h[:]), inp: canon, exp: exp, tags: tags})
	}
	var res tandem.UpsertResult
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		res = tandem.UpsertResult{}
		d, err := loadDataset(ctx, tx, datasetID)
		if err != nil {
			return nil, err
		}
		now := max(nowMillis(), d.Updated)
		byHash := map[string]*tandem.DatasetRecord{}
		var order []string
		updatedBy := ""
		for _, p := range ps {
			user := ""
			if v, ok := p.tags[tagMLflowUser]; ok {
				user, _ = pythonStr(v)
				updatedBy = user
			}
			cur, ok := byHash[p.hash]
			if !ok {
				if r, err := recordByHash(ctx, tx, datasetID, p.hash); err == nil {
					cur = &r
				} else if !IsNoRows(err) {
					return nil, err
				}
			}
			if cur != nil {
				res.Updated++
				if p.in.HasOutputs {
					cur.Outputs = nullToNil(p.in.Outputs)
				}
				if len(p.exp) > 0 {
					cur.Expectations = mergeObject(cur.Expectations, p.exp)
				}
				if len(p.tags) > 0 {
					cur.Tags = mergeObject(cur.Tags, p.tags)
				}
				cur.Updated = now
				if user != "" {
					cur.LastUpdatedBy = user
				}
			} else {
				res.Inserted++
				r := tandem.DatasetRecord{ID: "dr-" + newUUIDHex(), DatasetID: datasetID, InputHash: p.hash, Inputs: p.inp,
					Outputs: json.RawMessage(`{}`), Created: now, Updated: now, CreatedBy: user, LastUpdatedBy: user}
				if p.in.HasOutputs {
					r.Outputs = nullToNil(p.in.Outputs)
				}
				if len(p.exp) > 0 {
					r.Expectations = mergeObject(nil, p.exp)
				}
				r.Tags = mergeObject(nil, p.tags)
				if src := nullToNil(p.in.Source); src != nil {
					r.Source = src
					r.SourceType, r.SourceID = recordSource(src)
				}
				cur = &r
			}
			if _, seen := byHash[p.hash]; !seen {
				order = append(order, p.hash)
			}
			byHash[p.hash] = cur
		}
		pl := &tpDataset{DatasetID: datasetID}
		for _, h := range order {
			pl.PutRecords = append(pl.PutRecords, *byHash[h])
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM evaluation_dataset_records WHERE dataset_id = ?`, datasetID).Scan(&n); err != nil {
			return nil, fmt.Errorf("count dataset records: %w", err)
		}
		n += res.Inserted
		row := *d
		row.Tags, row.ExperimentIDs = nil, nil
		row.Updated, row.LastUpdatedBy, row.Digest = now, updatedBy, datasetDigest(d.Name, now)
		row.Schema = mergeSchema(d.Schema, records)
		if n > 0 {
			row.Profile = fmt.Sprintf(`{"num_records": %d}`, n)
		}
		pl.Row = &row
		return &Change{Op: OpDatasetUpsertRecords, Key: datasetID, Payload: pl}, nil
	})
	if err != nil {
		return tandem.UpsertResult{}, err
	}
	return res, nil
}

func recordByHash(ctx context.Context, q Querier, datasetID, hash string) (tandem.DatasetRecord, error) {
	return scanRecord(q.QueryRowContext(ctx, `SELECT `+recordCols+` FROM evaluation_dataset_records WHERE dataset_id = ? AND input_hash = ?`, datasetID, hash))
}

// recordSource reads a record source {"source_type": ..., "source_data":
// {...}} as MLflow does: its type and the id it names (the trace id of a
// TRACE source, source_data.source_id of the others).
func recordSource(src json.RawMessage) (typ, id string) {
	var s struct {
		Type string         `json:"source_type"`
		Data map[string]any `json:"source_data"`
	}
	if json.Unmarshal(src, &s) != nil {
		return "", ""
	}
	key := "source_id"
	if s.Type == "TRACE" {
		key = "trace_id"
	}
	if v, ok := s.Data[key].(string); ok {
		id = v
	}
	return s.Type, id
}

func nullToNil(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

// canonicalJSON re-encodes a JSON value with sorted keys and no spaces,
// numbers kept as written: equal values give equal bytes.
func canonicalJSON(raw json.RawMessage) ([]byte, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// jsonObject decodes an optional JSON object (nil for absent or null).
func jsonObject(raw json.RawMessage) (map[string]json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// mergeObject returns cur (a JSON object, or nil) with add's keys set.
func mergeObject(cur json.RawMessage, add map[string]json.RawMessage) json.RawMessage {
	m, _ := jsonObject(cur)
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	for k, v := range add {
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return b
}

// mergeSchema adds the fields of records MLflow's schema lacks, with the
// type it infers for each: {"inputs": {...}, "outputs": {...} or a type,
// "expectations": {...}, "version": "1.0"}.
func mergeSchema(cur string, records []tandem.RecordInput) string {
	if len(records) == 0 && cur == "" {
		return ""
	}
	schema := map[string]any{}
	if cur != "" {
		dec := json.NewDecoder(strings.NewReader(cur))
		dec.UseNumber()
		_ = dec.Decode(&schema)
	}
	section := func(name string) map[string]any {
		m, _ := schema[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
			if _, ok := schema[name]; !ok || name != "outputs" {
				schema[name] = m
			}
		}
		return m
	}
	for _, name := range []string{"inputs", "outputs", "expectations"} {
		if _, ok := schema[name]; !ok {
			schema[name] = map[string]any{}
		}
	}
	if _, ok := schema["version"]; !ok {
		schema["version"] = "1.0"
	}
	addFields := func(into map[string]any, raw json.RawMessage) {
		m, _ := jsonObject(raw)
		for k, v := range m {
			if _, ok := into[k]; !ok {
				into[k] = jsonTypeName(v)
			}
		}
	}
	for _, r := range records {
		addFields(section("inputs"), r.Inputs)
		if out := nullToNil(r.Outputs); out != nil {
			if bytes.HasPrefix(bytes.TrimSpace(out), []byte("{")) {
				if m, ok := schema["outputs"].(map[string]any); ok {
					addFields(m, out)
				}
			} else if m, ok := schema["outputs"].(map[string]any); ok && len(m) == 0 {
				schema["outputs"] = jsonTypeName(out)
			}
		}
		addFields(section("expectations"), r.Expectations)
	}
	b, _ := json.Marshal(schema)
	return string(b)
}

// jsonTypeName names a JSON value's type as MLflow's schema inference does.
func jsonTypeName(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return "unknown"
	}
	switch t[0] {
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	case '"':
		return "string"
	case '[':
		return "array"
	case '{':
		return "object"
	}
	if bytes.ContainsAny(t, ".eE") {
		return "float"
	}
	return "integer"
}

// DeleteDatasetRecords deletes records of a dataset by id and returns how
// many it deleted (ENOTFOUND when the dataset does not exist).
func (s *Store) DeleteDatasetRecords(ctx context.Context, datasetID string, ids []string) (int, error) {
	ids = dedupe(ids)
	var n int
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		n = 0
		d, err := loadDataset(ctx, tx, datasetID)
		if err != nil {
			return nil, err
		}
		p := &tpDataset{DatasetID: datasetID}
		for _, id := range ids {
			var x string
			err := tx.QueryRowContext(ctx, `SELECT dataset_record_id FROM evaluation_dataset_records WHERE dataset_id = ? AND dataset_record_id = ?`,
				datasetID, id).Scan(&x)
			if IsNoRows(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("read dataset record: %w", err)
			}
			p.DeleteRecords = append(p.DeleteRecords, id)
		}
		if len(p.DeleteRecords) == 0 {
			return nil, errNothingToDo
		}
		n = len(p.DeleteRecords)
		var total int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM evaluation_dataset_records WHERE dataset_id = ?`, datasetID).Scan(&total); err != nil {
			return nil, fmt.Errorf("count dataset records: %w", err)
		}
		row := *d
		row.Tags, row.ExperimentIDs = nil, nil
		row.Profile = ""
		if total-n > 0 {
			row.Profile = fmt.Sprintf(`{"num_records": %d}`, total-n)
		}
		p.Row = &row
		return &Change{Op: OpDatasetDeleteRecords, Key: datasetID, Payload: p}, nil
	})
	if errors.Is(err, errNothingToDo) {
		return 0, nil
	}
	return n, err
}

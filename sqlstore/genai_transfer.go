package sqlstore

import (
	"context"
	"fmt"
	"reflect"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer/bundle"
)

// Bundles of MLflow 3's GenAI objects: evaluation datasets (ids, times and
// records kept) and registered scorers (scorer id and versions kept).

// TransferDatasetIDs lists the datasets linked to any of the experiments,
// or every dataset when all, oldest first.
func TransferDatasetIDs(ctx context.Context, q Querier, experimentIDs []string, all bool) ([]string, error) {
	query := `SELECT dataset_id FROM evaluation_datasets ORDER BY created_time, dataset_id`
	var args []any
	if !all {
		if len(experimentIDs) == 0 {
			return nil, nil
		}
		query = `SELECT dataset_id FROM evaluation_datasets WHERE dataset_id IN (SELECT dataset_id FROM evaluation_dataset_experiments
			WHERE experiment_id IN (` + placeholders(len(experimentIDs)) + `)) ORDER BY created_time, dataset_id`
		for _, x := range experimentIDs {
			args = append(args, x)
		}
	}
	return queryStrings(ctx, q, query, args...)
}

// queryStrings runs a query of one text column and returns its values.
func queryStrings(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// TransferDataset reads a dataset with every record as its bundle record.
func TransferDataset(ctx context.Context, q Querier, id string) (bundle.EvaluationDataset, bool, error) {
	d, err := loadDataset(ctx, q, id)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return bundle.EvaluationDataset{}, false, nil
	}
	if err != nil {
		return bundle.EvaluationDataset{}, false, err
	}
	rec := bundle.EvaluationDataset{EvaluationDataset: *d}
	rows, err := q.QueryContext(ctx, `SELECT `+recordCols+` FROM evaluation_dataset_records WHERE dataset_id = ?
		ORDER BY created_time, dataset_record_id`, id)
	if err != nil {
		return rec, false, fmt.Errorf("read dataset records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return rec, false, err
		}
		rec.Records = append(rec.Records, r)
	}
	return rec, true, rows.Err()
}

// PlanDataset compares a bundle's dataset with this workspace by id: new,
// present (the same rows, tags and records; links are not compared, they
// follow the experiments), or conflict.
func PlanDataset(ctx context.Context, q Querier, rec bundle.EvaluationDataset) (ImportResult, error) {
	cur, ok, err := TransferDataset(ctx, q, rec.ID)
	if err != nil || !ok {
		return ImportResult{Status: ImportNew}, err
	}
	cur.ExperimentIDs, rec.ExperimentIDs = nil, nil
	if len(cur.Tags) == 0 {
		cur.Tags = nil
	}
	if len(rec.Tags) == 0 {
		rec.Tags = nil
	}
	if !reflect.DeepEqual(cur, rec) {
		return ImportResult{Status: ImportConflict, Reason: fmt.Sprintf("evaluation dataset %s exists with different content", rec.ID)}, nil
	}
	return ImportResult{Status: ImportPresent}, nil
}

// ImportDataset writes a bundle's dataset (its experiment ids already
// those of this workspace) with ids and times kept, linked to those of its
// experiments that exist here.
func (s *Store) ImportDataset(ctx context.Context, rec bundle.EvaluationDataset) (ImportResult, error) {
	if err := tandem.ValidateDatasetName(rec.Name); err != nil {
		return ImportResult{}, err
	}
	if rec.ID == "" {
		return ImportResult{}, tandem.Errorf(tandem.EINVALID, "import dataset: no dataset_id")
	}
	var res ImportResult
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var err error
		if res, err = PlanDataset(ctx, tx, rec); err != nil {
			return nil, err
		}
		if res.Status != ImportNew {
			return nil, errImportNoop
		}
		row := rec.EvaluationDataset
		row.Tags, row.ExperimentIDs = nil, nil
		p := &tpDataset{DatasetID: rec.ID, Row: &row, Replace: true, SetTags: rec.Tags}
		for _, x := range dedupe(rec.ExperimentIDs) {
			if _, _, err := experimentStage(ctx, tx, x); err == nil {
				p.AddExps = append(p.AddExps, x)
			}
		}
		for _, r := range rec.Records {
			if r.ID == "" || r.InputHash == "" {
				return nil, tandem.Errorf(tandem.EINVALID, "import dataset %s: a record without its id or input hash", rec.ID)
			}
			r.DatasetID = rec.ID
			p.PutRecords = append(p.PutRecords, r)
		}
		return &Change{Op: OpDatasetImport, Key: rec.ID, Payload: p}, nil
	})
	if err == errImportNoop {
		return res, nil
	}
	return res, err
}

// TransferScorers reads the scorers of an experiment as bundle records.
func TransferScorers(ctx context.Context, q Querier, experimentID string) ([]bundle.Scorer, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+scorerVersionCols+` FROM scorers s JOIN scorer_versions v ON v.scorer_id = s.scorer_id
		WHERE s.experiment_id = ? ORDER BY s.scorer_name, v.scorer_version`, experimentID)
	if err != nil {
		return nil, fmt.Errorf("list scorers: %w", err)
	}
	vs, err := scanScorerVersions(rows)
	if err != nil {
		return nil, err
	}
	var out []bundle.Scorer
	for _, v := range vs {
		if len(out) == 0 || out[len(out)-1].ScorerID != v.ScorerID {
			out = append(out, bundle.Scorer{ScorerID: v.ScorerID, ExperimentID: v.ExperimentID, Name: v.Name})
		}
		last := &out[len(out)-1]
		last.Versions = append(last.Versions, v)
	}
	return out, nil
}

// TargetScorer rewrites a bundle's scorer for the experiment it is imported
// into.
func TargetScorer(rec bundle.Scorer, experimentID string) bundle.Scorer {
	rec.ExperimentID = experimentID
	vs := make([]tandem.ScorerVersion, len(rec.Versions))
	for i, v := range rec.Versions {
		v.ScorerID, v.ExperimentID, v.Name = rec.ScorerID, experimentID, rec.Name
		vs[i] = v
	}
	rec.Versions = vs
	return rec
}

// PlanScorer compares a bundle's scorer (rewritten by TargetScorer) with
// this workspace: new, present (same id and versions), or conflict (the
// experiment has another scorer of that name, or the id is taken).
func PlanScorer(ctx context.Context, q Querier, rec bundle.Scorer) (ImportResult, error) {
	var exp, name string
	err := q.QueryRowContext(ctx, `SELECT experiment_id, scorer_name FROM scorers WHERE scorer_id = ?`, rec.ScorerID).Scan(&exp, &name)
	if err != nil && !IsNoRows(err) {
		return ImportResult{}, fmt.Errorf("read scorer: %w", err)
	}
	if IsNoRows(err) {
		if _, err := scorerID(ctx, q, rec.ExperimentID, rec.Name); err == nil {
			return ImportResult{Status: ImportConflict, Reason: fmt.Sprintf("experiment %s has another scorer named %q", rec.ExperimentID, rec.Name)}, nil
		}
		return ImportResult{Status: ImportNew}, nil
	}
	cur, err := TransferScorers(ctx, q, exp)
	if err != nil {
		return ImportResult{}, err
	}
	for _, c := range cur {
		if c.ScorerID == rec.ScorerID && reflect.DeepEqual(c, rec) {
			return ImportResult{Status: ImportPresent}, nil
		}
	}
	return ImportResult{Status: ImportConflict, Reason: fmt.Sprintf("scorer %s exists with different content", rec.ScorerID)}, nil
}

// ImportScorer writes a bundle's scorer (rewritten by TargetScorer) with
// its id, versions and times kept.
func (s *Store) ImportScorer(ctx context.Context, rec bundle.Scorer) (ImportResult, error) {
	if err := tandem.ValidateScorerName(rec.Name); err != nil {
		return ImportResult{}, err
	}
	if rec.ScorerID == "" || len(rec.Versions) == 0 {
		return ImportResult{}, tandem.Errorf(tandem.EINVALID, "import scorer %q: no id or no versions", rec.Name)
	}
	var res ImportResult
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, _, err := experimentStage(ctx, tx, rec.ExperimentID); err != nil {
			return nil, err
		}
		var err error
		if res, err = PlanScorer(ctx, tx, rec); err != nil {
			return nil, err
		}
		if res.Status != ImportNew {
			return nil, errImportNoop
		}
		return &Change{Op: OpScorerImport, Key: rec.ScorerID, Payload: &tpScorer{ScorerID: rec.ScorerID,
			ExperimentID: rec.ExperimentID, Name: rec.Name, Put: rec.Versions}}, nil
	})
	if err == errImportNoop {
		return res, nil
	}
	return res, err
}

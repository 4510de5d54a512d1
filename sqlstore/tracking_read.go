package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/tandemml/tandem"
)

// GetExperiment returns an experiment with its tags, deleted or not
// (ENOTFOUND when unknown).
func (s *Store) GetExperiment(ctx context.Context, id string) (*tandem.Experiment, error) {
	if err := checkExperimentID(id); err != nil {
		return nil, err
	}
	es, err := loadExperiments(ctx, s.Reader(), `experiment_id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, notFoundExperiment(id)
	}
	return es[0], nil
}

// GetExperimentByName returns the experiment with that name, deleted or
// not (ENOTFOUND when there is none).
func (s *Store) GetExperimentByName(ctx context.Context, name string) (*tandem.Experiment, error) {
	es, err := loadExperiments(ctx, s.Reader(), `name = ?`, name)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "Could not find experiment with name '%s'", name)
	}
	return es[0], nil
}

// loadExperiments reads the experiments matching where (with args), with
// their tags.
func loadExperiments(ctx context.Context, q Querier, where string, args ...any) ([]*tandem.Experiment, error) {
	rows, err := q.QueryContext(ctx, `SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time FROM experiments WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read experiments: %w", err)
	}
	var out []*tandem.Experiment
	byID := map[string]*tandem.Experiment{}
	for rows.Next() {
		e := &tandem.Experiment{}
		if err := rows.Scan(&e.ExperimentID, &e.Name, &e.ArtifactLocation, &e.LifecycleStage, &e.CreationTime, &e.LastUpdateTime); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, e)
		byID[e.ExperimentID] = e
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]any, 0, len(out))
	for _, e := range out {
		ids = append(ids, e.ExperimentID)
	}
	trows, err := q.QueryContext(ctx, `SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN (`+placeholders(len(ids))+`) ORDER BY experiment_id, key`, ids...)
	if err != nil {
		return nil, fmt.Errorf("read experiment tags: %w", err)
	}
	defer trows.Close()
	for trows.Next() {
		var id string
		var t tandem.Tag
		if err := trows.Scan(&id, &t.Key, &t.Value); err != nil {
			return nil, err
		}
		byID[id].Tags = append(byID[id].Tags, t)
	}
	return out, trows.Err()
}

// GetRun returns a run with its latest metrics, params, tags, inputs and
// outputs (ENOTFOUND when unknown).
func (s *Store) GetRun(ctx context.Context, runID string) (*tandem.Run, error) {
	var runs []*tandem.Run
	err := s.readPipeline(ctx, func(p pipeline) error {
		var err error
		runs, err = loadRuns(ctx, p, []string{runID}, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, notFoundRun(runID)
	}
	return runs[0], nil
}

// runBatch bounds the ids of one IN (...) list.
const runBatch = 500

// loadRuns reads the runs with the given ids, in that order, skipping
// unknown ids; last is passed to the pipeline's final step.
func loadRuns(ctx context.Context, p pipeline, ids []string, last bool) ([]*tandem.Run, error) {
	byID := make(map[string]*tandem.Run, len(ids))
	if len(ids) == 0 && last {
		if err := p.run(ctx, true); err != nil {
			return nil, err
		}
	}
	for start := 0; start < len(ids); start += runBatch {
		end := min(start+runBatch, len(ids))
		if err := loadRunChunk(ctx, p, ids[start:end], byID, last && end == len(ids)); err != nil {
			return nil, err
		}
	}
	out := make([]*tandem.Run, 0, len(ids))
	for _, id := range ids {
		if r, ok := byID[id]; ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// loadRunChunk reads the runs of ids and their child rows into byID, in one
// pipeline step (one round trip on PostgreSQL).
func loadRunChunk(ctx context.Context, p pipeline, ids []string, byID map[string]*tandem.Run, last bool) error {
	d := p.Dialect()
	in := func(col string) (string, []any) { return idsIn(d, col, ids) }
	type inputRef struct {
		run   string
		input string
	}
	var refs []inputRef
	inputs := map[string]*tandem.DatasetInput{}
	inputTags := map[string][]tandem.Tag{}
	var qs []readQuery
	add := func(query, col, tail string, scan func(rowScanner) error) {
		cond, args := in(col)
		qs = append(qs, readQuery{sql: query + cond + tail, args: args, scan: scan})
	}
	add(`SELECT run_id, experiment_id, name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage FROM runs WHERE `, "run_id", "", func(rows rowScanner) error {
		r := &tandem.Run{}
		var end sql.NullInt64
		i := &r.Info
		if err := rows.Scan(&i.RunID, &i.ExperimentID, &i.RunName, &i.UserID, &i.Status, &i.StartTime, &end, &i.ArtifactURI, &i.LifecycleStage); err != nil {
			return err
		}
		i.RunUUID = i.RunID
		if end.Valid {
			v := end.Int64
			i.EndTime = &v
		}
		byID[i.RunID] = r
		return nil
	})
	add(`SELECT run_id, key, value, timestamp, step, is_nan FROM latest_metrics WHERE `, "run_id", ` ORDER BY run_id, key`, func(rows rowScanner) error {
		var id string
		var m tandem.Metric
		var nan int
		if err := rows.Scan(&id, &m.Key, &m.Value, &m.Timestamp, &m.Step, &nan); err != nil {
			return err
		}
		if nan == 1 {
			m.Value = math.NaN()
		}
		if r := byID[id]; r != nil {
			r.Metrics = append(r.Metrics, m)
		}
		return nil
	})
	add(`SELECT run_id, key, value FROM params WHERE `, "run_id", ` ORDER BY run_id, key`, func(rows rowScanner) error {
		var id string
		var prm tandem.Param
		if err := rows.Scan(&id, &prm.Key, &prm.Value); err != nil {
			return err
		}
		if r := byID[id]; r != nil {
			r.Params = append(r.Params, prm)
		}
		return nil
	})
	add(`SELECT run_id, key, value FROM tags WHERE `, "run_id", ` ORDER BY run_id, key`, func(rows rowScanner) error {
		var id string
		var t tandem.Tag
		if err := rows.Scan(&id, &t.Key, &t.Value); err != nil {
			return err
		}
		if r := byID[id]; r != nil {
			r.Tags = append(r.Tags, t)
		}
		return nil
	})
	add(`SELECT i.destination_id, i.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source, d.dataset_schema, d.dataset_profile
		FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id
		WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND `, "i.destination_id", ` ORDER BY i.destination_id, d.name, d.digest`, func(rows rowScanner) error {
		var ref inputRef
		var ds tandem.Dataset
		var schema, profile sql.NullString
		if err := rows.Scan(&ref.run, &ref.input, &ds.Name, &ds.Digest, &ds.SourceType, &ds.Source, &schema, &profile); err != nil {
			return err
		}
		ds.Schema, ds.Profile = schema.String, profile.String
		refs = append(refs, ref)
		inputs[ref.input] = &tandem.DatasetInput{Dataset: ds}
		return nil
	})
	// The inputs' tags, found through the same inputs (not through the ids
	// the previous query returns), so that both go in one step.
	add(`SELECT t.input_uuid, t.name, t.value FROM input_tags t JOIN inputs i ON i.input_uuid = t.input_uuid
		WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND `, "i.destination_id", ` ORDER BY t.input_uuid, t.name`, func(rows rowScanner) error {
		var id string
		var t tandem.Tag
		if err := rows.Scan(&id, &t.Key, &t.Value); err != nil {
			return err
		}
		inputTags[id] = append(inputTags[id], t)
		return nil
	})
	add(`SELECT run_id, direction, model_id, step FROM run_models WHERE `, "run_id", ` ORDER BY run_id, direction, model_id`, func(rows rowScanner) error {
		var id, dir string
		var m tandem.ModelIO
		var step sql.NullInt64
		if err := rows.Scan(&id, &dir, &m.ModelID, &step); err != nil {
			return err
		}
		if step.Valid {
			v := step.Int64
			m.Step = &v
		}
		if r := byID[id]; r != nil {
			if dir == "input" {
				r.ModelIn = append(r.ModelIn, m)
			} else {
				r.Outputs = append(r.Outputs, m)
			}
		}
		return nil
	})
	if err := p.run(ctx, last, qs...); err != nil {
		return fmt.Errorf("read runs: %w", err)
	}
	for _, ref := range refs {
		in := inputs[ref.input]
		if in.Tags == nil {
			in.Tags = inputTags[ref.input]
		}
		if r := byID[ref.run]; r != nil {
			r.Inputs = append(r.Inputs, *in)
		}
	}
	return nil
}

// MetricHistory returns a page of a metric's history ordered by (step,
// timestamp, value), and the token of the next page ("" at the end).
// maxResults <= 0 means everything from the token on, as MLflow's server
// does when the client names no max_results.
// An unknown run has an empty history, as in MLflow's SQL store.
func (s *Store) MetricHistory(ctx context.Context, runID, key string, maxResults int, token string) ([]tandem.Metric, string, error) {
	off, err := decodePageToken(token)
	if err != nil {
		return nil, "", err
	}
	limit := maxResults
	if limit <= 0 {
		limit = 1 << 50
	}
	rows, err := s.Reader().QueryContext(ctx, `SELECT value, is_nan, timestamp, step FROM metrics WHERE run_id = ? AND key = ? ORDER BY step, timestamp, value, is_nan LIMIT ? OFFSET ?`,
		runID, key, limit+1, off)
	if err != nil {
		return nil, "", fmt.Errorf("read metric history: %w", err)
	}
	defer rows.Close()
	var out []tandem.Metric
	for rows.Next() {
		m := tandem.Metric{Key: key}
		var nan int
		if err := rows.Scan(&m.Value, &nan, &m.Timestamp, &m.Step); err != nil {
			return nil, "", err
		}
		if nan == 1 {
			m.Value = math.NaN()
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodePageToken(off + limit)
	}
	return out, next, nil
}

// MetricHistoryBulkInterval samples up to maxResults points per run of a
// metric, evenly over the points in [startStep, endStep] (all steps when
// both are nil), keeping the first and last; as MLflow's SQL store.
// Unknown run ids contribute nothing.
func (s *Store) MetricHistoryBulkInterval(ctx context.Context, runIDs []string, key string, maxResults int, startStep, endStep *int64) ([]tandem.MetricWithRun, error) {
	if (startStep == nil) != (endStep == nil) {
		return nil, tandem.Errorf(tandem.EINVALID, "If either start step or end step are specified, both must be specified.")
	}
	if startStep != nil && *startStep > *endStep {
		return nil, tandem.Errorf(tandem.EINVALID, "end_step must be greater than start_step. Found start_step=%d and end_step=%d.", *startStep, *endStep)
	}
	maxResults = max(1, maxResults)
	var out []tandem.MetricWithRun
	err := s.ReadTx(ctx, func(tx *Tx) error {
		// Unknown runs have no points, as in MLflow.
		for _, id := range runIDs {
			where := `run_id = ? AND key = ?`
			args := []any{id, key}
			if startStep != nil {
				where += ` AND step >= ? AND step <= ?`
				args = append(args, *startStep, *endStep)
			}
			var total int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM metrics WHERE `+where, args...).Scan(&total); err != nil {
				return fmt.Errorf("count metric history: %w", err)
			}
			want := sampledIndices(total, maxResults)
			if len(want) == 0 {
				continue
			}
			rows, err := tx.QueryContext(ctx, `SELECT value, is_nan, timestamp, step FROM metrics WHERE `+where+` ORDER BY step, timestamp, value, is_nan`, args...)
			if err != nil {
				return fmt.Errorf("read metric history: %w", err)
			}
			i, w := 0, 0
			for rows.Next() && w < len(want) {
				if i == want[w] {
					m := tandem.MetricWithRun{Metric: tandem.Metric{Key: key}, RunID: id}
					var nan int
					if err := rows.Scan(&m.Value, &nan, &m.Timestamp, &m.Step); err != nil {
						rows.Close()
						return err
					}
					if nan == 1 {
						m.Value = math.NaN()
					}
					out = append(out, m)
					w++
				}
				i++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// sampledIndices picks at most n of total ordered points the way MLflow's
// store samples a metric's history: the points are cut into n buckets as
// SQL's NTILE(n) cuts them (the first total%n buckets one point larger),
// the first point of each bucket is kept, and the last point is kept too,
// in place of the last sampled one when there are n already (so with n =
// 1 only the last point is returned).
func sampledIndices(total, n int) []int {
	if total <= 0 || n <= 0 {
		return nil
	}
	if total <= n {
		out := make([]int, total)
		for i := range out {
			out[i] = i
		}
		return out
	}
	q, r := total/n, total%n
	out := make([]int, 0, n)
	for b := 0; b < n; b++ {
		out = append(out, b*q+min(b, r))
	}
	if last := total - 1; out[len(out)-1] != last {
		out[len(out)-1] = last // len(out) == n here
	}
	return out
}

// RunExperiment returns the id of a run's experiment, deleted or not (the
// scope of per-experiment role assignments). ENOTFOUND.
func (s *Store) RunExperiment(ctx context.Context, runID string) (string, error) {
	var exp string
	err := s.Reader().QueryRowContext(ctx, `SELECT experiment_id FROM runs WHERE run_id = ?`, runID).Scan(&exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", tandem.Errorf(tandem.ENOTFOUND, "run %q not found", runID)
	}
	return exp, err
}

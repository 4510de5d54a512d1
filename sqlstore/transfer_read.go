package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer/bundle"
)

// Reads for export and for the import's comparisons: whole objects as
// bundle records. They take a Querier so that an export can read one
// consistent snapshot (Store.ReadTx).

// TransferExperiment reads one experiment with its tags; ok is false when
// there is none with that id.
func TransferExperiment(ctx context.Context, q Querier, id string) (bundle.Experiment, bool, error) {
	var x bundle.Experiment
	err := q.QueryRowContext(ctx, `SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time FROM experiments WHERE experiment_id = ?`, id).
		Scan(&x.ExperimentID, &x.Name, &x.ArtifactLocation, &x.LifecycleStage, &x.CreationTime, &x.LastUpdateTime)
	if IsNoRows(err) {
		return x, false, nil
	} else if err != nil {
		return x, false, fmt.Errorf("read experiment %s: %w", id, err)
	}
	x.Tags, err = readKV(ctx, q, `SELECT key, value FROM experiment_tags WHERE experiment_id = ? ORDER BY key`, id)
	if err != nil {
		return x, false, fmt.Errorf("read experiment %s tags: %w", id, err)
	}
	return x, true, nil
}

// TransferExperimentID finds an experiment by name ("" when none).
func TransferExperimentID(ctx context.Context, q Querier, name string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT experiment_id FROM experiments WHERE name = ?`, name).Scan(&id)
	if IsNoRows(err) {
		return "", nil
	}
	return id, err
}

// TransferExperimentIDs lists every experiment id (active and deleted), in
// id order.
func TransferExperimentIDs(ctx context.Context, q Querier) ([]string, error) {
	return readStrings(ctx, q, `SELECT experiment_id FROM experiments ORDER BY num_id`)
}

// TransferRunIDs lists the run ids of an experiment (active and deleted).
func TransferRunIDs(ctx context.Context, q Querier, experimentID string) ([]string, error) {
	return readStrings(ctx, q, `SELECT run_id FROM runs WHERE experiment_id = ? ORDER BY start_time, run_id`, experimentID)
}

// TransferRun reads a whole run: info, params, tags, every metric point,
// dataset inputs, model inputs and outputs, and its artifact files.
func TransferRun(ctx context.Context, q Querier, runID string) (bundle.Run, bool, error) {
	var r bundle.Run
	var end sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT run_id, experiment_id, name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage FROM runs WHERE run_id = ?`, runID).
		Scan(&r.RunID, &r.ExperimentID, &r.RunName, &r.UserID, &r.Status, &r.StartTime, &end, &r.ArtifactURI, &r.LifecycleStage)
	if IsNoRows(err) {
		return r, false, nil
	} else if err != nil {
		return r, false, fmt.Errorf("read run %s: %w", runID, err)
	}
	if end.Valid {
		v := end.Int64
		r.EndTime = &v
	}
	wrapErr := func(what string, err error) error { return fmt.Errorf("read run %s %s: %w", runID, what, err) }
	if r.Params, err = readKV(ctx, q, `SELECT key, value FROM params WHERE run_id = ? ORDER BY key`, runID); err != nil {
		return r, false, wrapErr("params", err)
	}
	if r.Tags, err = readKV(ctx, q, `SELECT key, value FROM tags WHERE run_id = ? ORDER BY key`, runID); err != nil {
		return r, false, wrapErr("tags", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT key, step, timestamp, value, is_nan FROM metrics WHERE run_id = ? ORDER BY key, step, timestamp, value`, runID)
	if err != nil {
		return r, false, wrapErr("metrics", err)
	}
	for rows.Next() {
		var m bundle.Metric
		var v float64
		var nan int
		if err := rows.Scan(&m.Key, &m.Step, &m.Timestamp, &v, &nan); err != nil {
			rows.Close()
			return r, false, wrapErr("metrics", err)
		}
		if nan == 1 {
			v = math.NaN()
		}
		m.Value = bundle.Float(v)
		r.Metrics = append(r.Metrics, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, false, wrapErr("metrics", err)
	}
	if r.Inputs, err = readInputs(ctx, q, runID); err != nil {
		return r, false, wrapErr("inputs", err)
	}
	rows, err = q.QueryContext(ctx, `SELECT direction, model_id, step FROM run_models WHERE run_id = ? ORDER BY direction, model_id`, runID)
	if err != nil {
		return r, false, wrapErr("models", err)
	}
	for rows.Next() {
		var dir, id string
		var step sql.NullInt64
		if err := rows.Scan(&dir, &id, &step); err != nil {
			rows.Close()
			return r, false, wrapErr("models", err)
		}
		if dir == "input" {
			r.ModelInputs = append(r.ModelInputs, id)
		} else {
			r.ModelOutputs = append(r.ModelOutputs, bundle.ModelOutput{ModelID: id, Step: step.Int64})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, false, wrapErr("models", err)
	}
	if r.Artifacts, err = TransferArtifacts(ctx, q, RunArtifactPrefix(r.ExperimentID, r.RunID)); err != nil {
		return r, false, wrapErr("artifacts", err)
	}
	return r, true, nil
}

// TransferArtifacts lists the artifact files under a storage key prefix
// ("<exp>/<run>/artifacts/"), with paths relative to it.
func TransferArtifacts(ctx context.Context, q Querier, prefix string) ([]bundle.File, error) {
	rows, err := q.QueryContext(ctx, `SELECT path, size, sha256 FROM artifacts WHERE SUBSTR(path, 1, ?) = ? ORDER BY path`,
		len([]rune(prefix)), prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bundle.File
	for rows.Next() {
		var f bundle.File
		if err := rows.Scan(&f.Path, &f.Size, &f.SHA256); err != nil {
			return nil, err
		}
		f.Path = strings.TrimPrefix(f.Path, prefix)
		out = append(out, f)
	}
	return out, rows.Err()
}

func readInputs(ctx context.Context, q Querier, runID string) ([]bundle.DatasetInput, error) {
	rows, err := q.QueryContext(ctx, `SELECT i.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source, d.dataset_schema, d.dataset_profile
		FROM inputs i JOIN datasets d ON d.dataset_uuid = i.source_id
		WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND i.destination_id = ? ORDER BY d.name, d.digest`, runID)
	if err != nil {
		return nil, err
	}
	var out []bundle.DatasetInput
	var uuids []string
	for rows.Next() {
		var d bundle.DatasetInput
		var u string
		var schema, profile sql.NullString
		if err := rows.Scan(&u, &d.Dataset.Name, &d.Dataset.Digest, &d.Dataset.SourceType, &d.Dataset.Source, &schema, &profile); err != nil {
			rows.Close()
			return nil, err
		}
		d.Dataset.Schema, d.Dataset.Profile = schema.String, profile.String
		out = append(out, d)
		uuids = append(uuids, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, u := range uuids {
		if out[i].Tags, err = readKV(ctx, q, `SELECT name, value FROM input_tags WHERE input_uuid = ? ORDER BY name`, u); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func readKV(ctx context.Context, q Querier, query string, args ...any) ([]bundle.KV, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bundle.KV
	for rows.Next() {
		var kv bundle.KV
		if err := rows.Scan(&kv.Key, &kv.Value); err != nil {
			return nil, err
		}
		out = append(out, kv)
	}
	return out, rows.Err()
}

func readStrings(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// TransferHead returns the journal position as seen by q: inside a read
// transaction, the position of its snapshot.
func TransferHead(ctx context.Context, q Querier) (tandem.Position, error) {
	var p tandem.Position
	err := q.QueryRowContext(ctx, `SELECT last_epoch, last_seq FROM journal_state WHERE id = 1`).Scan(&p.Epoch, &p.Seq)
	return p, err
}

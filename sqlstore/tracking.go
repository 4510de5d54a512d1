package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
)

// Tracking journal ops. Each write endpoint of the MLflow tracking API
// commits exactly one of them:
//
//	experiment.create      CreateExperiment, and the Default experiment at bootstrap
//	experiment.rename      UpdateExperiment
//	experiment.delete      DeleteExperiment (also marks its runs deleted)
//	experiment.restore     RestoreExperiment (also restores its runs)
//	experiment.set_tag     SetExperimentTag
//	experiment.delete_tag  DeleteExperimentTag
//	run.create             CreateRun
//	run.update             UpdateRun
//	run.delete             DeleteRun
//	run.restore            RestoreRun
//	run.log                LogMetric, LogParam, SetTag, LogBatch, LogModel
//	run.delete_tag         DeleteTag
//	run.log_inputs         LogInputs
//	run.log_outputs        LogOutputs
//
// Payloads are fully resolved (ids, times, dataset uuids chosen by the
// primary), so the appliers below are deterministic.
func (s *Store) registerTracking() {
	s.register("experiment.create", tandem.KindExperiments, applyExperimentCreate)
	s.register("experiment.rename", tandem.KindExperiments, applyExperimentRename)
	s.register("experiment.delete", tandem.KindExperiments, applyExperimentLifecycle(tandem.LifecycleDeleted))
	s.register("experiment.restore", tandem.KindExperiments, applyExperimentLifecycle(tandem.LifecycleActive))
	s.register("experiment.set_tag", tandem.KindExperiments, applyExperimentSetTag)
	s.register("experiment.delete_tag", tandem.KindExperiments, applyExperimentDeleteTag)
	s.register("run.create", tandem.KindRuns, applyRunCreate)
	s.register("run.update", tandem.KindRuns, applyRunUpdate)
	s.register("run.delete", tandem.KindRuns, applyRunLifecycle(tandem.LifecycleDeleted))
	s.register("run.restore", tandem.KindRuns, applyRunLifecycle(tandem.LifecycleActive))
	s.register("run.log", tandem.KindRuns, applyRunLog)
	s.register("run.delete_tag", tandem.KindRuns, applyRunDeleteTag)
	s.register("run.log_inputs", tandem.KindRuns, applyRunLogInputs)
	s.register("run.log_outputs", tandem.KindRuns, applyRunLogOutputs)
}

// Payloads of the tracking ops.

type experimentCreatePayload struct {
	ExperimentID     string       `json:"experiment_id"`
	NumID            int64        `json:"num_id"`
	Name             string       `json:"name"`
	ArtifactLocation string       `json:"artifact_location"`
	Time             int64        `json:"time"`
	Tags             []tandem.Tag `json:"tags,omitempty"`
}

type experimentRenamePayload struct {
	ExperimentID string `json:"experiment_id"`
	Name         string `json:"name"`
	Time         int64  `json:"time"`
}

type experimentLifecyclePayload struct {
	ExperimentID string `json:"experiment_id"`
	Time         int64  `json:"time"`
}

type experimentTagPayload struct {
	ExperimentID string `json:"experiment_id"`
	Key          string `json:"key"`
	Value        string `json:"value,omitempty"`
}

type runCreatePayload struct {
	RunID        string       `json:"run_id"`
	ExperimentID string       `json:"experiment_id"`
	Name         string       `json:"name"`
	UserID       string       `json:"user_id"`
	StartTime    int64        `json:"start_time"`
	ArtifactURI  string       `json:"artifact_uri"`
	Tags         []tandem.Tag `json:"tags,omitempty"`
}

type runUpdatePayload struct {
	RunID   string  `json:"run_id"`
	Status  *string `json:"status,omitempty"`
	EndTime *int64  `json:"end_time,omitempty"`
	Name    *string `json:"name,omitempty"`
}

type runLifecyclePayload struct {
	RunID string `json:"run_id"`
	Time  int64  `json:"time"`
}

// metricPoint is a metric in a payload: NaN and infinities do not survive
// JSON, so the value travels as a string when it is not finite.
type metricPoint struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	Timestamp int64           `json:"timestamp"`
	Step      int64           `json:"step"`
	// A point logged with a model_id is kept on that logged model too.
	ModelID       string `json:"model_id,omitempty"`
	DatasetName   string `json:"dataset_name,omitempty"`
	DatasetDigest string `json:"dataset_digest,omitempty"`
}

func toPoint(m tandem.Metric) metricPoint {
	var v string
	switch {
	case math.IsNaN(m.Value):
		v = `"NaN"`
	case math.IsInf(m.Value, 1):
		v = `"Infinity"`
	case math.IsInf(m.Value, -1):
		v = `"-Infinity"`
	default:
		b, _ := json.Marshal(m.Value)
		v = string(b)
	}
	return metricPoint{Key: m.Key, Value: json.RawMessage(v), Timestamp: m.Timestamp, Step: m.Step,
		ModelID: m.ModelID, DatasetName: m.DatasetName, DatasetDigest: m.DatasetDigest}
}

func (p metricPoint) metric() (tandem.Metric, error) {
	m := tandem.Metric{Key: p.Key, Timestamp: p.Timestamp, Step: p.Step,
		ModelID: p.ModelID, DatasetName: p.DatasetName, DatasetDigest: p.DatasetDigest}
	switch string(p.Value) {
	case `"NaN"`:
		m.Value = math.NaN()
	case `"Infinity"`:
		m.Value = math.Inf(1)
	case `"-Infinity"`:
		m.Value = math.Inf(-1)
	default:
		if err := json.Unmarshal(p.Value, &m.Value); err != nil {
			return m, fmt.Errorf("metric %s value %s: %w", p.Key, p.Value, err)
		}
	}
	return m, nil
}

type runLogPayload struct {
	RunID   string         `json:"run_id"`
	Metrics []metricPoint  `json:"metrics,omitempty"`
	Params  []tandem.Param `json:"params,omitempty"`
	Tags    []tandem.Tag   `json:"tags,omitempty"`
}

type runDeleteTagPayload struct {
	RunID string `json:"run_id"`
	Key   string `json:"key"`
}

type datasetInputPayload struct {
	InputUUID   string         `json:"input_uuid"`
	DatasetUUID string         `json:"dataset_uuid"`
	NewDataset  bool           `json:"new_dataset"`
	Dataset     tandem.Dataset `json:"dataset"`
	Tags        []tandem.Tag   `json:"tags,omitempty"`
}

type runLogInputsPayload struct {
	RunID        string                `json:"run_id"`
	ExperimentID string                `json:"experiment_id"`
	Datasets     []datasetInputPayload `json:"datasets,omitempty"`
	Models       []tandem.ModelIO      `json:"models,omitempty"`
}

type runLogOutputsPayload struct {
	RunID  string           `json:"run_id"`
	Models []tandem.ModelIO `json:"models"`
}

func decodePayload(e *tandem.Entry, v any) error {
	if err := json.Unmarshal(e.Payload, v); err != nil {
		return fmt.Errorf("%s payload: %w", e.Op, err)
	}
	return nil
}

// Appliers.

func applyExperimentCreate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p experimentCreatePayload
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO experiments (experiment_id, num_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.ExperimentID, p.NumID, p.Name, p.ArtifactLocation, tandem.LifecycleActive, p.Time, p.Time); err != nil {
		return fmt.Errorf("insert experiment: %w", err)
	}
	for _, t := range p.Tags {
		if err := upsertExperimentTag(ctx, tx, p.ExperimentID, t.Key, t.Value); err != nil {
			return err
		}
	}
	return nil
}

func upsertExperimentTag(ctx context.Context, tx *Tx, id, key, value string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value`, id, key, value)
	if err != nil {
		return fmt.Errorf("set experiment tag: %w", err)
	}
	return nil
}

func applyExperimentRename(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p experimentRenamePayload
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?`, p.Name, p.Time, p.ExperimentID)
	return wrap("rename experiment", err)
}

func applyExperimentLifecycle(stage string) ApplyFunc {
	return func(ctx context.Context, tx *Tx, e *tandem.Entry) error {
		var p experimentLifecyclePayload
		if err := decodePayload(e, &p); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?`, stage, p.Time, p.ExperimentID); err != nil {
			return fmt.Errorf("experiment lifecycle: %w", err)
		}
		var err error
		if stage == tandem.LifecycleDeleted {
			_, err = tx.ExecContext(ctx, `UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ?`, stage, p.Time, p.ExperimentID)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE runs SET lifecycle_stage = ?, deleted_time = NULL WHERE experiment_id = ?`, stage, p.ExperimentID)
		}
		return wrap("experiment runs lifecycle", err)
	}
}

func applyExperimentSetTag(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p experimentTagPayload
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	return upsertExperimentTag(ctx, tx, p.ExperimentID, p.Key, p.Value)
}

func applyExperimentDeleteTag(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p experimentTagPayload
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?`, p.ExperimentID, p.Key)
	return wrap("delete experiment tag", err)
}

func applyRunCreate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p runCreatePayload
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, artifact_uri, lifecycle_stage) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		p.RunID, p.ExperimentID, p.Name, p.UserID, tandem.RunRunning, p.StartTime, p.ArtifactURI, tandem.LifecycleActive); err != nil {
		return fmt.Errorf("insert run: %w", err)
	}
	return upsertRunTags(ctx, tx, p.RunID, p.Tags)
}

// tagRowsPerInsert bounds one multi-row INSERT of tags or params (3
// arguments a row).
const tagRowsPerInsert = 500

// upsertRunTags sets tags on a run as upserting them one after another
// would (the last value of a key wins, and the last mlflow.runName names
// the run), in one statement per 500 keys.
func upsertRunTags(ctx context.Context, tx *Tx, runID string, tags []tandem.Tag) error {
	if len(tags) == 0 {
		return nil
	}
	last := make(map[string]int, len(tags))
	for i, t := range tags {
		last[t.Key] = i
	}
	rows := make([]tandem.Tag, 0, len(last))
	for i, t := range tags {
		if last[t.Key] == i {
			rows = append(rows, t)
		}
	}
	if err := insertKeyValues(ctx, tx, `INSERT INTO tags (run_id, key, value) VALUES `, ` ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value`, runID, rows); err != nil {
		return fmt.Errorf("set run tag: %w", err)
	}
	if i, ok := last[tandem.TagRunName]; ok {
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET name = ? WHERE run_id = ?`, tags[i].Value, runID); err != nil {
			return fmt.Errorf("set run name: %w", err)
		}
	}
	return nil
}

// insertKeyValues runs head + "(run_id, key, value), ..." + tail for rows,
// whose keys are distinct, in chunks of tagRowsPerInsert.
func insertKeyValues(ctx context.Context, tx *Tx, head, tail, runID string, rows []tandem.Tag) error {
	for start := 0; start < len(rows); start += tagRowsPerInsert {
		chunk := rows[start:min(start+tagRowsPerInsert, len(rows))]
		var q strings.Builder
		q.WriteString(head)
		args := make([]any, 0, 3*len(chunk))
		for i, t := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?)")
			args = append(args, runID, t.Key, t.Value)
		}
		q.WriteString(tail)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

func applyRunUpdate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p runUpdatePayload
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	if p.Status != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = ? WHERE run_id = ?`, *p.Status, p.RunID); err != nil {
			return fmt.Errorf("update run status: %w", err)
		}
	}
	if p.EndTime != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET end_time = ? WHERE run_id = ?`, *p.EndTime, p.RunID); err != nil {
			return fmt.Errorf("update run end time: %w", err)
		}
	}
	if p.Name != nil {
		return upsertRunTags(ctx, tx, p.RunID, []tandem.Tag{{Key: tandem.TagRunName, Value: *p.Name}})
	}
	return nil
}

func applyRunLifecycle(stage string) ApplyFunc {
	return func(ctx context.Context, tx *Tx, e *tandem.Entry) error {
		var p runLifecyclePayload
		if err := decodePayload(e, &p); err != nil {
			return err
		}
		var err error
		if stage == tandem.LifecycleDeleted {
			_, err = tx.ExecContext(ctx, `UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_id = ?`, stage, p.Time, p.RunID)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE runs SET lifecycle_stage = ?, deleted_time = NULL WHERE run_id = ?`, stage, p.RunID)
		}
		return wrap("run lifecycle", err)
	}
}

// metricRowsPerInsert bounds one multi-row INSERT (6 arguments a row).
const metricRowsPerInsert = 400

func applyRunLog(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p runLogPayload
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	// Re-logging the same value is allowed; prepare rejected a different
	// one. The first value of a key wins, as inserting one after another.
	if len(p.Params) > 0 {
		seen := make(map[string]bool, len(p.Params))
		rows := make([]tandem.Tag, 0, len(p.Params))
		for _, prm := range p.Params {
			if !seen[prm.Key] {
				seen[prm.Key] = true
				rows = append(rows, tandem.Tag{Key: prm.Key, Value: prm.Value})
			}
		}
		if err := insertKeyValues(ctx, tx, `INSERT INTO params (run_id, key, value) VALUES `, ` ON CONFLICT (run_id, key) DO NOTHING`, p.RunID, rows); err != nil {
			return fmt.Errorf("log param: %w", err)
		}
	}
	if err := upsertRunTags(ctx, tx, p.RunID, p.Tags); err != nil {
		return err
	}
	if len(p.Metrics) == 0 {
		return nil
	}
	ms := make([]tandem.Metric, len(p.Metrics))
	for i, mp := range p.Metrics {
		m, err := mp.metric()
		if err != nil {
			return err
		}
		ms[i] = m
	}
	for start := 0; start < len(ms); start += metricRowsPerInsert {
		end := min(start+metricRowsPerInsert, len(ms))
		var q strings.Builder
		q.WriteString(`INSERT INTO metrics (run_id, key, step, timestamp, value, is_nan) VALUES `)
		args := make([]any, 0, 6*(end-start))
		for i, m := range ms[start:end] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?)")
			v, nan := storedValue(m.Value)
			args = append(args, p.RunID, m.Key, m.Step, m.Timestamp, v, nan)
		}
		q.WriteString(` ON CONFLICT DO NOTHING`)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("log metrics: %w", err)
		}
	}
	if err := insertModelMetrics(ctx, tx, p.RunID, ms); err != nil {
		return err
	}
	// The latest point of each key: the greatest (step, timestamp, value).
	best := map[string]tandem.Metric{}
	var keys []string
	for _, m := range ms {
		b, ok := best[m.Key]
		if !ok {
			keys = append(keys, m.Key)
		}
		if !ok || newerMetric(m, b) {
			best[m.Key] = m
		}
	}
	sort.Strings(keys)
	// Read the current latest points of these keys in chunks, then write
	// the ones that changed in multi-row upserts.
	cur := map[string]tandem.Metric{}
	for start := 0; start < len(keys); start += runBatch {
		chunk := keys[start:min(start+runBatch, len(keys))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, p.RunID)
		for _, k := range chunk {
			args = append(args, k)
		}
		rows, err := tx.QueryContext(ctx, `SELECT key, step, timestamp, value, is_nan FROM latest_metrics WHERE run_id = ? AND key IN (`+placeholders(len(chunk))+`)`, args...)
		if err != nil {
			return fmt.Errorf("read latest metrics: %w", err)
		}
		for rows.Next() {
			var m tandem.Metric
			var nan int
			if err := rows.Scan(&m.Key, &m.Step, &m.Timestamp, &m.Value, &nan); err != nil {
				rows.Close()
				return err
			}
			if nan == 1 {
				m.Value = math.NaN()
			}
			cur[m.Key] = m
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read latest metrics: %w", err)
		}
	}
	var changed []tandem.Metric
	for _, k := range keys {
		if c, ok := cur[k]; ok && !newerMetric(best[k], c) {
			continue
		}
		changed = append(changed, best[k])
	}
	for start := 0; start < len(changed); start += metricRowsPerInsert {
		chunk := changed[start:min(start+metricRowsPerInsert, len(changed))]
		var q strings.Builder
		q.WriteString(`INSERT INTO latest_metrics (run_id, key, step, timestamp, value, is_nan) VALUES `)
		args := make([]any, 0, 6*len(chunk))
		for i, m := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?)")
			v, nan := storedValue(m.Value)
			args = append(args, p.RunID, m.Key, m.Step, m.Timestamp, v, nan)
		}
		q.WriteString(` ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp, value = excluded.value, is_nan = excluded.is_nan`)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("update latest metrics: %w", err)
		}
	}
	return nil
}

// newerMetric reports whether a replaces b as the latest point: a greater
// step, then a greater timestamp, then a greater value (NaN never wins a
// tie, as in MLflow's tuple comparison).
func newerMetric(a, b tandem.Metric) bool {
	if a.Step != b.Step {
		return a.Step > b.Step
	}
	if a.Timestamp != b.Timestamp {
		return a.Timestamp > b.Timestamp
	}
	return a.Value > b.Value
}

// insertModelMetrics keeps the points of ms logged with a model_id on
// their logged model as well (the first point of a model, key, timestamp,
// step and run wins, as in MLflow's store).
func insertModelMetrics(ctx context.Context, tx *Tx, runID string, ms []tandem.Metric) error {
	var withModel []tandem.Metric
	for _, m := range ms {
		if m.ModelID != "" {
			withModel = append(withModel, m)
		}
	}
	if len(withModel) == 0 {
		return nil
	}
	var expID string
	if err := tx.QueryRowContext(ctx, `SELECT experiment_id FROM runs WHERE run_id = ?`, runID).Scan(&expID); err != nil {
		return fmt.Errorf("log model metrics: read run: %w", err)
	}
	for start := 0; start < len(withModel); start += metricRowsPerInsert {
		end := min(start+metricRowsPerInsert, len(withModel))
		var q strings.Builder
		q.WriteString(`INSERT INTO logged_model_metrics (model_id, key, timestamp, step, run_id, value, is_nan, experiment_id, dataset_name, dataset_digest) VALUES `)
		args := make([]any, 0, 10*(end-start))
		for i, m := range withModel[start:end] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			v, nan := storedValue(m.Value)
			args = append(args, m.ModelID, m.Key, m.Timestamp, m.Step, runID, v, nan, expID, m.DatasetName, m.DatasetDigest)
		}
		q.WriteString(` ON CONFLICT DO NOTHING`)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("log model metrics: %w", err)
		}
	}
	return nil
}

func storedValue(v float64) (float64, int) {
	if math.IsNaN(v) {
		return 0, 1
	}
	return v, 0
}

func applyRunDeleteTag(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p runDeleteTagPayload
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM tags WHERE run_id = ? AND key = ?`, p.RunID, p.Key)
	return wrap("delete run tag", err)
}

func applyRunLogInputs(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p runLogInputsPayload
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	for _, d := range p.Datasets {
		if d.NewDataset {
			if _, err := tx.ExecContext(ctx, `INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, dataset_source_type, dataset_source, dataset_schema, dataset_profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				d.DatasetUUID, p.ExperimentID, d.Dataset.Name, d.Dataset.Digest, d.Dataset.SourceType, d.Dataset.Source, nullString(d.Dataset.Schema), nullString(d.Dataset.Profile)); err != nil {
				return fmt.Errorf("insert dataset: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id) VALUES (?, 'DATASET', ?, 'RUN', ?) ON CONFLICT DO NOTHING`,
			d.InputUUID, d.DatasetUUID, p.RunID); err != nil {
			return fmt.Errorf("insert input: %w", err)
		}
		for _, t := range d.Tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO input_tags (input_uuid, name, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, d.InputUUID, t.Key, t.Value); err != nil {
				return fmt.Errorf("insert input tag: %w", err)
			}
		}
	}
	return insertRunModels(ctx, tx, p.RunID, "input", p.Models)
}

func insertRunModels(ctx context.Context, tx *Tx, runID, dir string, models []tandem.ModelIO) error {
	for _, m := range models {
		var step any
		if m.Step != nil {
			step = *m.Step
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO run_models (run_id, direction, model_id, step) VALUES (?, ?, ?, ?) ON CONFLICT (run_id, direction, model_id) DO UPDATE SET step = excluded.step`,
			runID, dir, m.ModelID, step); err != nil {
			return fmt.Errorf("record run model %s: %w", dir, err)
		}
	}
	return nil
}

func applyRunLogOutputs(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p runLogOutputsPayload
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	return insertRunModels(ctx, tx, p.RunID, "output", p.Models)
}

func wrap(step string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	return nil
}

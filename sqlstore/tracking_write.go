package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// The tracking write methods. Each validates its input, reads current
// state inside the write transaction, and commits one journal op (see
// registerTracking). Errors: EINVALID for bad input or writes to deleted
// objects (MLflow's INVALID_PARAMETER_VALUE), ENOTFOUND for unknown ids,
// EEXISTS for a duplicate experiment name.

func nowMillis() int64 { return time.Now().UnixMilli() }

func newUUIDHex() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b)
}

var nameWords = [2][]string{
	{"amber", "bold", "brisk", "calm", "clever", "crisp", "daring", "eager", "fierce", "gentle", "glossy", "happy",
		"honest", "jolly", "keen", "lively", "lucky", "merry", "nimble", "patient", "quiet", "rapid", "rustic",
		"silent", "smooth", "sunny", "swift", "tidy", "vivid", "wise", "zesty", "bright"},
	{"otter", "falcon", "maple", "river", "comet", "badger", "harbor", "lynx", "meadow", "pine", "quartz",
		"raven", "sparrow", "tiger", "willow", "yak", "bison", "cedar", "dolphin", "ember", "fox", "gull",
		"heron", "ibis", "jay", "kite", "lark", "moth", "newt", "owl", "panda", "wren"},
}

// randomRunName makes a readable name for a run created without one, like
// MLflow's "adjective-noun-NNN".
func randomRunName() string {
	pick := func(n int) int {
		v, _ := rand.Int(rand.Reader, big.NewInt(int64(n)))
		return int(v.Int64())
	}
	return fmt.Sprintf("%s-%s-%d", nameWords[0][pick(len(nameWords[0]))], nameWords[1][pick(len(nameWords[1]))], pick(1000))
}

// checkExperimentID rejects ids that are not integers, as MLflow's SQL
// store does before looking them up (EINVALID).
func checkExperimentID(id string) error {
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return tandem.Errorf(tandem.EINVALID, "Invalid experiment ID '%s'. Experiment ID must be a valid integer.", id)
	}
	return nil
}

func notFoundExperiment(id string) error {
	return tandem.Errorf(tandem.ENOTFOUND, "No Experiment with id=%s exists", id)
}

func notFoundRun(id string) error {
	return tandem.Errorf(tandem.ENOTFOUND, "Run with id=%s not found", id)
}

// experimentStage returns an experiment's lifecycle stage and artifact
// location, or ENOTFOUND.
func experimentStage(ctx context.Context, q Querier, id string) (stage, loc string, err error) {
	if err := checkExperimentID(id); err != nil {
		return "", "", err
	}
	err = q.QueryRowContext(ctx, `SELECT lifecycle_stage, artifact_location FROM experiments WHERE experiment_id = ?`, id).Scan(&stage, &loc)
	if IsNoRows(err) {
		return "", "", notFoundExperiment(id)
	}
	if err != nil {
		return "", "", fmt.Errorf("read experiment: %w", err)
	}
	return stage, loc, nil
}

func activeExperiment(ctx context.Context, q Querier, id string) (string, error) {
	stage, loc, err := experimentStage(ctx, q, id)
	if err != nil {
		return "", err
	}
	if stage != tandem.LifecycleActive {
		return "", tandem.Errorf(tandem.EINVALID, "The experiment %s must be in the 'active' state. Current state is %s.", id, stage)
	}
	return loc, nil
}

// runState returns a run's experiment and lifecycle stage, or ENOTFOUND.
func runState(ctx context.Context, q Querier, id string) (expID, stage string, err error) {
	err = q.QueryRowContext(ctx, `SELECT experiment_id, lifecycle_stage FROM runs WHERE run_id = ?`, id).Scan(&expID, &stage)
	if IsNoRows(err) {
		return "", "", notFoundRun(id)
	}
	if err != nil {
		return "", "", fmt.Errorf("read run: %w", err)
	}
	return expID, stage, nil
}

func activeRun(ctx context.Context, q Querier, id string) (string, error) {
	exp, stage, err := runState(ctx, q, id)
	if err != nil {
		return "", err
	}
	if stage != tandem.LifecycleActive {
		return "", tandem.Errorf(tandem.EINVALID, "The run %s must be in the 'active' state. Current state is %s.", id, stage)
	}
	return exp, nil
}

// EnsureDefaultExperiment creates experiment "0" named "Default" with
// artifact location mlflow-artifacts:/0 unless it exists. Called at start;
// idempotent. A region that may not write now (a secondary: the gate says
// EUNAVAILABLE) does nothing: it receives the experiment through the
// primary's journal.
func (s *Store) EnsureDefaultExperiment(ctx context.Context) error {
	var n int
	if err := s.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM experiments WHERE experiment_id = ?`, tandem.DefaultExperimentID).Scan(&n); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if n > 0 {
		return nil
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM experiments WHERE experiment_id = ? OR name = ?`, tandem.DefaultExperimentID, tandem.DefaultExperimentName).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, errNothingToDo
		}
		return &Change{Op: "experiment.create", Key: tandem.DefaultExperimentID, Payload: experimentCreatePayload{
			ExperimentID: tandem.DefaultExperimentID, NumID: 0, Name: tandem.DefaultExperimentName,
			ArtifactLocation: tandem.ExperimentArtifactLocation(tandem.DefaultExperimentID), Time: nowMillis(),
		}}, nil
	})
	if err == errNothingToDo || tandem.ErrorCode(err) == tandem.EUNAVAILABLE {
		return nil
	}
	return err
}

var errNothingToDo = fmt.Errorf("nothing to do")

// CreateExperiment creates an experiment and returns its id. An empty
// artifactLocation means mlflow-artifacts:/<id>.
func (s *Store) CreateExperiment(ctx context.Context, name, artifactLocation string, tags []tandem.Tag) (string, error) {
	if err := tandem.ValidateExperimentName(name); err != nil {
		return "", err
	}
	if err := tandem.ValidateArtifactLocation(artifactLocation); err != nil {
		return "", err
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if err := tandem.ValidateExperimentTag(t.Key, t.Value); err != nil {
			return "", err
		}
		if seen[t.Key] {
			// MLflow reports the tags table's unique constraint this way.
			return "", tandem.Errorf(tandem.EEXISTS, "Experiment tag key '%s' is given twice.", t.Key)
		}
		seen[t.Key] = true
	}
	var id string
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM experiments WHERE name = ?`, name).Scan(&n); err != nil {
			return nil, fmt.Errorf("check experiment name: %w", err)
		}
		if n > 0 {
			return nil, tandem.Errorf(tandem.EEXISTS, "Experiment(name=%s) already exists.", name)
		}
		var maxID *int64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(num_id) FROM experiments`).Scan(&maxID); err != nil {
			return nil, fmt.Errorf("next experiment id: %w", err)
		}
		next := int64(1)
		if maxID != nil && *maxID >= 0 {
			next = *maxID + 1
		}
		id = strconv.FormatInt(next, 10)
		loc := artifactLocation
		if loc == "" {
			loc = tandem.ExperimentArtifactLocation(id)
		}
		return &Change{Op: "experiment.create", Key: id, Payload: experimentCreatePayload{
			ExperimentID: id, NumID: next, Name: name, ArtifactLocation: loc, Time: nowMillis(), Tags: tags,
		}}, nil
	})
	return id, err
}

// dedupTags keeps the last value of each key, in first-seen key order.
func dedupTags(tags []tandem.Tag) []tandem.Tag {
	idx := map[string]int{}
	var out []tandem.Tag
	for _, t := range tags {
		if i, ok := idx[t.Key]; ok {
			out[i].Value = t.Value
			continue
		}
		idx[t.Key] = len(out)
		out = append(out, t)
	}
	return out
}

// RenameExperiment renames an active experiment (EINVALIDSTATE when
// deleted, EEXISTS when the name is taken).
func (s *Store) RenameExperiment(ctx context.Context, id, newName string) error {
	if err := tandem.ValidateExperimentName(newName); err != nil {
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		stage, _, err := experimentStage(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if stage != tandem.LifecycleActive {
			return nil, tandem.Errorf(tandem.EINVALIDSTATE, "Cannot rename a non-active experiment.")
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM experiments WHERE name = ? AND experiment_id <> ?`, newName, id).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, tandem.Errorf(tandem.EEXISTS, "Experiment(name=%s) already exists.", newName)
		}
		return &Change{Op: "experiment.rename", Key: id, Payload: experimentRenamePayload{ExperimentID: id, Name: newName, Time: nowMillis()}}, nil
	})
	return err
}

// DeleteExperiment marks an active experiment and all its runs deleted
// (ENOTFOUND when unknown or already deleted, as MLflow).
func (s *Store) DeleteExperiment(ctx context.Context, id string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		stage, _, err := experimentStage(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if stage != tandem.LifecycleActive {
			return nil, notFoundExperiment(id)
		}
		return &Change{Op: "experiment.delete", Key: id, Payload: experimentLifecyclePayload{ExperimentID: id, Time: nowMillis()}}, nil
	})
	return err
}

// RestoreExperiment restores a deleted experiment and its runs (ENOTFOUND
// when unknown or not deleted, as MLflow).
func (s *Store) RestoreExperiment(ctx context.Context, id string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		stage, _, err := experimentStage(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		if stage != tandem.LifecycleDeleted {
			return nil, notFoundExperiment(id)
		}
		return &Change{Op: "experiment.restore", Key: id, Payload: experimentLifecyclePayload{ExperimentID: id, Time: nowMillis()}}, nil
	})
	return err
}

// SetExperimentTag sets a tag on an active experiment.
func (s *Store) SetExperimentTag(ctx context.Context, id, key, value string) error {
	if err := tandem.ValidateExperimentTag(key, value); err != nil {
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := activeExperiment(ctx, tx, id); err != nil {
			return nil, err
		}
		return &Change{Op: "experiment.set_tag", Key: id, Payload: experimentTagPayload{ExperimentID: id, Key: key, Value: value}}, nil
	})
	return err
}

// DeleteExperimentTag removes a tag of an active experiment (ENOTFOUND
// when the tag does not exist).
func (s *Store) DeleteExperimentTag(ctx context.Context, id, key string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := activeExperiment(ctx, tx, id); err != nil {
			return nil, err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM experiment_tags WHERE experiment_id = ? AND key = ?`, id, key).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "No tag with name: %s in experiment with id %s", key, id)
		}
		return &Change{Op: "experiment.delete_tag", Key: id, Payload: experimentTagPayload{ExperimentID: id, Key: key}}, nil
	})
	return err
}

var _ tandem.TrackingStore = (*Store)(nil)

// CreateRun creates a run in an active experiment and returns its id. The
// run gets the mlflow.runName tag (a generated name when none is given).
func (s *Store) CreateRun(ctx context.Context, in tandem.CreateRunInput) (string, error) {
	run, err := s.CreateRunFull(ctx, in)
	if err != nil {
		return "", err
	}
	return run.Info.RunID, nil
}

// CreateRunFull is CreateRun returning the new run exactly as GetRun would
// read it right after the commit, built from the committed change instead
// of read back (the create-run handler answers with it). Tags are in key
// order as GetRun's loader returns them (byte order: SQLite, and
// PostgreSQL with the C collation tandem's databases use). Same errors as
// CreateRun.
func (s *Store) CreateRunFull(ctx context.Context, in tandem.CreateRunInput) (*tandem.Run, error) {
	// Like MLflow, CreateRun does not check tag key characters (SetTag
	// does); lengths are still bounded.
	tags := dedupTags(in.Tags)
	for i, t := range tags {
		if t.Key == "" || len([]rune(t.Key)) > tandem.MaxEntityKeyLength {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid value '%s' for parameter 'tags[%d].key' supplied", t.Key, i)
		}
		tags[i].Value = tandem.TruncateTagValue(t.Value)
	}
	if in.StartTime < 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "Invalid value %d for parameter 'start_time' supplied", in.StartTime)
	}
	name := in.RunName
	var nameTag *tandem.Tag
	for i := range tags {
		if tags[i].Key == tandem.TagRunName {
			nameTag = &tags[i]
		}
	}
	if name != "" && nameTag != nil && nameTag.Value != name {
		return nil, tandem.Errorf(tandem.EINVALID, "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='%s', mlflow.runName='%s').", name, nameTag.Value)
	}
	if name == "" && nameTag != nil {
		name = nameTag.Value
	}
	if name == "" {
		name = randomRunName()
	}
	if nameTag == nil {
		tags = append(tags, tandem.Tag{Key: tandem.TagRunName, Value: name})
	}
	start := in.StartTime // MLflow stores 0 when the client sends none
	runID := newUUIDHex()
	var p runCreatePayload
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		loc, err := activeExperiment(ctx, tx, in.ExperimentID)
		if err != nil {
			return nil, err
		}
		p = runCreatePayload{
			RunID: runID, ExperimentID: in.ExperimentID, Name: name, UserID: in.UserID, StartTime: start,
			ArtifactURI: strings.TrimRight(loc, "/") + "/" + runID + "/artifacts", Tags: tags,
		}
		return &Change{Op: "run.create", Key: runID, Payload: p}, nil
	})
	if err != nil {
		return nil, err
	}
	return createdRun(p), nil
}

// createdRun is the run applyRunCreate makes from p, as loadRuns reads it.
// p.Tags has unique keys and p.Name equals its mlflow.runName tag, so the
// name the applier writes last is p.Name.
func createdRun(p runCreatePayload) *tandem.Run {
	r := &tandem.Run{Info: tandem.RunInfo{
		RunID: p.RunID, RunUUID: p.RunID, ExperimentID: p.ExperimentID, RunName: p.Name, UserID: p.UserID,
		Status: tandem.RunRunning, StartTime: p.StartTime, ArtifactURI: p.ArtifactURI, LifecycleStage: tandem.LifecycleActive,
	}}
	if len(p.Tags) > 0 {
		r.Tags = slices.Clone(p.Tags)
		slices.SortFunc(r.Tags, func(a, b tandem.Tag) int { return strings.Compare(a.Key, b.Key) })
	}
	return r
}

// UpdateRun changes an active run's status, end time and name; nil fields
// are left as they are.
func (s *Store) UpdateRun(ctx context.Context, runID string, status *string, endTime *int64, name *string) error {
	if status != nil && !tandem.ValidRunStatus(*status) {
		return tandem.Errorf(tandem.EINVALID, "Invalid value '%s' for parameter 'status' supplied", *status)
	}
	if name != nil && *name == "" {
		name = nil
	}
	if name != nil {
		if _, err := tandem.NormalizeRunTag(tandem.Tag{Key: tandem.TagRunName, Value: *name}); err != nil {
			return err
		}
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := activeRun(ctx, tx, runID); err != nil {
			return nil, err
		}
		return &Change{Op: "run.update", Key: runID, Payload: runUpdatePayload{RunID: runID, Status: status, EndTime: endTime, Name: name}}, nil
	})
	return err
}

// DeleteRun marks a run deleted (ENOTFOUND when unknown).
func (s *Store) DeleteRun(ctx context.Context, runID string) error {
	return s.runLifecycle(ctx, runID, "run.delete")
}

// RestoreRun marks a deleted run active again (ENOTFOUND when unknown).
func (s *Store) RestoreRun(ctx context.Context, runID string) error {
	return s.runLifecycle(ctx, runID, "run.restore")
}

func (s *Store) runLifecycle(ctx context.Context, runID, op string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, _, err := runState(ctx, tx, runID); err != nil {
			return nil, err
		}
		return &Change{Op: op, Key: runID, Payload: runLifecyclePayload{RunID: runID, Time: nowMillis()}}, nil
	})
	return err
}

// LogBatch logs metrics (appended), params (immutable: the same value again
// is accepted, a different one is EINVALID) and tags (last write wins) to
// an active run, all or nothing.
func (s *Store) LogBatch(ctx context.Context, runID string, metrics []tandem.Metric, params []tandem.Param, tags []tandem.Tag) error {
	if err := tandem.ValidateBatchLimits(len(metrics), len(params), len(tags)); err != nil {
		return err
	}
	for _, m := range metrics {
		if err := tandem.ValidateMetric(m); err != nil {
			return err
		}
	}
	seen := map[string]string{}
	var dupes []string
	np := make([]tandem.Param, 0, len(params))
	for _, p := range params {
		p, err := tandem.NormalizeParam(p)
		if err != nil {
			return err
		}
		if _, ok := seen[p.Key]; ok {
			dupes = append(dupes, p.Key)
			continue
		}
		seen[p.Key] = p.Value
		np = append(np, p)
	}
	if len(dupes) > 0 {
		return tandem.Errorf(tandem.EINVALID, "Duplicate parameter keys have been submitted: %s. Please ensure the request contains only one param value per param key.", pyList(dupes))
	}
	nt := make([]tandem.Tag, 0, len(tags))
	for _, t := range tags {
		t, err := tandem.NormalizeRunTag(t)
		if err != nil {
			return err
		}
		nt = append(nt, t)
	}
	nt = dedupTags(nt)
	if len(metrics) == 0 && len(np) == 0 && len(nt) == 0 {
		// MLflow accepts an empty batch; it changes nothing, so nothing is journalled.
		_, err := activeRun(ctx, s.Reader(), runID)
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := checkRunAndParams(ctx, tx, runID, np); err != nil {
			return nil, err
		}
		if err := checkMetricModels(ctx, tx, metrics); err != nil {
			return nil, err
		}
		p := runLogPayload{RunID: runID, Params: np, Tags: nt}
		for _, m := range metrics {
			// MLflow's SQL store keeps infinities as the largest finite doubles.
			if math.IsInf(m.Value, 1) {
				m.Value = math.MaxFloat64
			} else if math.IsInf(m.Value, -1) {
				m.Value = -math.MaxFloat64
			}
			p.Metrics = append(p.Metrics, toPoint(m))
		}
		return &Change{Op: "run.log", Key: runID, Payload: p}, nil
	})
	return err
}

// checkMetricModels refuses metrics logged with the id of a logged model
// that does not exist (ENOTFOUND; MLflow's store refuses them too).
func checkMetricModels(ctx context.Context, tx *Tx, metrics []tandem.Metric) error {
	seen := map[string]bool{}
	for _, m := range metrics {
		if m.ModelID == "" || seen[m.ModelID] {
			continue
		}
		seen[m.ModelID] = true
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM logged_models WHERE model_id = ?`, m.ModelID).Scan(&one)
		if IsNoRows(err) {
			return errLMNotFound(m.ModelID)
		} else if err != nil {
			return fmt.Errorf("read logged model: %w", err)
		}
	}
	return nil
}

func pyList(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = "'" + k + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// checkRunAndParams is activeRun followed by a check that no param was
// already logged with another value (EINVALID), in one query: the run's
// stage beside its existing values of these keys.
func checkRunAndParams(ctx context.Context, tx *Tx, runID string, params []tandem.Param) error {
	if len(params) == 0 {
		_, err := activeRun(ctx, tx, runID)
		return err
	}
	args := make([]any, 0, len(params)+1)
	for _, p := range params {
		args = append(args, p.Key)
	}
	args = append(args, runID)
	rows, err := tx.QueryContext(ctx, `SELECT r.lifecycle_stage, p.key, p.value FROM runs r LEFT JOIN params p ON p.run_id = r.run_id AND p.key IN (`+placeholders(len(params))+`) WHERE r.run_id = ?`, args...)
	if err != nil {
		return fmt.Errorf("read run and params: %w", err)
	}
	defer rows.Close()
	found := false
	stage := ""
	old := map[string]string{}
	for rows.Next() {
		var k, v sql.NullString
		if err := rows.Scan(&stage, &k, &v); err != nil {
			return err
		}
		found = true
		if k.Valid {
			old[k.String] = v.String
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read run and params: %w", err)
	}
	if !found {
		return notFoundRun(runID)
	}
	if stage != tandem.LifecycleActive {
		return tandem.Errorf(tandem.EINVALID, "The run %s must be in the 'active' state. Current state is %s.", runID, stage)
	}
	for _, p := range params {
		if v, ok := old[p.Key]; ok && v != p.Value {
			return tandem.Errorf(tandem.EINVALID, "Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.", p.Key, v, runID, p.Value)
		}
	}
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// DeleteTag removes a tag of an active run (ENOTFOUND when absent).
func (s *Store) DeleteTag(ctx context.Context, runID, key string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := activeRun(ctx, tx, runID); err != nil {
			return nil, err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tags WHERE run_id = ? AND key = ?`, runID, key).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "No tag with name: %s in run with id %s", key, runID)
		}
		return &Change{Op: "run.delete_tag", Key: runID, Payload: runDeleteTagPayload{RunID: runID, Key: key}}, nil
	})
	return err
}

// LogModel appends a model's JSON description to the run's
// mlflow.log-model.history tag, as MLflow's record_logged_model does.
func (s *Store) LogModel(ctx context.Context, runID, modelJSON string) error {
	var m map[string]any
	if err := json.Unmarshal([]byte(modelJSON), &m); err != nil || m == nil {
		return tandem.Errorf(tandem.EINVALID, "Malformed model info. \n %s \n is not a valid JSON.", modelJSON)
	}
	var missing []string
	for _, f := range []string{"artifact_path", "flavors", "utc_time_created", "run_id"} {
		if _, ok := m[f]; !ok {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return tandem.Errorf(tandem.EINVALID, "Model json is missing mandatory fields: %s", pyList(missing))
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := activeRun(ctx, tx, runID); err != nil {
			return nil, err
		}
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT value FROM tags WHERE run_id = ? AND key = ?`, runID, tandem.TagLogModelHistory).Scan(&cur)
		if err != nil && !IsNoRows(err) {
			return nil, err
		}
		var hist []json.RawMessage
		if cur != "" {
			json.Unmarshal([]byte(cur), &hist)
		}
		compact, _ := json.Marshal(m)
		hist = append(hist, compact)
		v, _ := json.Marshal(hist)
		return &Change{Op: "run.log", Key: runID, Payload: runLogPayload{RunID: runID, Tags: []tandem.Tag{{Key: tandem.TagLogModelHistory, Value: string(v)}}}}, nil
	})
	return err
}

// LogInputs records datasets (stored once per experiment by name and
// digest) and logged models a run used.
func (s *Store) LogInputs(ctx context.Context, runID string, datasets []tandem.DatasetInput, models []tandem.ModelIO) error {
	if len(datasets) > tandem.MaxDatasetsPerBatch {
		return tandem.Errorf(tandem.EINVALID, "A batch logging request can contain at most %d datasets. Got %d datasets.", tandem.MaxDatasetsPerBatch, len(datasets))
	}
	for _, d := range datasets {
		if err := tandem.ValidateDatasetInput(d); err != nil {
			return err
		}
	}
	for _, m := range models {
		if m.ModelID == "" {
			return tandem.Errorf(tandem.EINVALID, "Missing value for required parameter 'model_id'")
		}
	}
	if len(datasets) == 0 && len(models) == 0 {
		_, err := activeRun(ctx, s.Reader(), runID)
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		expID, err := activeRun(ctx, tx, runID)
		if err != nil {
			return nil, err
		}
		p := runLogInputsPayload{RunID: runID, ExperimentID: expID, Models: models}
		fresh := map[string]string{} // name\x00digest -> uuid chosen in this batch
		for _, d := range datasets {
			dp := datasetInputPayload{Dataset: d.Dataset, Tags: dedupTags(d.Tags)}
			k := d.Dataset.Name + "\x00" + d.Dataset.Digest
			if u, ok := fresh[k]; ok {
				dp.DatasetUUID = u
			} else {
				err := tx.QueryRowContext(ctx, `SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?`, expID, d.Dataset.Name, d.Dataset.Digest).Scan(&dp.DatasetUUID)
				if IsNoRows(err) {
					dp.DatasetUUID, dp.NewDataset = newUUIDHex(), true
					fresh[k] = dp.DatasetUUID
				} else if err != nil {
					return nil, fmt.Errorf("read dataset: %w", err)
				}
			}
			err := tx.QueryRowContext(ctx, `SELECT input_uuid FROM inputs WHERE source_type = 'DATASET' AND source_id = ? AND destination_type = 'RUN' AND destination_id = ?`, dp.DatasetUUID, runID).Scan(&dp.InputUUID)
			if IsNoRows(err) {
				dp.InputUUID = newUUIDHex()
			} else if err != nil {
				return nil, fmt.Errorf("read input: %w", err)
			}
			p.Datasets = append(p.Datasets, dp)
		}
		return &Change{Op: "run.log_inputs", Key: runID, Payload: p}, nil
	})
	return err
}

// LogOutputs records logged models a run produced.
func (s *Store) LogOutputs(ctx context.Context, runID string, models []tandem.ModelIO) error {
	for _, m := range models {
		if m.ModelID == "" {
			return tandem.Errorf(tandem.EINVALID, "Missing value for required parameter 'model_id'")
		}
	}
	if len(models) == 0 {
		_, err := activeRun(ctx, s.Reader(), runID)
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := activeRun(ctx, tx, runID); err != nil {
			return nil, err
		}
		return &Change{Op: "run.log_outputs", Key: runID, Payload: runLogOutputsPayload{RunID: runID, Models: models}}, nil
	})
	return err
}

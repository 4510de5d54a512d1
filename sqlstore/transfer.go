package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer/bundle"
)

// Import ops: each writes one whole object (or object graph) taken from a
// bundle, keeping its ids, times, metric points and version numbers. They
// are how `tandem import` and `tandem import --from-mlflow` write; the
// primary resolves everything (target experiment id, dataset and input
// uuids) in prepare, so the appliers are deterministic.
//
//	import.experiment  an experiment and its tags, with its id (or a mapped one)
//	import.run         a run with params, tags, every metric point, inputs,
//	                   model inputs/outputs and its artifact records
//
// and, in transfer_models.go, import.logged_model and
// import.registered_model; in transfer_assets.go, import.asset.<kind>.
func (s *Store) registerTransfer() {
	s.register("import.experiment", tandem.KindExperiments, applyImportExperiment)
	s.register("import.run", tandem.KindRuns, applyImportRun)
	s.register("import.logged_model", tandem.KindModels, applyImportLoggedModel)
	s.register("import.registered_model", tandem.KindModels, applyImportRegisteredModel)
	s.registerTransferAssets()
}

// ImportStatus says what an import did (or, in a plan, would do) with one
// object.
type ImportStatus string

const (
	ImportNew      ImportStatus = "new"             // created (or would be)
	ImportPresent  ImportStatus = "already present" // identical object already there: nothing changed
	ImportConflict ImportStatus = "conflict"        // same id or name, different content: nothing changed
	ImportSkipped  ImportStatus = "skipped"         // depends on an object in conflict
	// ImportUnsupported: this build cannot import objects of this kind.
	ImportUnsupported ImportStatus = "not supported"
)

// ImportResult is the outcome for one object.
type ImportResult struct {
	Status   ImportStatus `json:"status"`
	TargetID string       `json:"target_id,omitempty"` // id in this workspace when it differs from the bundle's
	Reason   string       `json:"reason,omitempty"`    // why: conflict detail, or the id mapping
}

// ArtifactRoot is the artifact location tandem gives an experiment; imported
// experiments get it too, since their bytes are copied into this workspace.
func ArtifactRoot(experimentID string) string { return "mlflow-artifacts:/" + experimentID }

// RunArtifactPrefix is the storage key prefix of a run's artifacts.
func RunArtifactPrefix(experimentID, runID string) string {
	return experimentID + "/" + runID + "/artifacts/"
}

type importExperimentPayload struct {
	Experiment bundle.Experiment `json:"experiment"` // with the target id
	NumID      int64             `json:"num_id"`
}

type importDataset struct {
	DatasetUUID string `json:"dataset_uuid"`
	InputUUID   string `json:"input_uuid"`
	New         bool   `json:"new_dataset"`
}

type importRunPayload struct {
	Run      bundle.Run      `json:"run"` // experiment id and artifact uri of this workspace
	Datasets []importDataset `json:"datasets,omitempty"`
}

// PlanExperiment decides where an experiment of a bundle goes: an
// experiment with the same name is the same experiment (already present,
// possibly under another id) unless its content differs (conflict); else it
// keeps its id when free, or gets the next free id (said in Reason).
func PlanExperiment(ctx context.Context, q Querier, rec bundle.Experiment) (ImportResult, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT experiment_id FROM experiments WHERE name = ?`, rec.Name).Scan(&id)
	if err == nil {
		cur, _, err := TransferExperiment(ctx, q, id)
		if err != nil {
			return ImportResult{}, err
		}
		res := ImportResult{Status: ImportPresent}
		if id != rec.ExperimentID {
			res.TargetID = id
			res.Reason = fmt.Sprintf("experiment %s is experiment %s here (same name %q)", rec.ExperimentID, id, rec.Name)
		}
		if id == "0" || rec.ExperimentID == "0" {
			return res, nil // every workspace has its own Default experiment
		}
		if d := diffExperiment(cur, rec); d != "" {
			return ImportResult{Status: ImportConflict, TargetID: id,
				Reason: fmt.Sprintf("experiment %q exists with different content: %s", rec.Name, d)}, nil
		}
		return res, nil
	} else if !IsNoRows(err) {
		return ImportResult{}, fmt.Errorf("plan experiment: %w", err)
	}
	if n, ok := experimentNum(rec.ExperimentID); ok {
		var other string
		err := q.QueryRowContext(ctx, `SELECT name FROM experiments WHERE experiment_id = ? OR num_id = ?`, rec.ExperimentID, n).Scan(&other)
		if IsNoRows(err) {
			return ImportResult{Status: ImportNew}, nil
		} else if err != nil {
			return ImportResult{}, fmt.Errorf("plan experiment: %w", err)
		}
		next, err := nextExperimentNum(ctx, q)
		if err != nil {
			return ImportResult{}, err
		}
		id := strconv.FormatInt(next, 10)
		return ImportResult{Status: ImportNew, TargetID: id,
			Reason: fmt.Sprintf("experiment id %s is taken by %q here: %q imported as experiment %s", rec.ExperimentID, other, rec.Name, id)}, nil
	}
	next, err := nextExperimentNum(ctx, q)
	if err != nil {
		return ImportResult{}, err
	}
	id = strconv.FormatInt(next, 10)
	return ImportResult{Status: ImportNew, TargetID: id,
		Reason: fmt.Sprintf("experiment id %q is not a number: %q imported as experiment %s", rec.ExperimentID, rec.Name, id)}, nil
}

func experimentNum(id string) (int64, bool) {
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil && n >= 0 && strconv.FormatInt(n, 10) == id
}

func nextExperimentNum(ctx context.Context, q Querier) (int64, error) {
	var max *int64
	if err := q.QueryRowContext(ctx, `SELECT MAX(num_id) FROM experiments`).Scan(&max); err != nil {
		return 0, fmt.Errorf("next experiment id: %w", err)
	}
	if max == nil {
		return 1, nil
	}
	return *max + 1, nil
}

func diffExperiment(cur, rec bundle.Experiment) string {
	switch {
	case cur.LifecycleStage != rec.LifecycleStage:
		return fmt.Sprintf("lifecycle stage %s here, %s in the bundle", cur.LifecycleStage, rec.LifecycleStage)
	case cur.CreationTime != rec.CreationTime:
		return fmt.Sprintf("creation time %d here, %d in the bundle", cur.CreationTime, rec.CreationTime)
	case !sameJSON(sortKV(cur.Tags), sortKV(rec.Tags)):
		return "tags differ"
	}
	return ""
}

// ImportExperiment creates the experiment of a bundle (see PlanExperiment)
// and returns what it did. A conflict or an already present experiment
// changes nothing.
func (s *Store) ImportExperiment(ctx context.Context, rec bundle.Experiment) (ImportResult, error) {
	var res ImportResult
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var err error
		if res, err = PlanExperiment(ctx, tx, rec); err != nil {
			return nil, err
		}
		if res.Status != ImportNew {
			return nil, errImportNoop
		}
		target := rec
		if res.TargetID != "" {
			target.ExperimentID = res.TargetID
		}
		n, _ := experimentNum(target.ExperimentID)
		target.ArtifactLocation = ArtifactRoot(target.ExperimentID)
		if target.LifecycleStage == "" {
			target.LifecycleStage = "active"
		}
		return &Change{Op: "import.experiment", Key: target.ExperimentID,
			Payload: importExperimentPayload{Experiment: target, NumID: n}}, nil
	})
	if err == errImportNoop {
		err = nil
	}
	return res, err
}

// errImportNoop ends a Mutate whose prepare found nothing to write.
var errImportNoop = tandem.Errorf(tandem.EEXISTS, "nothing to import")

func applyImportExperiment(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p importExperimentPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("import.experiment payload: %w", err)
	}
	x := p.Experiment
	if _, err := tx.ExecContext(ctx, `INSERT INTO experiments (experiment_id, num_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		x.ExperimentID, p.NumID, x.Name, x.ArtifactLocation, x.LifecycleStage, x.CreationTime, x.LastUpdateTime); err != nil {
		return fmt.Errorf("import experiment: %w", err)
	}
	for _, t := range x.Tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value`,
			x.ExperimentID, t.Key, t.Value); err != nil {
			return fmt.Errorf("import experiment tag: %w", err)
		}
	}
	return nil
}

// TargetRun rewrites a bundle's run for this workspace: its experiment id
// and its artifact location (the bytes are copied into this workspace's
// storage).
func TargetRun(rec bundle.Run, experimentID string) bundle.Run {
	rec.ExperimentID = experimentID
	rec.ArtifactURI = ArtifactRoot(experimentID) + "/" + rec.RunID + "/artifacts"
	return rec
}

// PlanRun compares a bundle's run (already rewritten by TargetRun) with
// this workspace: new, already present (identical), or conflict (same id,
// different content, with the first difference).
func PlanRun(ctx context.Context, q Querier, rec bundle.Run) (ImportResult, error) {
	cur, ok, err := TransferRun(ctx, q, rec.RunID)
	if err != nil {
		return ImportResult{}, err
	}
	if !ok {
		return ImportResult{Status: ImportNew}, nil
	}
	if d := DiffRun(cur, rec); d != "" {
		return ImportResult{Status: ImportConflict, Reason: fmt.Sprintf("run %s exists with different content: %s", rec.RunID, d)}, nil
	}
	return ImportResult{Status: ImportPresent}, nil
}

// NormalizeRun puts a run record in canonical order and drops what tandem
// does not store (the dataset and model links of metric points, duplicate
// identical points), so that two records of the same run compare equal.
func NormalizeRun(r bundle.Run) bundle.Run {
	r.Params = sortKV(r.Params)
	r.Tags = sortKV(r.Tags)
	ms := make([]bundle.Metric, 0, len(r.Metrics))
	for _, m := range r.Metrics {
		ms = append(ms, bundle.Metric{Key: m.Key, Value: m.Value, Timestamp: m.Timestamp, Step: m.Step})
	}
	sort.Slice(ms, func(i, j int) bool { return metricLess(ms[i], ms[j]) })
	out := ms[:0]
	for i, m := range ms {
		if i > 0 && sameMetric(ms[i-1], m) {
			continue
		}
		out = append(out, m)
	}
	r.Metrics = out
	if len(r.Metrics) == 0 {
		r.Metrics = nil
	}
	in := make([]bundle.DatasetInput, len(r.Inputs))
	for i, d := range r.Inputs {
		in[i] = bundle.DatasetInput{Dataset: d.Dataset, Tags: sortKV(d.Tags)}
	}
	sort.Slice(in, func(i, j int) bool {
		a, b := in[i].Dataset, in[j].Dataset
		return a.Name+"\x00"+a.Digest < b.Name+"\x00"+b.Digest
	})
	r.Inputs = in
	if len(r.Inputs) == 0 {
		r.Inputs = nil
	}
	r.ModelInputs = append([]string(nil), r.ModelInputs...)
	sort.Strings(r.ModelInputs)
	r.ModelOutputs = append([]bundle.ModelOutput(nil), r.ModelOutputs...)
	sort.Slice(r.ModelOutputs, func(i, j int) bool { return r.ModelOutputs[i].ModelID < r.ModelOutputs[j].ModelID })
	r.Artifacts = append([]bundle.File(nil), r.Artifacts...)
	sort.Slice(r.Artifacts, func(i, j int) bool { return r.Artifacts[i].Path < r.Artifacts[j].Path })
	if len(r.ModelInputs) == 0 {
		r.ModelInputs = nil
	}
	if len(r.ModelOutputs) == 0 {
		r.ModelOutputs = nil
	}
	if len(r.Artifacts) == 0 {
		r.Artifacts = nil
	}
	return r
}

func metricLess(a, b bundle.Metric) bool {
	if a.Key != b.Key {
		return a.Key < b.Key
	}
	if a.Step != b.Step {
		return a.Step < b.Step
	}
	if a.Timestamp != b.Timestamp {
		return a.Timestamp < b.Timestamp
	}
	av, bv := float64(a.Value), float64(b.Value)
	if math.IsNaN(av) || math.IsNaN(bv) {
		return !math.IsNaN(av) && math.IsNaN(bv)
	}
	return av < bv
}

func sameMetric(a, b bundle.Metric) bool {
	if a.Key != b.Key || a.Step != b.Step || a.Timestamp != b.Timestamp {
		return false
	}
	av, bv := float64(a.Value), float64(b.Value)
	return av == bv || (math.IsNaN(av) && math.IsNaN(bv))
}

// DiffRun returns "" when two run records describe the same run, or the
// first difference.
func DiffRun(a, b bundle.Run) string {
	a, b = NormalizeRun(a), NormalizeRun(b)
	endA, endB := int64(-1), int64(-1)
	if a.EndTime != nil {
		endA = *a.EndTime
	}
	if b.EndTime != nil {
		endB = *b.EndTime
	}
	switch {
	case a.ExperimentID != b.ExperimentID:
		return fmt.Sprintf("experiment %s here, %s in the bundle", a.ExperimentID, b.ExperimentID)
	case a.RunName != b.RunName:
		return fmt.Sprintf("name %q here, %q in the bundle", a.RunName, b.RunName)
	case a.Status != b.Status:
		return fmt.Sprintf("status %s here, %s in the bundle", a.Status, b.Status)
	case a.StartTime != b.StartTime || endA != endB:
		return "start or end time differs"
	case a.LifecycleStage != b.LifecycleStage:
		return fmt.Sprintf("lifecycle stage %s here, %s in the bundle", a.LifecycleStage, b.LifecycleStage)
	case a.UserID != b.UserID:
		return "user differs"
	case !sameJSON(a.Params, b.Params):
		return "params differ"
	case !sameJSON(a.Tags, b.Tags):
		return "tags differ"
	case len(a.Metrics) != len(b.Metrics):
		return fmt.Sprintf("%d metric points here, %d in the bundle", len(a.Metrics), len(b.Metrics))
	case !sameJSON(a.Metrics, b.Metrics):
		return "metric values differ"
	case !sameJSON(a.Inputs, b.Inputs):
		return "dataset inputs differ"
	case !sameJSON(a.ModelInputs, b.ModelInputs) || !sameJSON(a.ModelOutputs, b.ModelOutputs):
		return "model inputs or outputs differ"
	case !sameJSON(a.Artifacts, b.Artifacts):
		return "artifacts differ"
	}
	return ""
}

func sortKV(kv []bundle.KV) []bundle.KV {
	out := append([]bundle.KV(nil), kv...)
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if len(out) == 0 {
		return nil
	}
	return out
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// ImportRun writes a run of a bundle, already rewritten by TargetRun, in one
// transaction with its artifact records (whose bytes the caller stored
// first, at RunArtifactPrefix + path). An identical run already here, or a
// run with the same id and other content, changes nothing: the result says
// which. The experiment must exist (ENOTFOUND).
func (s *Store) ImportRun(ctx context.Context, rec bundle.Run) (ImportResult, error) {
	var res ImportResult
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM experiments WHERE experiment_id = ?`, rec.ExperimentID).Scan(&n); err != nil {
			return nil, fmt.Errorf("import run: %w", err)
		} else if n == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "import run %s: experiment %s does not exist", rec.RunID, rec.ExperimentID)
		}
		var err error
		if res, err = PlanRun(ctx, tx, rec); err != nil {
			return nil, err
		}
		if res.Status != ImportNew {
			return nil, errImportNoop
		}
		p := importRunPayload{Run: rec}
		fresh := map[string]string{}
		for _, d := range rec.Inputs {
			k := d.Dataset.Name + "\x00" + d.Dataset.Digest
			ds := importDataset{InputUUID: transferUUID()}
			if u, ok := fresh[k]; ok {
				ds.DatasetUUID = u
			} else {
				err := tx.QueryRowContext(ctx, `SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?`,
					rec.ExperimentID, d.Dataset.Name, d.Dataset.Digest).Scan(&ds.DatasetUUID)
				if IsNoRows(err) {
					ds.DatasetUUID, ds.New = transferUUID(), true
					fresh[k] = ds.DatasetUUID
				} else if err != nil {
					return nil, fmt.Errorf("import run dataset: %w", err)
				}
			}
			p.Datasets = append(p.Datasets, ds)
		}
		var blobs []tandem.BlobRef
		prefix := RunArtifactPrefix(rec.ExperimentID, rec.RunID)
		for _, f := range rec.Artifacts {
			blobs = append(blobs, tandem.BlobRef{Path: prefix + f.Path, SHA256: f.SHA256, Size: f.Size})
		}
		return &Change{Op: "import.run", Key: rec.RunID, Payload: p, Blobs: blobs}, nil
	})
	if err == errImportNoop {
		err = nil
	}
	return res, err
}

func transferUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b)
}

// transferRowsPerInsert bounds one multi-row INSERT of metric points.
const transferRowsPerInsert = 400

func applyImportRun(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p importRunPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("import.run payload: %w", err)
	}
	r := p.Run
	var end any
	if r.EndTime != nil {
		end = *r.EndTime
	}
	var deleted any
	if r.LifecycleStage == "deleted" {
		deleted = e.Time.UnixMilli()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO runs (run_id, experiment_id, name, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage, deleted_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.RunID, r.ExperimentID, r.RunName, r.UserID, r.Status, r.StartTime, end, r.ArtifactURI, r.LifecycleStage, deleted); err != nil {
		return fmt.Errorf("import run: %w", err)
	}
	for _, kv := range r.Params {
		if _, err := tx.ExecContext(ctx, `INSERT INTO params (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO NOTHING`, r.RunID, kv.Key, kv.Value); err != nil {
			return fmt.Errorf("import run param: %w", err)
		}
	}
	for _, kv := range r.Tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value`, r.RunID, kv.Key, kv.Value); err != nil {
			return fmt.Errorf("import run tag: %w", err)
		}
	}
	if err := importMetrics(ctx, tx, r.RunID, r.Metrics); err != nil {
		return err
	}
	for i, d := range r.Inputs {
		if i >= len(p.Datasets) {
			return fmt.Errorf("import.run payload: %d inputs, %d dataset ids", len(r.Inputs), len(p.Datasets))
		}
		ds := p.Datasets[i]
		if ds.New {
			if _, err := tx.ExecContext(ctx, `INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, dataset_source_type, dataset_source, dataset_schema, dataset_profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				ds.DatasetUUID, r.ExperimentID, d.Dataset.Name, d.Dataset.Digest, d.Dataset.SourceType, d.Dataset.Source, nullString(d.Dataset.Schema), nullString(d.Dataset.Profile)); err != nil {
				return fmt.Errorf("import run dataset: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO inputs (input_uuid, source_type, source_id, destination_type, destination_id) VALUES (?, 'DATASET', ?, 'RUN', ?) ON CONFLICT DO NOTHING`,
			ds.InputUUID, ds.DatasetUUID, r.RunID); err != nil {
			return fmt.Errorf("import run input: %w", err)
		}
		for _, t := range d.Tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO input_tags (input_uuid, name, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, ds.InputUUID, t.Key, t.Value); err != nil {
				return fmt.Errorf("import run input tag: %w", err)
			}
		}
	}
	for _, m := range r.ModelInputs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO run_models (run_id, direction, model_id, step) VALUES (?, 'input', ?, NULL) ON CONFLICT DO NOTHING`, r.RunID, m); err != nil {
			return fmt.Errorf("import run model input: %w", err)
		}
	}
	for _, m := range r.ModelOutputs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO run_models (run_id, direction, model_id, step) VALUES (?, 'output', ?, ?) ON CONFLICT DO NOTHING`, r.RunID, m.ModelID, m.Step); err != nil {
			return fmt.Errorf("import run model output: %w", err)
		}
	}
	prefix := RunArtifactPrefix(r.ExperimentID, r.RunID)
	for _, f := range r.Artifacts {
		if err := importArtifactRow(ctx, tx, prefix+f.Path, f, e.Time.UnixMilli()); err != nil {
			return err
		}
	}
	return nil
}

// importMetrics inserts every point and sets each key's latest point (the
// greatest step, then timestamp, then value; NaN never wins a tie).
func importMetrics(ctx context.Context, tx *Tx, runID string, ms []bundle.Metric) error {
	for start := 0; start < len(ms); start += transferRowsPerInsert {
		end := min(start+transferRowsPerInsert, len(ms))
		var q strings.Builder
		q.WriteString(`INSERT INTO metrics (run_id, key, step, timestamp, value, is_nan) VALUES `)
		args := make([]any, 0, 6*(end-start))
		for i, m := range ms[start:end] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?)")
			v, nan := float64(m.Value), 0
			if math.IsNaN(v) {
				v, nan = 0, 1
			}
			args = append(args, runID, m.Key, m.Step, m.Timestamp, v, nan)
		}
		q.WriteString(` ON CONFLICT DO NOTHING`)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("import metrics: %w", err)
		}
	}
	latest := map[string]bundle.Metric{}
	var keys []string
	for _, m := range ms {
		b, ok := latest[m.Key]
		if !ok {
			keys = append(keys, m.Key)
		}
		if !ok || m.Step > b.Step || (m.Step == b.Step && (m.Timestamp > b.Timestamp ||
			(m.Timestamp == b.Timestamp && float64(m.Value) > float64(b.Value)))) {
			latest[m.Key] = m
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		m := latest[k]
		v, nan := float64(m.Value), 0
		if math.IsNaN(v) {
			v, nan = 0, 1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO latest_metrics (run_id, key, step, timestamp, value, is_nan) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp, value = excluded.value, is_nan = excluded.is_nan`,
			runID, k, m.Step, m.Timestamp, v, nan); err != nil {
			return fmt.Errorf("import latest metric: %w", err)
		}
	}
	return nil
}

// importArtifactRow records one artifact file and its parent directories in
// the artifacts tables (the same rows artifact.put writes).
func importArtifactRow(ctx context.Context, tx *Tx, key string, f bundle.File, created int64) error {
	dir, name := "", key
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		dir, name = key[:i], key[i+1:]
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO artifacts (path, dir, name, size, sha256, created_ms) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, created_ms = excluded.created_ms`,
		key, dir, name, f.Size, f.SHA256, created); err != nil {
		return fmt.Errorf("import artifact %s: %w", key, err)
	}
	for d := dir; d != ""; {
		pd, pn := "", d
		if i := strings.LastIndexByte(d, '/'); i >= 0 {
			pd, pn = d[:i], d[i+1:]
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO artifact_dirs (path, dir, name) VALUES (?, ?, ?) ON CONFLICT (path) DO NOTHING`, d, pd, pn); err != nil {
			return fmt.Errorf("import artifact dir %s: %w", d, err)
		}
		d = pd
	}
	return nil
}

// MaxExperimentNum is the highest numeric experiment id taken, -1 when
// there is none: an import plans new experiment ids after it.
func (s *Store) MaxExperimentNum(ctx context.Context) (int64, error) {
	var max *int64
	if err := s.Reader().QueryRowContext(ctx, `SELECT MAX(num_id) FROM experiments`).Scan(&max); err != nil {
		return 0, fmt.Errorf("import plan: %w", err)
	}
	if max == nil {
		return -1, nil
	}
	return *max, nil
}

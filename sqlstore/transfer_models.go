package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer/bundle"
)

// Import and export of logged models and registered models (with their
// versions and aliases, one object graph).
//
//	import.logged_model      a logged model with tags, params and artifact records
//	import.registered_model  a registered model's missing versions (with their
//	                         numbers), tags and aliases, and the model itself
//	                         unless it is already here

// LoggedModelArtifactPrefix is the storage key prefix of a logged model's
// artifacts.
func LoggedModelArtifactPrefix(experimentID, modelID string) string {
	return experimentID + "/models/" + modelID + "/artifacts/"
}

// TargetLoggedModel rewrites a bundle's logged model for this workspace.
func TargetLoggedModel(rec bundle.LoggedModel, experimentID string) bundle.LoggedModel {
	rec.ExperimentID = experimentID
	rec.ArtifactURI = ArtifactRoot(experimentID) + "/models/" + rec.ModelID + "/artifacts"
	if rec.LifecycleStage == "" {
		rec.LifecycleStage = "active"
	}
	return rec
}

// TransferLoggedModelIDs lists the logged models of an experiment.
func TransferLoggedModelIDs(ctx context.Context, q Querier, experimentID string) ([]string, error) {
	return readStrings(ctx, q, `SELECT model_id FROM logged_models WHERE experiment_id = ? ORDER BY creation_time, model_id`, experimentID)
}

// TransferLoggedModel reads a whole logged model.
func TransferLoggedModel(ctx context.Context, q Querier, id string) (bundle.LoggedModel, bool, error) {
	var m bundle.LoggedModel
	err := q.QueryRowContext(ctx, `SELECT model_id, experiment_id, name, artifact_location, creation_time, last_updated_time, status, status_message, model_type, source_run_id, lifecycle_stage FROM logged_models WHERE model_id = ?`, id).
		Scan(&m.ModelID, &m.ExperimentID, &m.Name, &m.ArtifactURI, &m.CreationTimestampMs, &m.LastUpdatedTimestampMs, &m.Status, &m.StatusMessage, &m.ModelType, &m.SourceRunID, &m.LifecycleStage)
	if IsNoRows(err) {
		return m, false, nil
	} else if err != nil {
		return m, false, fmt.Errorf("read logged model %s: %w", id, err)
	}
	if m.Tags, err = readKV(ctx, q, `SELECT key, value FROM logged_model_tags WHERE model_id = ? ORDER BY key`, id); err != nil {
		return m, false, fmt.Errorf("read logged model %s tags: %w", id, err)
	}
	if m.Params, err = readKV(ctx, q, `SELECT key, value FROM logged_model_params WHERE model_id = ? ORDER BY key`, id); err != nil {
		return m, false, fmt.Errorf("read logged model %s params: %w", id, err)
	}
	if m.Metrics, err = transferLoggedModelMetrics(ctx, q, id); err != nil {
		return m, false, fmt.Errorf("read logged model %s metrics: %w", id, err)
	}
	if m.Artifacts, err = TransferArtifacts(ctx, q, LoggedModelArtifactPrefix(m.ExperimentID, m.ModelID)); err != nil {
		return m, false, fmt.Errorf("read logged model %s artifacts: %w", id, err)
	}
	return m, true, nil
}

func transferLoggedModelMetrics(ctx context.Context, q Querier, id string) ([]bundle.Metric, error) {
	rows, err := q.QueryContext(ctx, `SELECT key, value, is_nan, timestamp, step, run_id, dataset_name, dataset_digest
		FROM logged_model_metrics WHERE model_id = ? ORDER BY key, timestamp, step, run_id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []bundle.Metric
	for rows.Next() {
		m := bundle.Metric{ModelID: id}
		var v float64
		var nan int
		if err := rows.Scan(&m.Key, &v, &nan, &m.Timestamp, &m.Step, &m.RunID, &m.DatasetName, &m.DatasetDigest); err != nil {
			return nil, err
		}
		if nan == 1 {
			v = math.NaN()
		}
		m.Value = bundle.Float(v)
		out = append(out, m)
	}
	return out, rows.Err()
}

// DiffLoggedModel returns "" when two records describe the same logged
// model, or the first difference. Metrics are not compared: runs may log
// more of them with the model's id after a bundle was made.
func DiffLoggedModel(a, b bundle.LoggedModel) string {
	a.Metrics, b.Metrics = nil, nil
	if a.LifecycleStage == "" {
		a.LifecycleStage = "active"
	}
	if b.LifecycleStage == "" {
		b.LifecycleStage = "active"
	}
	a.Tags, b.Tags = sortKV(a.Tags), sortKV(b.Tags)
	a.Params, b.Params = sortKV(a.Params), sortKV(b.Params)
	sort.Slice(a.Artifacts, func(i, j int) bool { return a.Artifacts[i].Path < a.Artifacts[j].Path })
	sort.Slice(b.Artifacts, func(i, j int) bool { return b.Artifacts[i].Path < b.Artifacts[j].Path })
	if len(a.Artifacts) == 0 {
		a.Artifacts = nil
	}
	if len(b.Artifacts) == 0 {
		b.Artifacts = nil
	}
	switch {
	case a.ExperimentID != b.ExperimentID:
		return fmt.Sprintf("experiment %s here, %s in the bundle", a.ExperimentID, b.ExperimentID)
	case !sameJSON(a.Tags, b.Tags):
		return "tags differ"
	case !sameJSON(a.Params, b.Params):
		return "params differ"
	case !sameJSON(a.Artifacts, b.Artifacts):
		return "artifacts differ"
	case !sameJSON(a, b):
		return "name, status or times differ"
	}
	return ""
}

// ImportLoggedModel writes a logged model of a bundle, already rewritten by
// TargetLoggedModel, with its artifact records (bytes stored first by the
// caller at LoggedModelArtifactPrefix + path).
func (s *Store) ImportLoggedModel(ctx context.Context, rec bundle.LoggedModel) (ImportResult, error) {
	var res ImportResult
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		cur, ok, err := TransferLoggedModel(ctx, tx, rec.ModelID)
		if err != nil {
			return nil, err
		}
		if ok {
			if d := DiffLoggedModel(cur, rec); d != "" {
				res = ImportResult{Status: ImportConflict, Reason: fmt.Sprintf("logged model %s exists with different content: %s", rec.ModelID, d)}
			} else {
				res = ImportResult{Status: ImportPresent}
			}
			return nil, errImportNoop
		}
		res = ImportResult{Status: ImportNew}
		var blobs []tandem.BlobRef
		prefix := LoggedModelArtifactPrefix(rec.ExperimentID, rec.ModelID)
		for _, f := range rec.Artifacts {
			blobs = append(blobs, tandem.BlobRef{Path: prefix + f.Path, SHA256: f.SHA256, Size: f.Size})
		}
		return &Change{Op: "import.logged_model", Key: rec.ModelID, Payload: rec, Blobs: blobs}, nil
	})
	if err == errImportNoop {
		err = nil
	}
	return res, err
}

// PlanLoggedModel compares a logged model (rewritten by TargetLoggedModel)
// with this workspace.
func PlanLoggedModel(ctx context.Context, q Querier, rec bundle.LoggedModel) (ImportResult, error) {
	cur, ok, err := TransferLoggedModel(ctx, q, rec.ModelID)
	if err != nil || !ok {
		return ImportResult{Status: ImportNew}, err
	}
	if d := DiffLoggedModel(cur, rec); d != "" {
		return ImportResult{Status: ImportConflict, Reason: fmt.Sprintf("logged model %s exists with different content: %s", rec.ModelID, d)}, nil
	}
	return ImportResult{Status: ImportPresent}, nil
}

func applyImportLoggedModel(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var m bundle.LoggedModel
	if err := json.Unmarshal(e.Payload, &m); err != nil {
		return fmt.Errorf("import.logged_model payload: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_time,
		last_updated_time, status, status_message, model_type, source_run_id, lifecycle_stage) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ModelID, m.ExperimentID, m.Name, m.ArtifactURI, m.CreationTimestampMs, m.LastUpdatedTimestampMs, m.Status, m.StatusMessage,
		m.ModelType, m.SourceRunID, m.LifecycleStage); err != nil {
		return fmt.Errorf("import logged model: %w", err)
	}
	for _, t := range m.Tags {
		if _, err := tx.ExecContext(ctx, `INSERT INTO logged_model_tags (model_id, key, value) VALUES (?, ?, ?) ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value`, m.ModelID, t.Key, t.Value); err != nil {
			return fmt.Errorf("import logged model tag: %w", err)
		}
	}
	for _, t := range m.Params {
		if _, err := tx.ExecContext(ctx, `INSERT INTO logged_model_params (model_id, key, value) VALUES (?, ?, ?) ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value`, m.ModelID, t.Key, t.Value); err != nil {
			return fmt.Errorf("import logged model param: %w", err)
		}
	}
	for _, mt := range m.Metrics {
		v, nan := storedValue(float64(mt.Value))
		if math.IsInf(v, 0) { // as LogBatch stores them
			v = math.Copysign(math.MaxFloat64, v)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO logged_model_metrics (model_id, key, timestamp, step, run_id, value, is_nan, experiment_id, dataset_name, dataset_digest)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			m.ModelID, mt.Key, mt.Timestamp, mt.Step, mt.RunID, v, nan, m.ExperimentID, mt.DatasetName, mt.DatasetDigest); err != nil {
			return fmt.Errorf("import logged model metric: %w", err)
		}
	}
	prefix := LoggedModelArtifactPrefix(m.ExperimentID, m.ModelID)
	for _, f := range m.Artifacts {
		if err := importArtifactRow(ctx, tx, prefix+f.Path, f, e.Time.UnixMilli()); err != nil {
			return err
		}
	}
	return nil
}

// TransferRegisteredModelNames lists every registered model.
func TransferRegisteredModelNames(ctx context.Context, q Querier) ([]string, error) {
	return readStrings(ctx, q, `SELECT name FROM registered_models ORDER BY name`)
}

// TransferRegisteredModel reads a registered model with its tags and
// aliases, and all its versions (deleted ones included, as tombstones that
// keep their numbers), oldest first.
func TransferRegisteredModel(ctx context.Context, q Querier, name string) (bundle.RegisteredModel, []bundle.ModelVersion, bool, error) {
	var m bundle.RegisteredModel
	err := q.QueryRowContext(ctx, `SELECT name, creation_time, last_updated_time, description FROM registered_models WHERE name = ?`, name).
		Scan(&m.Name, &m.CreationTimestamp, &m.LastUpdatedTimestamp, &m.Description)
	if IsNoRows(err) {
		return m, nil, false, nil
	} else if err != nil {
		return m, nil, false, fmt.Errorf("read registered model %s: %w", name, err)
	}
	if m.Tags, err = readKV(ctx, q, `SELECT key, value FROM registered_model_tags WHERE name = ? ORDER BY key`, name); err != nil {
		return m, nil, false, fmt.Errorf("read registered model %s tags: %w", name, err)
	}
	rows, err := q.QueryContext(ctx, `SELECT alias, version FROM registered_model_aliases WHERE name = ? ORDER BY alias`, name)
	if err != nil {
		return m, nil, false, fmt.Errorf("read registered model %s aliases: %w", name, err)
	}
	for rows.Next() {
		var a bundle.Alias
		var v int64
		if err := rows.Scan(&a.Alias, &v); err != nil {
			rows.Close()
			return m, nil, false, err
		}
		a.Version = strconv.FormatInt(v, 10)
		m.Aliases = append(m.Aliases, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return m, nil, false, err
	}
	rows, err = q.QueryContext(ctx, `SELECT version, creation_time, last_updated_time, user_id, current_stage, description, source, storage_location, run_id, run_link, status, status_message, model_id FROM model_versions WHERE name = ? ORDER BY version`, name)
	if err != nil {
		return m, nil, false, fmt.Errorf("read model %s versions: %w", name, err)
	}
	var vs []bundle.ModelVersion
	for rows.Next() {
		v := bundle.ModelVersion{Name: name}
		var n int64
		if err := rows.Scan(&n, &v.CreationTimestamp, &v.LastUpdatedTimestamp, &v.UserID, &v.CurrentStage, &v.Description, &v.Source, &v.StorageLocation, &v.RunID, &v.RunLink, &v.Status, &v.StatusMessage, &v.ModelID); err != nil {
			rows.Close()
			return m, nil, false, err
		}
		v.Version = strconv.FormatInt(n, 10)
		vs = append(vs, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return m, nil, false, err
	}
	for i := range vs {
		if vs[i].Tags, err = readKV(ctx, q, `SELECT key, value FROM model_version_tags WHERE name = ? AND version = ? ORDER BY key`, name, versionNum(vs[i].Version)); err != nil {
			return m, nil, false, fmt.Errorf("read model %s version tags: %w", name, err)
		}
	}
	return m, vs, true, nil
}

func versionNum(v string) int64 {
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

type importRegisteredModelPayload struct {
	Model    bundle.RegisteredModel `json:"model"`
	Existing bool                   `json:"existing"` // the model row is already here
	Versions []bundle.ModelVersion  `json:"versions,omitempty"`
	Aliases  []bundle.Alias         `json:"aliases,omitempty"` // aliases to set
}

// normVersion fills what a stock MLflow server leaves out so that versions
// compare equal: the storage location defaults to the source.
func normVersion(v bundle.ModelVersion) bundle.ModelVersion {
	if v.StorageLocation == "" && v.CurrentStage != "Deleted_Internal" {
		v.StorageLocation = v.Source
	}
	if v.CurrentStage == "" {
		v.CurrentStage = "None"
	}
	if v.Status == "" {
		v.Status = "READY"
	}
	v.Tags = sortKV(v.Tags)
	return v
}

// planRegisteredModel decides what importing a model graph changes.
func planRegisteredModel(ctx context.Context, q Querier, rec bundle.RegisteredModel, versions []bundle.ModelVersion) (ImportResult, *importRegisteredModelPayload, error) {
	for _, v := range versions {
		if _, err := strconv.ParseInt(v.Version, 10, 64); err != nil || v.Name != rec.Name {
			return ImportResult{}, nil, tandem.Errorf(tandem.EINVALID, "model version %s/%s: bad name or version number", v.Name, v.Version)
		}
	}
	cur, curVersions, ok, err := TransferRegisteredModel(ctx, q, rec.Name)
	if err != nil {
		return ImportResult{}, nil, err
	}
	p := &importRegisteredModelPayload{Model: rec, Existing: ok}
	p.Model.Aliases = nil
	conflict := func(format string, args ...any) (ImportResult, *importRegisteredModelPayload, error) {
		return ImportResult{Status: ImportConflict, Reason: fmt.Sprintf("registered model %q exists with different content: ", rec.Name) + fmt.Sprintf(format, args...)}, nil, nil
	}
	if ok {
		switch {
		case cur.Description != rec.Description:
			return conflict("description differs")
		case cur.CreationTimestamp != rec.CreationTimestamp:
			return conflict("creation time %d here, %d in the bundle", cur.CreationTimestamp, rec.CreationTimestamp)
		case !sameJSON(sortKV(cur.Tags), sortKV(rec.Tags)):
			return conflict("tags differ")
		}
	}
	have := map[string]bundle.ModelVersion{}
	for _, v := range curVersions {
		have[v.Version] = v
	}
	for _, v := range versions {
		if h, ok := have[v.Version]; ok {
			if !sameJSON(normVersion(h), normVersion(v)) {
				return conflict("version %s differs", v.Version)
			}
			continue
		}
		p.Versions = append(p.Versions, normVersion(v))
		have[v.Version] = v
	}
	curAlias := map[string]string{}
	for _, a := range cur.Aliases {
		curAlias[a.Alias] = a.Version
	}
	for _, a := range rec.Aliases {
		if v, ok := curAlias[a.Alias]; ok {
			if v != a.Version {
				return conflict("alias %s points at version %s here, %s in the bundle", a.Alias, v, a.Version)
			}
			continue
		}
		if _, ok := have[a.Version]; !ok {
			return ImportResult{Status: ImportConflict, Reason: fmt.Sprintf("registered model %q: alias %s points at version %s, which is neither here nor in the bundle", rec.Name, a.Alias, a.Version)}, nil, nil
		}
		if _, err := strconv.ParseInt(a.Version, 10, 64); err != nil {
			return ImportResult{}, nil, tandem.Errorf(tandem.EINVALID, "alias %s: bad version %q", a.Alias, a.Version)
		}
		p.Aliases = append(p.Aliases, a)
	}
	if ok && len(p.Versions) == 0 && len(p.Aliases) == 0 {
		return ImportResult{Status: ImportPresent}, nil, nil
	}
	res := ImportResult{Status: ImportNew}
	if ok {
		res.Reason = fmt.Sprintf("added %d versions and %d aliases to the existing model", len(p.Versions), len(p.Aliases))
	}
	return res, p, nil
}

// PlanRegisteredModel says what importing a registered model graph would do.
func PlanRegisteredModel(ctx context.Context, q Querier, rec bundle.RegisteredModel, versions []bundle.ModelVersion) (ImportResult, error) {
	res, _, err := planRegisteredModel(ctx, q, rec, versions)
	return res, err
}

// ImportRegisteredModel writes a registered model with its versions (their
// numbers kept), tags and aliases in one transaction. A model already here
// gets only its missing versions and aliases; any difference in what is
// already here is a conflict and changes nothing.
func (s *Store) ImportRegisteredModel(ctx context.Context, rec bundle.RegisteredModel, versions []bundle.ModelVersion) (ImportResult, error) {
	var res ImportResult
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var p *importRegisteredModelPayload
		var err error
		if res, p, err = planRegisteredModel(ctx, tx, rec, versions); err != nil {
			return nil, err
		}
		if res.Status != ImportNew {
			return nil, errImportNoop
		}
		return &Change{Op: "import.registered_model", Key: rec.Name, Payload: p}, nil
	})
	if err == errImportNoop {
		err = nil
	}
	return res, err
}

func applyImportRegisteredModel(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p importRegisteredModelPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("import.registered_model payload: %w", err)
	}
	m := p.Model
	if !p.Existing {
		if _, err := tx.ExecContext(ctx, `INSERT INTO registered_models (name, creation_time, last_updated_time, description) VALUES (?, ?, ?, ?)`,
			m.Name, m.CreationTimestamp, m.LastUpdatedTimestamp, m.Description); err != nil {
			return fmt.Errorf("import registered model: %w", err)
		}
		for _, t := range m.Tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO registered_model_tags (name, key, value) VALUES (?, ?, ?) ON CONFLICT (name, key) DO UPDATE SET value = excluded.value`, m.Name, t.Key, t.Value); err != nil {
				return fmt.Errorf("import registered model tag: %w", err)
			}
		}
	}
	for _, v := range p.Versions {
		n := versionNum(v.Version)
		if _, err := tx.ExecContext(ctx, `INSERT INTO model_versions (name, version, creation_time, last_updated_time, user_id, current_stage,
			description, source, storage_location, run_id, run_link, status, status_message, model_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.Name, n, v.CreationTimestamp, v.LastUpdatedTimestamp, v.UserID, v.CurrentStage, v.Description, v.Source, v.StorageLocation,
			v.RunID, v.RunLink, v.Status, v.StatusMessage, v.ModelID); err != nil {
			return fmt.Errorf("import model version %s: %w", v.Version, err)
		}
		for _, t := range v.Tags {
			if _, err := tx.ExecContext(ctx, `INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?) ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value`, m.Name, n, t.Key, t.Value); err != nil {
				return fmt.Errorf("import model version tag: %w", err)
			}
		}
	}
	for _, a := range p.Aliases {
		if _, err := tx.ExecContext(ctx, `INSERT INTO registered_model_aliases (name, alias, version) VALUES (?, ?, ?) ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version`,
			m.Name, a.Alias, versionNum(a.Version)); err != nil {
			return fmt.Errorf("import alias %s: %w", a.Alias, err)
		}
	}
	return nil
}

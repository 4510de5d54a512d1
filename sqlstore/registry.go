package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// Journal ops of the model registry and logged models (kind "models").
// Payloads are the rp* structs below: every id, number and time is chosen
// in prepare, so the appliers are pure functions of (state, payload).
const (
	OpRegisteredModelCreate      = "registered_model.create"
	OpRegisteredModelRename      = "registered_model.rename"
	OpRegisteredModelUpdate      = "registered_model.update"
	OpRegisteredModelDelete      = "registered_model.delete"
	OpRegisteredModelSetTag      = "registered_model.set_tag"
	OpRegisteredModelDeleteTag   = "registered_model.delete_tag"
	OpRegisteredModelSetAlias    = "registered_model.set_alias"
	OpRegisteredModelDeleteAlias = "registered_model.delete_alias"
	OpModelVersionCreate         = "model_version.create"
	OpModelVersionUpdate         = "model_version.update"
	OpModelVersionTransition     = "model_version.transition_stage"
	OpModelVersionDelete         = "model_version.delete"
	OpModelVersionSetTag         = "model_version.set_tag"
	OpModelVersionDeleteTag      = "model_version.delete_tag"
	OpLoggedModelCreate          = "logged_model.create"
	OpLoggedModelFinalize        = "logged_model.finalize"
	OpLoggedModelDelete          = "logged_model.delete"
	OpLoggedModelSetTags         = "logged_model.set_tags"
	OpLoggedModelDeleteTag       = "logged_model.delete_tag"
	OpLoggedModelLogParams       = "logged_model.log_params"
)

func (s *Store) registerRegistry() {
	k := tandem.KindModels
	s.register(OpRegisteredModelCreate, k, applyRMCreate)
	s.register(OpRegisteredModelRename, k, applyRMRename)
	s.register(OpRegisteredModelUpdate, k, applyRMUpdate)
	s.register(OpRegisteredModelDelete, k, applyRMDelete)
	s.register(OpRegisteredModelSetTag, k, applyRMSetTag)
	s.register(OpRegisteredModelDeleteTag, k, applyRMDeleteTag)
	s.register(OpRegisteredModelSetAlias, k, applyRMSetAlias)
	s.register(OpRegisteredModelDeleteAlias, k, applyRMDeleteAlias)
	s.register(OpModelVersionCreate, k, applyMVCreate)
	s.register(OpModelVersionUpdate, k, applyMVUpdate)
	s.register(OpModelVersionTransition, k, applyMVTransition)
	s.register(OpModelVersionDelete, k, applyMVDelete)
	s.register(OpModelVersionSetTag, k, applyMVSetTag)
	s.register(OpModelVersionDeleteTag, k, applyMVDeleteTag)
	s.register(OpLoggedModelCreate, k, applyLMCreate)
	s.register(OpLoggedModelFinalize, k, applyLMFinalize)
	s.register(OpLoggedModelDelete, k, applyLMDelete)
	s.register(OpLoggedModelSetTags, k, applyLMSetTags)
	s.register(OpLoggedModelDeleteTag, k, applyLMDeleteTag)
	s.register(OpLoggedModelLogParams, k, applyLMLogParams)
}

// Payloads.

type rpRM struct {
	Name        string       `json:"name"`
	NewName     string       `json:"new_name,omitempty"`
	Time        int64        `json:"time,omitempty"`
	Description *string      `json:"description,omitempty"`
	Tags        []tandem.Tag `json:"tags,omitempty"`
	Key         string       `json:"key,omitempty"`
	Value       string       `json:"value,omitempty"`
	Alias       string       `json:"alias,omitempty"`
	Version     int64        `json:"version,omitempty"`
}

type rpMV struct {
	Name            string       `json:"name"`
	Version         int64        `json:"version"`
	Time            int64        `json:"time,omitempty"`
	UserID          string       `json:"user_id,omitempty"`
	Description     *string      `json:"description,omitempty"`
	Source          string       `json:"source,omitempty"`
	StorageLocation string       `json:"storage_location,omitempty"`
	RunID           string       `json:"run_id,omitempty"`
	RunLink         string       `json:"run_link,omitempty"`
	ModelID         string       `json:"model_id,omitempty"`
	Tags            []tandem.Tag `json:"tags,omitempty"`
	Stage           string       `json:"stage,omitempty"`
	ArchiveOthers   bool         `json:"archive_existing_versions,omitempty"`
	Key             string       `json:"key,omitempty"`
	Value           string       `json:"value,omitempty"`
	// LoggedModelTag is the new value of the logged model's
	// "mlflow.modelVersions" tag, which MLflow updates when a logged model
	// is registered; empty when the source is not a logged model.
	LoggedModelTag string `json:"logged_model_tag,omitempty"`
}

type rpLM struct {
	ModelID          string       `json:"model_id"`
	ExperimentID     string       `json:"experiment_id,omitempty"`
	Name             string       `json:"name,omitempty"`
	ArtifactLocation string       `json:"artifact_location,omitempty"`
	Time             int64        `json:"time,omitempty"`
	Status           string       `json:"status,omitempty"`
	ModelType        string       `json:"model_type,omitempty"`
	SourceRunID      string       `json:"source_run_id,omitempty"`
	Tags             []tandem.Tag `json:"tags,omitempty"`
	Params           []tandem.Tag `json:"params,omitempty"`
	Key              string       `json:"key,omitempty"`
}

func regDecode(e *tandem.Entry, v any) error {
	if err := json.Unmarshal(e.Payload, v); err != nil {
		return fmt.Errorf("%s payload: %w", e.Op, err)
	}
	return nil
}

func regNow() int64 { return time.Now().UnixMilli() }

func regExec(ctx context.Context, tx *Tx, q string, args ...any) error {
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

// Appliers.

func applyRMCreate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpRM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	desc := ""
	if p.Description != nil {
		desc = *p.Description
	}
	if err := regExec(ctx, tx, `INSERT INTO registered_models (name, creation_time, last_updated_time, description) VALUES (?, ?, ?, ?)`,
		p.Name, p.Time, p.Time, desc); err != nil {
		return fmt.Errorf("insert registered model: %w", err)
	}
	for _, t := range p.Tags {
		if err := upsertRMTag(ctx, tx, p.Name, t.Key, t.Value); err != nil {
			return err
		}
	}
	return nil
}

func upsertRMTag(ctx context.Context, tx *Tx, name, key, value string) error {
	return regExec(ctx, tx, `INSERT INTO registered_model_tags (name, key, value) VALUES (?, ?, ?)
		ON CONFLICT (name, key) DO UPDATE SET value = excluded.value`, name, key, value)
}

func applyRMRename(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpRM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	for _, q := range []string{
		`UPDATE registered_models SET name = ?, last_updated_time = ? WHERE name = ?`,
		`UPDATE registered_model_tags SET name = ? WHERE name = ?`,
		`UPDATE registered_model_aliases SET name = ? WHERE name = ?`,
		`UPDATE model_versions SET name = ? WHERE name = ?`,
		`UPDATE model_version_tags SET name = ? WHERE name = ?`,
	} {
		args := []any{p.NewName, p.Name}
		if strings.Contains(q, "last_updated_time") {
			args = []any{p.NewName, p.Time, p.Name}
		}
		if err := regExec(ctx, tx, q, args...); err != nil {
			return fmt.Errorf("rename registered model: %w", err)
		}
	}
	return nil
}

func applyRMUpdate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpRM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	if p.Description != nil {
		return regExec(ctx, tx, `UPDATE registered_models SET description = ?, last_updated_time = ? WHERE name = ?`, *p.Description, p.Time, p.Name)
	}
	return regExec(ctx, tx, `UPDATE registered_models SET last_updated_time = ? WHERE name = ?`, p.Time, p.Name)
}

func applyRMDelete(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpRM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	for _, t := range []string{"registered_models", "registered_model_tags", "registered_model_aliases", "model_versions", "model_version_tags"} {
		if err := regExec(ctx, tx, `DELETE FROM `+t+` WHERE name = ?`, p.Name); err != nil {
			return fmt.Errorf("delete registered model from %s: %w", t, err)
		}
	}
	return nil
}

func applyRMSetTag(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpRM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	return upsertRMTag(ctx, tx, p.Name, p.Key, p.Value)
}

func applyRMDeleteTag(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpRM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	return regExec(ctx, tx, `DELETE FROM registered_model_tags WHERE name = ? AND key = ?`, p.Name, p.Key)
}

func applyRMSetAlias(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpRM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	return regExec(ctx, tx, `INSERT INTO registered_model_aliases (name, alias, version) VALUES (?, ?, ?)
		ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version`, p.Name, p.Alias, p.Version)
}

func applyRMDeleteAlias(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpRM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	return regExec(ctx, tx, `DELETE FROM registered_model_aliases WHERE name = ? AND alias = ?`, p.Name, p.Alias)
}

func applyMVCreate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpMV
	if err := regDecode(e, &p); err != nil {
		return err
	}
	desc := ""
	if p.Description != nil {
		desc = *p.Description
	}
	if err := regExec(ctx, tx, `INSERT INTO model_versions (name, version, creation_time, last_updated_time, user_id, current_stage,
		description, source, storage_location, run_id, run_link, status, status_message, model_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.Name, p.Version, p.Time, p.Time, p.UserID, tandem.StageNone, desc, p.Source, p.StorageLocation,
		p.RunID, p.RunLink, "READY", "", p.ModelID); err != nil {
		return fmt.Errorf("insert model version: %w", err)
	}
	for _, t := range p.Tags {
		if err := upsertMVTag(ctx, tx, p.Name, p.Version, t.Key, t.Value); err != nil {
			return err
		}
	}
	if err := regExec(ctx, tx, `UPDATE registered_models SET last_updated_time = ? WHERE name = ?`, p.Time, p.Name); err != nil {
		return err
	}
	if p.ModelID != "" && p.LoggedModelTag != "" {
		if err := upsertLMTag(ctx, tx, p.ModelID, tagModelVersions, p.LoggedModelTag); err != nil {
			return err
		}
	}
	return nil
}

func upsertMVTag(ctx context.Context, tx *Tx, name string, version int64, key, value string) error {
	return regExec(ctx, tx, `INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?)
		ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value`, name, version, key, value)
}

func applyMVUpdate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpMV
	if err := regDecode(e, &p); err != nil {
		return err
	}
	if p.Description == nil {
		return regExec(ctx, tx, `UPDATE model_versions SET last_updated_time = ? WHERE name = ? AND version = ?`, p.Time, p.Name, p.Version)
	}
	return regExec(ctx, tx, `UPDATE model_versions SET description = ?, last_updated_time = ? WHERE name = ? AND version = ?`,
		*p.Description, p.Time, p.Name, p.Version)
}

func applyMVTransition(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpMV
	if err := regDecode(e, &p); err != nil {
		return err
	}
	if p.ArchiveOthers {
		if err := regExec(ctx, tx, `UPDATE model_versions SET current_stage = ?, last_updated_time = ?
			WHERE name = ? AND version <> ? AND current_stage = ?`,
			tandem.StageArchived, p.Time, p.Name, p.Version, p.Stage); err != nil {
			return err
		}
	}
	if err := regExec(ctx, tx, `UPDATE model_versions SET current_stage = ?, last_updated_time = ? WHERE name = ? AND version = ?`,
		p.Stage, p.Time, p.Name, p.Version); err != nil {
		return err
	}
	return regExec(ctx, tx, `UPDATE registered_models SET last_updated_time = ? WHERE name = ?`, p.Time, p.Name)
}

// applyMVDelete keeps the row (so the number is never reused) but clears
// what it said and drops its tags and aliases, as MLflow does.
func applyMVDelete(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpMV
	if err := regDecode(e, &p); err != nil {
		return err
	}
	if err := regExec(ctx, tx, `UPDATE model_versions SET current_stage = ?, last_updated_time = ?, description = '', user_id = '',
		source = 'REDACTED-SOURCE-PATH', storage_location = '', run_id = '', run_link = '', status_message = '', model_id = ''
		WHERE name = ? AND version = ?`, tandem.StageDeletedInternal, p.Time, p.Name, p.Version); err != nil {
		return err
	}
	if err := regExec(ctx, tx, `DELETE FROM model_version_tags WHERE name = ? AND version = ?`, p.Name, p.Version); err != nil {
		return err
	}
	if err := regExec(ctx, tx, `DELETE FROM registered_model_aliases WHERE name = ? AND version = ?`, p.Name, p.Version); err != nil {
		return err
	}
	return regExec(ctx, tx, `UPDATE registered_models SET last_updated_time = ? WHERE name = ?`, p.Time, p.Name)
}

func applyMVSetTag(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpMV
	if err := regDecode(e, &p); err != nil {
		return err
	}
	return upsertMVTag(ctx, tx, p.Name, p.Version, p.Key, p.Value)
}

func applyMVDeleteTag(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpMV
	if err := regDecode(e, &p); err != nil {
		return err
	}
	return regExec(ctx, tx, `DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?`, p.Name, p.Version, p.Key)
}

func applyLMCreate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpLM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	if err := regExec(ctx, tx, `INSERT INTO logged_models (model_id, experiment_id, name, artifact_location, creation_time,
		last_updated_time, status, status_message, model_type, source_run_id, lifecycle_stage)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ModelID, p.ExperimentID, p.Name, p.ArtifactLocation, p.Time, p.Time, tandem.LoggedModelPending, "",
		p.ModelType, p.SourceRunID, tandem.LoggedModelActive); err != nil {
		return fmt.Errorf("insert logged model: %w", err)
	}
	for _, t := range p.Tags {
		if err := upsertLMTag(ctx, tx, p.ModelID, t.Key, t.Value); err != nil {
			return err
		}
	}
	return upsertLMParams(ctx, tx, p.ModelID, p.Params)
}

func upsertLMTag(ctx context.Context, tx *Tx, id, key, value string) error {
	return regExec(ctx, tx, `INSERT INTO logged_model_tags (model_id, key, value) VALUES (?, ?, ?)
		ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value`, id, key, value)
}

func upsertLMParams(ctx context.Context, tx *Tx, id string, params []tandem.Tag) error {
	for _, t := range params {
		if err := regExec(ctx, tx, `INSERT INTO logged_model_params (model_id, key, value) VALUES (?, ?, ?)
			ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value`, id, t.Key, t.Value); err != nil {
			return fmt.Errorf("logged model param: %w", err)
		}
	}
	return nil
}

func applyLMFinalize(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpLM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	return regExec(ctx, tx, `UPDATE logged_models SET status = ?, last_updated_time = ? WHERE model_id = ?`, p.Status, p.Time, p.ModelID)
}

func applyLMDelete(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpLM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	return regExec(ctx, tx, `UPDATE logged_models SET lifecycle_stage = ?, last_updated_time = ? WHERE model_id = ?`,
		tandem.LoggedModelDeleted, p.Time, p.ModelID)
}

func applyLMSetTags(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpLM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	for _, t := range p.Tags {
		if err := upsertLMTag(ctx, tx, p.ModelID, t.Key, t.Value); err != nil {
			return err
		}
	}
	return nil
}

func applyLMDeleteTag(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpLM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	return regExec(ctx, tx, `DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?`, p.ModelID, p.Key)
}

func applyLMLogParams(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p rpLM
	if err := regDecode(e, &p); err != nil {
		return err
	}
	return upsertLMParams(ctx, tx, p.ModelID, p.Params)
}

// tagModelVersions is the logged model tag MLflow keeps up to date with the
// registered versions made from the model: a JSON list of {name, version}.
const tagModelVersions = "mlflow.modelVersions"

// Errors the registry reports, worded as MLflow words them.

func errRMNotFound(name string) error {
	return tandem.Errorf(tandem.ENOTFOUND, "Registered Model with name=%s not found", name)
}

func errMVNotFound(name string, version int64) error {
	return tandem.Errorf(tandem.ENOTFOUND, "Model Version (name=%s, version=%d) not found", name, version)
}

func errLMNotFound(id string) error {
	return tandem.Errorf(tandem.ENOTFOUND, "Logged model with ID '%s' not found.", id)
}

// Checks run inside prepare.

func rmExists(ctx context.Context, q Querier, name string) error {
	var n string
	err := q.QueryRowContext(ctx, `SELECT name FROM registered_models WHERE name = ?`, name).Scan(&n)
	if IsNoRows(err) {
		return errRMNotFound(name)
	}
	if err != nil {
		return fmt.Errorf("read registered model: %w", err)
	}
	return nil
}

func mvExists(ctx context.Context, q Querier, name string, version int64) error {
	if err := rmExists(ctx, q, name); err != nil {
		return err
	}
	var stage string
	err := q.QueryRowContext(ctx, `SELECT current_stage FROM model_versions WHERE name = ? AND version = ?`, name, version).Scan(&stage)
	if IsNoRows(err) || stage == tandem.StageDeletedInternal {
		return errMVNotFound(name, version)
	}
	if err != nil {
		return fmt.Errorf("read model version: %w", err)
	}
	return nil
}

// lmActive reads the experiment and run of an active logged model.
func lmActive(ctx context.Context, q Querier, id string) (expID, runID, location string, err error) {
	var stage string
	err = q.QueryRowContext(ctx, `SELECT experiment_id, source_run_id, artifact_location, lifecycle_stage FROM logged_models WHERE model_id = ?`, id).
		Scan(&expID, &runID, &location, &stage)
	if IsNoRows(err) || stage == tandem.LoggedModelDeleted {
		return "", "", "", errLMNotFound(id)
	}
	if err != nil {
		return "", "", "", fmt.Errorf("read logged model: %w", err)
	}
	return expID, runID, location, nil
}

func validateTags(tags []tandem.Tag) error {
	for _, t := range tags {
		if err := tandem.ValidateRegistryTag(t.Key, t.Value); err != nil {
			return err
		}
	}
	return nil
}

// regDedupTags keeps the last value of each key (a later tag in a request
// wins), in first-seen order.
func regDedupTags(tags []tandem.Tag) []tandem.Tag {
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

func validateDescription(d string) error {
	if len(d) > tandem.MaxDescription {
		return tandem.Errorf(tandem.EINVALID, "Description had length %d, which exceeded length limit of %d", len(d), tandem.MaxDescription)
	}
	return nil
}

// Registered models.

// CreateRegisteredModel creates a registered model. EINVALID for a bad name,
// tag or description; EEXISTS when the name is taken.
func (s *Store) CreateRegisteredModel(ctx context.Context, name, description string, tags []tandem.Tag) (tandem.RegisteredModel, error) {
	if err := tandem.ValidateModelName(name); err != nil {
		return tandem.RegisteredModel{}, err
	}
	if err := validateTags(tags); err != nil {
		return tandem.RegisteredModel{}, err
	}
	if err := validateDescription(description); err != nil {
		return tandem.RegisteredModel{}, err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		err := rmExists(ctx, tx, name)
		if err == nil {
			return nil, tandem.Errorf(tandem.EEXISTS, "Registered Model (name=%s) already exists.", name)
		} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
			return nil, err
		}
		return &Change{Op: OpRegisteredModelCreate, Key: name,
			Payload: rpRM{Name: name, Time: regNow(), Description: &description, Tags: regDedupTags(tags)}}, nil
	})
	if err != nil {
		return tandem.RegisteredModel{}, err
	}
	return s.GetRegisteredModel(ctx, name)
}

// RenameRegisteredModel renames a model and moves its versions, tags and
// aliases with it. ENOTFOUND, EEXISTS (new name taken), EINVALID.
func (s *Store) RenameRegisteredModel(ctx context.Context, name, newName string) (tandem.RegisteredModel, error) {
	if err := tandem.ValidateModelName(name); err != nil {
		return tandem.RegisteredModel{}, err
	}
	if newName == "" {
		return tandem.RegisteredModel{}, tandem.MissingParam("new_name")
	}
	if err := tandem.ValidateModelName(newName); err != nil {
		return tandem.RegisteredModel{}, err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := rmExists(ctx, tx, name); err != nil {
			return nil, err
		}
		if newName != name {
			if err := rmExists(ctx, tx, newName); err == nil {
				return nil, tandem.Errorf(tandem.EEXISTS, "Registered Model (name=%s) already exists.", newName)
			} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
				return nil, err
			}
		}
		return &Change{Op: OpRegisteredModelRename, Key: name, Payload: rpRM{Name: name, NewName: newName, Time: regNow()}}, nil
	})
	if err != nil {
		return tandem.RegisteredModel{}, err
	}
	return s.GetRegisteredModel(ctx, newName)
}

// UpdateRegisteredModel sets a model's description (nil leaves it).
// ENOTFOUND, EINVALID.
func (s *Store) UpdateRegisteredModel(ctx context.Context, name string, description *string) (tandem.RegisteredModel, error) {
	if err := tandem.ValidateModelName(name); err != nil {
		return tandem.RegisteredModel{}, err
	}
	if description != nil {
		if err := validateDescription(*description); err != nil {
			return tandem.RegisteredModel{}, err
		}
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := rmExists(ctx, tx, name); err != nil {
			return nil, err
		}
		return &Change{Op: OpRegisteredModelUpdate, Key: name, Payload: rpRM{Name: name, Description: description, Time: regNow()}}, nil
	})
	if err != nil {
		return tandem.RegisteredModel{}, err
	}
	return s.GetRegisteredModel(ctx, name)
}

// DeleteRegisteredModel deletes a model with its versions, tags and
// aliases. ENOTFOUND, EINVALID.
func (s *Store) DeleteRegisteredModel(ctx context.Context, name string) error {
	if err := tandem.ValidateModelName(name); err != nil {
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := rmExists(ctx, tx, name); err != nil {
			return nil, err
		}
		return &Change{Op: OpRegisteredModelDelete, Key: name, Payload: rpRM{Name: name}}, nil
	})
	return err
}

// SetRegisteredModelTag sets (or replaces) a tag. ENOTFOUND, EINVALID.
func (s *Store) SetRegisteredModelTag(ctx context.Context, name, key, value string) error {
	if err := tandem.ValidateModelName(name); err != nil {
		return err
	}
	if err := tandem.ValidateRegistryTag(key, value); err != nil {
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := rmExists(ctx, tx, name); err != nil {
			return nil, err
		}
		return &Change{Op: OpRegisteredModelSetTag, Key: name, Payload: rpRM{Name: name, Key: key, Value: value}}, nil
	})
	return err
}

// DeleteRegisteredModelTag removes a tag; a missing tag is not an error (as
// in MLflow). ENOTFOUND for a missing model, EINVALID.
func (s *Store) DeleteRegisteredModelTag(ctx context.Context, name, key string) error {
	if err := tandem.ValidateModelName(name); err != nil {
		return err
	}
	if err := tandem.ValidateRegistryTag(key, ""); err != nil {
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := rmExists(ctx, tx, name); err != nil {
			return nil, err
		}
		return &Change{Op: OpRegisteredModelDeleteTag, Key: name, Payload: rpRM{Name: name, Key: key}}, nil
	})
	return err
}

// SetRegisteredModelAlias points alias at a version (moving it if it
// pointed elsewhere). ENOTFOUND for a missing model or version, EINVALID
// for a reserved or malformed alias.
func (s *Store) SetRegisteredModelAlias(ctx context.Context, name, alias string, version int64) error {
	if err := tandem.ValidateModelName(name); err != nil {
		return err
	}
	if err := tandem.ValidateAlias(alias); err != nil {
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := mvExists(ctx, tx, name, version); err != nil {
			return nil, err
		}
		return &Change{Op: OpRegisteredModelSetAlias, Key: name, Payload: rpRM{Name: name, Alias: alias, Version: version}}, nil
	})
	return err
}

// DeleteRegisteredModelAlias removes an alias; a missing alias is not an
// error (as in MLflow). ENOTFOUND for a missing model.
func (s *Store) DeleteRegisteredModelAlias(ctx context.Context, name, alias string) error {
	if err := tandem.ValidateModelName(name); err != nil {
		return err
	}
	if alias == "" {
		return tandem.MissingParam("alias")
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := rmExists(ctx, tx, name); err != nil {
			return nil, err
		}
		return &Change{Op: OpRegisteredModelDeleteAlias, Key: name, Payload: rpRM{Name: name, Alias: alias}}, nil
	})
	return err
}

// Model versions.

// CreateModelVersion adds the next version of a registered model. The
// version number is max(existing, including deleted) + 1, chosen inside the
// write transaction, so concurrent creates never share a number. A source
// "models:/<model_id>" resolves to the logged model's artifact location and
// run, and records the version on the logged model's mlflow.modelVersions
// tag (one journal entry for both). As MLflow's server does, it checks that
// the source lies inside the logged model (model_id given) or the run
// (runs:/ and mlflow-artifacts: sources), but not that a run_id given with
// another source exists (it may live on another tracking server).
// ENOTFOUND (model, version, logged model), EINVALID (bad source or input).
func (s *Store) CreateModelVersion(ctx context.Context, in tandem.NewModelVersion) (tandem.ModelVersion, error) {
	if err := tandem.ValidateModelName(in.Name); err != nil {
		return tandem.ModelVersion{}, err
	}
	if in.Source == "" {
		return tandem.ModelVersion{}, tandem.MissingParam("source")
	}
	if err := validateTags(in.Tags); err != nil {
		return tandem.ModelVersion{}, err
	}
	if err := validateDescription(in.Description); err != nil {
		return tandem.ModelVersion{}, err
	}
	var src modelSource // a prompt's source is a placeholder (prompts.go)
	var err error
	if isPromptVersion(in.Tags) {
		err = validatePromptSource(in.Source)
	} else {
		src, err = classifySource(in.Source, in.ModelID != "")
	}
	if err != nil {
		return tandem.ModelVersion{}, err
	}
	var version int64
	_, err = s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := rmExists(ctx, tx, in.Name); err != nil {
			return nil, err
		}
		p := rpMV{Name: in.Name, Time: regNow(), UserID: in.UserID, Description: &in.Description, Source: in.Source,
			StorageLocation: in.Source, RunID: in.RunID, RunLink: in.RunLink, ModelID: in.ModelID, Tags: regDedupTags(in.Tags)}
		if src.regName != "" {
			// models:/<name>/<version> registers a copy of another version.
			var loc, runID, modelID string
			err := tx.QueryRowContext(ctx, `SELECT storage_location, run_id, model_id FROM model_versions
				WHERE name = ? AND version = ? AND current_stage <> ?`, src.regName, src.regVersion, tandem.StageDeletedInternal).Scan(&loc, &runID, &modelID)
			if IsNoRows(err) {
				return nil, errMVNotFound(src.regName, src.regVersion)
			} else if err != nil {
				return nil, err
			}
			p.Source = fmt.Sprintf("models:/%s/%d", src.regName, src.regVersion)
			p.StorageLocation = loc
			if p.RunID == "" {
				p.RunID = runID
			}
			if p.ModelID == "" {
				p.ModelID = modelID
			}
		}
		// Which resource must contain the source, as MLflow's server checks:
		// the logged model when model_id is given, else the run.
		badSource := func(field string) error {
			return tandem.Errorf(tandem.EINVALID, "Invalid model version source: '%s'. The %s request parameter must identify the resource that contains the source.", in.Source, field)
		}
		if p.ModelID != "" {
			_, runID, loc, err := lmActive(ctx, tx, p.ModelID)
			if err != nil {
				return nil, err
			}
			switch {
			case src.modelID != "" && src.modelID != p.ModelID, src.runID != "":
				return nil, badSource("model_id")
			case src.mlflowArtifacts && !uriWithin(in.Source, loc):
				return nil, badSource("model_id")
			}
			if src.modelID != "" {
				p.StorageLocation = loc
			}
			if p.RunID == "" {
				p.RunID = runID
			}
		} else {
			switch {
			case src.modelID != "":
				return nil, badSource("model_id")
			case src.runID != "" && src.runID != p.RunID:
				return nil, badSource("run_id")
			case src.mlflowArtifacts:
				var root string
				err := tx.QueryRowContext(ctx, `SELECT artifact_uri FROM runs WHERE run_id = ?`, p.RunID).Scan(&root)
				if IsNoRows(err) || p.RunID == "" || (err == nil && !uriWithin(in.Source, root)) {
					return nil, badSource("run_id")
				} else if err != nil {
					return nil, fmt.Errorf("read run: %w", err)
				}
			}
		}
		var max int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM model_versions WHERE name = ?`, in.Name).Scan(&max); err != nil {
			return nil, fmt.Errorf("next model version: %w", err)
		}
		p.Version = max + 1
		version = p.Version
		if p.ModelID != "" {
			var cur string
			err := tx.QueryRowContext(ctx, `SELECT value FROM logged_model_tags WHERE model_id = ? AND key = ?`, p.ModelID, tagModelVersions).Scan(&cur)
			if err != nil && !IsNoRows(err) {
				return nil, err
			}
			p.LoggedModelTag = appendModelVersionsTag(cur, in.Name, p.Version)
		}
		return &Change{Op: OpModelVersionCreate, Key: in.Name + "/" + strconv.FormatInt(p.Version, 10), Payload: p}, nil
	})
	if err != nil {
		return tandem.ModelVersion{}, err
	}
	return s.GetModelVersion(ctx, in.Name, version)
}

// appendModelVersionsTag adds {"name": name, "version": version} to the
// JSON list in cur (formatted as MLflow's Python client formats it), unless
// it is there already. An unreadable cur is replaced.
func appendModelVersionsTag(cur, name string, version int64) string {
	nb, _ := json.Marshal(name)
	item := fmt.Sprintf(`{"name": %s, "version": %d}`, nb, version)
	var list []struct {
		Name    string          `json:"name"`
		Version json.RawMessage `json:"version"`
	}
	if cur == "" || json.Unmarshal([]byte(cur), &list) != nil {
		return "[" + item + "]"
	}
	for _, e := range list {
		if e.Name == name && string(e.Version) == strconv.FormatInt(version, 10) {
			return cur
		}
	}
	if len(list) == 0 {
		return "[" + item + "]"
	}
	trimmed := strings.TrimRight(strings.TrimSpace(cur), "]")
	return trimmed + ", " + item + "]"
}

// modelSource is what a model version source refers to.
type modelSource struct {
	modelID    string // models:/m-...
	regName    string // models:/<name>/<version>
	regVersion int64
	runID      string // runs:/<run_id>/...
	// mlflowArtifacts: an mlflow-artifacts: URI (or an http(s) URL of the
	// artifact proxy), which must lie inside the run's or model's artifacts.
	mlflowArtifacts bool
}

// classifySource checks a model version source the way MLflow's server
// does: no local paths (named after model_id when the request gives one,
// else run_id), no ".." or "." segments even percent-encoded, and models:/
// URIs naming a logged model or a registered version. tandem refuses a
// local path even inside a run's local artifact folder: the server never
// reads its own files for a model version.
func classifySource(source string, withModelID bool) (modelSource, error) {
	bad := func(why string) error {
		return tandem.Errorf(tandem.EINVALID, "Invalid model version source: '%s'. %s", source, why)
	}
	scheme := ""
	if i := strings.Index(source, ":"); i > 0 && !strings.ContainsAny(source[:i], "/\\") {
		scheme = strings.ToLower(source[:i])
	}
	if scheme == "" || scheme == "file" || len(scheme) == 1 { // len 1: a Windows drive letter
		id := "run_id"
		if withModelID {
			id = "model_id"
		}
		return modelSource{}, bad(fmt.Sprintf("To use a local path as a model version source, the %[1]s request parameter has to be specified and the local path has to be contained within the artifact directory of the run specified by the %[1]s.", id))
	}
	if relativeSource(source) {
		return modelSource{}, bad("If supplying a source as an http, https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path references present. Please provide an absolute path.")
	}
	rest := source[len(scheme)+1:]
	switch scheme {
	case "models":
		if strings.HasPrefix(rest, "//") {
			return modelSource{}, bad("Registered model sources must use the active model registry.")
		}
		path := strings.TrimPrefix(rest, "/")
		parts := strings.Split(path, "/")
		if len(parts) == 1 && tandem.ValidModelID(parts[0]) {
			return modelSource{modelID: parts[0]}, nil
		}
		if len(parts) == 2 {
			if v, err := strconv.ParseInt(parts[1], 10, 64); err == nil && v > 0 {
				return modelSource{regName: parts[0], regVersion: v}, nil
			}
		}
		return modelSource{}, bad("The model_id request parameter must identify the resource that contains the source.")
	case "runs":
		path := strings.TrimPrefix(rest, "/")
		runID, _, _ := strings.Cut(path, "/")
		if runID == "" {
			return modelSource{}, bad("The run_id request parameter must identify the resource that contains the source.")
		}
		return modelSource{runID: runID}, nil
	case "mlflow-artifacts":
		return modelSource{mlflowArtifacts: true}, nil
	case "http", "https":
		if strings.Contains(rest, "/api/2.0/mlflow-artifacts/artifacts") {
			return modelSource{mlflowArtifacts: true}, nil
		}
	}
	return modelSource{}, nil
}

// relativeSource reports whether a source, percent-decoded until it no
// longer changes, has a NUL, a ".." segment, or a path that "." segments
// change.
func relativeSource(source string) bool {
	for range 10 {
		u, err := url.QueryUnescape(source)
		if err != nil || u == source {
			break
		}
		source = u
	}
	if strings.ContainsRune(source, 0) {
		return true
	}
	for _, seg := range strings.Split(source, "/") {
		if seg == ".." {
			return true
		}
	}
	p := source
	if u, err := url.Parse(source); err == nil {
		// An empty or relative path does not name itself when resolved as
		// MLflow resolves it (against the server's directory): s3://bucket
		// alone is refused, s3://bucket/x is not. (A source Go cannot
		// parse, such as one with a stray '%', keeps its whole text: MLflow
		// accepts those.)
		if u.Opaque != "" || strings.TrimRight(u.Path, "/") == "" || !strings.HasPrefix(u.Path, "/") {
			return true
		}
		p = u.Path
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." {
			return true
		}
	}
	return false
}

// uriWithin reports whether source lies inside root: same scheme and host,
// and root's path segments a prefix of source's.
func uriWithin(source, root string) bool {
	su, err1 := url.Parse(source)
	ru, err2 := url.Parse(root)
	if err1 != nil || err2 != nil || !strings.EqualFold(su.Scheme, ru.Scheme) || su.Host != ru.Host {
		return false
	}
	seg := func(p string) []string {
		return strings.FieldsFunc(path.Clean("/"+p), func(r rune) bool { return r == '/' })
	}
	sp, rp := seg(su.Path), seg(ru.Path)
	if len(rp) == 0 || len(sp) < len(rp) {
		return false
	}
	for i := range rp {
		if sp[i] != rp[i] {
			return false
		}
	}
	return true
}

// UpdateModelVersion sets a version's description (nil leaves it).
// ENOTFOUND, EINVALID.
func (s *Store) UpdateModelVersion(ctx context.Context, name string, version int64, description *string) (tandem.ModelVersion, error) {
	if err := tandem.ValidateModelName(name); err != nil {
		return tandem.ModelVersion{}, err
	}
	if description != nil {
		if err := validateDescription(*description); err != nil {
			return tandem.ModelVersion{}, err
		}
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := mvExists(ctx, tx, name, version); err != nil {
			return nil, err
		}
		return &Change{Op: OpModelVersionUpdate, Key: mvKey(name, version),
			Payload: rpMV{Name: name, Version: version, Description: description, Time: regNow()}}, nil
	})
	if err != nil {
		return tandem.ModelVersion{}, err
	}
	return s.GetModelVersion(ctx, name, version)
}

func mvKey(name string, version int64) string { return name + "/" + strconv.FormatInt(version, 10) }

// TransitionModelVersionStage moves a version to a stage; with archive,
// the other versions in that (Staging or Production) stage move to
// Archived. ENOTFOUND, EINVALID (unknown stage, archive into an inactive
// stage).
func (s *Store) TransitionModelVersionStage(ctx context.Context, name string, version int64, stage string, archive bool) (tandem.ModelVersion, error) {
	if err := tandem.ValidateModelName(name); err != nil {
		return tandem.ModelVersion{}, err
	}
	st, err := tandem.CanonicalStage(stage)
	if err != nil {
		return tandem.ModelVersion{}, err
	}
	if archive && st != tandem.StageStaging && st != tandem.StageProduction {
		return tandem.ModelVersion{}, tandem.Errorf(tandem.EINVALID,
			"Model version transition cannot archive existing model versions because '%s' is not an Active stage. Valid stages are Staging, Production", st)
	}
	_, err = s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := mvExists(ctx, tx, name, version); err != nil {
			return nil, err
		}
		return &Change{Op: OpModelVersionTransition, Key: mvKey(name, version),
			Payload: rpMV{Name: name, Version: version, Stage: st, ArchiveOthers: archive, Time: regNow()}}, nil
	})
	if err != nil {
		return tandem.ModelVersion{}, err
	}
	return s.GetModelVersion(ctx, name, version)
}

// DeleteModelVersion deletes a version (its number is never reused) and
// the aliases pointing at it. ENOTFOUND.
func (s *Store) DeleteModelVersion(ctx context.Context, name string, version int64) error {
	if err := tandem.ValidateModelName(name); err != nil {
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := mvExists(ctx, tx, name, version); err != nil {
			return nil, err
		}
		return &Change{Op: OpModelVersionDelete, Key: mvKey(name, version), Payload: rpMV{Name: name, Version: version, Time: regNow()}}, nil
	})
	return err
}

// SetModelVersionTag sets (or replaces) a version tag. ENOTFOUND, EINVALID.
func (s *Store) SetModelVersionTag(ctx context.Context, name string, version int64, key, value string) error {
	if err := tandem.ValidateModelName(name); err != nil {
		return err
	}
	if err := tandem.ValidateRegistryTag(key, value); err != nil {
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := mvExists(ctx, tx, name, version); err != nil {
			return nil, err
		}
		return &Change{Op: OpModelVersionSetTag, Key: mvKey(name, version), Payload: rpMV{Name: name, Version: version, Key: key, Value: value}}, nil
	})
	return err
}

// DeleteModelVersionTag removes a version tag; a missing tag is not an
// error. ENOTFOUND, EINVALID.
func (s *Store) DeleteModelVersionTag(ctx context.Context, name string, version int64, key string) error {
	if err := tandem.ValidateModelName(name); err != nil {
		return err
	}
	if err := tandem.ValidateRegistryTag(key, ""); err != nil {
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := mvExists(ctx, tx, name, version); err != nil {
			return nil, err
		}
		return &Change{Op: OpModelVersionDeleteTag, Key: mvKey(name, version), Payload: rpMV{Name: name, Version: version, Key: key}}, nil
	})
	return err
}

// Logged models.

// NewModelID returns a fresh logged model id: "m-" and 32 hex digits.
func NewModelID() string {
	var b [16]byte
	rand.Read(b[:])
	return "m-" + hex.EncodeToString(b[:])
}

// CreateLoggedModel creates a PENDING logged model in an active
// experiment, with its artifact location under the artifact proxy. Like
// MLflow it does not check that source_run_id exists. ENOTFOUND
// (experiment), EINVALIDSTATE (deleted experiment), EINVALID.
func (s *Store) CreateLoggedModel(ctx context.Context, in tandem.NewLoggedModel) (tandem.LoggedModel, error) {
	if in.ExperimentID == "" {
		return tandem.LoggedModel{}, tandem.MissingParam("experiment_id")
	}
	for _, p := range append(append([]tandem.Tag{}, in.Tags...), in.Params...) {
		if err := validateLMParam(p); err != nil {
			return tandem.LoggedModel{}, err
		}
	}
	if strings.ContainsAny(in.Name, "\x00/:") {
		return tandem.LoggedModel{}, tandem.Errorf(tandem.EINVALID, "Invalid logged model name '%s'.", in.Name)
	}
	id := NewModelID()
	name := in.Name
	if name == "" {
		name = randomModelName()
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var stage string
		err := tx.QueryRowContext(ctx, `SELECT lifecycle_stage FROM experiments WHERE experiment_id = ?`, in.ExperimentID).Scan(&stage)
		if IsNoRows(err) {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "No Experiment with id=%s exists", in.ExperimentID)
		} else if err != nil {
			return nil, fmt.Errorf("read experiment: %w", err)
		}
		if stage != tandem.LoggedModelActive {
			return nil, tandem.Errorf(tandem.EINVALIDSTATE, "The experiment %s must be in the 'active' state. Current state: %s.", in.ExperimentID, stage)
		}
		return &Change{Op: OpLoggedModelCreate, Key: id, Payload: rpLM{ModelID: id, ExperimentID: in.ExperimentID, Name: name,
			ArtifactLocation: tandem.LoggedModelArtifactLocation(in.ExperimentID, id), Time: regNow(),
			ModelType: in.ModelType, SourceRunID: in.SourceRunID, Tags: regDedupTags(in.Tags), Params: regDedupTags(in.Params)}}, nil
	})
	if err != nil {
		return tandem.LoggedModel{}, err
	}
	return s.GetLoggedModel(ctx, id, false)
}

// validateLMParam checks a logged model param or tag. MLflow's server
// accepts any key and value here; tandem only refuses NUL bytes, which
// PostgreSQL cannot store.
func validateLMParam(p tandem.Tag) error {
	if strings.ContainsRune(p.Key, 0) || strings.ContainsRune(p.Value, 0) {
		return tandem.Errorf(tandem.EINVALID, "Invalid key or value %q: NUL characters are not allowed.", p.Key)
	}
	return nil
}

var (
	lmAdjectives = []string{"amber", "bold", "brisk", "calm", "clever", "crisp", "eager", "gentle", "quiet", "rapid", "steady", "sunny", "tidy", "vivid", "witty", "zesty"}
	lmNouns      = []string{"badger", "crane", "dolphin", "falcon", "gecko", "heron", "ibis", "jaguar", "koala", "lynx", "marten", "otter", "panda", "quail", "raven", "stoat"}
)

// randomModelName returns a readable name like "steady-otter-417" for a
// logged model created without one, as MLflow does.
func randomModelName() string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%d", lmAdjectives[int(b[0])%len(lmAdjectives)], lmNouns[int(b[1])%len(lmNouns)], (int(b[2])<<8|int(b[3]))%1000)
}

// FinalizeLoggedModel sets a logged model's final status (READY or
// UPLOAD_FAILED). ENOTFOUND, EINVALID.
func (s *Store) FinalizeLoggedModel(ctx context.Context, id, status string) (tandem.LoggedModel, error) {
	st, err := tandem.ParseLoggedModelStatus(status)
	if err != nil {
		return tandem.LoggedModel{}, err
	}
	_, err = s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, _, _, err := lmActive(ctx, tx, id); err != nil {
			return nil, err
		}
		return &Change{Op: OpLoggedModelFinalize, Key: id, Payload: rpLM{ModelID: id, Status: st, Time: regNow()}}, nil
	})
	if err != nil {
		return tandem.LoggedModel{}, err
	}
	return s.GetLoggedModel(ctx, id, false)
}

// DeleteLoggedModel marks a logged model deleted (its files stay, as in
// MLflow). Deleting a deleted model succeeds, as in MLflow. ENOTFOUND.
func (s *Store) DeleteLoggedModel(ctx context.Context, id string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var stage string
		err := tx.QueryRowContext(ctx, `SELECT lifecycle_stage FROM logged_models WHERE model_id = ?`, id).Scan(&stage)
		if IsNoRows(err) {
			return nil, errLMNotFound(id)
		} else if err != nil {
			return nil, fmt.Errorf("read logged model: %w", err)
		}
		return &Change{Op: OpLoggedModelDelete, Key: id, Payload: rpLM{ModelID: id, Time: regNow()}}, nil
	})
	return err
}

// SetLoggedModelTags sets (or replaces) tags of a logged model. ENOTFOUND,
// EINVALID.
func (s *Store) SetLoggedModelTags(ctx context.Context, id string, tags []tandem.Tag) error {
	for _, t := range tags {
		if err := validateLMParam(t); err != nil {
			return err
		}
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, _, _, err := lmActive(ctx, tx, id); err != nil {
			return nil, err
		}
		return &Change{Op: OpLoggedModelSetTags, Key: id, Payload: rpLM{ModelID: id, Tags: regDedupTags(tags)}}, nil
	})
	return err
}

// DeleteLoggedModelTag removes a tag of a logged model. ENOTFOUND (model or
// tag, as MLflow reports), EINVALID.
func (s *Store) DeleteLoggedModelTag(ctx context.Context, id, key string) error {
	if err := tandem.ValidateRegistryTag(key, ""); err != nil {
		return err
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, _, _, err := lmActive(ctx, tx, id); err != nil {
			return nil, err
		}
		var v string
		err := tx.QueryRowContext(ctx, `SELECT value FROM logged_model_tags WHERE model_id = ? AND key = ?`, id, key).Scan(&v)
		if IsNoRows(err) {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "No tag with key '%s' found for model with ID '%s'.", key, id)
		} else if err != nil {
			return nil, err
		}
		return &Change{Op: OpLoggedModelDeleteTag, Key: id, Payload: rpLM{ModelID: id, Key: key}}, nil
	})
	return err
}

// LogLoggedModelParams records parameters of a logged model. ENOTFOUND,
// EINVALID.
func (s *Store) LogLoggedModelParams(ctx context.Context, id string, params []tandem.Tag) error {
	for _, p := range params {
		if err := validateLMParam(p); err != nil {
			return err
		}
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, _, _, err := lmActive(ctx, tx, id); err != nil {
			return nil, err
		}
		return &Change{Op: OpLoggedModelLogParams, Key: id, Payload: rpLM{ModelID: id, Params: regDedupTags(params)}}, nil
	})
	return err
}

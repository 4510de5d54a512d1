package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/tandemml/tandem"
)

// Journal ops of MLflow 3 registered scorers (kind scorers). Payloads are
// tpScorer, resolved in prepare (scorer id, version number, time).
const (
	OpScorerRegister = "scorer.register"
	OpScorerDelete   = "scorer.delete"
	OpScorerImport   = "scorer.import"
)

func (s *Store) registerScorers() {
	k := tandem.KindScorers
	s.register(OpScorerRegister, k, applyScorer)
	s.register(OpScorerDelete, k, applyScorer)
	s.register(OpScorerImport, k, applyScorer)
}

// tpScorer writes a scorer's row and versions, or deletes versions (every
// version and the scorer's row when DeleteAll).
type tpScorer struct {
	ScorerID     string                 `json:"scorer_id"`
	ExperimentID string                 `json:"experiment_id"`
	Name         string                 `json:"name"`
	Put          []tandem.ScorerVersion `json:"put,omitempty"`
	Delete       []int64                `json:"delete_versions,omitempty"`
	DeleteAll    bool                   `json:"delete_all,omitempty"`
}

func applyScorer(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpScorer
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	if p.DeleteAll {
		for _, t := range []string{"scorer_versions", "scorers"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE scorer_id = ?`, p.ScorerID); err != nil {
				return fmt.Errorf("delete scorer: %w", err)
			}
		}
		return nil
	}
	for _, v := range p.Delete {
		if _, err := tx.ExecContext(ctx, `DELETE FROM scorer_versions WHERE scorer_id = ? AND scorer_version = ?`, p.ScorerID, v); err != nil {
			return fmt.Errorf("delete scorer version: %w", err)
		}
	}
	if len(p.Put) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO scorers (scorer_id, experiment_id, scorer_name) VALUES (?, ?, ?)
			ON CONFLICT (scorer_id) DO UPDATE SET experiment_id = excluded.experiment_id, scorer_name = excluded.scorer_name`,
			p.ScorerID, p.ExperimentID, p.Name); err != nil {
			return fmt.Errorf("write scorer: %w", err)
		}
	}
	for _, v := range p.Put {
		if _, err := tx.ExecContext(ctx, `INSERT INTO scorer_versions (scorer_id, scorer_version, serialized_scorer, creation_time)
			VALUES (?, ?, ?, ?) ON CONFLICT (scorer_id, scorer_version) DO UPDATE SET serialized_scorer = excluded.serialized_scorer,
			creation_time = excluded.creation_time`, p.ScorerID, v.Version, v.Serialized, v.Created); err != nil {
			return fmt.Errorf("write scorer version: %w", err)
		}
	}
	return nil
}

func notFoundScorer(experimentID, name string, version int64) error {
	if version > 0 {
		return tandem.Errorf(tandem.ENOTFOUND, "Scorer with name '%s' and version %d not found for experiment %s.", name, version, experimentID)
	}
	return tandem.Errorf(tandem.ENOTFOUND, "Scorer with name '%s' not found for experiment %s.", name, experimentID)
}

// scorerID returns the id of an experiment's scorer, or ENOTFOUND.
func scorerID(ctx context.Context, q Querier, experimentID, name string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT scorer_id FROM scorers WHERE experiment_id = ? AND scorer_name = ?`, experimentID, name).Scan(&id)
	if IsNoRows(err) {
		return "", notFoundScorer(experimentID, name, 0)
	}
	if err != nil {
		return "", fmt.Errorf("read scorer: %w", err)
	}
	return id, nil
}

const scorerVersionCols = `s.scorer_id, s.experiment_id, s.scorer_name, v.scorer_version, v.serialized_scorer, v.creation_time`

func scanScorerVersions(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}) ([]tandem.ScorerVersion, error) {
	defer rows.Close()
	var out []tandem.ScorerVersion
	for rows.Next() {
		var v tandem.ScorerVersion
		if err := rows.Scan(&v.ScorerID, &v.ExperimentID, &v.Name, &v.Version, &v.Serialized, &v.Created); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// RegisterScorer registers a new version of an experiment's scorer (the
// first is 1) and returns it. The experiment must exist and be active; the
// serialized scorer must be JSON (it is kept as sent and never run).
func (s *Store) RegisterScorer(ctx context.Context, experimentID, name, serialized string) (*tandem.ScorerVersion, error) {
	if err := tandem.ValidateScorerName(name); err != nil {
		return nil, err
	}
	if !json.Valid([]byte(serialized)) {
		return nil, tandem.Errorf(tandem.EINVALID, "serialized_scorer must be valid JSON")
	}
	var out tandem.ScorerVersion
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := activeExperiment(ctx, tx, experimentID); err != nil {
			return nil, err
		}
		id, err := scorerID(ctx, tx, experimentID, name)
		var last int64
		switch {
		case tandem.ErrorCode(err) == tandem.ENOTFOUND:
			h := newUUIDHex()
			id = h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		case err != nil:
			return nil, err
		default:
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(scorer_version), 0) FROM scorer_versions WHERE scorer_id = ?`, id).Scan(&last); err != nil {
				return nil, fmt.Errorf("read scorer versions: %w", err)
			}
		}
		out = tandem.ScorerVersion{ScorerID: id, ExperimentID: experimentID, Name: name, Version: last + 1,
			Serialized: serialized, Created: nowMillis()}
		return &Change{Op: OpScorerRegister, Key: id, Payload: &tpScorer{ScorerID: id, ExperimentID: experimentID, Name: name,
			Put: []tandem.ScorerVersion{out}}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListScorers returns the latest version of every scorer of the given
// experiments that are active, or of every active experiment when ids is
// nil, ordered by experiment and name.
func (s *Store) ListScorers(ctx context.Context, experimentIDs []string) ([]tandem.ScorerVersion, error) {
	if experimentIDs != nil && len(experimentIDs) == 0 {
		return nil, nil
	}
	var args []any
	q := `SELECT ` + scorerVersionCols + ` FROM scorers s JOIN scorer_versions v ON v.scorer_id = s.scorer_id
		JOIN experiments e ON e.experiment_id = s.experiment_id
		WHERE e.lifecycle_stage = ? AND v.scorer_version = (SELECT MAX(scorer_version) FROM scorer_versions w WHERE w.scorer_id = s.scorer_id)`
	args = append(args, tandem.LifecycleActive)
	if experimentIDs != nil {
		q += ` AND s.experiment_id IN (` + placeholders(len(experimentIDs)) + `)`
		for _, x := range experimentIDs {
			args = append(args, x)
		}
	}
	rows, err := s.Reader().QueryContext(ctx, q+` ORDER BY s.experiment_id, s.scorer_name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list scorers: %w", err)
	}
	out, err := scanScorerVersions(rows)
	if err != nil {
		return nil, err
	}
	sortScorersByExperiment(out)
	return out, nil
}

// sortScorersByExperiment orders by numeric experiment id, then name.
func sortScorersByExperiment(vs []tandem.ScorerVersion) {
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].ExperimentID != vs[j].ExperimentID {
			return experimentIDLess(vs[i].ExperimentID, vs[j].ExperimentID)
		}
		return vs[i].Name < vs[j].Name
	})
}

// ListScorerVersions returns every version of one scorer, oldest first
// (ENOTFOUND when the experiment or the scorer does not exist).
func (s *Store) ListScorerVersions(ctx context.Context, experimentID, name string) ([]tandem.ScorerVersion, error) {
	r := s.Reader()
	if _, err := activeExperiment(ctx, r, experimentID); err != nil {
		return nil, err
	}
	id, err := scorerID(ctx, r, experimentID, name)
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, `SELECT `+scorerVersionCols+` FROM scorers s JOIN scorer_versions v ON v.scorer_id = s.scorer_id
		WHERE s.scorer_id = ? ORDER BY v.scorer_version`, id)
	if err != nil {
		return nil, fmt.Errorf("list scorer versions: %w", err)
	}
	return scanScorerVersions(rows)
}

// GetScorer returns one version of a scorer, the latest when version is 0
// (ENOTFOUND when there is none).
func (s *Store) GetScorer(ctx context.Context, experimentID, name string, version int64) (*tandem.ScorerVersion, error) {
	vs, err := s.ListScorerVersions(ctx, experimentID, name)
	if err != nil {
		return nil, err
	}
	for i := len(vs) - 1; i >= 0; i-- {
		if version == 0 || vs[i].Version == version {
			return &vs[i], nil
		}
	}
	return nil, notFoundScorer(experimentID, name, version)
}

// DeleteScorer deletes one version of a scorer, or every version and the
// scorer itself when version is 0 (ENOTFOUND when there is none).
func (s *Store) DeleteScorer(ctx context.Context, experimentID, name string, version int64) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := activeExperiment(ctx, tx, experimentID); err != nil {
			return nil, err
		}
		id, err := scorerID(ctx, tx, experimentID, name)
		if err != nil {
			return nil, err
		}
		p := &tpScorer{ScorerID: id, ExperimentID: experimentID, Name: name}
		if version == 0 {
			p.DeleteAll = true
		} else {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM scorer_versions WHERE scorer_id = ? AND scorer_version = ?`, id, version).Scan(&n); err != nil {
				return nil, fmt.Errorf("read scorer version: %w", err)
			}
			if n == 0 {
				return nil, notFoundScorer(experimentID, name, version)
			}
			p.Delete = []int64{version}
		}
		return &Change{Op: OpScorerDelete, Key: id, Payload: p}, nil
	})
	return err
}

package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
)

// Reads that present the MLflow model registry as "model" assets: tandem's
// asset API and CLI show the same registered models and versions as the
// MLflow API, so a version registered either way is visible both ways.

// ModelAssetLatest returns, for every registered model, its newest version
// number that is not deleted (and not archived unless includeArchived),
// sorted by name. Models without such a version are left out.
func (s *Store) ModelAssetLatest(ctx context.Context, includeArchived bool) (map[string]int64, []string, error) {
	q := `SELECT name, MAX(version) FROM model_versions WHERE current_stage <> ?`
	args := []any{tandem.StageDeletedInternal}
	if !includeArchived {
		q += ` AND current_stage <> ?`
		args = append(args, tandem.StageArchived)
	}
	rows, err := s.Reader().QueryContext(ctx, q+` GROUP BY name ORDER BY name`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("model assets: %w", err)
	}
	defer rows.Close()
	latest := map[string]int64{}
	var names []string
	for rows.Next() {
		var n string
		var v int64
		if err := rows.Scan(&n, &v); err != nil {
			return nil, nil, err
		}
		latest[n] = v
		names = append(names, n)
	}
	return latest, names, rows.Err()
}

// ModelAssetVersions lists a registered model's version numbers, newest
// first, leaving out deleted (and, unless includeArchived, archived) ones.
func (s *Store) ModelAssetVersions(ctx context.Context, name string, includeArchived bool) ([]int64, error) {
	q := `SELECT version FROM model_versions WHERE name = ? AND current_stage <> ?`
	args := []any{name, tandem.StageDeletedInternal}
	if !includeArchived {
		q += ` AND current_stage <> ?`
		args = append(args, tandem.StageArchived)
	}
	rows, err := s.Reader().QueryContext(ctx, q+` ORDER BY version DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("model versions: %w", err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// NextModelVersion is the number CreateModelVersion will give the next
// version of name (1 for a model that does not exist yet).
func (s *Store) NextModelVersion(ctx context.Context, name string) (int64, error) {
	var max int64
	err := s.Reader().QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM model_versions WHERE name = ?`, name).Scan(&max)
	return max + 1, err
}

// ModelFiles resolves a model version's storage location to a path in
// this region's artifact store and lists the files recorded under it. ok
// is false when the location is not in tandem's artifact store (an
// external bucket, a local path): then the version has no files here.
// runs:/<run_id>/<path> resolves through the run's artifact URI.
func (s *Store) ModelFiles(ctx context.Context, location string) (root string, files []tandem.Artifact, ok bool, err error) {
	loc := location
	if rest, isRun := strings.CutPrefix(loc, "runs:/"); isRun {
		runID, sub, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
		var uri string
		err := s.Reader().QueryRowContext(ctx, `SELECT artifact_uri FROM runs WHERE run_id = ?`, runID).Scan(&uri)
		if IsNoRows(err) {
			return "", nil, false, nil
		} else if err != nil {
			return "", nil, false, fmt.Errorf("model files: %w", err)
		}
		loc = strings.TrimSuffix(uri, "/") + "/" + sub
	}
	p, isProxy := strings.CutPrefix(loc, "mlflow-artifacts:")
	if !isProxy {
		return "", nil, false, nil
	}
	if strings.HasPrefix(p, "//") { // mlflow-artifacts://host:port/path
		if i := strings.Index(p[2:], "/"); i >= 0 {
			p = p[2+i:]
		} else {
			p = ""
		}
	}
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil, false, nil
	}
	files, err = ArtifactsUnder(ctx, s.Reader(), p)
	if err != nil {
		return "", nil, false, err
	}
	return p, files, true, nil
}

// CreateAssetModelVersion registers version want of model name whose files
// tandem itself stored under source (an mlflow-artifacts: location written
// by `tandem model create`). It commits the same op as CreateModelVersion,
// so replication and the MLflow API see an ordinary version; it skips the
// check that a client-sent source lies inside a run's or logged model's
// artifacts, which guards what clients send, not what tandem wrote. The
// registered model must exist. ECONFLICT when another version took the
// number meanwhile (the files were stored under want's path).
func (s *Store) CreateAssetModelVersion(ctx context.Context, name string, want int64, source, description string, tags []tandem.Tag) (tandem.ModelVersion, error) {
	if err := tandem.ValidateModelName(name); err != nil {
		return tandem.ModelVersion{}, err
	}
	if err := validateTags(tags); err != nil {
		return tandem.ModelVersion{}, err
	}
	if err := validateDescription(description); err != nil {
		return tandem.ModelVersion{}, err
	}
	if !strings.HasPrefix(source, "mlflow-artifacts:/") {
		return tandem.ModelVersion{}, tandem.Errorf(tandem.EINVALID, "asset model source %q must be an mlflow-artifacts: location", source)
	}
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if err := rmExists(ctx, tx, name); err != nil {
			return nil, err
		}
		var max int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM model_versions WHERE name = ?`, name).Scan(&max); err != nil {
			return nil, fmt.Errorf("next model version: %w", err)
		}
		if max+1 != want {
			return nil, tandem.Errorf(tandem.ECONFLICT, "model %s: version %d was taken while its files were uploaded; create it again", name, want)
		}
		p := rpMV{Name: name, Version: want, Time: regNow(), Description: &description, Source: source,
			StorageLocation: source, Tags: regDedupTags(tags)}
		return &Change{Op: OpModelVersionCreate, Key: mvKey(name, want), Payload: p}, nil
	})
	if err != nil {
		return tandem.ModelVersion{}, err
	}
	return s.GetModelVersion(ctx, name, want)
}

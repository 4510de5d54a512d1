package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/tandemml/tandem"
)

// Job ops. A job is one JSON document: job.create stores it (with the
// code snapshot's blobs, which a secondary fetches before applying), and
// job.update replaces it whole with what the primary's scheduler or runner
// decided, so applying either is deterministic.
const (
	opJobCreate = "job.create"
	opJobUpdate = "job.update"
)

func (s *Store) registerJobs() {
	s.register(opJobCreate, tandem.KindJobs, applyJobPut)
	s.register(opJobUpdate, tandem.KindJobs, applyJobPut)
}

// JobStore is the replicated store of jobs (tandem.Jobs) on one region's
// database.
type JobStore struct{ s *Store }

// NewJobs returns the job store of s.
func NewJobs(s *Store) *JobStore { return &JobStore{s: s} }

var _ tandem.Jobs = (*JobStore)(nil)

// CreateJob stores j as a new job (status Queued when unset). blobs are
// the code snapshot's files, already in the artifact store.
func (js *JobStore) CreateJob(ctx context.Context, j *tandem.Job) (*tandem.Job, error) {
	return js.CreateJobWithFiles(ctx, j, nil)
}

// CreateJobWithFiles is CreateJob for a job whose code snapshot is in the
// artifact store as blobs: the entry names them so a secondary has the
// bytes before it shows the job.
func (js *JobStore) CreateJobWithFiles(ctx context.Context, j *tandem.Job, blobs []tandem.BlobRef) (*tandem.Job, error) {
	if err := tandem.ValidateJobName(j.Name); err != nil {
		return nil, err
	}
	if j.Status == "" {
		j.Status = tandem.JobQueued
	}
	if j.CreatedMS == 0 {
		j.CreatedMS = nowMillis()
	}
	_, err := js.s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE name = ?`, j.Name).Scan(&n)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, tandem.Errorf(tandem.EEXISTS, "job %q already exists", j.Name)
		}
		return &Change{Op: opJobCreate, Key: j.Name, Payload: j, Blobs: blobs}, nil
	})
	if err != nil {
		return nil, err
	}
	return j, nil
}

// UpdateJob replaces a job's document. ENOTFOUND.
func (js *JobStore) UpdateJob(ctx context.Context, j *tandem.Job) error {
	_, err := js.s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE name = ?`, j.Name).Scan(&n); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "job %q not found", j.Name)
		}
		return &Change{Op: opJobUpdate, Key: j.Name, Payload: j}, nil
	})
	return err
}

func applyJobPut(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var j tandem.Job
	if err := json.Unmarshal(e.Payload, &j); err != nil {
		return fmt.Errorf("job payload: %w", err)
	}
	archived := 0
	if j.Archived {
		archived = 1
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO jobs (name, doc, status, created_ms, archived) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, status = excluded.status, archived = excluded.archived`,
		j.Name, string(e.Payload), string(j.Status), j.CreatedMS, archived)
	return err
}

// Job returns a job by name. ENOTFOUND.
func (js *JobStore) Job(ctx context.Context, name string) (*tandem.Job, error) {
	var doc string
	err := js.s.Reader().QueryRowContext(ctx, `SELECT doc FROM jobs WHERE name = ?`, name).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "job %q not found", name)
	}
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	return decodeJob(doc)
}

// ListJobs lists jobs, newest first.
func (js *JobStore) ListJobs(ctx context.Context, includeArchived bool) ([]*tandem.Job, error) {
	q := `SELECT doc FROM jobs WHERE archived = 0 ORDER BY created_ms DESC, name`
	if includeArchived {
		q = `SELECT doc FROM jobs ORDER BY created_ms DESC, name`
	}
	return js.query(ctx, q)
}

// ActiveJobs lists the jobs that are not in a terminal status, oldest
// first: what the scheduler and the runner look at.
func (js *JobStore) ActiveJobs(ctx context.Context) ([]*tandem.Job, error) {
	return js.query(ctx, `SELECT doc FROM jobs WHERE status NOT IN ('Completed', 'Failed', 'Canceled') ORDER BY created_ms, name`)
}

func (js *JobStore) query(ctx context.Context, q string, args ...any) ([]*tandem.Job, error) {
	rows, err := js.s.Reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	defer rows.Close()
	var out []*tandem.Job
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		j, err := decodeJob(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

func decodeJob(doc string) (*tandem.Job, error) {
	var j tandem.Job
	if err := json.Unmarshal([]byte(doc), &j); err != nil {
		return nil, fmt.Errorf("job document: %w", err)
	}
	return &j, nil
}

// PutCompute creates or replaces a compute target of this region. Compute
// is region-local: the write is not journalled and works on a secondary.
func (js *JobStore) PutCompute(ctx context.Context, c *tandem.ComputeTarget) error {
	doc, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = js.s.db.ExecContext(ctx, rebind(js.s.dialect, `INSERT INTO region_compute (name, doc) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET doc = excluded.doc`), c.Name, string(doc))
	if err != nil {
		return fmt.Errorf("put compute: %w", err)
	}
	return nil
}

// DeleteCompute removes a compute target of this region. ENOTFOUND.
func (js *JobStore) DeleteCompute(ctx context.Context, name string) error {
	res, err := js.s.db.ExecContext(ctx, rebind(js.s.dialect, `DELETE FROM region_compute WHERE name = ?`), name)
	if err != nil {
		return fmt.Errorf("delete compute: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return tandem.Errorf(tandem.ENOTFOUND, "compute %q not found in this region", name)
	}
	return nil
}

// Computes lists this region's compute targets by name.
func (js *JobStore) Computes(ctx context.Context) ([]*tandem.ComputeTarget, error) {
	rows, err := js.s.Reader().QueryContext(ctx, `SELECT doc FROM region_compute`)
	if err != nil {
		return nil, fmt.Errorf("computes: %w", err)
	}
	defer rows.Close()
	var out []*tandem.ComputeTarget
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var c tandem.ComputeTarget
		if err := json.Unmarshal([]byte(doc), &c); err != nil {
			return nil, fmt.Errorf("compute document: %w", err)
		}
		out = append(out, &c)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Name < out[k].Name })
	return out, rows.Err()
}

// The workspace-wide settings tandem apply writes (kind workspace), each
// kept in workspace_meta under its key: the job settings and the quotas.
const (
	opJobSettingsPut      = "settings.jobs.put"
	opJobSettingsDelete   = "settings.jobs.delete"
	metaJobSettings       = "settings.jobs"
	opQuotaSettingsPut    = "settings.quotas.put"
	opQuotaSettingsDelete = "settings.quotas.delete"
	metaQuotaSettings     = "settings.quotas"
)

func (s *Store) registerJobSettings() {
	s.registerSetting(opJobSettingsPut, opJobSettingsDelete, metaJobSettings)
	s.registerSetting(opQuotaSettingsPut, opQuotaSettingsDelete, metaQuotaSettings)
}

// registerSetting registers the ops that write and delete the setting
// kept under key (the put's payload is the setting's JSON, kept as is).
func (s *Store) registerSetting(putOp, deleteOp, key string) {
	s.register(putOp, tandem.KindWorkspace, func(ctx context.Context, tx *Tx, e *tandem.Entry) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO workspace_meta (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, string(e.Payload))
		return err
	})
	s.register(deleteOp, tandem.KindWorkspace, func(ctx context.Context, tx *Tx, _ *tandem.Entry) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM workspace_meta WHERE key = ?`, key)
		return err
	})
}

// readSetting reads the setting kept under key into a new T (ENOTFOUND
// naming what when none was applied).
func readSetting[T any](ctx context.Context, s *Store, key, what string) (*T, error) {
	var v string
	err := s.Reader().QueryRowContext(ctx, `SELECT value FROM workspace_meta WHERE key = ?`, key).Scan(&v)
	if IsNoRows(err) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "no %s were applied to the workspace", what)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	out := new(T)
	if err := json.Unmarshal([]byte(v), out); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// JobSettings returns the job settings last applied to the workspace
// (ENOTFOUND when none were: regions use their workspace file's).
func (s *Store) JobSettings(ctx context.Context) (*tandem.JobSettings, error) {
	return readSetting[tandem.JobSettings](ctx, s, metaJobSettings, "job settings")
}

// PutJobSettings writes the workspace's job settings (primary only).
func (s *Store) PutJobSettings(ctx context.Context, js tandem.JobSettings) error {
	if err := js.Validate(); err != nil {
		return err
	}
	_, err := s.Write(ctx, &Change{Op: opJobSettingsPut, Key: metaJobSettings, Payload: &js})
	return err
}

// DeleteJobSettings removes the applied job settings: regions use their
// workspace file's again.
func (s *Store) DeleteJobSettings(ctx context.Context) error {
	_, err := s.Write(ctx, &Change{Op: opJobSettingsDelete, Key: metaJobSettings})
	return err
}

// QuotaSettings returns the quotas last applied to the workspace
// (ENOTFOUND when none were: regions use their workspace file's).
func (s *Store) QuotaSettings(ctx context.Context) (*tandem.QuotaSettings, error) {
	return readSetting[tandem.QuotaSettings](ctx, s, metaQuotaSettings, "quota settings")
}

// PutQuotaSettings writes the workspace's quotas (primary only).
func (s *Store) PutQuotaSettings(ctx context.Context, q tandem.QuotaSettings) error {
	if err := q.Validate(); err != nil {
		return err
	}
	_, err := s.Write(ctx, &Change{Op: opQuotaSettingsPut, Key: metaQuotaSettings, Payload: &q})
	return err
}

// DeleteQuotaSettings removes the applied quotas: regions use their
// workspace file's again.
func (s *Store) DeleteQuotaSettings(ctx context.Context) error {
	_, err := s.Write(ctx, &Change{Op: opQuotaSettingsDelete, Key: metaQuotaSettings})
	return err
}

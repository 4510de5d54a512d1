-- Jobs (tandem job create) and their attempts, a replicated kind: every
-- region shows every job; only the primary schedules and writes. The job
-- is kept as one JSON document (spec, status, attempts) replaced whole by
-- each job.update, with the columns lists and the scheduler filter on.
CREATE TABLE jobs (
    name       TEXT PRIMARY KEY,
    doc        TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    archived   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_status ON jobs (status);
CREATE INDEX jobs_created ON jobs (created_ms);

-- Compute targets of this region (tandem compute create, the compute
-- section of workspace.yaml). Region-local: never journalled, each
-- region owns its compute and its quota.
CREATE TABLE region_compute (
    name TEXT PRIMARY KEY,
    doc  TEXT NOT NULL
);

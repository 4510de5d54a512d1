-- Artifacts: one row per stored artifact file, keyed by its path relative to
-- the artifact root (<experiment_id>/<run_id>/artifacts/<path>, the same path
-- as its bytes in storage). A file is visible through the API only once its
-- row exists; its bytes are written before the row commits.
CREATE TABLE artifacts (
    path       TEXT PRIMARY KEY,
    dir        TEXT NOT NULL,
    name       TEXT NOT NULL,
    size       BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

CREATE INDEX artifacts_dir ON artifacts (dir);

-- Every directory that holds at least one artifact, at any depth, so that
-- listing one directory level reads only its children.
CREATE TABLE artifact_dirs (
    path TEXT PRIMARY KEY,
    dir  TEXT NOT NULL,
    name TEXT NOT NULL
);

CREATE INDEX artifact_dirs_dir ON artifact_dirs (dir);

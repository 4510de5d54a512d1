-- MLflow 3 issues (issue 19): quality problems found in an experiment's
-- traces. root_causes and categories are JSON lists ('' for none);
-- severity and the optional fields '' when unset. Written by the issue.*
-- ops, kind issues.
CREATE TABLE IF NOT EXISTS issues (
    issue_id      TEXT PRIMARY KEY,
    experiment_id TEXT NOT NULL,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL,
    status        TEXT NOT NULL,
    severity      TEXT NOT NULL,
    root_causes   TEXT NOT NULL,
    source_run_id TEXT NOT NULL,
    categories    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS issues_by_experiment ON issues (experiment_id);

-- MLflow 3 registered scorers (issue 19): one row per (experiment, name)
-- and one per registered version, the serialized scorer kept as sent.
-- Written by the scorer.* ops, kind scorers.
CREATE TABLE IF NOT EXISTS scorers (
    scorer_id     TEXT PRIMARY KEY,
    experiment_id TEXT NOT NULL,
    scorer_name   TEXT NOT NULL,
    UNIQUE (experiment_id, scorer_name)
);

CREATE TABLE IF NOT EXISTS scorer_versions (
    scorer_id         TEXT NOT NULL,
    scorer_version    BIGINT NOT NULL,
    serialized_scorer TEXT NOT NULL,
    creation_time     BIGINT NOT NULL,
    PRIMARY KEY (scorer_id, scorer_version)
);

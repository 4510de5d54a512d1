-- MLflow 3 evaluation datasets (issue 19): the dataset rows, their tags,
-- their links to experiments and their records (each record's JSON values
-- kept as text, one record per distinct inputs). Written by the
-- evaldataset.* ops, kind evaluation_datasets.
CREATE TABLE IF NOT EXISTS evaluation_datasets (
    dataset_id       TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    schema_json      TEXT NOT NULL,
    profile_json     TEXT NOT NULL,
    digest           TEXT NOT NULL,
    created_time     BIGINT NOT NULL,
    last_update_time BIGINT NOT NULL,
    created_by       TEXT NOT NULL,
    last_updated_by  TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS evaluation_datasets_by_name ON evaluation_datasets (name);

CREATE TABLE IF NOT EXISTS evaluation_dataset_tags (
    dataset_id TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (dataset_id, key)
);

CREATE TABLE IF NOT EXISTS evaluation_dataset_experiments (
    dataset_id    TEXT NOT NULL,
    experiment_id TEXT NOT NULL,
    PRIMARY KEY (dataset_id, experiment_id)
);

CREATE INDEX IF NOT EXISTS evaluation_dataset_experiments_by_experiment ON evaluation_dataset_experiments (experiment_id);

CREATE TABLE IF NOT EXISTS evaluation_dataset_records (
    dataset_record_id TEXT PRIMARY KEY,
    dataset_id        TEXT NOT NULL,
    input_hash        TEXT NOT NULL,
    inputs            TEXT NOT NULL,
    outputs           TEXT NOT NULL,
    expectations      TEXT NOT NULL,
    tags              TEXT NOT NULL,
    source            TEXT NOT NULL,
    source_id         TEXT NOT NULL,
    source_type       TEXT NOT NULL,
    created_time      BIGINT NOT NULL,
    last_update_time  BIGINT NOT NULL,
    created_by        TEXT NOT NULL,
    last_updated_by   TEXT NOT NULL,
    UNIQUE (dataset_id, input_hash)
);

CREATE INDEX IF NOT EXISTS evaluation_dataset_records_by_time ON evaluation_dataset_records (dataset_id, created_time, dataset_record_id);

-- Tracking: experiments, runs and what runs log. Times are milliseconds
-- since the epoch. Experiment ids are decimal integers stored as text
-- (MLflow's API speaks strings); num_id orders and allocates them.
CREATE TABLE experiments (
    experiment_id     TEXT PRIMARY KEY,
    num_id            BIGINT NOT NULL UNIQUE,
    name              TEXT NOT NULL UNIQUE,
    artifact_location TEXT NOT NULL,
    lifecycle_stage   TEXT NOT NULL,
    creation_time     BIGINT NOT NULL,
    last_update_time  BIGINT NOT NULL
);

CREATE INDEX experiments_stage ON experiments (lifecycle_stage, num_id);

CREATE TABLE experiment_tags (
    experiment_id TEXT NOT NULL,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    PRIMARY KEY (experiment_id, key)
);

CREATE TABLE runs (
    run_id          TEXT PRIMARY KEY,
    experiment_id   TEXT NOT NULL,
    name            TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    status          TEXT NOT NULL,
    start_time      BIGINT NOT NULL,
    end_time        BIGINT,
    artifact_uri    TEXT NOT NULL,
    lifecycle_stage TEXT NOT NULL,
    deleted_time    BIGINT
);

CREATE INDEX runs_experiment_start ON runs (experiment_id, start_time, run_id);

CREATE TABLE params (
    run_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE INDEX params_key_value ON params (key, value);

CREATE TABLE tags (
    run_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE INDEX tags_key_value ON tags (key, value);

-- Every logged metric value. NaN is kept as is_nan = 1 with value 0,
-- because SQLite stores NaN as NULL. Identical points are stored once.
CREATE TABLE metrics (
    run_id    TEXT NOT NULL,
    key       TEXT NOT NULL,
    step      BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    is_nan    INTEGER NOT NULL,
    PRIMARY KEY (run_id, key, step, timestamp, value, is_nan)
);

-- The latest point of each metric of a run: the one with the greatest
-- (step, timestamp, value). Searches and GetRun read it.
CREATE TABLE latest_metrics (
    run_id    TEXT NOT NULL,
    key       TEXT NOT NULL,
    step      BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    is_nan    INTEGER NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE INDEX latest_metrics_key_value ON latest_metrics (key, value);

-- Datasets are stored once per experiment and identified by (name, digest).
CREATE TABLE datasets (
    dataset_uuid        TEXT PRIMARY KEY,
    experiment_id       TEXT NOT NULL,
    name                TEXT NOT NULL,
    digest              TEXT NOT NULL,
    dataset_source_type TEXT NOT NULL,
    dataset_source      TEXT NOT NULL,
    dataset_schema      TEXT,
    dataset_profile     TEXT,
    UNIQUE (experiment_id, name, digest)
);

-- A dataset used by a run (source_type DATASET, destination_type RUN).
CREATE TABLE inputs (
    input_uuid       TEXT PRIMARY KEY,
    source_type      TEXT NOT NULL,
    source_id        TEXT NOT NULL,
    destination_type TEXT NOT NULL,
    destination_id   TEXT NOT NULL,
    UNIQUE (source_type, source_id, destination_type, destination_id)
);

CREATE INDEX inputs_destination ON inputs (destination_type, destination_id);

CREATE TABLE input_tags (
    input_uuid TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (input_uuid, name)
);

-- Logged models a run used (direction 'input') or produced ('output').
CREATE TABLE run_models (
    run_id    TEXT NOT NULL,
    direction TEXT NOT NULL,
    model_id  TEXT NOT NULL,
    step      BIGINT,
    PRIMARY KEY (run_id, direction, model_id)
);

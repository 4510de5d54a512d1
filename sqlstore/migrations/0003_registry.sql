-- Model registry and MLflow 3 logged models. Times are milliseconds since
-- the epoch. A deleted model version keeps its row with current_stage
-- 'Deleted_Internal' so its number is never reused, as MLflow does.
CREATE TABLE registered_models (
    name              TEXT PRIMARY KEY,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    description       TEXT NOT NULL
);

CREATE TABLE registered_model_tags (
    name  TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (name, key)
);

CREATE TABLE registered_model_aliases (
    name    TEXT NOT NULL,
    alias   TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (name, alias)
);

CREATE TABLE model_versions (
    name              TEXT NOT NULL,
    version           BIGINT NOT NULL,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    user_id           TEXT NOT NULL,
    current_stage     TEXT NOT NULL,
    description       TEXT NOT NULL,
    source            TEXT NOT NULL,
    storage_location  TEXT NOT NULL,
    run_id            TEXT NOT NULL,
    run_link          TEXT NOT NULL,
    status            TEXT NOT NULL,
    status_message    TEXT NOT NULL,
    model_id          TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE INDEX model_versions_run ON model_versions (run_id);

CREATE TABLE model_version_tags (
    name    TEXT NOT NULL,
    version BIGINT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (name, version, key)
);

CREATE TABLE logged_models (
    model_id          TEXT PRIMARY KEY,
    experiment_id     TEXT NOT NULL,
    name              TEXT NOT NULL,
    artifact_location TEXT NOT NULL,
    creation_time     BIGINT NOT NULL,
    last_updated_time BIGINT NOT NULL,
    status            TEXT NOT NULL,
    status_message    TEXT NOT NULL,
    model_type        TEXT NOT NULL,
    source_run_id     TEXT NOT NULL,
    lifecycle_stage   TEXT NOT NULL
);

CREATE INDEX logged_models_experiment ON logged_models (experiment_id, creation_time);

CREATE TABLE logged_model_tags (
    model_id TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

CREATE TABLE logged_model_params (
    model_id TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (model_id, key)
);

-- Metric points logged with a model_id (log-metric, log-batch): kept on
-- the logged model as well as on the run, as MLflow keeps them, so that
-- GetLoggedModel returns them and logged-model search filters and orders
-- by them and by the dataset they were computed on. NaN is is_nan = 1
-- with value 0, as in metrics. One point per (model, key, timestamp,
-- step, run): the first one logged wins.
CREATE TABLE logged_model_metrics (
    model_id       TEXT NOT NULL,
    key            TEXT NOT NULL,
    timestamp      BIGINT NOT NULL,
    step           BIGINT NOT NULL,
    run_id         TEXT NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    is_nan         INTEGER NOT NULL,
    experiment_id  TEXT NOT NULL,
    dataset_name   TEXT NOT NULL,
    dataset_digest TEXT NOT NULL,
    PRIMARY KEY (model_id, key, timestamp, step, run_id)
);

CREATE INDEX logged_model_metrics_key_value ON logged_model_metrics (key, value);

-- MLflow 3 traces (issue 19): trace records, their tags and metadata, their
-- spans (each kept as its OTLP JSON) and assessments (each kept as its
-- MLflow JSON). Written by the trace.* and assessment.* ops, kind traces.
CREATE TABLE IF NOT EXISTS traces (
    trace_id           TEXT PRIMARY KEY,
    experiment_id      TEXT NOT NULL,
    client_request_id  TEXT NOT NULL,
    request_preview    TEXT NOT NULL,
    response_preview   TEXT NOT NULL,
    request_time       BIGINT NOT NULL,
    execution_duration BIGINT NOT NULL,
    state              TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS traces_by_experiment ON traces (experiment_id, request_time);

CREATE TABLE IF NOT EXISTS trace_tags (
    trace_id TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (trace_id, key)
);

CREATE TABLE IF NOT EXISTS trace_metadata (
    trace_id TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (trace_id, key)
);

CREATE TABLE IF NOT EXISTS trace_spans (
    trace_id       TEXT NOT NULL,
    span_id        TEXT NOT NULL,
    parent_span_id TEXT NOT NULL,
    name           TEXT NOT NULL,
    span_type      TEXT NOT NULL,
    status         TEXT NOT NULL,
    start_ns       BIGINT NOT NULL,
    end_ns         BIGINT NOT NULL,
    content        TEXT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);

CREATE TABLE IF NOT EXISTS trace_assessments (
    assessment_id TEXT PRIMARY KEY,
    trace_id      TEXT NOT NULL,
    name          TEXT NOT NULL,
    create_ms     BIGINT NOT NULL,
    update_ms     BIGINT NOT NULL,
    body          TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS trace_assessments_by_trace ON trace_assessments (trace_id);

CREATE TABLE IF NOT EXISTS trace_runs (
    trace_id TEXT NOT NULL,
    run_id   TEXT NOT NULL,
    PRIMARY KEY (trace_id, run_id)
);

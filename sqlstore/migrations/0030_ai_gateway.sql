-- MLflow 3's AI gateway configuration (issue 19), kind ai_gateway.
-- sealed_value is the secret's values sealed with the workspace key (never
-- the plain text); masked_values and auth_config are JSON objects ('' for
-- none). A gateway endpoint's body is its JSON form (mappings, tags,
-- routing, fallback) without the model definitions it names, which are
-- read from their own table. secret_id is '' for a model definition whose
-- secret was deleted. Written by the gateway.* ops.
CREATE TABLE IF NOT EXISTS gateway_secrets (
    secret_id     TEXT PRIMARY KEY,
    secret_name   TEXT NOT NULL UNIQUE,
    sealed_value  TEXT NOT NULL,
    masked_values TEXT NOT NULL,
    provider      TEXT NOT NULL,
    auth_config   TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    updated_by    TEXT NOT NULL,
    updated_ms    BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS gateway_model_definitions (
    model_definition_id TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    secret_id           TEXT NOT NULL,
    provider            TEXT NOT NULL,
    model_name          TEXT NOT NULL,
    created_by          TEXT NOT NULL,
    created_ms          BIGINT NOT NULL,
    updated_by          TEXT NOT NULL,
    updated_ms          BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS gateway_endpoints (
    endpoint_id TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    body        TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS gateway_bindings (
    endpoint_id   TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    updated_by    TEXT NOT NULL,
    updated_ms    BIGINT NOT NULL,
    PRIMARY KEY (endpoint_id, resource_type, resource_id)
);

-- Online endpoints and their deployments (issue 15), replicated through
-- the journal (endpoint.* and deployment.* ops, kind endpoints) so every
-- region of an endpoint's placement runs its scoring processes. body is
-- the tandem.OnlineEndpoint or tandem.OnlineDeployment as JSON.
-- keys_sealed holds the endpoint's primary and secondary keys encrypted
-- with the workspace key (package keyvault): replicated as ciphertext,
-- opened only to check a scoring request or for get-credentials.
CREATE TABLE IF NOT EXISTS online_endpoints (
    name        TEXT PRIMARY KEY,
    body        TEXT NOT NULL,
    keys_sealed TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS online_deployments (
    endpoint   TEXT NOT NULL,
    name       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (endpoint, name)
);

-- Identity and access (issue 12): principals, tokens, custom roles and role
-- assignments, replicated through the journal (identity.* ops, kind
-- workspace) so every region authenticates and authorises by itself.
-- Secrets are never stored: password_hash is a bcrypt hash, token_hash is
-- SHA-256(salt || token secret) in hex. None of these tables is part of an
-- export bundle.
CREATE TABLE IF NOT EXISTS identity_principals (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_ms    BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS identity_tokens (
    id           TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL,
    description  TEXT NOT NULL,
    salt         TEXT NOT NULL,
    token_hash   TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    expires_ms   BIGINT NOT NULL,
    revoked_ms   BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS identity_tokens_by_principal ON identity_tokens (principal_id);

CREATE TABLE IF NOT EXISTS identity_roles (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    actions     TEXT NOT NULL,
    not_actions TEXT NOT NULL,
    created_ms  BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS identity_assignments (
    id         TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    assignee   TEXT NOT NULL,
    scope      TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    UNIQUE (role, assignee, scope)
);

-- The workspace key vault (replicated through the journal, kind workspace).
-- One row per secret version; ciphertext is the value encrypted with the
-- workspace key (base64 of the keeper's ciphertext): no column ever holds a
-- value in clear. deleted_ms is set on every version of a soft-deleted
-- secret (0: not deleted).
CREATE TABLE vault_secrets (
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    ciphertext   TEXT NOT NULL,
    enabled      INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    tags         TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    created_by   TEXT NOT NULL,
    updated_ms   BIGINT NOT NULL,
    deleted_ms   BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE INDEX vault_secrets_by_seq ON vault_secrets (name, seq);

-- The workspace key check: a known plaintext encrypted with the workspace
-- key by the first primary that had one. Every region verifies it with its
-- own key at start and when it arrives by replication, and refuses to run
-- with a key that cannot decrypt it.
CREATE TABLE vault_keycheck (
    id         TEXT PRIMARY KEY,
    ciphertext TEXT NOT NULL,
    region     TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);

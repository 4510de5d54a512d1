-- The change journal (outbox) and its head. Every mutation appends one row in
-- the same transaction as the change; replication ships these rows.
CREATE TABLE journal (
    seq        BIGINT PRIMARY KEY,
    epoch      BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    op         TEXT NOT NULL,
    key        TEXT NOT NULL,
    payload    TEXT NOT NULL,
    blobs      TEXT,
    created_ms BIGINT NOT NULL
);

CREATE TABLE journal_state (
    id         INTEGER PRIMARY KEY,
    last_epoch BIGINT NOT NULL,
    last_seq   BIGINT NOT NULL
);

INSERT INTO journal_state (id, last_epoch, last_seq) VALUES (1, 0, 0);

-- Workspace-level settings (workspace id, creation time, ...).
CREATE TABLE workspace_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

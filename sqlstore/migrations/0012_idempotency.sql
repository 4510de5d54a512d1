-- Idempotency keys of applied writes. Replicated: a key is recorded in the
-- same transaction as its write's journal entry, on the primary and on
-- every region that applies the entry, so that a region that becomes
-- primary after a failover answers a write sent again with the same key
-- with the first one's result instead of applying it twice. Swept at
-- journal positions every region reaches (see sqlstore/idempotency.go).
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key        TEXT PRIMARY KEY,
    seq        BIGINT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_seq ON idempotency_keys (seq);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_ms);

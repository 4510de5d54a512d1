-- Failover. epochs is replicated (it is written through the journal by the
-- failover.epoch op): one row per change of primary, for `tandem history`.
-- Tables named failover_* belong to one region and are never copied by
-- snapshots or compared by verify.
CREATE TABLE IF NOT EXISTS epochs (
    epoch        BIGINT PRIMARY KEY,
    primary_name TEXT NOT NULL,
    previous     TEXT NOT NULL,
    reason       TEXT NOT NULL,
    detected_ms  BIGINT NOT NULL,
    resumed_ms   BIGINT NOT NULL,
    at_risk      BIGINT NOT NULL,
    seq          BIGINT NOT NULL
);

-- This region's failover state (the newest epoch it has durably seen).
CREATE TABLE IF NOT EXISTS failover_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Divergence reports: entries this region held that the new primary never
-- received, kept when it rejoined (failover.Report as JSON).
CREATE TABLE IF NOT EXISTS failover_divergence (
    id         TEXT PRIMARY KEY,
    created_ms BIGINT NOT NULL,
    body       TEXT NOT NULL
);

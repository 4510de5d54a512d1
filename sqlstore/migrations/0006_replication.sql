-- Replication's region-local state. Tables named replication_* belong to
-- one region and are never copied by snapshots or compared by verify.

-- Key/value state of this region's follower (bootstrap phase, snapshot
-- position, last refresh of snapshot-policy kinds).
CREATE TABLE IF NOT EXISTS replication_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Artifacts a bootstrapping secondary still has to fetch; filled in the
-- same transaction as the snapshot's metadata, emptied as blobs arrive, so
-- a killed bootstrap resumes where it stopped.
CREATE TABLE IF NOT EXISTS replication_blobs (
    path   TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    size   BIGINT NOT NULL
);

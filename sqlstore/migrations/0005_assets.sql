-- Workspace assets managed as code (environments, data, datastores,
-- components, pipelines, models in YAML form). One row per version; a
-- datastore has one row with version ''. spec is the kind's definition as
-- JSON without credentials; secret is a datastore's credentials, encrypted
-- (base64 of the keeper's ciphertext). files lists the version's artifact
-- files (path, size, sha256) stored under assets/<kind>s/<name>/<version>/.
CREATE TABLE assets (
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    description TEXT NOT NULL,
    tags        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    files       TEXT NOT NULL,
    secret      TEXT,
    archived    INTEGER NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL,
    PRIMARY KEY (kind, name, version)
);

CREATE INDEX assets_by_seq ON assets (kind, name, seq);

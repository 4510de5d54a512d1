-- The last desired state an apply completed (tandem apply, package plan):
-- what tandem owns, as JSON objects without secret values. Replicated
-- through the journal (kind workspace) so every region checks its drift
-- against the same record. One row (id 1).
CREATE TABLE desired_applied (
    id         INTEGER PRIMARY KEY,
    doc        TEXT NOT NULL,
    applied_ms BIGINT NOT NULL
);

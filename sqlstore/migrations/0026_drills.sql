-- Drill reports a workspace keeps (tandem drill records them; POST
-- /api/tandem/v1/drills): one row per drill, the record as JSON
-- (tandem.DrillRecord). Replicated through the journal (op drill.record,
-- kind workspace), so every region lists the same drills.
CREATE TABLE IF NOT EXISTS drills (
    id          TEXT PRIMARY KEY,
    recorded_ms BIGINT NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS drills_recorded ON drills (recorded_ms);

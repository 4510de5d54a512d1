-- A trace's tags, metadata and assessments as JSON, kept on its row by the
-- appliers that change them (sqlstore.refreshTraceListing), so a search
-- reads its page in one query and writes them out without decoding.
-- Traces written before this migration have NULL here and are read from
-- their tables.
ALTER TABLE traces ADD COLUMN tags_json TEXT;
ALTER TABLE traces ADD COLUMN metadata_json TEXT;
ALTER TABLE traces ADD COLUMN assessments_json TEXT;

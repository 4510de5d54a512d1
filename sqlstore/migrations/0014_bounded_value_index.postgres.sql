-- Bounded search indexes for param and tag values, PostgreSQL only (issue
-- 13.6). A btree entry of PostgreSQL holds at most 2704 bytes after
-- compression, so the (key, value, run_id) indexes of 0009 refused an
-- incompressible param value of 6000 characters (MLflow's limit), or a
-- tag of 8000: on a PostgreSQL primary the write was a 500, on a secondary
-- of a SQLite primary the entry could never be applied. Values of at most
-- 1600 bytes (with a key of at most 250 characters the entry stays under
-- the limit) keep their covering index; the few longer ones get a small
-- (key, run_id) index. Search asks each part with the same predicate
-- (octet_length(value) <= 1600 or > 1600), so the planner proves which
-- partial index answers it (sqlstore/search_runs.go).
CREATE INDEX params_key_short_value_run ON params (key, value, run_id) WHERE octet_length(value) <= 1600;

CREATE INDEX params_key_long_value_run ON params (key, run_id) WHERE octet_length(value) > 1600;

DROP INDEX params_key_value_run;

CREATE INDEX tags_key_short_value_run ON tags (key, value, run_id) WHERE octet_length(value) <= 1600;

CREATE INDEX tags_key_long_value_run ON tags (key, run_id) WHERE octet_length(value) > 1600;

DROP INDEX tags_key_value_run;

ANALYZE params, tags;

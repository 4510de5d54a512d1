-- Covering indexes for run search filters on params, tags and metrics
-- (issue 7): "run_id IN (SELECT run_id FROM params WHERE key = ? AND
-- value ...)" is answered from the index alone. They extend the (key,
-- value) indexes of 0002, which become redundant and are dropped so that
-- writes maintain one index per table, not two. latest_metrics also
-- carries is_nan, which every metric filter tests.
CREATE INDEX params_key_value_run ON params (key, value, run_id);

DROP INDEX params_key_value;

CREATE INDEX tags_key_value_run ON tags (key, value, run_id);

DROP INDEX tags_key_value;

CREATE INDEX latest_metrics_key_value_run ON latest_metrics (key, value, run_id, is_nan);

DROP INDEX latest_metrics_key_value;

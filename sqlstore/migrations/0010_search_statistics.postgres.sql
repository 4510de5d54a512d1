-- Extended statistics for the key/value tables (issue 7), PostgreSQL only.
-- A filter "params.group = 'g3'" becomes key = 'group' AND value = 'g3',
-- and the planner multiplies the two columns' selectivities as if they
-- were independent. They are not: once a workspace holds many other keys
-- (log-params with unique names, 480k rows), the estimate for the pair fell
-- to a fifth of the truth and the search over 100k runs switched from index
-- probes (7-10 ms) to a parallel or hash plan (22-90 ms). The MCV list over
-- (key, value) gives the planner the pair's real frequency.
CREATE STATISTICS IF NOT EXISTS params_key_value_stats (mcv, dependencies) ON key, value FROM params;

CREATE STATISTICS IF NOT EXISTS tags_key_value_stats (mcv, dependencies) ON key, value FROM tags;

CREATE STATISTICS IF NOT EXISTS experiment_tags_key_value_stats (mcv, dependencies) ON key, value FROM experiment_tags;

ANALYZE params, tags, experiment_tags;

-- Prompt versions linked to a trace (MLflow's traces/link-prompts): the
-- prompt as "NAME/VERSION", what search_traces' prompt = "NAME/VERSION"
-- filter matches.
CREATE TABLE IF NOT EXISTS trace_prompts (
    trace_id  TEXT NOT NULL,
    prompt_id TEXT NOT NULL,
    PRIMARY KEY (trace_id, prompt_id)
);

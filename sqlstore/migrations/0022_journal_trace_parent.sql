-- The W3C traceparent of the request that made a journal entry, when it
-- was traced (OpenTelemetry): a secondary applies the entry in a span of
-- the same trace. NULL for untraced writes.
ALTER TABLE journal ADD COLUMN trace_parent TEXT;

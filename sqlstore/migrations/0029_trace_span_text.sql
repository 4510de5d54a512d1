-- A span's text as MLflow's store keeps it (json.dumps of its to_dict form,
-- otlpspan.MLflowText), which the trace.text and span.content filters
-- match. Written when a span is applied; spans stored before this
-- migration have none and are matched on their OTLP JSON.
ALTER TABLE trace_spans ADD COLUMN text TEXT;

"""Logs traces to the MLflow server at argv[1] with the stock client:
three traced calls with nested spans, a tag and a feedback on one.
Prints a JSON summary as its last line."""

import json
import sys

import mlflow
from mlflow.entities import AssessmentSource, AssessmentSourceType

mlflow.set_tracking_uri(sys.argv[1])
exp = mlflow.set_experiment("traced-source")


@mlflow.trace(span_type="TOOL")
def add(a, b):
    return a + b


@mlflow.trace(name="pipeline")
def pipeline(x):
    with mlflow.start_span(name="inner") as span:
        span.set_attribute("model", "tiny")
        return add(x, 1)


for i in range(3):
    pipeline(i)
mlflow.flush_trace_async_logging()
traces = mlflow.search_traces(locations=[exp.experiment_id], return_type="list")
first = traces[0].info.trace_id
mlflow.MlflowClient().set_trace_tag(first, "checked", "yes")
mlflow.log_feedback(trace_id=first, name="good", value=True,
                    source=AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="qa"))
print(json.dumps({"experiment_id": exp.experiment_id, "traces": len(traces),
                  "spans": sum(len(t.data.spans) for t in traces), "first": first}))

"""MLflow 3 tracing through the stock client: traced functions and nested
spans (sent over OTLP or as trace records), search with the trace filter
grammar, tags, assessments and deletion. The same tests run against the
stock server (TANDEM_TARGET=mlflow) as the control."""

import json
import time

import mlflow
import pytest
import requests
from mlflow.entities import AssessmentSource, AssessmentSourceType

from helpers import assert_mlflow_error, unique


def _flush():
    mlflow.flush_trace_async_logging()


@pytest.fixture
def traced_experiment():
    exp_id = mlflow.create_experiment(unique("traces"))
    mlflow.set_experiment(experiment_id=exp_id)
    yield exp_id
    mlflow.set_experiment(experiment_id="0")


def _make_traces(tag_value):
    @mlflow.trace(span_type="TOOL")
    def add(a, b):
        return a + b

    @mlflow.trace(name="pipeline")
    def pipeline(x):
        mlflow.update_current_trace(tags={"team": tag_value})
        with mlflow.start_span(name="inner") as span:
            span.set_attribute("model", "tiny-" + tag_value)
            y = add(x, 1)
        return add(y, 2)

    @mlflow.trace(name="broken")
    def broken():
        raise ValueError("boom")

    assert pipeline(1) == 4
    with pytest.raises(ValueError):
        broken()
    _flush()


def _wait_traces(exp_id, n, **kw):
    for _ in range(50):
        got = mlflow.search_traces(locations=[exp_id], return_type="list", **kw)
        if len(got) >= n:
            return got
        time.sleep(0.2)
    return got


def test_traced_functions_and_nested_spans(traced_experiment):
    _make_traces("a")
    traces = _wait_traces(traced_experiment, 2)
    assert len(traces) == 2
    by_name = {t.info.tags.get("mlflow.traceName"): t for t in traces}
    ok = by_name["pipeline"]
    assert ok.info.state.value == "OK"
    assert ok.info.tags["team"] == "a"
    names = sorted(s.name for s in ok.data.spans)
    assert names == ["add", "add", "inner", "pipeline"]
    root = [s for s in ok.data.spans if s.parent_id is None]
    assert len(root) == 1 and root[0].name == "pipeline"
    inner = next(s for s in ok.data.spans if s.name == "inner")
    assert inner.parent_id == root[0].span_id
    assert inner.get_attribute("model") == "tiny-a"
    assert ok.data.spans[0].inputs == {"x": 1} or root[0].inputs == {"x": 1}
    assert root[0].outputs == 4
    assert by_name["broken"].info.state.value == "ERROR"

    got = mlflow.get_trace(ok.info.trace_id)
    assert got.info.trace_id == ok.info.trace_id
    assert sorted(s.name for s in got.data.spans) == names


def test_search_traces_filters(traced_experiment):
    _make_traces("f")
    exp = [traced_experiment]
    assert len(_wait_traces(traced_experiment, 2)) == 2

    def ids(filter_string, **kw):
        got = mlflow.search_traces(locations=exp, filter_string=filter_string, return_type="list", **kw)
        return sorted(t.info.tags.get("mlflow.traceName") for t in got)

    assert ids("trace.status = 'OK'") == ["pipeline"]
    assert ids("trace.status = 'ERROR'") == ["broken"]
    assert ids("tags.team = 'f'") == ["pipeline"]
    assert ids("tags.`team` LIKE 'f%'") == ["pipeline"]
    assert ids("trace.name = 'broken'") == ["broken"]
    assert ids("trace.timestamp_ms > 0") == ["broken", "pipeline"]
    assert ids("trace.timestamp_ms < 1000") == []
    assert ids("span.name = 'inner'") == ["pipeline"]
    assert ids("trace.status = 'OK' AND tags.team = 'nope'") == []
    # Full text matches the span as MLflow keeps it (its to_dict JSON):
    # attribute names and values, not the field names of the OTLP wire form.
    assert ids("trace.text LIKE '%tiny-f%'") == ["pipeline"]
    assert ids("trace.text ILIKE '%mlflow.spanType%'") == ["broken", "pipeline"]
    assert ids("trace.text LIKE '%start_time_unix_nano%'") == ["broken", "pipeline"]
    assert ids("trace.text LIKE '%stringValue%'") == []
    assert ids("span.content LIKE '%boom%'") == ["broken"]
    ordered = mlflow.search_traces(locations=exp, order_by=["timestamp_ms ASC"], return_type="list")
    assert [t.info.request_time for t in ordered] == sorted(t.info.request_time for t in ordered)
    page = mlflow.MlflowClient().search_traces(locations=exp, max_results=1)
    assert len(page) == 1 and page.token
    rest = mlflow.MlflowClient().search_traces(locations=exp, max_results=1, page_token=page.token)
    assert len(rest) == 1 and rest[0].info.trace_id != page[0].info.trace_id


def test_search_traces_bad_filter(server, traced_experiment):
    r = requests.post(server.url + "/api/3.0/mlflow/traces/search", timeout=30, json={
        "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": traced_experiment}}],
        "filter": "trace.status =="})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    r = requests.post(server.url + "/api/3.0/mlflow/traces/search", timeout=30, json={
        "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": traced_experiment}}],
        "filter": "nosuch.thing = 'x'"})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)


def test_trace_tags(traced_experiment):
    _make_traces("t")
    trace = next(t for t in _wait_traces(traced_experiment, 2) if t.info.state.value == "OK")
    client = mlflow.MlflowClient()
    listed = lambda: next(t.info for t in mlflow.search_traces(locations=[traced_experiment], return_type="list")
                          if t.info.trace_id == trace.info.trace_id)
    client.set_trace_tag(trace.info.trace_id, "reviewed", "yes")
    assert client.get_trace(trace.info.trace_id).info.tags["reviewed"] == "yes"
    assert listed().tags["reviewed"] == "yes"  # a search shows it too
    client.delete_trace_tag(trace.info.trace_id, "reviewed")
    assert "reviewed" not in client.get_trace(trace.info.trace_id).info.tags
    assert "reviewed" not in listed().tags
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):
        client.set_trace_tag("tr-" + "0" * 32, "k", "v")


def test_assessments(traced_experiment):
    _make_traces("s")
    trace = next(t for t in _wait_traces(traced_experiment, 2) if t.info.state.value == "OK")
    tid = trace.info.trace_id
    human = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="alice")
    fb = mlflow.log_feedback(trace_id=tid, name="helpful", value=True, source=human, rationale="clear")
    ex = mlflow.log_expectation(trace_id=tid, name="expected", value="4", source=human)
    assert fb.assessment_id and ex.assessment_id
    got = mlflow.get_assessment(tid, fb.assessment_id)
    assert got.name == "helpful" and got.value is True and got.rationale == "clear"
    assert got.source.source_id == "alice"
    assert mlflow.get_assessment(tid, ex.assessment_id).value == "4"

    upd = mlflow.update_assessment(trace_id=tid, assessment_id=fb.assessment_id,
                                   assessment=mlflow.entities.Feedback(name="helpful", value=False))
    assert upd.value is False
    info = mlflow.get_trace(tid).info
    assert sorted(a.name for a in info.assessments) == ["expected", "helpful"]
    listed = lambda: next(t.info for t in mlflow.search_traces(locations=[traced_experiment], return_type="list")
                          if t.info.trace_id == tid)
    assert sorted((a.name, a.value) for a in listed().assessments) == [("expected", "4"), ("helpful", False)]

    mlflow.delete_assessment(trace_id=tid, assessment_id=ex.assessment_id)
    assert [a.name for a in listed().assessments] == ["helpful"]
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):
        mlflow.get_assessment(tid, ex.assessment_id)


def test_expectation_object_values(server, traced_experiment):
    """An expectation whose value is an object or a list is kept as JSON text
    under serialized_value, as MLflow's ExpectationValue writes it; the
    client reads the value back either way."""
    _make_traces("x")
    tid = _wait_traces(traced_experiment, 2)[0].info.trace_id
    human = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id="bob")
    ex = mlflow.log_expectation(trace_id=tid, name="facts", value={"city": "Paris", "n": [1, 2]}, source=human)
    assert mlflow.get_assessment(tid, ex.assessment_id).value == {"city": "Paris", "n": [1, 2]}
    # Sent over REST as a plain value, an object comes back serialized.
    body = {"assessment": {"assessment_name": "raw", "trace_id": tid,
                           "source": {"source_type": "HUMAN", "source_id": "bob"},
                           "expectation": {"value": {"b": 1.5, "a": ["x", True, None]}}}}
    r = requests.post(f"{server.url}/api/3.0/mlflow/traces/{tid}/assessments", json=body, timeout=60)
    assert r.status_code == 200, r.text
    got = r.json()["assessment"]["expectation"]
    # (the keys' order is protobuf's Struct map order on the stock server)
    assert list(got) == ["serialized_value"] and got["serialized_value"]["serialization_format"] == "JSON_FORMAT", got
    assert json.loads(got["serialized_value"]["value"]) == {"b": 1.5, "a": ["x", True, None]}, got
    assert ", " in got["serialized_value"]["value"] and '": ' in got["serialized_value"]["value"], got  # json.dumps form
    aid = r.json()["assessment"]["assessment_id"]
    assert mlflow.get_assessment(tid, aid).value == {"b": 1.5, "a": ["x", True, None]}
    # A string stays a plain value.
    body["assessment"]["expectation"] = {"value": "4"}
    r = requests.post(f"{server.url}/api/3.0/mlflow/traces/{tid}/assessments", json=body, timeout=60)
    assert r.status_code == 200 and r.json()["assessment"]["expectation"] == {"value": "4"}, r.text


def test_delete_traces(traced_experiment):
    _make_traces("d")
    traces = _wait_traces(traced_experiment, 2)
    client = mlflow.MlflowClient()
    first = traces[0].info.trace_id
    assert client.delete_traces(traced_experiment, trace_ids=[first]) == 1
    left = mlflow.search_traces(locations=[traced_experiment], return_type="list")
    assert [t.info.trace_id for t in left] == [traces[1].info.trace_id]
    n = client.delete_traces(traced_experiment, max_timestamp_millis=int(time.time() * 1000) + 1000, max_traces=10)
    assert n == 1
    assert mlflow.search_traces(locations=[traced_experiment], return_type="list") == []


def test_link_traces_to_run(traced_experiment):
    _make_traces("r")
    traces = _wait_traces(traced_experiment, 2)
    with mlflow.start_run() as run:
        pass
    mlflow.MlflowClient().link_traces_to_run([traces[0].info.trace_id], run.info.run_id)
    got = mlflow.search_traces(locations=[traced_experiment], filter_string=f"run_id = '{run.info.run_id}'",
                               return_type="list")
    assert [t.info.trace_id for t in got] == [traces[0].info.trace_id]
    # As the stock server shows them, a link does not make the run the
    # trace's source run, in a search or a get.
    assert "mlflow.sourceRun" not in got[0].info.trace_metadata, got[0].info.trace_metadata
    assert "mlflow.sourceRun" not in mlflow.get_trace(got[0].info.trace_id).info.trace_metadata


def test_otlp_requires_experiment_header(server):
    if server.is_mlflow:
        pytest.skip("the stock server's answer here is not MLflow's error JSON")
    r = requests.post(server.url + "/v1/traces", data=b"", timeout=30,
                      headers={"Content-Type": "application/x-protobuf"})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)


def test_trace_filter_correlation(traced_experiment):
    _make_traces("c")
    _make_traces("c")
    assert len(_wait_traces(traced_experiment, 4)) == 4
    from mlflow.tracing.client import TracingClient

    res = TracingClient().calculate_trace_filter_correlation(
        experiment_ids=[traced_experiment], filter_string1="trace.status = 'OK'",
        filter_string2="tags.team = 'c'")
    assert (res.filter1_count, res.filter2_count, res.joint_count, res.total_count) == (2, 2, 2, 4)
    assert res.npmi == pytest.approx(1.0)
    never = TracingClient().calculate_trace_filter_correlation(
        experiment_ids=[traced_experiment], filter_string1="trace.status = 'OK'",
        filter_string2="trace.status = 'ERROR'")
    assert never.joint_count == 0 and never.npmi == pytest.approx(-1.0)


def _trace_metrics(exp_id, view, metric, aggs, **kw):
    from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType
    from mlflow.tracking._tracking_service.utils import _get_store

    aggregations = [MetricAggregation(aggregation_type=AggregationType(a)) if isinstance(a, str)
                    else MetricAggregation(aggregation_type=AggregationType(a[0]), percentile_value=a[1])
                    for a in aggs]
    return _get_store().query_trace_metrics(experiment_ids=[exp_id], view_type=MetricViewType(view),
                                            metric_name=metric, aggregations=aggregations, **kw)


def test_trace_metrics(traced_experiment):
    """QueryTraceMetrics, as the UI's overview charts ask it: counts by name
    and status, latency, spans by type, assessments by name, time buckets,
    filters, and MLflow's error for a bad aggregation."""
    _make_traces("m")
    _make_traces("n")
    traces = _wait_traces(traced_experiment, 4)
    assert len(traces) == 4
    by_name = _trace_metrics(traced_experiment, "TRACES", "trace_count", ["COUNT"], dimensions=["trace_name"])
    assert [(p.dimensions, p.values) for p in by_name] == [
        ({"trace_name": "broken"}, {"COUNT": 2.0}), ({"trace_name": "pipeline"}, {"COUNT": 2.0})]
    by_status = _trace_metrics(traced_experiment, "TRACES", "trace_count", ["COUNT"], dimensions=["trace_status"])
    assert {p.dimensions["trace_status"]: p.values["COUNT"] for p in by_status} == {"ERROR": 2.0, "OK": 2.0}
    ok = _trace_metrics(traced_experiment, "TRACES", "trace_count", ["COUNT"], filters=['trace.status = "OK"'])
    assert [p.values for p in ok] == [{"COUNT": 2.0}]
    tagged = _trace_metrics(traced_experiment, "TRACES", "trace_count", ["COUNT"], filters=["trace.tag.team = 'm'"])
    assert [p.values for p in tagged] == [{"COUNT": 1.0}]

    latencies = sorted(t.info.execution_duration for t in traces)
    lat = _trace_metrics(traced_experiment, "TRACES", "latency", ["MIN", "MAX", "AVG", ("PERCENTILE", 50.0)])
    assert len(lat) == 1
    v = lat[0].values
    assert v["MIN"] == latencies[0] and v["MAX"] == latencies[-1]
    assert v["AVG"] == pytest.approx(sum(latencies) / 4)
    assert v["P50.0"] == pytest.approx((latencies[1] + latencies[2]) / 2)

    spans = _trace_metrics(traced_experiment, "SPANS", "span_count", ["COUNT"], dimensions=["span_type"])
    counts = {p.dimensions["span_type"]: p.values["COUNT"] for p in spans}
    assert counts["TOOL"] == 4.0  # add() twice per pipeline
    named = _trace_metrics(traced_experiment, "SPANS", "span_count", ["COUNT"], filters=['span.name = "inner"'])
    assert [p.values for p in named] == [{"COUNT": 2.0}]

    ok_ids = [t.info.trace_id for t in traces if t.info.state.value == "OK"]
    mlflow.log_feedback(trace_id=ok_ids[0], name="helpful", value=True)
    mlflow.log_feedback(trace_id=ok_ids[1], name="helpful", value=False)
    mlflow.log_feedback(trace_id=ok_ids[1], name="score", value=0.5)
    assess = _trace_metrics(traced_experiment, "ASSESSMENTS", "assessment_count", ["COUNT"], dimensions=["assessment_name"])
    assert [(p.dimensions, p.values) for p in assess] == [
        ({"assessment_name": "helpful"}, {"COUNT": 2.0}), ({"assessment_name": "score"}, {"COUNT": 1.0})]
    values = _trace_metrics(traced_experiment, "ASSESSMENTS", "assessment_value", ["AVG"], dimensions=["assessment_name"])
    assert {p.dimensions["assessment_name"]: p.values["AVG"] for p in values} == {"helpful": 0.5, "score": 0.5}
    by_value = _trace_metrics(traced_experiment, "ASSESSMENTS", "assessment_count", ["COUNT"],
                              dimensions=["assessment_value"], filters=["assessment.name = 'helpful'"])
    assert {p.dimensions["assessment_value"]: p.values["COUNT"] for p in by_value} == {"false": 1.0, "true": 1.0}

    start = min(t.info.request_time for t in traces)
    buckets = _trace_metrics(traced_experiment, "TRACES", "trace_count", ["COUNT"], time_interval_seconds=86400,
                             start_time_ms=start - 86_400_000, end_time_ms=start + 86_400_000)
    assert sum(p.values["COUNT"] for p in buckets) == 4.0
    assert all(p.dimensions["time_bucket"].endswith("T00:00:00+00:00") for p in buckets)

    with pytest.raises(mlflow.exceptions.MlflowException) as e:
        _trace_metrics(traced_experiment, "TRACES", "trace_count", ["SUM"])
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Found invalid aggregation_type(s): ['SUM']. Supported aggregation types: ['COUNT']" in e.value.message


def test_search_traces_v2(server, traced_experiment):
    """MLflow 2's GET traces, which MLflow 3 servers still answer: v2 trace
    infos (request_id, status), its filter grammar, pages, and its bound."""
    _make_traces("v2")
    _wait_traces(traced_experiment, 2)
    url = server.url + "/api/2.0/mlflow/traces"
    r = requests.get(url, params={"experiment_ids": traced_experiment, "filter": "trace.status = 'ERROR'"}, timeout=30)
    assert r.status_code == 200, r.text
    traces = r.json()["traces"]
    assert len(traces) == 1 and traces[0]["status"] == "ERROR"
    assert traces[0]["request_id"].startswith("tr-") and traces[0]["experiment_id"] == traced_experiment
    first = requests.get(url, params={"experiment_ids": traced_experiment, "max_results": 1}, timeout=30).json()
    assert len(first["traces"]) == 1 and first["next_page_token"]
    second = requests.get(url, params={"experiment_ids": traced_experiment, "max_results": 1,
                                       "page_token": first["next_page_token"]}, timeout=30).json()
    assert len(second["traces"]) == 1 and second["traces"][0]["request_id"] != first["traces"][0]["request_id"]
    r = requests.get(url, params={"experiment_ids": traced_experiment, "max_results": 501}, timeout=30)
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    r = requests.get(url, timeout=30)
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)


def test_link_prompts_to_trace(traced_experiment):
    name = unique("greeting")
    pv = mlflow.genai.register_prompt(name=name, template="Hello {{name}}")
    _make_traces("p")
    traces = _wait_traces(traced_experiment, 2)
    client = mlflow.MlflowClient()
    client.link_prompt_versions_to_trace(prompt_versions=[pv], trace_id=traces[0].info.trace_id)
    # Twice is the same as once.
    client.link_prompt_versions_to_trace(prompt_versions=[pv], trace_id=traces[0].info.trace_id)
    got = mlflow.search_traces(locations=[traced_experiment], filter_string=f'prompt = "{name}/1"',
                               return_type="list")
    assert [t.info.trace_id for t in got] == [traces[0].info.trace_id]
    assert mlflow.search_traces(locations=[traced_experiment], filter_string=f'prompt = "{name}/2"',
                                return_type="list") == []

    # A prompt loaded inside a traced call is linked by the client itself.
    @mlflow.trace(name="uses-prompt")
    def greet(who):
        return mlflow.genai.load_prompt(f"prompts:/{name}/1").format(name=who)

    assert greet("ada") == "Hello ada"
    _flush()
    for _ in range(50):
        got = mlflow.search_traces(locations=[traced_experiment], filter_string=f'prompt = "{name}/1"',
                                   return_type="list")
        if len(got) == 2:
            break
        time.sleep(0.2)
    assert len(got) == 2

    with pytest.raises(mlflow.exceptions.MlflowException, match="prompts filter"):
        mlflow.search_traces(locations=[traced_experiment], filter_string=f'prompt != "{name}/1"')
    with pytest.raises(mlflow.exceptions.MlflowException, match="prompts filter value"):
        mlflow.search_traces(locations=[traced_experiment], filter_string='prompt = "no-version"')
    with pytest.raises(mlflow.exceptions.MlflowException) as e:
        client.link_prompt_versions_to_trace(prompt_versions=[pv], trace_id="tr-00000000000000000000000000000000")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"

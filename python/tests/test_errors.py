"""Error cases: the error_code and HTTP status MLflow answers, through the
client and straight on the REST API. A rejected request changes nothing."""

import json

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag

from helpers import assert_mlflow_error, assert_raises_mlflow, unique

MISSING_RUN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def run_id(client, experiment):
    return client.create_run(experiment.experiment_id).info.run_id


def test_unknown_run(client):
    assert_raises_mlflow(lambda: client.get_run(MISSING_RUN), "RESOURCE_DOES_NOT_EXIST", 404)
    assert_raises_mlflow(lambda: client.log_metric(MISSING_RUN, "m", 1.0),
                         "RESOURCE_DOES_NOT_EXIST", 404)
    assert_raises_mlflow(lambda: client.log_param(MISSING_RUN, "p", "v"),
                         "RESOURCE_DOES_NOT_EXIST", 404)
    assert_raises_mlflow(lambda: client.set_tag(MISSING_RUN, "t", "v"),
                         "RESOURCE_DOES_NOT_EXIST", 404)
    assert_raises_mlflow(lambda: client.delete_run(MISSING_RUN), "RESOURCE_DOES_NOT_EXIST", 404)


def test_unknown_run_rest(server):
    r = server.api("GET", "mlflow/runs/get", params={"run_id": MISSING_RUN})
    assert_mlflow_error(r, "RESOURCE_DOES_NOT_EXIST", 404)
    r = server.api("POST", "mlflow/runs/log-batch", json={"run_id": MISSING_RUN, "metrics": [
        {"key": "m", "value": 1, "timestamp": 1, "step": 0}]})
    assert_mlflow_error(r, "RESOURCE_DOES_NOT_EXIST", 404)


def test_unknown_experiment(client, server):
    assert_raises_mlflow(lambda: client.get_experiment("987654321"), "RESOURCE_DOES_NOT_EXIST", 404)
    r = server.api("GET", "mlflow/experiments/get-by-name", params={"experiment_name": unique("none")})
    assert_mlflow_error(r, "RESOURCE_DOES_NOT_EXIST", 404)
    assert_raises_mlflow(lambda: client.create_run("987654321"), "RESOURCE_DOES_NOT_EXIST", 404)


def test_unknown_model(client):
    assert_raises_mlflow(lambda: client.get_registered_model(unique("none")),
                         "RESOURCE_DOES_NOT_EXIST", 404)
    assert_raises_mlflow(lambda: client.get_model_version(unique("none"), "1"),
                         "RESOURCE_DOES_NOT_EXIST", 404)


def test_duplicate_experiment(client, server):
    name = unique("dup")
    client.create_experiment(name)
    assert_raises_mlflow(lambda: client.create_experiment(name), "RESOURCE_ALREADY_EXISTS", 400)
    r = server.api("POST", "mlflow/experiments/create", json={"name": name})
    assert_mlflow_error(r, "RESOURCE_ALREADY_EXISTS", 400)
    found = client.search_experiments(filter_string=f"name = '{name}'")
    assert len(found) == 1


def test_param_relogged_with_other_value(client, run_id):
    client.log_param(run_id, "p", "1")
    client.log_param(run_id, "p", "1")  # same value: fine
    assert_raises_mlflow(lambda: client.log_param(run_id, "p", "2"), "INVALID_PARAMETER_VALUE", 400)
    assert_raises_mlflow(lambda: client.log_batch(run_id, params=[Param("p", "3")]),
                         "INVALID_PARAMETER_VALUE", 400)
    assert client.get_run(run_id).data.params == {"p": "1"}


def test_deleted_run_rejects_writes(client, run_id):
    client.delete_run(run_id)
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.log_metric(run_id, "m", 1.0)
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.log_param(run_id, "p", "v")
    client.restore_run(run_id)
    client.log_metric(run_id, "m", 1.0)
    assert client.get_run(run_id).data.metrics == {"m": 1.0}


@pytest.mark.parametrize("body", [
    {"metrics": [{"key": "m", "value": i, "timestamp": 1, "step": i} for i in range(1001)]},
    {"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]},
    {"tags": [{"key": f"t{i}", "value": "v"} for i in range(101)]},
    {"metrics": [{"key": "k" * 251, "value": 1, "timestamp": 1, "step": 0}]},
    {"params": [{"key": "k" * 251, "value": "v"}]},
    {"tags": [{"key": "k" * 251, "value": "v"}]},
    {"metrics": [{"key": "ok", "value": 1, "timestamp": 1, "step": 0}],
     "params": [{"key": "k" * 251, "value": "v"}]},
], ids=["1001-metrics", "101-params", "101-tags", "long-metric-key", "long-param-key",
        "long-tag-key", "mixed-one-bad"])
def test_log_batch_over_limits(server, client, run_id, body):
    r = server.api("POST", "mlflow/runs/log-batch", json={"run_id": run_id, **body})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    data = client.get_run(run_id).data
    assert data.metrics == {} and data.params == {}
    assert not [k for k in data.tags if not k.startswith("mlflow.")]


def test_single_calls_over_limits(server, run_id, client):
    r = server.api("POST", "mlflow/runs/log-parameter", json={"run_id": run_id, "key": "k" * 251, "value": "v"})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    r = server.api("POST", "mlflow/runs/log-metric", json={"run_id": run_id, "key": "k" * 251,
                                                          "value": 1, "timestamp": 1})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    r = server.api("POST", "mlflow/runs/set-tag", json={"run_id": run_id, "key": "k" * 251, "value": "v"})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    r = server.api("POST", "mlflow/experiments/create", json={"name": "n" * 501})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    data = client.get_run(run_id).data
    assert data.metrics == {} and data.params == {}


@pytest.mark.parametrize("kind,limit", [("param", 6000), ("tag", 8000)])
def test_long_values_never_stored_over_limit(server, client, run_id, kind, limit):
    """MLflow truncates over-long param/tag values by default; rejecting them
    is also acceptable. Storing them whole is not."""
    value = "v" * (limit + 500)
    if kind == "param":
        r = server.api("POST", "mlflow/runs/log-parameter", json={"run_id": run_id, "key": "k", "value": value})
    else:
        r = server.api("POST", "mlflow/runs/set-tag", json={"run_id": run_id, "key": "k", "value": value})
    data = client.get_run(run_id).data
    stored = data.params.get("k") if kind == "param" else data.tags.get("k")
    if r.status_code == 200:
        assert stored is not None and len(stored) <= limit
    else:
        assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
        assert stored is None


def test_missing_and_wrongly_typed_fields(server, run_id):
    r = server.api("POST", "mlflow/runs/log-metric", json={"run_id": run_id, "key": "m", "timestamp": 1})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    r = server.api("POST", "mlflow/runs/log-metric", json={"run_id": run_id, "key": "m",
                                                          "value": "abc", "timestamp": 1})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    r = server.api("POST", "mlflow/experiments/create", json={"name": 5})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    r = server.api("POST", "mlflow/experiments/create", json={})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)


@pytest.mark.parametrize("raw", [
    b'{"name": ',
    b'{"name": "x",}',
    b"not json at all",
    b'{"name": "a\xff\xfe"}',
    b'{"name": "\xc3\x28"}',
], ids=["truncated", "trailing-comma", "garbage", "invalid-utf8", "invalid-utf8-2"])
def test_malformed_bodies(server, client, raw):
    before = len(client.search_experiments(max_results=1000))
    r = server.api("POST", "mlflow/experiments/create", data=raw,
                   headers={"Content-Type": "application/json"})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    assert len(client.search_experiments(max_results=1000)) == before


def test_malformed_log_batch_changes_nothing(server, client, run_id):
    raw = json.dumps({"run_id": run_id, "params": [{"key": "p", "value": "v"}]}).encode()[:-3]
    r = server.api("POST", "mlflow/runs/log-batch", data=raw, headers={"Content-Type": "application/json"})
    # MLflow itself answers this one with an HTML 500; only "rejected" is common ground.
    assert r.status_code >= 400
    assert client.get_run(run_id).data.params == {}


def test_oversized_body(server, client, run_id):
    """A 20 MB request: MLflow truncates the value; a server with a body limit
    rejects it with MLflow's error format. Either way nothing over the limit
    is stored and the server keeps serving."""
    body = json.dumps({"run_id": run_id, "tags": [{"key": "huge", "value": "y" * (20 << 20)}]})
    r = server.api("POST", "mlflow/runs/log-batch", data=body, headers={"Content-Type": "application/json"})
    tags = client.get_run(run_id).data.tags
    if r.status_code == 200:
        assert len(tags["huge"]) <= 8000
    else:
        assert r.status_code in (400, 413), r.status_code
        assert_mlflow_error(r, r.json().get("error_code"))
        assert r.json()["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_LIMIT_EXCEEDED",
                                          "BAD_REQUEST", "REQUEST_LIMIT_EXCEEDED")
        assert "huge" not in tags
    client.set_tag(run_id, "after", "ok")
    assert client.get_run(run_id).data.tags["after"] == "ok"


def test_bad_filter_string(client, experiment):
    assert_raises_mlflow(lambda: client.search_runs([experiment.experiment_id],
                                                    filter_string="metrics.m >>> 1"),
                         "INVALID_PARAMETER_VALUE", 400)
    assert_raises_mlflow(lambda: client.search_runs([experiment.experiment_id],
                                                    filter_string="nosuchentity.x = '1'"),
                         "INVALID_PARAMETER_VALUE", 400)


def test_bad_page_token(server, experiment):
    r = server.api("POST", "mlflow/runs/search", json={"experiment_ids": [experiment.experiment_id],
                                                      "page_token": "not-a-token"})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)


def test_unserved_endpoint_is_an_error(server):
    """An API path the server does not have is an error, never a success."""
    r = server.api("POST", "mlflow/no-such-endpoint/at-all", json={})
    assert r.status_code in (404, 405, 501)


@pytest.mark.parametrize("scheme", ["http", "https", "ftp", "sftp", "hdfs", "mlflow-artifacts"])
def test_host_addressed_locations_refused(server, client, experiment, scheme):
    """A location naming a host to connect to is refused, as MLflow 3's
    server refuses it (the server would connect wherever a client says);
    object stores and mlflow-artifacts:/ paths are not."""
    name = unique("hostexp")
    r = server.api("POST", "mlflow/experiments/create",
                   json={"name": name, "artifact_location": f"{scheme}://elsewhere:9000/x"})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    assert f"'artifact_location' cannot use the '{scheme}' scheme" in r.json()["message"]
    assert client.get_experiment_by_name(name) is None
    model = unique("hostmodel")
    client.create_registered_model(model)
    run = client.create_run(experiment.experiment_id)
    r = server.api("POST", "mlflow/model-versions/create",
                   json={"name": model, "source": f"{scheme}://elsewhere:9000/models", "run_id": run.info.run_id})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    assert f"'source' cannot use the '{scheme}' scheme" in r.json()["message"]
    assert client.search_model_versions(f"name='{model}'") == []
    # Not host-addressed: accepted.
    assert client.create_experiment(unique("s3exp"), artifact_location="s3://bucket/x")
    mv = client.create_model_version(model, "s3://bucket/models/m", run_id=run.info.run_id)
    assert mv.version == "1"


@pytest.mark.parametrize("loc,message", [
    ("s3://bucket/x?a=..%2f", "Invalid query string"),
    ("/abs/x?a=%252e%252e", "Invalid query string"),
    ("/abs/x;p", "'artifact_location' URL can't include fragments or params."),
    ("s3://bucket/x#f", "'artifact_location' URL can't include fragments or params."),
])
def test_artifact_location_url_checks(server, client, loc, message):
    name = unique("locexp")
    r = server.api("POST", "mlflow/experiments/create", json={"name": name, "artifact_location": loc})
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    assert r.json()["message"] == message
    assert client.get_experiment_by_name(name) is None

"""The MLflow UI's own endpoints (under /ajax-api/), called as the UI calls them."""

import math

import requests
from mlflow.entities import Metric

from helpers import assert_mlflow_error


def _ajax(server, method, path, **kw):
    kw.setdefault("timeout", 60)
    return requests.request(method, f"{server.url}/ajax-api/2.0/mlflow/{path}", **kw)


def test_metric_history_bulk(server, client, experiment):
    ids = []
    for _ in range(2):
        run = client.create_run(experiment.experiment_id)
        client.log_batch(run.info.run_id, metrics=[
            Metric("m", 1.0, 30, 0), Metric("m", 2.0, 20, 1), Metric("m", float("nan"), 10, 2),
            Metric("other", 9.0, 5, 0)])
        ids.append(run.info.run_id)
    lo, hi = sorted(ids)
    r = _ajax(server, "GET", "metrics/get-history-bulk",
              params=[("run_id", hi), ("run_id", lo), ("metric_key", "m")])
    assert r.status_code == 200, r.text
    pts = r.json()["metrics"]
    got = [(p["run_id"], p["timestamp"], p["step"], p["key"]) for p in pts]
    assert got == [(rid, ts, st, "m") for rid in (lo, hi) for ts, st in ((10, 2), (20, 1), (30, 0))]
    # NaN comes back as MLflow writes it in JSON (the string "NaN").
    vals = [p["value"] for p in pts[:3]]
    assert math.isnan(float(vals[0])) and vals[1:] == [2.0, 1.0], vals
    r = _ajax(server, "GET", "metrics/get-history-bulk",
              params=[("run_id", hi), ("run_id", lo), ("metric_key", "m"), ("max_results", "4")])
    assert r.status_code == 200 and len(r.json()["metrics"]) == 4, r.text

    r = _ajax(server, "GET", "metrics/get-history-bulk", params={"metric_key": "m"})
    body = assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    assert "must specify at least one run_id" in body["message"]
    r = _ajax(server, "GET", "metrics/get-history-bulk", params={"run_id": lo})
    body = assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    assert "must specify a metric_key" in body["message"]
    r = _ajax(server, "GET", "metrics/get-history-bulk",
              params=[("run_id", lo)] * 101 + [("metric_key", "m")])
    body = assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    assert "cannot specify more than 100 run_ids" in body["message"]


def test_search_datasets(server, client, experiment):
    import mlflow
    import pandas as pd

    ds = mlflow.data.from_pandas(pd.DataFrame({"x": [1, 2]}), name="ajax-ds")
    for ctx in ("training", "eval"):
        with mlflow.start_run(experiment_id=experiment.experiment_id):
            mlflow.log_input(ds, context=ctx)
    r = _ajax(server, "POST", "experiments/search-datasets",
              json={"experiment_ids": [experiment.experiment_id]})
    assert r.status_code == 200, r.text
    got = sorted((s["experiment_id"], s["name"], s["digest"], s.get("context"))
                 for s in r.json()["dataset_summaries"])
    assert got == sorted((experiment.experiment_id, "ajax-ds", ds.digest, c) for c in ("training", "eval"))
    r = _ajax(server, "POST", "experiments/search-datasets", json={"experiment_ids": []})
    body = assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    assert "must specify at least one experiment_id" in body["message"]


def test_upload_artifact(server, client, experiment):
    run = client.create_run(experiment.experiment_id)
    rid = run.info.run_id
    r = _ajax(server, "POST", "upload-artifact", params={"run_uuid": rid, "path": "tables/t.json"},
              data=b'{"a": 1}')
    assert r.status_code == 200 and r.content == b"", (r.status_code, r.text)
    r = _ajax(server, "POST", "upload-artifact", params={"run_uuid": rid, "path": "top.txt"}, data=b"one")
    assert r.status_code == 200, r.text
    assert sorted((f.path, f.is_dir) for f in client.list_artifacts(rid)) == [("tables", True), ("top.txt", False)]
    got = requests.get(f"{server.url}/get-artifact", params={"run_uuid": rid, "path": "tables/t.json"}, timeout=60)
    assert got.status_code == 200 and got.content == b'{"a": 1}'

    for params, data, code, status, words in [
        ({"path": "x"}, b"1", "INVALID_PARAMETER_VALUE", 400, "Request must specify run_uuid."),
        ({"run_uuid": rid}, b"1", "INVALID_PARAMETER_VALUE", 400, "Request must specify path."),
        ({"run_uuid": rid, "path": "../x"}, b"1", "INVALID_PARAMETER_VALUE", 400, "Invalid path"),
        ({"run_uuid": rid, "path": "/etc/x"}, b"1", "INVALID_PARAMETER_VALUE", 400, "Invalid path"),
        ({"run_uuid": rid, "path": "x"}, b"", "INVALID_PARAMETER_VALUE", 400, "Request must specify data."),
        ({"run_uuid": "nope", "path": "x"}, b"1", "RESOURCE_DOES_NOT_EXIST", 404, "Run with id=nope not found"),
    ]:
        body = assert_mlflow_error(_ajax(server, "POST", "upload-artifact", params=params, data=data), code, status)
        assert body["message"] == words, (params, body)
    assert sorted(f.path for f in client.list_artifacts(rid)) == ["tables", "top.txt"]


def test_create_promptlab_run(server, client, experiment):
    import json

    import mlflow

    body = {"experiment_id": experiment.experiment_id, "run_name": "lab", "tags": [],
            "prompt_template": "Say {{ a }} and {{ b }}",
            "prompt_parameters": [{"key": "a", "value": "x"}, {"key": "b", "value": 2}],
            "model_route": "chat", "model_parameters": [{"key": "temperature", "value": 0.5}],
            "model_input": "Say x and 2", "model_output": "x 2",
            "model_output_parameters": [{"key": "latency", "value": 12}], "mlflow_version": "2.7.1"}
    r = _ajax(server, "POST", "runs/create-promptlab-run", json=body)
    assert r.status_code == 200, r.text
    info = r.json()["run"]["info"]
    assert (info["status"], info["run_name"], info["user_id"]) == ("FINISHED", "lab", "unknown")
    run = client.get_run(info["run_id"])
    assert run.data.params == {"temperature": "0.5", "model_route": "chat",
                               "prompt_template": "Say {{ a }} and {{ b }}"}
    assert run.data.tags["mlflow.runSourceType"] == "PROMPT_ENGINEERING"
    assert json.loads(run.data.tags["mlflow.loggedArtifacts"]) == [{"path": "eval_results_table.json", "type": "table"}]
    assert [h["artifact_path"] for h in json.loads(run.data.tags["mlflow.log-model.history"])] == ["model"]
    table = json.loads(requests.get(f"{server.url}/get-artifact", timeout=60, params={
        "run_uuid": run.info.run_id, "path": "eval_results_table.json"}).content)
    assert table == {"columns": ["a", "b", "prompt", "output", "latency"], "data": [["x", "2", "Say x and 2", "x 2", "12"]]}
    # The model is a pyfunc MLflow loads (predicting would need a gateway).
    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert model.metadata.flavors["python_function"]["loader_module"] == "mlflow.prompt.promptlab_model"

    body.pop("model_route")
    r = _ajax(server, "POST", "runs/create-promptlab-run", json=body)
    assert assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)["message"] == \
        "CreatePromptlabRun request must specify model_route."


def test_logged_model_artifact_file(server, client, experiment, tmp_path):
    model = client.create_logged_model(experiment.experiment_id, name="m")
    (tmp_path / "sub").mkdir()
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    (tmp_path / "sub" / "x.txt").write_text("hello")
    client.log_model_artifacts(model.model_id, str(tmp_path))
    files = f"logged-models/{model.model_id}/artifacts/files"
    r = _ajax(server, "GET", files, params={"artifact_file_path": "sub/x.txt"})
    assert r.status_code == 200 and r.content == b"hello", r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["Content-Disposition"].startswith("attachment")
    assert assert_mlflow_error(_ajax(server, "GET", files), "BAD_REQUEST", 400)["message"] == \
        'Request must include the "artifact_file_path" query parameter.'
    body = assert_mlflow_error(_ajax(server, "GET", files, params={"artifact_file_path": "sub"}),
                               "INVALID_PARAMETER_VALUE", 400)
    assert body["message"].startswith("Artifact path refers to a directory, not a file")
    assert_mlflow_error(_ajax(server, "GET", files, params={"artifact_file_path": "nope"}), "RESOURCE_DOES_NOT_EXIST", 404)
    assert_mlflow_error(_ajax(server, "GET", files, params={"artifact_file_path": "../x"}), "INVALID_PARAMETER_VALUE", 400)


def test_ui_load_endpoints(server):
    """What the UI reads when a page loads, in the shape both servers give."""
    r = requests.get(f"{server.url}/ajax-api/3.0/mlflow/server-info", timeout=60)
    assert r.status_code == 200, r.text
    info = r.json()
    for key in ("workspaces_enabled", "trace_archival_enabled", "multipart_uploads_enabled",
                "multipart_downloads_enabled"):
        assert isinstance(info[key], bool), (key, info)
    assert info["store_type"] == "SqlStore" and info["workspaces_enabled"] is False
    assert isinstance(info["features_enabled"]["gateway"], bool)
    r = requests.get(f"{server.url}/ajax-api/3.0/mlflow/ui-telemetry", timeout=60)
    assert r.status_code == 200 and set(r.json()) == {"disable_ui_telemetry", "disable_ui_events", "ui_rollout_percentage"}
    r = _ajax(server, "GET", "gateway-proxy", params={"gateway_path": "api/2.0/endpoints"})
    assert r.status_code == 200 and r.json() == {"endpoints": []}, r.text
    # The account menu's identity: MLflow serves it only with its basic-auth app.
    r = requests.get(f"{server.url}/ajax-api/2.0/mlflow/users/current", timeout=60)
    assert r.status_code == 404, (r.status_code, r.text[:200])


def test_get_trace_artifact(server, client, experiment):
    """The UI's trace view reads the spans as MLflow's traces.json."""
    import mlflow
    from mlflow.entities.trace_data import TraceData

    @mlflow.trace(span_type="AGENT")
    def outer(x):
        return inner(x) + 1

    @mlflow.trace
    def inner(x):
        return x * 2

    assert outer(3) == 7
    trace_id = mlflow.get_last_active_trace_id()
    mlflow.flush_trace_async_logging()
    for version in ("2.0", "3.0"):
        r = requests.get(f"{server.url}/ajax-api/{version}/mlflow/get-trace-artifact",
                         params={"request_id": trace_id}, timeout=60)
        assert r.status_code == 200, r.text
        assert "traces.json" in r.headers["Content-Disposition"]
        data = TraceData.from_dict(r.json())
        spans = {s.name: s for s in data.spans}
        assert set(spans) == {"outer", "inner"}
        assert spans["inner"].parent_id == spans["outer"].span_id
        assert spans["outer"].span_type == "AGENT" and spans["outer"].outputs == 7
        assert spans["inner"].inputs == {"x": 3}
        # The file keeps every attribute value as JSON text, as MLflow does.
        raw = {s["name"]: s for s in r.json()["spans"]}
        assert raw["outer"]["attributes"]["mlflow.spanType"] == '"AGENT"', raw["outer"]["attributes"]
        assert raw["inner"]["attributes"]["mlflow.spanInputs"] == '{"x": 3}', raw["inner"]["attributes"]
    r = requests.get(f"{server.url}/ajax-api/3.0/mlflow/get-trace-artifact", params={"request_id": "tr-nope"}, timeout=60)
    assert_mlflow_error(r, "RESOURCE_DOES_NOT_EXIST", 404)
    r = requests.get(f"{server.url}/ajax-api/3.0/mlflow/get-trace-artifact", timeout=60)
    assert_mlflow_error(r, "BAD_REQUEST", 400)

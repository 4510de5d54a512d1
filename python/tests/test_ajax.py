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

"""The server's plain endpoints and the UI's /ajax-api prefix."""

import requests


def test_version(server):
    r = requests.get(server.url + "/version", timeout=10)
    assert r.status_code == 200
    assert r.text.strip()


def test_ajax_api_prefix(server):
    """The MLflow UI calls the same API under /ajax-api/2.0/mlflow/."""
    r = requests.get(server.url + "/ajax-api/2.0/mlflow/experiments/get",
                     params={"experiment_id": "0"}, timeout=10)
    assert r.status_code == 200
    assert r.json()["experiment"]["name"] == "Default"
    r = requests.post(server.url + "/ajax-api/2.0/mlflow/runs/search",
                      json={"experiment_ids": ["0"], "max_results": 1}, timeout=10)
    assert r.status_code == 200


def test_get_accepts_query_string(server):
    r = server.api("GET", "mlflow/experiments/get-by-name", params={"experiment_name": "Default"})
    assert r.status_code == 200
    assert r.json()["experiment"]["experiment_id"] == "0"

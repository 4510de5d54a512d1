"""Identity and access with the stock mlflow client (issue 12).

Starts its own tandem server with authentication on (the shared session
server runs with --no-auth) and drives it with the stock client: a token
(MLFLOW_TRACKING_TOKEN) and HTTP basic (MLFLOW_TRACKING_USERNAME/PASSWORD)
each run a training session; a Reader's token reads and gets
PERMISSION_DENIED on writes; no credentials get UNAUTHENTICATED.
"""

import base64
import os
import secrets
import subprocess
import time

import pytest
import requests

from conftest import _free_port

pytestmark = pytest.mark.skipif(os.environ.get("TANDEM_TARGET", "mlflow") == "mlflow" or not os.environ.get("TANDEM_BIN"),
                                reason="tandem's authentication (the stock server has no such mode here)")


def _token():
    return "tdm_" + secrets.token_hex(8) + "_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    work = tmp_path_factory.mktemp("auth")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    owner = _token()
    env = {k: v for k, v in os.environ.items() if k != "TANDEM_NO_AUTH"}
    env["TANDEM_BOOTSTRAP_TOKEN"] = owner
    log = open(work / "server.log", "wb")
    proc = subprocess.Popen([os.environ["TANDEM_BIN"], "server", "--listen", f"127.0.0.1:{port}",
                             "--metadata", f"sqlite://{work}/t.db", "--artifacts", f"file://{work}/a"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    for _ in range(300):
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("auth server did not start")
    api = url + "/api/tandem/v1"
    h = {"Authorization": "Bearer " + owner}
    r = requests.post(api + "/principals", json={"name": "alice", "kind": "user", "password": "alice-pw-123"}, headers=h)
    assert r.status_code == 200, r.text
    r = requests.post(api + "/role-assignments", json={"role": "AzureML Data Scientist", "assignee": "alice"}, headers=h)
    assert r.status_code == 200, r.text
    r = requests.post(api + "/principals", json={"name": "rita", "kind": "service_principal"}, headers=h)
    assert r.status_code == 200, r.text
    reader = r.json()["token"]
    r = requests.post(api + "/role-assignments", json={"role": "Reader", "assignee": "rita"}, headers=h)
    assert r.status_code == 200, r.text
    yield {"url": url, "owner": owner, "reader": reader, "work": work}
    proc.terminate()
    proc.wait(20)
    log.close()
    text = (work / "server.log").read_text(errors="replace")
    for s in (owner, reader, "alice-pw-123"):
        assert s not in text, "a secret reached the server log"


@pytest.fixture
def creds(monkeypatch, auth_server):
    import mlflow

    for k in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(k, raising=False)
    old = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(auth_server["url"])
    while mlflow.active_run():
        mlflow.end_run()
    yield monkeypatch
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(old)


def _session(name, tmp_path):
    import mlflow

    exp = mlflow.set_experiment(name)
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.1)
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        p = tmp_path / "notes.txt"
        p.write_text("trained")
        mlflow.log_artifact(str(p))
    got = mlflow.get_run(run.info.run_id)
    assert got.data.params["lr"] == "0.1" and got.data.metrics["loss"] == pytest.approx(1 / 3)
    assert [a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)] == ["notes.txt"]
    return exp


def test_token_session(creds, auth_server, tmp_path):
    creds.setenv("MLFLOW_TRACKING_TOKEN", auth_server["owner"])
    _session("auth-token", tmp_path)


def test_basic_session(creds, auth_server, tmp_path):
    creds.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    creds.setenv("MLFLOW_TRACKING_PASSWORD", "alice-pw-123")
    _session("auth-basic", tmp_path)


def test_reader_reads_but_cannot_write(creds, auth_server, tmp_path):
    import mlflow
    from mlflow.exceptions import MlflowException

    creds.setenv("MLFLOW_TRACKING_TOKEN", auth_server["owner"])
    exp = _session("auth-reader", tmp_path)
    creds.setenv("MLFLOW_TRACKING_TOKEN", auth_server["reader"])
    runs = mlflow.search_runs([exp.experiment_id])
    assert len(runs) == 1
    c = mlflow.MlflowClient()
    with pytest.raises(MlflowException) as e:
        c.create_experiment("reader-was-here")
    assert e.value.error_code == "PERMISSION_DENIED"
    with pytest.raises(MlflowException) as e:
        c.create_run(exp.experiment_id)
    assert e.value.error_code == "PERMISSION_DENIED"
    assert c.get_experiment_by_name("reader-was-here") is None


def test_no_or_bad_credentials(creds, auth_server):
    from mlflow.exceptions import MlflowException
    import mlflow

    c = mlflow.MlflowClient()
    with pytest.raises(MlflowException) as e:
        c.search_experiments()
    assert e.value.error_code == "UNAUTHENTICATED"
    creds.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    creds.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-password")
    with pytest.raises(MlflowException) as e:
        c.search_experiments()
    assert e.value.error_code == "UNAUTHENTICATED"

"""Jobs on local compute with the stock mlflow client (issue 14).

A data scientist writes a scikit-learn training script that uses only the
stock ``mlflow`` package, an Azure ML CLI v2 job file, and runs
``tandem job create -f job.yml --stream``. The job's process logs into
its own MLflow run (tandem gives it MLFLOW_TRACKING_URI, MLFLOW_RUN_ID and a
token), its ``mlflow_model`` output is registered as a model version, and
``mlflow.pyfunc.load_model`` loads that version and predicts what the
script's model predicts.

Local compute runs jobs with the host's Python when the job names no
environment: the server here is started with this virtualenv first on its
PATH, as a workstation with its Python environment would be.
"""

import base64
import json
import os
import secrets
import subprocess
import sys
import textwrap
import time

import pytest
import requests

from conftest import _free_port
from helpers import unique
from test_webhooks import Receiver  # also lets this module's server send webhooks to loopback

pytestmark = pytest.mark.skipif(os.environ.get("TANDEM_TARGET", "mlflow") == "mlflow" or not os.environ.get("TANDEM_BIN"),
                                reason="jobs are tandem's (the stock server runs none)")

TRAIN = textwrap.dedent("""
    import argparse, mlflow, mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    p = argparse.ArgumentParser()
    p.add_argument("--C", type=float)
    p.add_argument("--model")
    a = p.parse_args()
    X, y = load_iris(return_X_y=True)
    with mlflow.start_run() as run:       # attaches to the job's run (MLFLOW_RUN_ID)
        mlflow.log_param("C", a.C)
        clf = LogisticRegression(C=a.C, max_iter=500).fit(X, y)
        for step, acc in enumerate([0.5, 0.8, clf.score(X, y)]):
            mlflow.log_metric("accuracy", acc, step=step)
        mlflow.sklearn.log_model(clf, name="model")
        mlflow.sklearn.save_model(clf, a.model)   # the job's mlflow_model output
        print("run", run.info.run_id, "accuracy", clf.score(X, y))
""")


def _token():
    return "tdm_" + secrets.token_hex(8) + "_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory):
    work = tmp_path_factory.mktemp("jobs")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    owner = _token()
    env = {k: v for k, v in os.environ.items() if k != "TANDEM_NO_AUTH"}
    env["TANDEM_BOOTSTRAP_TOKEN"] = owner
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    log = open(work / "server.log", "wb")
    proc = subprocess.Popen([os.environ["TANDEM_BIN"], "server", "--listen", f"127.0.0.1:{port}",
                             "--metadata", f"sqlite://{work}/t.db", "--artifacts", f"file://{work}/a"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(url + "/health", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.2)
    cfg = work / "config.json"
    cfg.write_text(json.dumps({"workspace": "jobs", "endpoints": [url], "auth": {"type": "bearer_env", "token_env": "TANDEM_JOBS_TOKEN"}}))
    yield {"url": url, "token": owner, "config": str(cfg), "work": work}
    proc.terminate()
    proc.wait(20)
    if os.environ.get("TANDEM_SHOW_SERVER_LOG"):
        sys.stderr.write((work / "server.log").read_text(errors="replace")[-20000:])


def _tandem(srv, *args, timeout=300):
    env = dict(os.environ, TANDEM_CONFIG=srv["config"], TANDEM_JOBS_TOKEN=srv["token"])
    return subprocess.run([os.environ["TANDEM_BIN"], *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def as_owner(jobs_server, monkeypatch):
    import mlflow

    # The session's server is restored afterwards (set_tracking_uri also
    # sets MLFLOW_TRACKING_URI, which monkeypatch puts back).
    old, old_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", jobs_server["token"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", jobs_server["url"])
    mlflow.set_tracking_uri(jobs_server["url"])
    mlflow.set_registry_uri(jobs_server["url"])
    yield jobs_server
    mlflow.set_tracking_uri(old)
    mlflow.set_registry_uri(old_registry)


def test_sklearn_command_job_logs_registers_and_loads(as_owner, tmp_path):
    import mlflow
    import numpy as np
    from mlflow import MlflowClient
    from sklearn.datasets import load_iris

    model_name = unique("iris-job")
    exp_name = unique("jobs")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(TRAIN)
    (tmp_path / "job.yml").write_text(textwrap.dedent(f"""
        $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
        type: command
        display_name: Train iris
        experiment_name: {exp_name}
        code: ./src
        command: python train.py --C ${{{{inputs.C}}}} --model ${{{{outputs.model}}}}
        inputs:
          C: 0.5
        outputs:
          model:
            type: mlflow_model
            name: {model_name}
        environment_variables:
          MLFLOW_HTTP_REQUEST_MAX_RETRIES: "2"
        tags:
          purpose: conformance
    """))
    # A webhook on model_version.created hears of the version the job registers.
    receiver = Receiver()
    hook = MlflowClient().create_webhook(name=unique("jobs-hook"), url=receiver.url + "/jobs", events=["model_version.created"])
    # A bad override is refused before anything is sent, naming the field.
    bad = _tandem(as_owner, "job", "create", "-f", str(tmp_path / "job.yml"), "--set", "resources.gpus=1")
    assert bad.returncode != 0 and "gpus" in bad.stderr, bad.stderr

    res = _tandem(as_owner, "job", "create", "-f", str(tmp_path / "job.yml"), "--set", "inputs.C=0.8", "--stream")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "accuracy" in res.stdout, res.stdout

    show = _tandem(as_owner, "job", "list", "-o", "json")
    assert show.returncode == 0, show.stderr
    job = [j for j in json.loads(show.stdout) if j["spec"].get("experiment_name") == exp_name][0]
    assert job["status"] == "Completed", job
    assert [a["status"] for a in job["attempts"]] == ["Completed"]

    client = MlflowClient()
    run = client.get_run(job["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["C"] == "0.8"       # the --set override reached the script
    assert run.data.tags["purpose"] == "conformance"
    assert run.data.tags["mlflow.runName"] == "Train iris"
    assert [m.value for m in client.get_metric_history(run.info.run_id, "accuracy")][:2] == [0.5, 0.8]
    assert client.get_experiment(run.info.experiment_id).name == exp_name
    # stdout went to the run's artifacts.
    logs = [f.path for f in client.list_artifacts(run.info.run_id, "user_logs")]
    assert "user_logs/std_log.txt" in logs, logs

    # The output became a registered model version, linked to the run.
    versions = client.search_model_versions(f"name='{model_name}'")
    assert len(versions) == 1 and versions[0].run_id == run.info.run_id, versions
    X, _ = load_iris(return_X_y=True)
    loaded = mlflow.pyfunc.load_model(f"models:/{model_name}/1")
    logged = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert np.array_equal(loaded.predict(X[:20]), logged.predict(X[:20]))

    calls = receiver.wait(lambda c: c[0] == "/jobs", 1)
    receiver.close()
    MlflowClient().delete_webhook(hook.webhook_id)
    assert len(calls) == 1, calls
    event = json.loads(calls[0][2])
    assert (event["entity"], event["action"]) == ("model_version", "created"), event
    assert event["data"]["name"] == model_name and event["data"]["version"] == "1", event
    assert event["data"]["run_id"] == run.info.run_id and event["data"]["tags"] == {"tandem.job": job["name"]}, event

    # Download the job's files as az ml job download does.
    dl = _tandem(as_owner, "job", "download", "-n", job["name"], "--download-path", str(tmp_path / "dl"))
    assert dl.returncode == 0, dl.stderr
    assert (tmp_path / "dl" / "outputs" / "model" / "MLmodel").exists()


def test_failing_job_and_unknown_environment(as_owner, tmp_path):
    (tmp_path / "job.yml").write_text(textwrap.dedent("""
        type: command
        command: python -c "import sys; print('boom'); sys.exit(4)"
    """))
    res = _tandem(as_owner, "job", "create", "-f", str(tmp_path / "job.yml"), "--stream")
    assert res.returncode != 0 and "exit code 4" in res.stderr, res.stderr
    assert "boom" in res.stdout

    (tmp_path / "env.yml").write_text("type: command\ncommand: echo hi\nenvironment: azureml:nope:1\n")
    res = _tandem(as_owner, "job", "create", "-f", str(tmp_path / "env.yml"))
    assert res.returncode != 0 and "nope" in res.stderr, res.stderr


def test_data_output_registered_and_read_by_stock_client(as_owner, tmp_path):
    """A named uri_folder output becomes a data asset version whose path is
    a runs:/ URI: the stock client downloads it as it is, and a later job
    takes it as an azureml:NAME:VERSION input."""
    import mlflow

    data_name = unique("clean")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "prep.py").write_text(textwrap.dedent("""
        import os, sys
        open(os.path.join(sys.argv[1], "rows.csv"), "w").write("x\\n1\\n2\\n3\\n")
    """))
    (tmp_path / "src" / "count.py").write_text(textwrap.dedent("""
        import os, sys
        print("rows:", len(open(os.path.join(sys.argv[1], "rows.csv")).read().split()) - 1)
    """))
    (tmp_path / "prep.yml").write_text(textwrap.dedent(f"""
        type: command
        code: ./src
        command: python prep.py ${{{{outputs.clean}}}}
        outputs:
          clean:
            type: uri_folder
            name: {data_name}
            version: "1"
    """))
    res = _tandem(as_owner, "job", "create", "-f", str(tmp_path / "prep.yml"), "--stream")
    assert res.returncode == 0, res.stdout + res.stderr

    show = _tandem(as_owner, "data", "show", "-n", data_name, "-v", "1", "-o", "json")
    assert show.returncode == 0, show.stderr
    path = json.loads(show.stdout)["spec"]["path"]
    assert path.startswith("runs:/") and path.endswith("/outputs/clean"), path
    local = mlflow.artifacts.download_artifacts(artifact_uri=path, dst_path=str(tmp_path / "dl"))
    assert open(os.path.join(local, "rows.csv")).read() == "x\n1\n2\n3\n"

    (tmp_path / "count.yml").write_text(textwrap.dedent(f"""
        type: command
        code: ./src
        command: python count.py ${{{{inputs.data}}}}
        inputs:
          data:
            type: uri_folder
            path: azureml:{data_name}:1
    """))
    res = _tandem(as_owner, "job", "create", "-f", str(tmp_path / "count.yml"), "--stream")
    assert res.returncode == 0 and "rows: 3" in res.stdout, res.stdout + res.stderr
    # The same version again is refused before anything runs.
    res = _tandem(as_owner, "job", "create", "-f", str(tmp_path / "prep.yml"))
    assert res.returncode != 0 and "already exists" in res.stderr, res.stderr

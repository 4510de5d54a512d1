"""Artifacts through the tracking server's proxy: log files and folders, list
them, download them back byte for byte."""

import hashlib
import os
import urllib.parse

import mlflow
import pytest
import requests

from helpers import assert_mlflow_error


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = sha(p)
    return out


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / "a.txt").write_text("hello\n")
    (src / "empty.bin").write_bytes(b"")
    (src / "sub" / "b.json").write_text('{"k": [1, 2, 3]}')
    (src / "sub" / "deeper" / "c.bin").write_bytes(os.urandom(300_000))
    (src / "name with spaces & ünïcode.txt").write_text("odd name")
    return src


def test_log_artifact_file_and_folder_roundtrip(client, experiment, folder, tmp_path):
    big = tmp_path / "model.bin"
    big.write_bytes(os.urandom(12 * 1024 * 1024 + 7))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big))
        mlflow.log_artifact(str(folder / "a.txt"), artifact_path="docs")
        mlflow.log_artifacts(str(folder), artifact_path="bundle")
        mlflow.log_text("some text", "notes/readme.md")
        mlflow.log_dict({"a": 1}, "notes/config.json")
    rid = run.info.run_id

    top = {f.path: f for f in client.list_artifacts(rid)}
    assert set(top) == {"model.bin", "docs", "bundle", "notes"}
    assert not top["model.bin"].is_dir and top["model.bin"].file_size == big.stat().st_size
    assert top["bundle"].is_dir
    sub = {f.path for f in client.list_artifacts(rid, "bundle/sub")}
    assert sub == {"bundle/sub/b.json", "bundle/sub/deeper"}

    out = tmp_path / "out"
    out.mkdir()
    p = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="model.bin", dst_path=str(out))
    assert sha(p) == sha(big)
    p = client.download_artifacts(rid, "bundle", str(out))
    assert tree(p) == tree(folder)
    p = mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="docs/a.txt", dst_path=str(out))
    assert open(p).read() == "hello\n"
    assert mlflow.artifacts.load_text(f"runs:/{rid}/notes/readme.md") == "some text"
    assert mlflow.artifacts.load_dict(f"runs:/{rid}/notes/config.json") == {"a": 1}
    # the whole run's artifacts at once
    p = mlflow.artifacts.download_artifacts(run_id=rid, dst_path=str(tmp_path / "all"))
    assert tree(os.path.join(p, "bundle")) == tree(folder)


def test_overwrite_artifact(client, experiment, tmp_path):
    f = tmp_path / "x.txt"
    with mlflow.start_run() as run:
        f.write_text("one")
        mlflow.log_artifact(str(f))
        f.write_text("two, longer")
        mlflow.log_artifact(str(f))
    p = client.download_artifacts(run.info.run_id, "x.txt", str(tmp_path / "o"))
    assert open(p).read() == "two, longer"


def test_list_artifacts_empty_and_missing(client, experiment):
    with mlflow.start_run() as run:
        pass
    assert client.list_artifacts(run.info.run_id) == []
    assert client.list_artifacts(run.info.run_id, "no/such/dir") == []


def test_artifact_uri_and_proxy_path(client, experiment, tmp_path, server):
    """The run's artifact URI goes through the proxy, and the proxy serves the
    bytes at experiment/run/artifacts/path."""
    f = tmp_path / "p.txt"
    f.write_bytes(b"proxied bytes")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(f), "dir")
    info = client.get_run(run.info.run_id).info
    assert info.artifact_uri.startswith("mlflow-artifacts:")
    rel = urllib.parse.urlparse(info.artifact_uri).path.lstrip("/")
    r = requests.get(f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{rel}/dir/p.txt", timeout=30)
    assert r.status_code == 200
    assert r.content == b"proxied bytes"
    listing = requests.get(f"{server.url}/api/2.0/mlflow-artifacts/artifacts",
                           params={"path": f"{rel}/dir"}, timeout=30).json()
    assert [(x["path"], x.get("is_dir", False), int(x["file_size"])) for x in listing["files"]] == [
        ("p.txt", False, len(b"proxied bytes"))]


@pytest.mark.parametrize("path", [
    "../etc/passwd",
    "a/../../etc/passwd",
    "%2E%2E/secret",
    "a/%2e%2e/%2e%2e/secret",
])
def test_proxy_rejects_dot_dot(server, path):
    url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{path}"
    s = requests.Session()
    # send the path as written: no client-side normalisation of dot segments
    req = requests.Request("PUT", url, data=b"evil", headers=server.headers).prepare()
    req.url = url
    r = s.send(req, timeout=30)
    assert r.status_code == 400
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    req = requests.Request("GET", url, headers=server.headers).prepare()
    req.url = url
    r = s.send(req, timeout=30)
    assert r.status_code in (400, 404)
    assert r.headers.get("Content-Type", "").startswith("application/json")


def test_list_artifacts_rejects_dot_dot(client, experiment, server):
    with mlflow.start_run() as run:
        pass
    for p in ("../x", "a/../../x"):
        r = server.api("GET", "mlflow/artifacts/list", params={"run_id": run.info.run_id, "path": p})
        assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)


def test_log_artifact_dot_dot_artifact_path_rejected(client, experiment, tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("x")
    with mlflow.start_run():
        with pytest.raises(Exception):
            mlflow.log_artifact(str(f), artifact_path="../../escape")


def test_multipart_upload_roundtrip(client, experiment, tmp_path, monkeypatch):
    """With proxy multipart upload on, a large file arrives intact (a server
    whose storage cannot do multipart answers so and the client falls back)."""
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(5 * 1024 * 1024))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(5 * 1024 * 1024))
    big = tmp_path / "weights.bin"
    big.write_bytes(os.urandom(11 * 1024 * 1024 + 3))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big), artifact_path="mpu")
    p = client.download_artifacts(run.info.run_id, "mpu/weights.bin", str(tmp_path / "o"))
    assert sha(p) == sha(big)
    sizes = {f.path: f.file_size for f in client.list_artifacts(run.info.run_id, "mpu")}
    assert sizes == {"mpu/weights.bin": big.stat().st_size}

"""Fixtures of the conformance suite.

The suite drives one server process with the stock ``mlflow`` client. Which
server is chosen by ``TANDEM_TARGET``:

- ``sqlite``   tandem (``TANDEM_BIN``) with SQLite metadata and a folder for artifacts
- ``postgres`` tandem with a fresh PostgreSQL database on ``TANDEM_TEST_POSTGRES``
               and a fresh prefix in the S3 bucket of ``TANDEM_TEST_S3``
- ``mlflow``   the stock ``mlflow server`` of this virtualenv (SQLite + a folder,
               artifacts served through the proxy), the reference behaviour

``TANDEM_TARGET_URL`` points the suite at an already running server instead;
``TANDEM_SERVER_LOG`` names a file to copy the server's log to at the end;
``TANDEM_SHOW_SERVER_LOG=1`` prints its tail.
"""

import base64
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid

import pytest
import requests

from helpers import unique

TARGETS = ("sqlite", "postgres", "mlflow")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _psql():
    exe = shutil.which("psql")
    if exe:
        return exe
    import glob

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))
    if not found:
        pytest.exit("psql not found: install PostgreSQL (scripts/services.sh start)", 2)
    return found[-1]


def _create_pg_database(base):
    name = "conf_" + secrets.token_hex(6)
    subprocess.run([_psql(), base, "-q", "-c", f"CREATE DATABASE {name}"], check=True,
                   capture_output=True)
    u = urllib.parse.urlsplit(base)
    return name, urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def _drop_pg_database(base, name):
    subprocess.run([_psql(), base, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                   capture_output=True)


class Server:
    """A server under test: its base URL and which target it is."""

    def __init__(self, target, url, token=None):
        self.target = target
        self.url = url.rstrip("/")
        self.is_mlflow = target == "mlflow"
        # headers: what a request the tests prepare by hand must carry
        self.headers = {"Authorization": "Bearer " + token} if token else {}

    def api(self, method, path, **kw):
        """Call the REST API directly (path below /api/2.0/)."""
        kw.setdefault("timeout", 60)
        return requests.request(method, f"{self.url}/api/2.0/{path.lstrip('/')}", **kw)


def _bootstrap_token():
    """A token in tandem's form, for the first owner of a fresh server."""
    return ("tdm_" + secrets.token_hex(8) + "_"
            + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="))


def _send_token_to(base, token):
    """Make every plain `requests` call to base carry the bearer token unless
    it sends its own Authorization header, as a signed-in user's would."""
    original = requests.Session.request

    def request(self, method, url, *args, **kw):
        if str(url).startswith(base + "/"):
            headers = dict(kw.get("headers") or {})
            if not any(k.lower() == "authorization" for k in headers) and kw.get("auth") is None:
                headers["Authorization"] = "Bearer " + token
                kw["headers"] = headers
        return original(self, method, url, *args, **kw)

    requests.Session.request = request


def _wait_ready(url, proc, logfile, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        try:
            r = requests.get(url + "/health", timeout=2)
            if r.status_code == 200:
                return
            last = r.status_code
        except requests.RequestException as e:
            last = e
        time.sleep(0.2)
    with open(logfile, errors="replace") as f:
        log = f.read()[-4000:]
    proc.kill()
    pytest.exit(f"server did not become ready ({last}); exit={proc.poll()}\n{log}", 2)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    target = os.environ.get("TANDEM_TARGET", "mlflow")
    if target not in TARGETS:
        pytest.exit(f"TANDEM_TARGET must be one of {TARGETS}, not {target!r}", 2)
    if os.environ.get("TANDEM_TARGET_URL"):
        yield Server(target, os.environ["TANDEM_TARGET_URL"])
        return

    # With authentication on (tandem's default, and the conformance run's
    # unless TANDEM_CONFORMANCE_AUTH=0), the suite runs as a signed-in
    # owner: the stock client sends MLFLOW_TRACKING_TOKEN, and the tests'
    # own requests to the server carry the same bearer token.
    auth = target != "mlflow" and os.environ.get("TANDEM_CONFORMANCE_AUTH", "1") != "0"
    owner = None
    work = tmp_path_factory.mktemp("server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    cleanup = []
    if target == "mlflow":
        mlflow_exe = os.path.join(os.path.dirname(sys.executable), "mlflow")
        cmd = [mlflow_exe, "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", f"sqlite:///{work}/mlflow.db",
               "--artifacts-destination", str(work / "artifacts"),
               "--serve-artifacts", "--workers", "2"]
        ready_timeout = 240
    else:
        binary = os.environ.get("TANDEM_BIN")
        if not binary:
            pytest.exit("TANDEM_BIN must name the tandem binary for the tandem targets", 2)
        if target == "sqlite":
            metadata = f"sqlite://{work}/tandem.db"
            artifacts = f"file://{work}/artifacts"
        else:
            pg = os.environ.get("TANDEM_TEST_POSTGRES")
            s3 = os.environ.get("TANDEM_TEST_S3")
            if not pg or not s3:
                pytest.exit("target postgres needs TANDEM_TEST_POSTGRES and TANDEM_TEST_S3 "
                            "(source the output of scripts/services.sh start)", 2)
            dbname, metadata = _create_pg_database(pg)
            cleanup.append(lambda: _drop_pg_database(pg, dbname))
            sep = "&" if "?" in s3 else "?"
            artifacts = s3 + sep + "prefix=" + urllib.parse.quote("conf-" + secrets.token_hex(6) + "/")
        cmd = [binary, "server", "--listen", f"127.0.0.1:{port}",
               "--metadata", metadata, "--artifacts", artifacts]
        if auth:
            owner = _bootstrap_token()
            env["TANDEM_BOOTSTRAP_TOKEN"] = owner
        else:
            cmd.append("--no-auth")
        ready_timeout = 60
    logfile = work / "server.log"
    with open(logfile, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work,
                                start_new_session=True)
    try:
        _wait_ready(url, proc, logfile, ready_timeout)
        if owner:
            os.environ["MLFLOW_TRACKING_TOKEN"] = owner
            _send_token_to(url, owner)
        yield Server(target, url, owner)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if target == "mlflow":
            # mlflow server leaves its uvicorn workers in the process group.
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
        for c in cleanup:
            c()
        if os.environ.get("TANDEM_SERVER_LOG"):
            shutil.copyfile(logfile, os.environ["TANDEM_SERVER_LOG"])
        if os.environ.get("TANDEM_SHOW_SERVER_LOG"):
            with open(logfile, errors="replace") as f:
                sys.stderr.write(f.read()[-20000:])


@pytest.fixture(scope="session", autouse=True)
def tracking_uri(server):
    import mlflow

    os.environ["MLFLOW_TRACKING_URI"] = server.url
    # Retries hide real errors and slow down error-case tests.
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "60"
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    return server.url


@pytest.fixture
def client(server):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=server.url, registry_uri=server.url)


@pytest.fixture
def experiment(server):
    """A fresh experiment, made the active one, as a data scientist's script does."""
    import mlflow

    while mlflow.active_run():
        mlflow.end_run()
    exp = mlflow.set_experiment(unique("exp"))
    yield exp
    while mlflow.active_run():
        mlflow.end_run()

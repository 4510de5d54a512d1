"""Model-registry webhooks (MLflow 3), driven with the stock client.

A receiver this test runs on 127.0.0.1 stands for a CI system: it records
every request and checks the HMAC signature with the webhook's secret, as a
receiver following MLflow's documentation would.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import threading
import time
import uuid

import pytest

from helpers import assert_mlflow_error, unique

# The session's server starts after collection: let it send webhooks to
# this test's receiver on loopback over http, with MLflow's own settings for
# local development (tandem reads the same variables). Webhook secrets are
# sealed with the workspace key: tandem on PostgreSQL has none unless given
# one (on SQLite it makes one beside the database). The stock server needs
# one key for its workers and no cache of the webhook list (it would hide a
# webhook created after a model's first event).
os.environ.setdefault("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https")
os.environ.setdefault("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")
os.environ.setdefault("MLFLOW_WEBHOOK_CACHE_TTL", "0")
os.environ.setdefault("TANDEM_SECRETS_KEY", base64.b64encode(b"tandem-conformance-secrets-key!!").decode())
os.environ.setdefault("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY",
                      base64.urlsafe_b64encode(b"tandem-conformance-webhook-key!!").decode())


class Receiver:
    """An HTTP server on 127.0.0.1 that records the webhooks it gets.

    Requests to /flaky are answered 503 the first time, to /missing 404,
    to any other path 200.
    """

    def __init__(self):
        self.calls = []
        self.cond = threading.Condition()
        self.flaky = [503]
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = 200
                if self.path == "/missing":
                    status = 404
                elif self.path == "/flaky":
                    with outer.cond:
                        if outer.flaky:
                            status = outer.flaky.pop(0)
                with outer.cond:
                    outer.calls.append((self.path, dict(self.headers), body, status))
                    outer.cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"received")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, pred, n, timeout=30):
        """The first n calls for which pred(path, headers, body) holds."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                got = [c for c in self.calls if pred(c)]
                if len(got) >= n or time.time() > deadline:
                    return got
                self.cond.wait(0.2)

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def signature(secret, headers, body):
    signed = f"{headers['X-MLflow-Delivery-Id']}.{headers['X-MLflow-Timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()


def create(client, receiver, path, events, secret=None, **kw):
    from mlflow.exceptions import MlflowException

    try:
        return client.create_webhook(name=unique("hook"), url=receiver.url + path, events=events,
                                     secret=secret, **kw)
    except MlflowException as e:
        if "non-public IP" in str(e) or "scheme" in str(e):
            pytest.skip(f"the server does not allow webhooks to loopback over http: {e}")
        raise


def test_crud_and_the_secret_is_never_answered(client, server, receiver):
    from mlflow.entities.webhook import WebhookEvent, WebhookStatus
    from mlflow.exceptions import MlflowException

    secret = "s3cr3t-" + uuid.uuid4().hex
    events = ["registered_model.created", "model_version_alias.created"]
    hook = create(client, receiver, "/crud", events, secret=secret, description="ci trigger")
    assert hook.url == receiver.url + "/crud"
    assert hook.description == "ci trigger"
    assert hook.status == WebhookStatus.ACTIVE
    assert {str(e) for e in hook.events} == set(events)
    assert hook.creation_timestamp > 0 and hook.last_updated_timestamp == hook.creation_timestamp
    assert hook.secret is None

    got = client.get_webhook(hook.webhook_id)
    assert (got.webhook_id, got.name, got.url, {str(e) for e in got.events}) == (
        hook.webhook_id, hook.name, hook.url, set(events))
    for path in (f"mlflow/webhooks/{hook.webhook_id}", "mlflow/webhooks"):
        r = server.api("GET", path)
        assert r.status_code == 200, r.text
        assert secret not in r.text and "secret" not in r.text, r.text

    # Paged listing: every webhook once, this one among them.
    more = [create(client, receiver, "/crud", ["model_version.created"]) for _ in range(2)]
    seen, token = [], None
    while True:
        page = client.list_webhooks(max_results=2, page_token=token)
        assert len(page) <= 2
        seen += [w.webhook_id for w in page]
        token = page.token
        if not token:
            break
    assert len(seen) == len(set(seen))
    assert {hook.webhook_id} | {w.webhook_id for w in more} <= set(seen)

    upd = client.update_webhook(hook.webhook_id, description="paused", status="DISABLED",
                                events=["model_version.created"])
    assert upd.description == "paused" and upd.status == WebhookStatus.DISABLED
    assert upd.events == [WebhookEvent("model_version", "created")]
    assert upd.last_updated_timestamp >= hook.last_updated_timestamp
    assert client.get_webhook(hook.webhook_id).status == WebhookStatus.DISABLED

    for w in [hook] + more:
        client.delete_webhook(w.webhook_id)
    with pytest.raises(MlflowException) as e:
        client.get_webhook(hook.webhook_id)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert f"Webhook with ID {hook.webhook_id} not found." in str(e.value)


def test_registry_events_are_delivered_signed(client, receiver):
    secret = "k-" + uuid.uuid4().hex
    hook = create(client, receiver, "/events", [
        "registered_model.created", "model_version.created", "model_version_alias.created",
        "model_version_alias.deleted", "model_version_tag.set"], secret=secret)
    off = create(client, receiver, "/off", ["registered_model.created"], status="DISABLED")
    name = unique("model")
    try:
        client.create_registered_model(name, tags={"team": "search"}, description="ranker")
        mv = client.create_model_version(name, source="s3://bucket/models/ranker", tags={"stage": "ci"})
        client.set_registered_model_alias(name, "champion", mv.version)
        client.set_model_version_tag(name, mv.version, "validated", "yes")
        client.delete_registered_model_alias(name, "champion")

        def mine(c):
            return c[0] == "/events" and json.loads(c[2])["data"].get("name") == name

        calls = receiver.wait(mine, 5)
        assert len(calls) == 5, [c[2] for c in calls]
        docs = {}
        for path, headers, body, _ in calls:
            assert headers["Content-Type"] == "application/json"
            uuid.UUID(headers["X-MLflow-Delivery-Id"])
            assert abs(int(headers["X-MLflow-Timestamp"]) - time.time()) < 300
            assert headers["X-MLflow-Signature"] == signature(secret, headers, body), headers
            doc = json.loads(body)
            assert doc["timestamp"].endswith("+00:00")
            docs[f"{doc['entity']}.{doc['action']}"] = doc["data"]
        assert docs == {
            "registered_model.created": {"name": name, "tags": {"team": "search"}, "description": "ranker"},
            "model_version.created": {"name": name, "version": "1", "source": "s3://bucket/models/ranker",
                                      "run_id": None, "tags": {"stage": "ci"}, "description": None},
            "model_version_alias.created": {"name": name, "alias": "champion", "version": "1"},
            "model_version_tag.set": {"name": name, "version": "1", "key": "validated", "value": "yes"},
            "model_version_alias.deleted": {"name": name, "alias": "champion"},
        }
        # A wrong secret does not verify: the check above means something.
        path, headers, body, _ = calls[0]
        assert headers["X-MLflow-Signature"] != signature("other", headers, body)
        # The disabled webhook got nothing.
        assert not receiver.wait(lambda c: c[0] == "/off", 1, timeout=1)
    finally:
        client.delete_webhook(hook.webhook_id)
        client.delete_webhook(off.webhook_id)


def test_a_failed_delivery_is_retried(client, receiver):
    hook = create(client, receiver, "/flaky", ["registered_model.created"])
    name = unique("retried")
    try:
        client.create_registered_model(name)
        calls = receiver.wait(lambda c: c[0] == "/flaky" and json.loads(c[2])["data"]["name"] == name, 2)
        assert [c[3] for c in calls] == [503, 200]
        assert calls[0][1]["X-MLflow-Delivery-Id"] == calls[1][1]["X-MLflow-Delivery-Id"]
        assert "X-MLflow-Signature" not in calls[0][1]  # no secret, no signature
    finally:
        client.delete_webhook(hook.webhook_id)


def test_test_webhook(client, receiver):
    secret = "t-" + uuid.uuid4().hex
    hook = create(client, receiver, "/test", ["model_version.created", "registered_model.created"], secret=secret)
    missing = create(client, receiver, "/missing", ["registered_model.created"])
    try:
        res = client.test_webhook(hook.webhook_id, event="model_version_alias.deleted")
        assert res.success and res.response_status == 200 and res.response_body == "received", res
        assert res.error_message is None
        (path, headers, body, _), = receiver.wait(lambda c: c[0] == "/test", 1)
        assert headers["X-MLflow-Signature"] == signature(secret, headers, body)
        doc = json.loads(body)
        assert (doc["entity"], doc["action"], doc["data"]) == (
            "model_version_alias", "deleted", {"name": "example_model", "alias": "example_alias"})

        # Without an event: the webhook's first (they are listed by name).
        client.test_webhook(hook.webhook_id)
        calls = receiver.wait(lambda c: c[0] == "/test", 2)
        assert json.loads(calls[1][2])["entity"] == "model_version"

        res = client.test_webhook(missing.webhook_id)
        assert not res.success and res.response_status == 404, res
    finally:
        client.delete_webhook(hook.webhook_id)
        client.delete_webhook(missing.webhook_id)


def test_refusals_in_mlflows_words(client, server, receiver):
    from mlflow.exceptions import MlflowException

    cases = [
        (dict(url="ftp://example.com/hook"), "Invalid webhook URL scheme: 'ftp'. Allowed schemes are: http, https."),
        (dict(url="https://"), "Webhook URL must include a hostname: 'https://'"),
        (dict(name="-bad"), "Webhook name '-bad' is invalid. It must start and end with a letter or digit"),
    ]
    for kw, want in cases:
        args = dict(name=unique("hook"), url=receiver.url + "/x", events=["registered_model.created"])
        args.update(kw)
        with pytest.raises(MlflowException) as e:
            client.create_webhook(**args)
        assert e.value.error_code == "INVALID_PARAMETER_VALUE", str(e.value)
        assert want in str(e.value), str(e.value)

    # An event MLflow has no such action for: the client refuses it, and
    # so does the server when a request names it anyway.
    with pytest.raises(MlflowException) as e:
        client.create_webhook(name=unique("hook"), url=receiver.url + "/x", events=["registered_model.deleted"])
    assert "Invalid action 'deleted' for entity 'registered_model'. Valid actions are: ['created']" in str(e.value)
    r = server.api("POST", "mlflow/webhooks", json={
        "name": unique("hook"), "url": receiver.url + "/x",
        "events": [{"entity": "REGISTERED_MODEL", "action": "DELETED"}]})
    body = assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    assert body["message"] == "Invalid action 'deleted' for entity 'registered_model'. Valid actions are: ['created']"

    r = server.api("GET", "mlflow/webhooks", params={"max_results": 1001})
    assert assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)["message"] == "max_results must be between 1 and 1000."
    assert_mlflow_error(server.api("POST", "mlflow/webhooks/nope/test", json={}), "RESOURCE_DOES_NOT_EXIST", 404)


def test_prompt_events(client, receiver):
    import mlflow

    hook = create(client, receiver, "/prompts", [
        "prompt.created", "prompt_version.created", "prompt_alias.created", "prompt_tag.set",
        "registered_model.created", "model_version.created"])
    name = unique("prompt").replace("-", "_")
    try:
        mlflow.genai.register_prompt(name=name, template="Hello {{name}}!", commit_message="first",
                                     tags={"team": "nlp"})
        mlflow.genai.set_prompt_alias(name, alias="prod", version=1)
        client.set_prompt_tag(name, "owner", "ann")

        def mine(c):
            return c[0] == "/prompts" and json.loads(c[2])["data"].get("name") == name

        def owner_tag(c):
            return mine(c) and json.loads(c[2])["data"].get("key") == "owner"

        receiver.wait(owner_tag, 1)
        calls = receiver.wait(mine, 4)
        docs, tags_set = {}, []
        for _, _, body, _ in calls:
            doc = json.loads(body)
            if (doc["entity"], doc["action"]) == ("prompt_tag", "set"):
                tags_set.append(doc["data"])  # the client also links the prompt to its experiment with a tag
            else:
                docs[f"{doc['entity']}.{doc['action']}"] = doc["data"]
        # The prompt's own tags, without MLflow's internal ones; no
        # registered_model or model_version event for a prompt.
        assert docs == {
            "prompt.created": {"name": name, "tags": {"team": "nlp"}, "description": "first"},
            "prompt_version.created": {"name": name, "version": "1", "template": "Hello {{name}}!",
                                       "tags": {"team": "nlp"}, "description": "first"},
            "prompt_alias.created": {"name": name, "alias": "prod", "version": "1"},
        }
        assert {"name": name, "key": "owner", "value": "ann"} in tags_set, tags_set
        assert not receiver.wait(lambda c: mine(c) and json.loads(c[2])["entity"] in (
            "registered_model", "model_version"), 1, timeout=1)
    finally:
        client.delete_webhook(hook.webhook_id)

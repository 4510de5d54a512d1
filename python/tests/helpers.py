"""Small helpers shared by the conformance tests."""

import uuid


def unique(prefix="t"):
    """A name no other test (or earlier session on the same server) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def assert_mlflow_error(resp, code, status=None):
    """A raw REST response is MLflow's JSON error with this error_code (and status)."""
    assert resp.headers.get("Content-Type", "").startswith("application/json"), (
        resp.status_code, resp.headers.get("Content-Type"), resp.text[:300])
    body = resp.json()
    assert body.get("error_code") == code, (resp.status_code, body)
    assert isinstance(body.get("message"), str) and body["message"], body
    if status is not None:
        assert resp.status_code == status, (resp.status_code, body)
    return body


def assert_raises_mlflow(fn, code, status=None):
    """fn() raises MlflowException with this error_code (and HTTP status)."""
    from mlflow.exceptions import MlflowException, RestException

    try:
        fn()
    except MlflowException as e:
        assert e.error_code == code, (e.error_code, str(e))
        if status is not None:
            assert e.get_http_status_code() == status, (e.get_http_status_code(), str(e))
        return e
    raise AssertionError(f"expected MlflowException {code}")

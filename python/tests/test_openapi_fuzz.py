"""tandem's own API (/api/tandem/v1) against its OpenAPI document, with the
schema-driven fuzzer schemathesis: no request may get a 5xx, every response
must match the document (status, content type, schema), and every request
the document calls invalid must be refused.

It runs in its own step of scripts/test.sh (TANDEM_APIFUZZ=1) against a
fresh server, bounded by TANDEM_APIFUZZ_EXAMPLES cases per operation and
phase; in the conformance run it is skipped. TANDEM_APIFUZZ_SEED picks the
seed (fixed by default, so a failure reproduces); SCHEMATHESIS names the
executable when it is not beside this Python."""

import base64
import os
import subprocess
import sys

import pytest

# The session's server starts after collection: give it a workspace
# secrets key (on PostgreSQL tandem has none unless given one), so the
# online endpoint routes can store their keys; without one they answer 503
# by design.
os.environ.setdefault("TANDEM_SECRETS_KEY", base64.b64encode(b"tandem-apifuzz-secrets-key-32b!!").decode())

pytestmark = pytest.mark.skipif(not os.environ.get("TANDEM_APIFUZZ"),
                                reason="the API fuzz runs in its own step (TANDEM_APIFUZZ=1)")

CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "negative_data_rejection"]


def test_openapi_fuzz(server, tmp_path):
    if server.is_mlflow:
        pytest.skip("tandem's own API only")
    exe = os.environ.get("SCHEMATHESIS") or os.path.join(os.path.dirname(sys.executable), "schemathesis")
    cmd = [exe, "run", f"{server.url}/api/tandem/v1/openapi.json",
           "--checks", ",".join(CHECKS),
           "--max-examples", os.environ.get("TANDEM_APIFUZZ_EXAMPLES", "10"),
           "--seed", os.environ.get("TANDEM_APIFUZZ_SEED", "1"),
           # One worker: with two, hypothesis parses lambda sources
           # (ast.parse) from two threads at once, which CPython 3.11.7's
           # compiler does not survive ("SystemError: AST constructor
           # recursion depth mismatch", a crash of the fuzzer, not of tandem).
           "--workers", "1", "--generation-database", "none", "--request-timeout", "30", "--no-color"]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    out = r.stdout + r.stderr
    print(out[-3000:])
    assert r.returncode == 0, "schemathesis found problems:\n" + out[-20000:]

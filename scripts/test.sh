#!/usr/bin/env bash
# THE one command that runs every test of tandem:
#
#   bash scripts/test.sh
#
# 1. starts PostgreSQL and versitygw on loopback (scripts/services.sh),
# 2. creates or reuses the Python venv python/.venv with the pinned stock
#    mlflow client and pytest,
# 3. go vet, gofmt check, the Ray venv (scripts/ray.sh), go test -tags tandemtest ./... (fuzz seed corpora run as ordinary
#    tests),
# 4. builds the tandem binary and runs the MLflow conformance suite
#    (python/tests) against three targets: tandem on SQLite + folder, tandem on
#    PostgreSQL + S3 (versitygw), both with authentication on (the stock client
#    signed in with a token), and the stock `mlflow server`,
#    then fuzzes tandem's own API against its OpenAPI document (schemathesis)
#    on the two tandem targets,
# 5. prints a summary and exits non-zero if any step failed.
#
# Works on a fresh Debian machine as root with Go, Python 3.11 and access to
# the package registries. Environment knobs:
#   TARGETS="sqlite postgres mlflow"   conformance targets to run
#   SKIP_GO=1                          skip vet/gofmt/go test
#   PYTEST_ARGS="-k search"            extra pytest arguments
#   GO_TEST_TIMEOUT=20m                per-package go test timeout
#   PYTEST_TIMEOUT=25m                 limit for one conformance target
#   TANDEM_CONFORMANCE_AUTH=0          run the conformance suite against tandem with --no-auth
# The whole script is one { } block so bash reads it completely before running
# it: editing the file while a run is in progress cannot derail that run.
{
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

TARGETS=${TARGETS:-"sqlite postgres mlflow"}
GO_TEST_TIMEOUT=${GO_TEST_TIMEOUT:-20m}
PYTEST_TIMEOUT=${PYTEST_TIMEOUT:-25m}
PYTEST_ARGS=${PYTEST_ARGS:-}
out=$root/.tandem/test
mkdir -p "$out"

declare -a names=() results=() times=()
failed=0

step_begin() { step_name=$1; step_t0=$(date +%s); echo; echo "==== $1"; }
step_end() { # status
  local rc=$1 dt=$(( $(date +%s) - step_t0 )) res=ok
  if [ "$rc" -ne 0 ]; then res="FAIL (exit $rc)"; failed=1; fi
  names+=("$step_name"); results+=("$res"); times+=("${dt}s")
  echo "==== $step_name: $res in ${dt}s"
}

summary() {
  echo
  echo "================ summary ================"
  local i
  for i in "${!names[@]}"; do
    printf '  %-34s %-16s %s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
  done
  echo "  logs: $out"
  if [ "$failed" -ne 0 ]; then echo "RESULT: FAILED"; else echo "RESULT: all passed"; fi
}

t_start=$(date +%s)

# --- services -------------------------------------------------------------
step_begin "services (postgres, versitygw)"
if bash scripts/services.sh start >"$out/services.env" 2>"$out/services.log"; then
  # shellcheck disable=SC1091
  source "$out/services.env"
  step_end 0
else
  cat "$out/services.log" >&2
  step_end 1
fi

# --- python venv ----------------------------------------------------------
step_begin "python venv"
venv=$root/python/.venv
req=$root/python/requirements.txt
stamp=$venv/.requirements.sha256
venv_rc=0
want=$( (cat "$req"; python3 --version) | sha256sum | cut -d' ' -f1)
make_venv() {
  rm -rf "$venv"
  python3 -m venv "$venv" && "$venv/bin/python" -m pip --version >/dev/null
}
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  {
    if ! make_venv; then
      # Debian's python3 needs its venv package for ensurepip
      echo "installing python3-venv"
      if [ ! -f /tmp/.tandem-apt-updated ]; then apt-get update -qq && touch /tmp/.tandem-apt-updated; fi
      pyver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${pyver}-venv" ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
      make_venv
    fi &&
      "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" &&
      echo "$want" >"$stamp"
  } >"$out/venv.log" 2>&1 || venv_rc=$?
  [ "$venv_rc" -ne 0 ] && tail -30 "$out/venv.log"
else
  echo "reusing $venv"
fi
step_end $venv_rc

# --- Go checks ------------------------------------------------------------
if [ -z "${SKIP_GO:-}" ]; then
  step_begin "go vet"
  # Both builds: the release one, and the one with the test ops and fault
  # injectors (build tag tandemtest) that the tests and their binaries use.
  { go vet ./... && go vet -tags tandemtest ./...; } 2>&1 | tee "$out/vet.log"
  step_end "${PIPESTATUS[0]}"

  step_begin "gofmt"
  unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './python/*'))
  if [ -n "$unformatted" ]; then echo "not gofmt'ed:"; echo "$unformatted"; step_end 1; else step_end 0; fi

  # toxiproxy (v2.12.0) for the chaos suite (leader/chaos_test.go), which
  # must not skip here: TANDEM_REQUIRE_TOXIPROXY=1 makes it fail without it.
  step_begin "toxiproxy"
  if [ -z "${TANDEM_TOXIPROXY:-}" ]; then
    [ -x "$root/.tandem/bin/server" ] ||
      GOBIN=$root/.tandem/bin go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0
    export TANDEM_TOXIPROXY=$root/.tandem/bin/server
  fi
  export TANDEM_REQUIRE_TOXIPROXY=1
  "$TANDEM_TOXIPROXY" -version
  step_end $?

  # Dex (the OpenID Connect provider of oidc/'s tests), built from its Go
  # module pinned in scripts/dex/go.mod (its own go.mod has a replace
  # directive, so `go install dex@version` cannot build it); cached.
  # TANDEM_REQUIRE_OIDC=1 makes those tests fail without it.
  step_begin "dex"
  if [ -z "${TANDEM_DEX:-}" ]; then
    [ -x "$root/.tandem/bin/dex" ] ||
      (cd "$root/scripts/dex" && go build -o "$root/.tandem/bin/dex" github.com/dexidp/dex/cmd/dex)
    export TANDEM_DEX=$root/.tandem/bin/dex
  fi
  export TANDEM_REQUIRE_OIDC=1
  "$TANDEM_DEX" version
  step_end $?

  # An OCI registry (CNCF distribution v3.1.2, built from its Go module;
  # cached) for the image copy tests (imagecopy/, region/, cmd/tandem/),
  # one per region on loopback. TANDEM_REQUIRE_REGISTRY=1: fail, never skip.
  step_begin "registry"
  if [ -z "${TANDEM_REGISTRY:-}" ]; then
    [ -x "$root/.tandem/bin/registry" ] ||
      GOBIN=$root/.tandem/bin go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2
    export TANDEM_REGISTRY=$root/.tandem/bin/registry
  fi
  export TANDEM_REQUIRE_REGISTRY=1
  "$TANDEM_REGISTRY" --version
  step_end $?

  # Prometheus and promtool (Debian's prometheus package) for deploy/'s
  # tests: the alert rules' unit tests and a live scrape of two regions.
  # TANDEM_REQUIRE_PROMETHEUS=1 makes those tests fail without it.
  step_begin "prometheus"
  if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; } \
      >"$out/prometheus-install.log" 2>&1 || tail -20 "$out/prometheus-install.log"
  fi
  export TANDEM_REQUIRE_PROMETHEUS=1
  prometheus --version 2>&1 | head -1
  step_end "${PIPESTATUS[0]}"

  # Chromium for the browser tests (console/, mlflowui/); chromedp drives it
  # over the DevTools protocol. TANDEM_REQUIRE_CHROMIUM=1: fail, never skip.
  step_begin "chromium"
  if ! command -v chromium >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver; } \
      >"$out/chromium-install.log" 2>&1 || tail -20 "$out/chromium-install.log"
  fi
  export TANDEM_REQUIRE_CHROMIUM=1
  chromium --version 2>&1 | head -1
  step_end "${PIPESTATUS[0]}"

  # Ray (ray[default] from PyPI, pinned in scripts/ray.sh) in its own venv,
  # for rayexec, raytest and the jobs on a type: ray compute, which start
  # real head nodes on loopback. TANDEM_REQUIRE_RAY=1 makes them fail
  # without it.
  step_begin "ray venv"
  ray_rc=0
  ray_venv=$(bash scripts/ray.sh "$out/ray-venv" 2>"$out/ray-venv.log") || ray_rc=$?
  [ "$ray_rc" -ne 0 ] && tail -30 "$out/ray-venv.log"
  export TANDEM_TEST_RAY_VENV=$ray_venv TANDEM_REQUIRE_RAY=1
  step_end $ray_rc

  step_begin "go test"
  # -fuzz is not given: each Fuzz target runs its seed corpus (f.Add and
  # testdata/fuzz) as ordinary tests. -p 2 matches the two-core CI machine.
  # -tags tandemtest: the replication and failover tests drive the test ops
  # (sqlstore/testnotes_tandemtest.go), which a release build has not.
  # CI=1: a test that needs the stock mlflow (python/.venv), PostgreSQL or
  # S3 fails when it cannot find them instead of skipping.
  CI=${CI:-1} go test -tags tandemtest -p 2 -count=1 -timeout "$GO_TEST_TIMEOUT" ./... 2>&1 | tee "$out/gotest.log"
  step_end "${PIPESTATUS[0]}"
fi

# --- tandem binary --------------------------------------------------------
step_begin "build tandem"
bin=$root/.tandem/bin/tandem
mkdir -p "$(dirname "$bin")"
go build -o "$bin" ./cmd/tandem
step_end $?

# --- conformance suite ----------------------------------------------------
for target in $TARGETS; do
  step_begin "conformance: $target"
  if [ ! -x "$venv/bin/python" ] || { [ "$target" != mlflow ] && [ ! -x "$bin" ]; }; then
    echo "skipped: venv or binary missing"; step_end 1; continue
  fi
  # shellcheck disable=SC2086
  (cd python && TANDEM_TARGET=$target TANDEM_BIN=$bin TANDEM_SERVER_LOG="$out/server-$target.log" \
    timeout -k 30 "$PYTEST_TIMEOUT" "$venv/bin/python" -m pytest \
    -p no:cacheprovider -q --durations=5 --junitxml="$out/pytest-$target.xml" $PYTEST_ARGS) \
    2>&1 | tee "$out/pytest-$target.log" | grep -E '^(FAILED|ERROR)|passed|failed|error'
  rc=${PIPESTATUS[0]}
  # exit 5: no tests collected (e.g. PYTEST_ARGS selected nothing): not a failure
  [ "$rc" -eq 5 ] && { echo "no tests collected"; rc=0; }
  if [ "$rc" -ne 0 ]; then
    echo "---- end of $out/pytest-$target.log (server log: $out/server-$target.log)"
    tail -40 "$out/pytest-$target.log"
  fi
  step_end "$rc"
done

# --- fuzz of tandem's own API against its OpenAPI document (schemathesis) --
for target in $TARGETS; do
  [ "$target" = mlflow ] && continue
  step_begin "api fuzz: $target"
  (cd python && TANDEM_APIFUZZ=1 TANDEM_CONFORMANCE_AUTH=0 TANDEM_TARGET=$target TANDEM_BIN=$bin timeout -k 30 10m \
    "$venv/bin/python" -m pytest -p no:cacheprovider -q tests/test_openapi_fuzz.py) \
    >"$out/apifuzz-$target.log" 2>&1
  rc=$?
  tail -n "$([ "$rc" -eq 0 ] && echo 1 || echo 60)" "$out/apifuzz-$target.log"
  step_end "$rc"
done

summary
echo "total: $(( $(date +%s) - t_start ))s"
exit $failed
}

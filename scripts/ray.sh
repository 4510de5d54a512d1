#!/usr/bin/env bash
# Creates (or reuses) the Python venv holding Ray for the tests of packages
# rayexec and raytest, and prints its path as the last line of stdout:
#
#   venv=$(bash scripts/ray.sh [VENV])      # default .tandem/test/ray-venv
#   TANDEM_TEST_RAY_VENV=$venv TANDEM_REQUIRE_RAY=1 go test ./rayexec/ ./raytest/
#
# Ray is pinned (RAY_VERSION below; raytest.Version says the same). A venv
# made for another version, or for another python3, is made again. Progress
# and pip's output go to stderr. Environment: PYTHON (default python3, a
# Python that Ray ships wheels for: 3.10 to 3.13).
set -euo pipefail

RAY_VERSION=2.60.0
# What a Ray node's image has for training jobs: the stock MLflow client
# (skinny: no server), scikit-learn, skops (the sklearn flavour saves
# with it) and pandas (which skinny leaves out but its model code imports),
# at the versions of the client venv (python/requirements.txt).
ML_PACKAGES="mlflow-skinny==3.17.2 scikit-learn==1.9.1 skops==0.16.0 pandas==3.1.1"

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$root/.tandem/test/ray-venv}
case $venv in /*) ;; *) venv=$(pwd)/$venv ;; esac
python=${PYTHON:-python3}
want="ray[default]==$RAY_VERSION $ML_PACKAGES $("$python" --version 2>&1)"
stamp=$venv/.tandem-ray

if [ -x "$venv/bin/ray" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "reusing $venv ($want)" >&2
  echo "$venv"
  exit 0
fi

make_venv() {
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv" && "$venv/bin/python" -m pip --version >/dev/null
}
{
  if ! make_venv; then
    # Debian's python3 needs its venv package for ensurepip
    echo "installing python3-venv"
    if [ ! -f /tmp/.tandem-apt-updated ]; then apt-get update -qq && touch /tmp/.tandem-apt-updated; fi
    pyver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "python${pyver}-venv" ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    make_venv
  fi
  t0=$(date +%s)
  # shellcheck disable=SC2086 # ML_PACKAGES is a list
  "$venv/bin/pip" install -q --disable-pip-version-check "ray[default]==$RAY_VERSION" $ML_PACKAGES
  "$venv/bin/ray" --version
  echo "installed in $(( $(date +%s) - t0 ))s, $(du -sh "$venv" | cut -f1)"
} >&2
echo "$want" >"$stamp"
echo "$venv"

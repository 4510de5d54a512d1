#!/usr/bin/env bash
# Migration benchmark: the same stock MLflow server moved with
#   (a) tandem import --from-mlflow        into a tandem server, and
#   (b) mlflow-export-import (PyPI)        export-all + import-all into a
#       second stock MLflow server,
# timed in the same run, then compared with the stock client
# (transfer/mlflowsource/testdata/compare.py): what each keeps.
#
#   bash bench/transfer/run.sh                 # 500 runs, 10,000-point histories
#   RUNS=40 POINTS=1000 bash bench/transfer/run.sh
#
# The source is populated by transfer/mlflowsource/testdata/populate.py: some runs
# with 150 params, some with long metric histories, NaN values, nested and
# deleted runs, a dataset input, artifacts, a logged model, registered
# models with versions (one deleted: a hole in the numbering), a stage,
# aliases and tags. Everything listens on loopback, on free ports.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${RUNS:-500}
POINTS=${POINTS:-10000}
venv=${TANDEM_TEST_MLFLOW_VENV:-$root/python/.venv}
py=$venv/bin/python
work=$(mktemp -d /tmp/tandem-bench-transfer.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
port() { "$py" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 300); do curl -sf "$1/health" >/dev/null && return 0; sleep 1; done; echo "$1 did not start" >&2; return 1; }
mlflow_server() { # dir port workers
  mkdir -p "$1"
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false "$venv/bin/mlflow" server --backend-store-uri "sqlite:///$1/mlflow.db" \
    --artifacts-destination "$1/artifacts" --serve-artifacts --host 127.0.0.1 --port "$2" --workers "$3" >"$1/server.log" 2>&1 &
  pids+=($!)
}
now() { date +%s.%N; }

# mlflow-export-import and the two small modules it needs that mlflow does
# not bring, installed beside (not into) the venv.
mei=$work/mei
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps --target "$mei" \
  mlflow-export-import==1.2.0 tabulate shortuuid >"$work/pip.log" 2>&1

mkdir -p "$work/bin"
go build -o "$work/bin/tandem" "$root/cmd/tandem"
A=http://127.0.0.1:$(port); B=http://127.0.0.1:$(port); T=http://127.0.0.1:$(port)
# The source runs with mlflow server's default worker count (4), as a stock
# deployment does; both tools read it. SOURCE_WORKERS=1 for a single worker.
mlflow_server "$work/source" "${A##*:}" "${SOURCE_WORKERS:-4}"
mlflow_server "$work/mlflow-target" "${B##*:}" 4
"$work/bin/tandem" server --listen "${T#http://}" --metadata "sqlite://$work/tandem/tandem.db" \
  --artifacts "file://$work/tandem/artifacts" --log-level warn --no-auth >"$work/tandem.log" 2>&1 &
pids+=($!)
wait_up "$A"; wait_up "$B"; wait_up "$T"

echo "populating the source with $RUNS runs ($POINTS-point histories) ..."
t0=$(now)
POPULATE_THREADS=8 "$py" "$root/transfer/mlflowsource/testdata/populate.py" "$A" "$RUNS" "$POINTS" >"$work/populate.json" 2>"$work/populate.log"
echo "populated in $(echo "$(now) - $t0" | bc) s"

echo "tandem import --from-mlflow ...   (load: $(cut -d' ' -f1-3 /proc/loadavg))"
t0=$(now)
"$work/bin/tandem" import --url "$T" --from-mlflow "$A" --all --parallel 8 --profile >"$work/tandem-import.log" 2>&1
t_tandem=$(echo "$(now) - $t0" | bc)
grep -A8 '^read ' "$work/tandem-import.log" || true

echo "mlflow-export-import export-all + import-all ...   (load: $(cut -d' ' -f1-3 /proc/loadavg))"
t0=$(now)
PYTHONPATH=$mei MLFLOW_TRACKING_URI=$A "$py" -m mlflow_export_import.bulk.export_all --output-dir "$work/mei-out" >"$work/mei-export.log" 2>&1
echo "  export-all took $(echo "$(now) - $t0" | bc) s"
PYTHONPATH=$mei MLFLOW_TRACKING_URI=$B "$py" -m mlflow_export_import.bulk.import_models --input-dir "$work/mei-out" >"$work/mei-import.log" 2>&1 || echo "mlflow-export-import import-all failed: see $work/mei-import.log"
t_mei=$(echo "$(now) - $t0" | bc)
echo "done (load: $(cut -d' ' -f1-3 /proc/loadavg)); comparing with the stock client ..."

"$py" "$root/transfer/mlflowsource/testdata/compare.py" "$A" "$T" >"$work/compare-tandem.json" || true
"$py" "$root/transfer/mlflowsource/testdata/compare.py" "$A" "$B" >"$work/compare-mei.json" || true

"$py" - "$work" "$t_tandem" "$t_mei" "$RUNS" "$POINTS" <<'PY'
import collections, json, re, sys
work, tt, tm, runs, points = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
def load(name):
    try:
        return json.load(open(f"{work}/{name}"))
    except Exception as e:
        return {"runs": 0, "models": 0, "diffs": [{"what": f"comparison failed: {e}", "a": "", "b": ""}]}
def categories(c):
    cats = collections.Counter()
    for d in c["diffs"]:
        w = re.sub(r"[0-9a-f]{32}", "<run>", d["what"])
        w = re.sub(r"query (\d+) .*", r"query \1", w)
        w = re.sub(r"alias \S+", "alias", w)
        w = re.sub(r"^experiment \S+", "experiment", w)
        w = re.sub(r" v\d+ ", " v ", w)
        w = re.sub(r"history \S+", "history", w)
        w = re.sub(r"model \S+ ", "model ", w)
        cats[w] += 1
    return cats
ct, cm = load("compare-tandem.json"), load("compare-mei.json")
print()
print(f"Migration of {runs} runs ({points}-point histories), same machine, same run")
print(f"| tool | time (s) | differences seen by the stock client |")
print(f"|---|---|---|")
print(f"| tandem import --from-mlflow | {tt:.1f} | {len(ct['diffs'])} |")
print(f"| mlflow-export-import 1.2.0 | {tm:.1f} | {len(cm['diffs'])} |")
print(f"speed-up: {tm/tt:.1f}x")
for name, c in (("tandem", ct), ("mlflow-export-import", cm)):
    print(f"\n{name}: what differs from the source (kind of answer: count)")
    for w, n in categories(c).most_common(25):
        print(f"  {w}: {n}")
PY
echo "work folder: $work"

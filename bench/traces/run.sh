#!/usr/bin/env bash
# bench/traces/run.sh: trace ingest over OTLP (POST /v1/traces, protobuf,
# one 10-span trace a request) into tandem (SQLite + folder) and into the
# stock `mlflow server` (SQLite, --workers 2, as python/tests starts it),
# at 1, 8 and 32 callers, the servers measured one after the other in the
# same run. Both listen on 127.0.0.1 only; everything stops at the end.
#
#   bench/traces/run.sh [OPS]          # OPS requests a measurement (default 300)
#
# Then search-traces: TRACES (default 2000) more traces written into one
# experiment at 8 callers, and TRACES/10 searches of it (the 100 newest,
# filtered on trace.status) at 8 callers; the UI's run page over GraphQL
# (mlflowGetRun of a run with 50 metrics, TRACES/10 queries at 8
# callers); and each server's peak memory
# (VmHWM, summed over its process tree: mlflow's workers included).
#
# MLFLOW names the stock server's executable (default: the one of
# python/.venv, the conformance suite's pinned mlflow).
set -euo pipefail
cd "$(dirname "$0")/../.."
OPS=${1:-300}
TRACES=${TRACES:-2000}
MLFLOW=${MLFLOW:-python/.venv/bin/mlflow}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
go build -o "$work/tandem" ./cmd/tandem
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tp=$(port); mp=$(port)
"$work/tandem" server --listen "127.0.0.1:$tp" --metadata "sqlite://$work/tandem.db" --artifacts "file://$work/ta" --no-auth >"$work/tandem.log" 2>&1 &
pids+=($!)
"$MLFLOW" server --host 127.0.0.1 --port "$mp" --backend-store-uri "sqlite:///$work/mlflow.db" \
  --artifacts-destination "$work/ma" --serve-artifacts --workers 2 >"$work/mlflow.log" 2>&1 &
pids+=($!)
for u in "http://127.0.0.1:$tp" "http://127.0.0.1:$mp"; do
  for _ in $(seq 240); do curl -fsS "$u/health" >/dev/null 2>&1 && break; sleep 1; done
done
for c in 1 8 32; do
  for u in "tandem http://127.0.0.1:$tp" "mlflow http://127.0.0.1:$mp"; do
    set -- $u
    line=$(go run ./bench -url "$2" -scenarios trace-ingest -c "$c" -ops "$OPS" 2>/dev/null | grep '^trace-ingest' || true)
    echo "c=$c $1 $line"
  done
done
for u in "tandem http://127.0.0.1:$tp" "mlflow http://127.0.0.1:$mp"; do
  set -- $u
  go run ./bench -url "$2" -scenarios trace-ingest,search-traces,graphql-run-page -c 8 -ops "$TRACES" 2>/dev/null |
    grep -E '^(trace-ingest|search-traces|graphql-run-page)' | sed "s/^/$TRACES traces $1 /" || true
done
# Peak memory of each server's process tree (kB of VmHWM, summed).
hwm() {
  python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
kids = {}
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            ppid = int(open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        kids.setdefault(ppid, []).append(int(p))
todo, total = [root], 0
while todo:
    p = todo.pop()
    todo += kids.get(p, [])
    try:
        for line in open(f"/proc/{p}/status"):
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    except OSError:
        pass
print(total)
PY
}
echo "peak memory: tandem $(hwm "${pids[0]}") kB, mlflow $(hwm "${pids[1]}") kB"

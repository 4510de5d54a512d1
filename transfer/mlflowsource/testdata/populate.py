"""Populate an MLflow tracking server with the stock client, for the
migration tests and the benchmark. Usage: populate.py URI RUNS [BIG_METRIC_POINTS] [tracking]

With "tracking" it stops after runs and datasets (no logged or registered
models), for servers without a model registry.

Environment: POPULATE_THREADS (runs logged at once, default 1),
POPULATE_BIG_EVERY and POPULATE_PARAMS_EVERY (every Nth run gets the long
history / 150 params, default 10).

Writes: 2 experiments (one with tags), RUNS runs spread over them (params,
tags, a metric history per run, nested runs, one deleted run, a dataset
input, artifacts), a logged model, a registered model with versions, stage,
aliases and tags. Prints a JSON summary on stdout."""
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

uri, nruns = sys.argv[1], int(sys.argv[2])
big = int(sys.argv[3]) if len(sys.argv) > 3 else 200
tracking_only = len(sys.argv) > 4 and sys.argv[4] == "tracking"
# Every BIG_EVERY-th run gets the long history, every PARAMS_EVERY-th run
# 150 params; THREADS runs are logged at once (the client is thread-safe).
big_every = int(os.environ.get("POPULATE_BIG_EVERY", "10"))
params_every = int(os.environ.get("POPULATE_PARAMS_EVERY", "10"))
threads = int(os.environ.get("POPULATE_THREADS", "1"))
mlflow.set_tracking_uri(uri)
c = MlflowClient(uri)

e1 = c.create_experiment("migrate-a", tags={"team": "vision", "note": "ünïcode"})
e2 = c.create_experiment("migrate-b")
t0 = 1_700_000_000_000


def create(i):
    exp = e1 if i % 2 == 0 else e2
    return c.create_run(exp, start_time=t0 + i * 1000, run_name=f"run-{i}", tags={"i": str(i)}).info.run_id


with ThreadPoolExecutor(threads) as pool:
    run_ids = list(pool.map(create, range(nruns)))


def fill(i):
    rid = run_ids[i]
    nparams = 150 if i % params_every == 0 else 5
    params = [Param(f"p{j}", f"v{j}-{i}") for j in range(nparams)]
    points = big if i % big_every == 1 else 20
    metrics = [Metric("loss", 1.0 / (s + 1), t0 + s, s) for s in range(points)]
    metrics += [Metric("acc", float(s % 7), t0 + s, s) for s in range(5)]
    metrics.append(Metric("weird", float("nan"), t0, 0))
    tags = [RunTag("batch", "yes")]
    if i % 7 == 3 and i > 0:
        tags.append(RunTag("mlflow.parentRunId", run_ids[i - 1]))  # nested
    for k in range(0, max(len(params), len(metrics)), 900):
        c.log_batch(rid, metrics=metrics[k:k + 900], params=params[k:k + 100] if k == 0 else [],
                    tags=tags if k == 0 else [])
    for k in range(100, len(params), 100):
        c.log_batch(rid, params=params[k:k + 100])
    if i % 5 == 0:
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "sub dir"))
            with open(os.path.join(d, "sub dir", "notes.txt"), "w") as f:
                f.write(f"run {i}\n" * 50)
            with open(os.path.join(d, "model.bin"), "wb") as f:
                f.write(bytes(range(256)) * 40)
            c.log_artifacts(rid, d)
    c.set_terminated(rid, "FINISHED" if i % 4 else "FAILED", end_time=t0 + i * 1000 + 500)


with ThreadPoolExecutor(threads) as pool:
    list(pool.map(fill, range(nruns)))

# A dataset input on the first run.
import mlflow.data
from mlflow.data.meta_dataset import MetaDataset
from mlflow.data.http_dataset_source import HTTPDatasetSource
from mlflow.entities import DatasetInput, InputTag
ds = MetaDataset(HTTPDatasetSource("http://127.0.0.1/data.csv"), name="train", digest="abc123")
c.log_inputs(run_ids[0], datasets=[DatasetInput(ds._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", "training")])])

# A deleted run.
c.delete_run(run_ids[-1])

if tracking_only:
    print(json.dumps({"experiments": [e1, e2], "runs": run_ids, "logged_model": ""}))
    sys.exit(0)

# A logged model produced by run 0.
lm = c.create_logged_model(e1, name="lm", source_run_id=run_ids[0], params={"alpha": "0.5"}, tags={"k": "v"})
c.finalize_logged_model(lm.model_id, "READY")

# A registered model with three versions, a stage, aliases and tags.
rm = c.create_registered_model("migrated-model", tags={"owner": "ml"}, description="desc")
v1 = c.create_model_version("migrated-model", f"runs:/{run_ids[0]}/model.bin", run_id=run_ids[0], tags={"v": "1"})
v2 = c.create_model_version("migrated-model", f"runs:/{run_ids[5]}/model.bin", run_id=run_ids[5], description="second")
v3 = c.create_model_version("migrated-model", f"models:/{lm.model_id}", run_id=run_ids[0], model_id=lm.model_id)
c.transition_model_version_stage("migrated-model", v2.version, "Production")
c.set_registered_model_alias("migrated-model", "champion", v2.version)
c.set_registered_model_alias("migrated-model", "challenger", v3.version)
c.delete_model_version("migrated-model", v1.version)  # version numbers keep a hole
c.create_registered_model("empty-model")
print(json.dumps({"experiments": [e1, e2], "runs": run_ids, "logged_model": lm.model_id}))

# Smoke test of the tracking API with the stock mlflow client (not run by go test).
# Usage: URI=http://127.0.0.1:PORT python/.venv/bin/python mlflowapi/testdata/smoke_tracking.py
# against `go run ./cmd/tandem server --listen 127.0.0.1:PORT ...`; it passes against a stock `mlflow server` too.
import math, os, sys, time
import mlflow, numpy as np, pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

mlflow.set_tracking_uri(os.environ["URI"])
c = MlflowClient()
exp = mlflow.set_experiment("smoke")
print("experiment", exp.experiment_id, exp.artifact_location)
with mlflow.start_run(run_name="parent") as parent:
    mlflow.log_params({"lr": 0.1, "layers": 3})
    for s in range(5):
        mlflow.log_metrics({"loss": 1.0 / (s + 1), "acc": s / 10}, step=s)
    mlflow.set_tag("team", "blue")
    df = pd.DataFrame({"a": [1, 2, 3], "b": [4.0, 5.0, 6.0]})
    ds = mlflow.data.from_pandas(df, name="toy", targets="b")
    mlflow.log_input(ds, context="training")
    ds2 = mlflow.data.from_numpy(np.arange(10).reshape(5, 2), name="np")
    mlflow.log_input(ds2, context="eval")
    with mlflow.start_run(run_name="child", nested=True) as child:
        c.log_batch(child.info.run_id, metrics=[Metric("m", float(i), int(time.time()*1000), i) for i in range(50)],
                    params=[Param("p", "x")], tags=[RunTag("k", "v")])
        mlflow.log_metric("nan", float("nan"))
pr = c.get_run(parent.info.run_id)
print("params", pr.data.params, "metrics", pr.data.metrics, "tags", {k: v for k, v in pr.data.tags.items() if not k.startswith("mlflow.source")})
print("inputs", [(d.dataset.name, d.dataset.digest, [t.value for t in d.tags]) for d in pr.inputs.dataset_inputs])
assert pr.data.params == {"lr": "0.1", "layers": "3"}
assert pr.info.status == "FINISHED"
h = c.get_metric_history(parent.info.run_id, "loss")
assert [m.step for m in h] == list(range(5)), h
h = c.get_metric_history(child.info.run_id, "m")
assert len(h) == 50
runs = mlflow.search_runs([exp.experiment_id], filter_string="params.lr = '0.1' and metrics.loss < 0.5", order_by=["metrics.loss DESC"])
print(runs[["run_id", "metrics.loss"]])
assert len(runs) == 1
runs = c.search_runs([exp.experiment_id], filter_string="tags.`mlflow.parentRunId` = '%s'" % parent.info.run_id)
assert [r.info.run_id for r in runs] == [child.info.run_id]
runs = c.search_runs([exp.experiment_id], filter_string="datasets.context = 'training' AND attributes.run_name LIKE 'par%'")
assert len(runs) == 1, runs
runs = c.search_runs([exp.experiment_id], filter_string="attributes.run_id IN ('%s', 'zzz')" % child.info.run_id)
assert len(runs) == 1
runs = c.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
assert [r.info.run_name for r in runs] == ["parent", "child"]
# pagination
for i in range(7):
    c.create_run(exp.experiment_id, run_name=f"p{i}")
page = c.search_runs([exp.experiment_id], max_results=4)
seen = [r.info.run_id for r in page]
while page.token:
    page = c.search_runs([exp.experiment_id], max_results=4, page_token=page.token)
    seen += [r.info.run_id for r in page]
assert len(seen) == 9 and len(set(seen)) == 9, len(seen)
# errors
try:
    c.log_param(parent.info.run_id, "lr", "0.2")
    raise SystemExit("param change accepted")
except mlflow.exceptions.MlflowException as e:
    assert e.error_code == "INVALID_PARAMETER_VALUE", e.error_code
c.log_param(parent.info.run_id, "lr", "0.1")
# delete/restore
c.delete_run(child.info.run_id)
assert c.get_run(child.info.run_id).info.lifecycle_stage == "deleted"
assert child.info.run_id not in [r.info.run_id for r in c.search_runs([exp.experiment_id])]
c.restore_run(child.info.run_id)
assert c.get_run(child.info.run_id).info.lifecycle_stage == "active"
eid = c.create_experiment("to-delete", tags={"x": "y"})
c.set_experiment_tag(eid, "z", "w")
c.rename_experiment(eid, "renamed")
assert c.get_experiment_by_name("renamed").tags == {"x": "y", "z": "w"}
c.delete_experiment(eid)
assert c.get_experiment(eid).lifecycle_stage == "deleted"
assert eid not in [e.experiment_id for e in c.search_experiments()]
c.restore_experiment(eid)
assert [e.name for e in c.search_experiments(filter_string="tags.z = 'w'")] == ["renamed"]
try:
    c.get_run("0123456789abcdef")
except mlflow.exceptions.MlflowException as e:
    assert e.error_code == "RESOURCE_DOES_NOT_EXIST"
print("bulk", len(c._tracking_client.store.get_metric_history_bulk_interval([child.info.run_id], "m", 10, None, None)))
print("SMOKE OK")

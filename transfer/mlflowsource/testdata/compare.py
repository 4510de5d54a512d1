"""Ask two MLflow-API servers the same questions with the stock client and
print every difference. Usage: compare.py URI_A URI_B [tracking]

Compares experiments (by name: id, tags, stage, creation time), every run
(info, params, tags, latest metrics, full metric histories, dataset inputs,
artifact listings with sizes, through search_runs and get_run), the answers
to a set of search_runs queries (filters, orderings, pages, deleted runs by
view type), and, unless "tracking", registered models
(tags, description, aliases), their versions (number, stage, run id,
source, tags) and logged models. Prints a JSON list of differences."""
import json
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import requests

from mlflow import MlflowClient
from mlflow.entities import ViewType

a, b = MlflowClient(sys.argv[1]), MlflowClient(sys.argv[2])
tracking_only = len(sys.argv) > 3 and sys.argv[3] == "tracking"
diffs = []


def norm(v):
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    return v


def same(what, x, y):
    if x != y:
        diffs.append({"what": what, "a": repr(x)[:300], "b": repr(y)[:300]})


def all_experiments(c):
    out, tok = [], None
    while True:
        page = c.search_experiments(view_type=ViewType.ALL, max_results=1000, page_token=tok)
        out += page
        tok = page.token
        if not tok:
            return {e.name: e for e in out}


def all_runs(c, exp_id):
    out, tok = [], None
    while True:
        page = c.search_runs([exp_id], run_view_type=ViewType.ALL, max_results=1000, page_token=tok)
        out += page
        tok = page.token
        if not tok:
            return {r.info.run_id: r for r in out}


def artifacts(uri, run_id, path=None):
    # The REST endpoint itself: MlflowClient.list_artifacts of a sub-path
    # also queries logged models, which is not what this compares.
    q = {"run_id": run_id}
    if path:
        q["path"] = path
    resp = requests.get(uri + "/api/2.0/mlflow/artifacts/list", params=q, timeout=60)
    resp.raise_for_status()
    out = {}
    for f in resp.json().get("files", []):
        if f.get("is_dir"):
            out.update(artifacts(uri, run_id, f["path"]))
        else:
            out[f["path"]] = int(f.get("file_size", 0))
    return out


def compare_run(rid, p, q):
    # get_run as well as search_runs: both paths of the server.
    ga, gb = a.get_run(rid), b.get_run(rid)
    for f in ["run_name", "status", "start_time", "end_time", "lifecycle_stage", "user_id", "experiment_id"]:
        same(f"run {rid} {f}", getattr(p.info, f), getattr(q.info, f))
        same(f"run {rid} get_run {f}", getattr(ga.info, f), getattr(gb.info, f))
    for x, y, how in ((p, q, ""), (ga, gb, " get_run")):
        same(f"run {rid}{how} params", x.data.params, y.data.params)
        same(f"run {rid}{how} tags", x.data.tags, y.data.tags)
        same(f"run {rid}{how} metrics", {k: norm(v) for k, v in x.data.metrics.items()},
             {k: norm(v) for k, v in y.data.metrics.items()})
    for k in p.data.metrics:
        ha = sorted((m.step, m.timestamp, norm(m.value)) for m in a.get_metric_history(rid, k))
        hb = sorted((m.step, m.timestamp, norm(m.value)) for m in b.get_metric_history(rid, k))
        same(f"run {rid} history {k}", ha, hb)
    di = lambda r: sorted((d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source,
                           tuple(sorted((t.key, t.value) for t in d.tags))) for d in r.inputs.dataset_inputs)
    same(f"run {rid} inputs", di(p), di(q))
    same(f"run {rid} artifacts", artifacts(sys.argv[1], rid), artifacts(sys.argv[2], rid))


def answer(fn, *args, **kw):
    # An error is an answer too: a server that lacks an object answers
    # differently from one that has it.
    try:
        return fn(*args, **kw)
    except Exception as e:
        return f"error: {type(e).__name__}"


def search_ids(c, exp_ids, **kw):
    out, tok = [], None
    while True:
        page = c.search_runs(exp_ids, page_token=tok, **kw)
        out += [r.info.run_id for r in page]
        tok = page.token
        if not tok:
            return out


# Queries a user of the migrated server would send: filters on params,
# tags, metrics and attributes, orderings, small pages, and each view of
# deleted runs. Orderings end with a unique key so ties cannot differ.
QUERIES = [
    dict(run_view_type=ViewType.ACTIVE_ONLY, max_results=1000),
    dict(run_view_type=ViewType.DELETED_ONLY, max_results=1000),
    dict(run_view_type=ViewType.ALL, max_results=7, order_by=["attributes.start_time DESC"]),
    dict(filter_string="params.p1 = 'v1-3'", run_view_type=ViewType.ALL),
    dict(filter_string="tags.i LIKE '1%'", order_by=["attributes.start_time ASC"]),
    dict(filter_string="metrics.acc >= 4 and attributes.status = 'FINISHED'", order_by=["attributes.start_time DESC"]),
    dict(filter_string="metrics.loss < 0.01", order_by=["attributes.run_name ASC"]),
    dict(filter_string="attributes.run_name = 'run-3'"),
    dict(order_by=["params.p0 DESC", "attributes.start_time ASC"], max_results=50),
]

ea, eb = all_experiments(a), all_experiments(b)
same("experiment names", sorted(ea), sorted(eb))
nruns = 0
pool = ThreadPoolExecutor(int(os.environ.get("COMPARE_THREADS", "8")))
jobs = []
for name in sorted(set(ea) & set(eb)):
    x, y = ea[name], eb[name]
    if name != "Default":
        same(f"experiment {name} id", x.experiment_id, y.experiment_id)
        same(f"experiment {name} creation_time", x.creation_time, y.creation_time)
    same(f"experiment {name} stage", x.lifecycle_stage, y.lifecycle_stage)
    same(f"experiment {name} tags", x.tags, y.tags)
    ra, rb = all_runs(a, x.experiment_id), all_runs(b, y.experiment_id)
    same(f"experiment {name} run ids", sorted(ra), sorted(rb))
    if name != "Default":
        for i, kw in enumerate(QUERIES):
            same(f"experiment {name} query {i} {kw}", answer(search_ids, a, [x.experiment_id], **kw),
                 answer(search_ids, b, [y.experiment_id], **kw))
    for rid in sorted(set(ra) & set(rb)):
        nruns += 1
        jobs.append((rid, pool.submit(compare_run, rid, ra[rid], rb[rid])))
for rid, j in jobs:
    if (err := answer(j.result)) and isinstance(err, str):
        same(f"run {rid} comparison", "", err)

nmodels = 0
if not tracking_only:
    # The registry store itself: MlflowClient.search_registered_models adds a
    # prompt filter (tag.`mlflow.prompt.is_prompt` != 'true') that is not
    # what this compares.
    ma = {m.name: m for m in a._get_registry_client().store.search_registered_models(None, 1000, None, None)}
    mb = {m.name: m for m in b._get_registry_client().store.search_registered_models(None, 1000, None, None)}
    same("registered models", sorted(ma), sorted(mb))
    for name in sorted(set(ma) & set(mb)):
        nmodels += 1
        x, y = ma[name], mb[name]
        for f in ["description", "tags", "aliases", "creation_timestamp"]:
            same(f"model {name} {f}", getattr(x, f), getattr(y, f))
        va = {v.version: v for v in a.search_model_versions(f"name='{name}'")}
        vb = {v.version: v for v in b.search_model_versions(f"name='{name}'")}
        same(f"model {name} versions", sorted(va), sorted(vb))
        for alias in x.aliases:
            same(f"model {name} alias {alias}", answer(lambda c: c.get_model_version_by_alias(name, alias).version, a),
                 answer(lambda c: c.get_model_version_by_alias(name, alias).version, b))
        for v in sorted(set(va) & set(vb)):
            for f in ["current_stage", "run_id", "source", "tags", "description", "status", "creation_timestamp"]:
                same(f"model {name} v{v} {f}", getattr(va[v], f), getattr(vb[v], f))
print(json.dumps({"runs": nruns, "models": nmodels, "diffs": diffs}))

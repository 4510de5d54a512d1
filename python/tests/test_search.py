"""search_runs over a few thousand runs: filters on metrics, params, tags and
attributes, order_by, and page tokens."""

import time
from concurrent.futures import ThreadPoolExecutor

import mlflow
import pytest
from mlflow.entities import Metric, Param, RunTag

from helpers import unique

N = 2000
BASE = 1_700_000_000_000


def has(i):
    """Whether run i has the metric score, the param group and the tag batch
    (a quarter of the runs: keeps creation quick on slow servers)."""
    return i % 4 == 0


def score(i):
    return float(i % 97)


def group(i):
    return str(i % 5)


@pytest.fixture(scope="module")
def big(server):
    """An experiment with N runs. Run i has start_time BASE+i, run_name rNNNN,
    tags i=NNNN and mod=i%10; when has(i), also param group=i%5, metric
    score=i%97 and tag batch=yes."""
    from mlflow import MlflowClient

    client = MlflowClient(server.url)
    eid = client.create_experiment(unique("search"))

    def make(i):
        run = client.create_run(eid, start_time=BASE + i, run_name=f"r{i:04d}",
                                tags={"i": f"{i:04d}", "mod": str(i % 10)})
        if has(i):
            client.log_batch(run.info.run_id,
                             metrics=[Metric("score", score(i), BASE + i, 0)],
                             params=[Param("group", group(i))],
                             tags=[RunTag("batch", "yes")])
        return run.info.run_id

    t0 = time.time()
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(make, range(N)))
    print(f"created {N} runs in {time.time() - t0:.1f}s")
    return client, eid, ids


def all_pages(client, eid, page_size, **kw):
    out, token, pages = [], None, 0
    while True:
        page = client.search_runs([eid], max_results=page_size, page_token=token, **kw)
        out.extend(page)
        pages += 1
        token = page.token
        if not token:
            return out, pages
        assert pages <= N // page_size + 2, "page tokens never end"


def test_pagination_default_order(big):
    client, eid, ids = big
    runs, pages = all_pages(client, eid, 500)
    got = [r.info.run_id for r in runs]
    assert len(got) == N and len(set(got)) == N
    assert pages in (4, 5)  # a last empty page is allowed
    # default order: newest start_time first
    assert got == list(reversed(ids))


def test_pagination_with_order_and_filter(big):
    client, eid, ids = big
    runs, _ = all_pages(client, eid, 333, filter_string="tags.mod = '3'",
                        order_by=["attributes.run_name ASC"])
    assert [r.info.run_name for r in runs] == [f"r{i:04d}" for i in range(N) if i % 10 == 3]


def test_max_results_1000_page(big):
    client, eid, ids = big
    page = client.search_runs([eid], max_results=1000)
    assert len(page) == 1000 and page.token
    rest = client.search_runs([eid], max_results=1000, page_token=page.token)
    assert len(rest) == 1000
    assert not {r.info.run_id for r in page} & {r.info.run_id for r in rest}


def test_fluent_search_runs_dataframe(big):
    client, eid, ids = big
    df = mlflow.search_runs(experiment_ids=[eid], filter_string="params.group = '2'")
    want = sorted(ids[i] for i in range(N) if has(i) and group(i) == "2")
    assert len(df) == len(want) == N // 20
    assert set(df["params.group"]) == {"2"}
    assert sorted(df["run_id"]) == want
    assert "metrics.score" in df.columns and "tags.mod" in df.columns


@pytest.mark.parametrize("flt,expect", [
    ("metrics.score > 90", lambda i: has(i) and score(i) > 90),
    ("metrics.score >= 90", lambda i: has(i) and score(i) >= 90),
    ("metrics.score = 0", lambda i: has(i) and score(i) == 0),
    ("metrics.score != 0", lambda i: has(i) and score(i) != 0),
    ("metrics.score < 2.5", lambda i: has(i) and score(i) < 2.5),
    ("params.group = '3'", lambda i: has(i) and group(i) == "3"),
    ("params.group != '3'", lambda i: has(i) and group(i) != "3"),
    ("params.group LIKE '%4'", lambda i: has(i) and group(i) == "4"),
    ("tags.mod = '7'", lambda i: i % 10 == 7),
    ("tags.mod != '7'", lambda i: i % 10 != 7),
    ("tags.i LIKE '00%'", lambda i: i < 100),
    ("tags.i LIKE '%99'", lambda i: i % 100 == 99),
    ("tags.`i` = '0042'", lambda i: i == 42),
    ("tags.batch = 'yes'", has),
    ("attributes.run_name = 'r0042'", lambda i: i == 42),
    ("attributes.run_name ILIKE 'R019%'", lambda i: 190 <= i <= 199),
    ("run_name LIKE 'r000%'", lambda i: i < 10),
    (f"attributes.start_time >= {BASE + N - 10}", lambda i: i >= N - 10),
    (f"attributes.start_time < {BASE + 5}", lambda i: i < 5),
    ("attributes.status = 'RUNNING'", lambda i: True),
    ("attributes.status != 'RUNNING'", lambda i: False),
    ("params.group = '1' AND metrics.score < 10 AND tags.mod = '6'",
     lambda i: has(i) and group(i) == "1" and score(i) < 10 and i % 10 == 6),
    ("tags.batch = 'yes' and params.group = '0' and metrics.score > 95",
     lambda i: has(i) and group(i) == "0" and score(i) > 95),
    ("metrics.missing > 0", lambda i: False),
    ("params.missing = 'x'", lambda i: False),
])
def test_filters(big, flt, expect):
    client, eid, ids = big
    runs, _ = all_pages(client, eid, 1000, filter_string=flt)
    want = {ids[i] for i in range(N) if expect(i)}
    got = [r.info.run_id for r in runs]
    assert len(got) == len(set(got))
    assert set(got) == want, (flt, len(got), len(want))


def test_filter_run_id_in(big):
    client, eid, ids = big
    pick = [ids[3], ids[1500], ids[1999]]
    quoted = ", ".join(f"'{x}'" for x in pick)
    runs = client.search_runs([eid], filter_string=f"attributes.run_id IN ({quoted})")
    assert sorted(r.info.run_id for r in runs) == sorted(pick)


@pytest.mark.parametrize("order,key,reverse", [
    ("metrics.score DESC", lambda r: r.data.metrics.get("score"), True),
    ("metrics.score ASC", lambda r: r.data.metrics.get("score"), False),
    ("params.group DESC", lambda r: r.data.params.get("group"), True),
    ("params.group ASC", lambda r: r.data.params.get("group"), False),
    ("tags.i ASC", lambda r: r.data.tags["i"], False),
    ("attributes.start_time ASC", lambda r: r.info.start_time, False),
    ("attributes.run_name DESC", lambda r: r.info.run_name, True),
])
def test_order_by(big, order, key, reverse):
    client, eid, ids = big
    runs, _ = all_pages(client, eid, 1000, order_by=[order])
    assert len(runs) == N
    keys = [key(r) for r in runs]
    present = [k for k in keys if k is not None]
    # runs without the metric/param come last, whatever the direction
    assert keys[:len(present)] == present
    assert present == sorted(present, reverse=reverse)


def test_order_by_two_keys_top(big):
    client, eid, ids = big
    runs = client.search_runs([eid], order_by=["metrics.score DESC", "attributes.start_time ASC"],
                              max_results=5)
    # score 96 (i % 97 == 96) with i % 4 == 0: i = 96, 484, 872, 1260, 1648
    assert [r.info.run_name for r in runs] == ["r0096", "r0484", "r0872", "r1260", "r1648"]


def test_filter_and_order_over_several_experiments(big, client):
    _, eid, ids = big
    other = client.create_experiment(unique("search-other"))
    r = client.create_run(other, run_name="r0042", start_time=BASE + 42)
    runs = client.search_runs([eid, other], filter_string="attributes.run_name = 'r0042'",
                              order_by=["attributes.start_time ASC"])
    assert sorted(x.info.run_id for x in runs) == sorted([ids[42], r.info.run_id])

"""Metrics logged with a logged model are kept on the model: get_logged_model
returns them, and search_logged_models filters and orders by them and by
the dataset they were computed on."""

import mlflow
from mlflow.entities import Metric

from helpers import unique


def _by_key(metrics):
    return sorted((m.key, m.value, m.step, m.dataset_name, m.dataset_digest) for m in metrics)


def test_metrics_on_logged_model(client, server):
    exp = client.create_experiment(unique("lmm"))
    run = client.create_run(exp)
    rid = run.info.run_id
    good = mlflow.initialize_logged_model(name="good", experiment_id=exp, source_run_id=rid)
    bad = mlflow.initialize_logged_model(name="bad", experiment_id=exp, source_run_id=rid)
    plain = mlflow.initialize_logged_model(name="plain", experiment_id=exp, source_run_id=rid)

    # log-metric with model_id and a dataset, and log-batch
    client.log_metric(rid, "accuracy", 0.9, step=1, model_id=good.model_id,
                      dataset_name="eval", dataset_digest="d1")
    client.log_batch(rid, metrics=[
        Metric("accuracy", 0.4, 1000, 1, model_id=bad.model_id, dataset_name="eval", dataset_digest="d1"),
        Metric("accuracy", 0.95, 1001, 1, model_id=bad.model_id, dataset_name="train", dataset_digest="d2"),
        Metric("loss", 0.1, 1000, 2, model_id=good.model_id),
    ])
    client.log_metric(rid, "unrelated", 1.0)

    got = client.get_logged_model(good.model_id)
    assert _by_key(got.metrics) == [("accuracy", 0.9, 1, "eval", "d1"), ("loss", 0.1, 2, None, None)]
    assert all(m.run_id == rid and m.model_id == good.model_id for m in got.metrics)
    assert _by_key(client.get_logged_model(bad.model_id).metrics) == [
        ("accuracy", 0.4, 1, "eval", "d1"), ("accuracy", 0.95, 1, "train", "d2")]
    assert not client.get_logged_model(plain.model_id).metrics
    # the run keeps them too
    assert set(client.get_run(rid).data.metrics) == {"accuracy", "loss", "unrelated"}

    def names(**kw):
        return sorted(m.name for m in client.search_logged_models(experiment_ids=[exp], **kw))

    assert names(filter_string="metrics.accuracy > 0.5") == ["bad", "good"]
    assert names(filter_string="metrics.accuracy > 0.5",
                 datasets=[{"dataset_name": "eval", "dataset_digest": "d1"}]) == ["good"]
    assert names(filter_string="metrics.accuracy > 0.5",
                 datasets=[{"dataset_name": "train", "dataset_digest": "d2"}]) == ["bad"]
    assert names(filter_string="metrics.loss < 1") == ["good"]
    assert names(filter_string="metrics.accuracy > 0.99") == []
    assert names(datasets=[{"dataset_name": "train", "dataset_digest": "d2"}]) == ["bad"]
    if server.target != "mlflow":
        # A dataset named without a digest: any digest. (The stock server
        # matches only points logged without a digest: README, differences.)
        assert names(filter_string="metrics.accuracy > 0.5",
                     datasets=[{"dataset_name": "eval"}]) == ["good"]
        assert names(datasets=[{"dataset_name": "train"}]) == ["bad"]
    ordered = client.search_logged_models(
        experiment_ids=[exp],
        order_by=[{"field_name": "metrics.accuracy", "ascending": False, "dataset_name": "eval"}])
    assert [m.name for m in ordered] == ["good", "bad", "plain"]



def test_finalize_logged_model_statuses(client, server):
    """A logged model is finalized READY or FAILED; UNSPECIFIED is taken too,
    as the stock server takes it; tandem refuses an unknown status number
    (the stock server ignores it)."""
    from mlflow.entities import LoggedModelStatus

    exp = client.create_experiment(unique("finalize"))
    for status in (LoggedModelStatus.READY, LoggedModelStatus.FAILED, LoggedModelStatus.UNSPECIFIED):
        m = client.create_logged_model(experiment_id=exp)
        assert m.status == LoggedModelStatus.PENDING
        assert client.finalize_logged_model(m.model_id, status).status == status
        assert client.get_logged_model(m.model_id).status == status
    if server.is_mlflow:
        return  # the stock server takes any number (protobuf drops an unknown enum value)
    m = client.create_logged_model(experiment_id=exp)
    r = server.api("PATCH", f"mlflow/logged-models/{m.model_id}", json={"model_id": m.model_id, "status": 7})
    assert r.status_code == 400, r.text
    assert client.get_logged_model(m.model_id).status == LoggedModelStatus.PENDING

"""MLflow 3's GenAI workspace objects through the stock client: evaluation
datasets (create, merge records, search, tags, experiment links, delete),
registered scorers (register, list, get, delete versions) and the prompt
registry (register, load by version and alias, search). The same tests run
against the stock server (TANDEM_TARGET=mlflow) as the control."""

import mlflow
import pytest
from mlflow.genai.datasets import (
    add_dataset_to_experiments,
    create_dataset,
    delete_dataset,
    delete_dataset_tag,
    get_dataset,
    remove_dataset_from_experiments,
    search_datasets,
    set_dataset_tags,
)

from helpers import unique


@pytest.fixture
def genai_experiment():
    exp_id = mlflow.create_experiment(unique("genai"))
    mlflow.set_experiment(experiment_id=exp_id)
    yield exp_id
    mlflow.set_experiment(experiment_id="0")


def _records(ds):
    df = get_dataset(dataset_id=ds.dataset_id).to_df()
    return {row["inputs"]["q"]: row for _, row in df.iterrows()}


def test_dataset_records_merge_by_inputs(genai_experiment):
    name = unique("qa")
    ds = create_dataset(name=name, experiment_id=[genai_experiment], tags={"stage": "dev"})
    assert ds.name == name and ds.tags["stage"] == "dev"
    assert ds.experiment_ids == [genai_experiment]

    ds.merge_records([
        {"inputs": {"q": "2+2"}, "expectations": {"answer": "4"}},
        {"inputs": {"q": "capital of France"}, "expectations": {"answer": "Paris"}},
    ])
    # The same inputs again update that record: expectations merge key by key.
    ds.merge_records([{"inputs": {"q": "2+2"}, "expectations": {"why": "sum"}}])
    recs = _records(ds)
    assert set(recs) == {"2+2", "capital of France"}
    assert recs["2+2"]["expectations"] == {"answer": "4", "why": "sum"}
    assert recs["capital of France"]["expectations"] == {"answer": "Paris"}

    got = get_dataset(dataset_id=ds.dataset_id)
    assert got.name == name and got.digest
    assert '"num_records": 2' in got.profile
    assert '"q"' in got.schema


def test_dataset_search_tags_links_delete(genai_experiment):
    other_exp = mlflow.create_experiment(unique("genai-other"))
    name = unique("search")
    ds = create_dataset(name=name, experiment_id=[genai_experiment])
    assert [d.dataset_id for d in search_datasets(filter_string=f"name = '{name}'")] == [ds.dataset_id]
    assert ds.dataset_id in [d.dataset_id for d in search_datasets(experiment_ids=[genai_experiment])]
    assert ds.dataset_id not in [d.dataset_id for d in search_datasets(experiment_ids=[other_exp])]

    set_dataset_tags(ds.dataset_id, {"owner": "ann", "stage": "gold"})
    delete_dataset_tag(ds.dataset_id, "stage")
    tags = get_dataset(dataset_id=ds.dataset_id).tags
    assert tags["owner"] == "ann" and "stage" not in tags
    found = search_datasets(filter_string=f"name = '{name}' AND tags.owner = 'ann'")
    assert [d.dataset_id for d in found] == [ds.dataset_id]

    linked = add_dataset_to_experiments(ds.dataset_id, [other_exp])
    assert sorted(linked.experiment_ids) == sorted([genai_experiment, other_exp])
    # Linking twice and unlinking twice change nothing more.
    add_dataset_to_experiments(ds.dataset_id, [other_exp])
    unlinked = remove_dataset_from_experiments(ds.dataset_id, [genai_experiment])
    remove_dataset_from_experiments(ds.dataset_id, [genai_experiment])
    assert unlinked.experiment_ids == [other_exp]
    assert ds.dataset_id in [d.dataset_id for d in search_datasets(experiment_ids=[other_exp])]

    delete_dataset(dataset_id=ds.dataset_id)
    with pytest.raises(mlflow.exceptions.MlflowException) as e:
        get_dataset(dataset_id=ds.dataset_id)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_scorers_register_list_get_delete(genai_experiment):
    from mlflow.genai.scorers import Guidelines, delete_scorer, get_scorer, list_scorers

    Guidelines(name="polite", guidelines=["Be polite"]).register(experiment_id=genai_experiment)
    Guidelines(name="polite", guidelines=["Be very polite"]).register(experiment_id=genai_experiment)
    Guidelines(name="brief", guidelines=["Be brief"]).register(experiment_id=genai_experiment)
    assert sorted(s.name for s in list_scorers(experiment_id=genai_experiment)) == ["brief", "polite"]
    assert get_scorer(name="polite", experiment_id=genai_experiment).guidelines == ["Be very polite"]
    assert get_scorer(name="polite", experiment_id=genai_experiment, version=1).guidelines == ["Be polite"]

    delete_scorer(name="polite", experiment_id=genai_experiment, version=2)
    assert get_scorer(name="polite", experiment_id=genai_experiment).guidelines == ["Be polite"]
    delete_scorer(name="polite", experiment_id=genai_experiment, version="all")
    assert [s.name for s in list_scorers(experiment_id=genai_experiment)] == ["brief"]
    with pytest.raises(mlflow.exceptions.MlflowException):
        get_scorer(name="polite", experiment_id=genai_experiment)


def test_prompt_registry():
    name = unique("greet")
    p1 = mlflow.genai.register_prompt(name=name, template="Hello {{name}}!", commit_message="first")
    p2 = mlflow.genai.register_prompt(name=name, template="Hi {{name}}!")
    assert (p1.version, p2.version) == (1, 2)
    loaded = mlflow.genai.load_prompt(f"prompts:/{name}/1")
    assert loaded.template == "Hello {{name}}!" and loaded.format(name="Ann") == "Hello Ann!"
    mlflow.genai.set_prompt_alias(name, alias="prod", version=1)
    assert mlflow.genai.load_prompt(f"prompts:/{name}@prod").version == 1
    assert mlflow.genai.load_prompt(f"prompts:/{name}@latest").version == 2
    assert [p.name for p in mlflow.genai.search_prompts(filter_string=f"name = '{name}'")] == [name]
    # Prompts are not registered models to a model search.
    assert name not in [m.name for m in mlflow.search_registered_models()]


def _issues_store():
    return mlflow.MlflowClient()._tracking_client.store


def test_issues(genai_experiment):
    """MLflow 3 issues through the client's own store calls: create (pending
    by default), get, update, search by experiment, filter and page, with
    the count of traces linked by issue assessments."""
    from mlflow.entities import IssueReference, IssueSeverity, IssueStatus
    from mlflow.exceptions import MlflowException

    store = _issues_store()
    low = store.create_issue(experiment_id=genai_experiment, name="slow", description="p99 over 2 s",
                             severity=IssueSeverity.LOW, root_causes=["cold cache"], categories=["latency"],
                             created_by="ann")
    assert low.issue_id.startswith("iss-") and low.status == IssueStatus.PENDING
    assert low.root_causes == ["cold cache"] and low.categories == ["latency"] and low.created_by == "ann"
    with mlflow.start_run() as run:  # the run that found it
        pass
    run_id = run.info.run_id
    high = store.create_issue(experiment_id=genai_experiment, name="wrong", description="bad answers",
                              severity=IssueSeverity.HIGH, source_run_id=run_id)
    none = store.create_issue(experiment_id=genai_experiment, name="odd", description="no severity yet")
    got = store.get_issue(low.issue_id)
    assert got.name == "slow" and got.severity == IssueSeverity.LOW and got.created_timestamp == low.created_timestamp

    upd = store.update_issue(issue_id=none.issue_id, status=IssueStatus.RESOLVED, name="odd but fine")
    assert upd.status == IssueStatus.RESOLVED and upd.name == "odd but fine" and upd.description == "no severity yet"
    assert upd.last_updated_timestamp >= none.last_updated_timestamp

    # Severity first (highest first, none last), then newest first.
    found = store.search_issues(experiment_id=genai_experiment)
    assert [i.issue_id for i in found] == [high.issue_id, low.issue_id, none.issue_id]
    assert [i.issue_id for i in store.search_issues(experiment_id=genai_experiment, filter_string="status = 'resolved'")] == [none.issue_id]
    assert [i.issue_id for i in store.search_issues(experiment_id=genai_experiment,
                                                     filter_string=f"status != 'resolved' AND source_run_id = '{run_id}'")] == [high.issue_id]
    page = store.search_issues(experiment_id=genai_experiment, max_results=2)
    assert len(page) == 2 and page.token
    rest = store.search_issues(experiment_id=genai_experiment, max_results=2, page_token=page.token)
    assert [i.issue_id for i in rest] == [none.issue_id] and not rest.token

    # Two traces linked to "slow" by issue assessments.
    for _ in range(2):
        with mlflow.start_span("call") as span:
            span.set_inputs({"q": "x"})
        mlflow.flush_trace_async_logging()
        mlflow.log_assessment(span.trace_id, IssueReference(issue_id=low.issue_id, issue_name="slow"))
    counted = store.search_issues(experiment_id=genai_experiment, include_trace_count=True)
    assert {i.issue_id: i.trace_count for i in counted} == {high.issue_id: 0, low.issue_id: 2, none.issue_id: 0}

    with pytest.raises(MlflowException) as e:
        store.get_issue("iss-" + "0" * 32)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        store.search_issues(experiment_id=genai_experiment, filter_string="name = 'slow'")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"

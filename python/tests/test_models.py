"""A pyfunc model: logged, registered, aliased, loaded back by alias; and the
model registry calls around it."""

import mlflow
import mlflow.pyfunc
import pandas as pd
import pytest

from helpers import assert_mlflow_error, assert_raises_mlflow, unique


class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n):
        self.n = n

    def predict(self, context, model_input, params=None):
        return model_input.apply(lambda col: col * 2 + self.n)


def test_pyfunc_log_register_alias_load(client, experiment, tmp_path):
    name = unique("model")
    data = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, -1.0, 10.0]})
    model = AddN(7)
    with mlflow.start_run() as run:
        mlflow.log_param("n", 7)
        info = mlflow.pyfunc.log_model(name="addn", python_model=model, input_example=data)
    expected = model.predict(None, data)
    assert info.run_id == run.info.run_id

    # loaded straight from the logged model
    direct = mlflow.pyfunc.load_model(info.model_uri)
    pd.testing.assert_frame_equal(direct.predict(data), expected)

    mv = mlflow.register_model(info.model_uri, name)
    assert mv.name == name and str(mv.version) == "1"
    client.set_registered_model_alias(name, "champion", mv.version)
    got = client.get_model_version_by_alias(name, "champion")
    assert got.version == mv.version and got.run_id == run.info.run_id
    assert "champion" in client.get_registered_model(name).aliases

    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    pd.testing.assert_frame_equal(loaded.predict(data), expected)
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/1")
    pd.testing.assert_frame_equal(loaded.predict(data), expected)

    # a second version, the alias moves
    with mlflow.start_run():
        info2 = mlflow.pyfunc.log_model(name="addn", python_model=AddN(100), registered_model_name=name)
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    assert versions == [1, 2]
    client.set_registered_model_alias(name, "champion", "2")
    loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    pd.testing.assert_frame_equal(loaded.predict(data), AddN(100).predict(None, data))
    assert str(info2.registered_model_version) == "2"
    client.delete_registered_model_alias(name, "champion")
    # MLflow answers an unknown alias with INVALID_PARAMETER_VALUE, not 404
    assert_raises_mlflow(lambda: client.get_model_version_by_alias(name, "champion"),
                         "INVALID_PARAMETER_VALUE", 400)


def test_registry_crud(client):
    name = unique("reg")
    client.create_registered_model(name, tags={"team": "a"}, description="first")
    assert_raises_mlflow(lambda: client.create_registered_model(name), "RESOURCE_ALREADY_EXISTS", 400)
    rm = client.get_registered_model(name)
    assert rm.description == "first" and rm.tags == {"team": "a"}
    client.update_registered_model(name, description="second")
    client.set_registered_model_tag(name, "stage", "x")
    rm = client.get_registered_model(name)
    assert rm.description == "second" and rm.tags == {"team": "a", "stage": "x"}
    found = client.search_registered_models(filter_string=f"name = '{name}'")
    assert [m.name for m in found] == [name]
    found = client.search_registered_models(filter_string=f"name LIKE '{name[:-3]}%'")
    assert name in [m.name for m in found]
    client.rename_registered_model(name, name + "-new")
    assert_raises_mlflow(lambda: client.get_registered_model(name), "RESOURCE_DOES_NOT_EXIST", 404)
    client.delete_registered_model(name + "-new")
    assert_raises_mlflow(lambda: client.get_registered_model(name + "-new"), "RESOURCE_DOES_NOT_EXIST", 404)


def test_model_version_crud(client, experiment, tmp_path):
    name = unique("mv")
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="m", python_model=AddN(1))
    client.create_registered_model(name)
    mv = client.create_model_version(name, info.model_uri, run_id=run.info.run_id, description="d1",
                                     model_id=info.model_id)
    assert str(mv.version) == "1"
    client.update_model_version(name, mv.version, description="d2")
    client.set_model_version_tag(name, mv.version, "validated", "yes")
    got = client.get_model_version(name, mv.version)
    assert got.description == "d2" and got.tags == {"validated": "yes"}
    assert got.status == "READY"
    assert client.get_model_version_download_uri(name, mv.version)
    client.delete_model_version_tag(name, mv.version, "validated")
    assert client.get_model_version(name, mv.version).tags == {}
    client.delete_model_version(name, mv.version)
    assert_raises_mlflow(lambda: client.get_model_version(name, mv.version), "RESOURCE_DOES_NOT_EXIST", 404)


@pytest.mark.parametrize("source,ok,message", [
    ("s3://bucket/model", True, None),
    ("s3://bucket/model/", True, None),
    ("gs://bucket//model", True, None),
    ("dbfs:/model", True, None),
    ("s3://bucket/model%zz", True, None),  # a stray '%' is kept as written
    ("s3://bucket", False, "an absolute path must be provided"),
    ("s3:bucket/model", False, "an absolute path must be provided"),
    ("s3://bucket/./model", False, "an absolute path must be provided"),
    ("s3://bucket/a/../model", False, "an absolute path must be provided"),
    ("s3://bucket/a%2f..%2fmodel", False, "an absolute path must be provided"),
    ("/tmp/model", False, "To use a local path as a model version source"),
    ("file:///tmp/model", False, "To use a local path as a model version source"),
    ("relative/model", False, "To use a local path as a model version source"),
])
def test_model_version_sources(server, client, source, ok, message):
    """A model version source is checked as MLflow's server checks it."""
    name = unique("srcmodel")
    client.create_registered_model(name)
    r = server.api("POST", "mlflow/model-versions/create", json={"name": name, "source": source})
    if ok:
        assert r.status_code == 200, r.text
        return
    assert_mlflow_error(r, "INVALID_PARAMETER_VALUE", 400)
    assert message in r.json()["message"]
    assert client.search_model_versions(f"name='{name}'") == []

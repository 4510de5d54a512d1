"""Drives tandem's model registry with the stock mlflow client, as a data
scientist would: log a pyfunc model, register it, alias it, load it back by
alias and predict; then the registry and logged-model calls around it.
Usage: registry_client.py TRACKING_URI. Prints CLIENT OK on success."""

import sys
import uuid
import warnings

warnings.filterwarnings("ignore")

import mlflow  # noqa: E402
import mlflow.pyfunc  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

mlflow.set_tracking_uri(sys.argv[1])
c = MlflowClient()
suffix = uuid.uuid4().hex[:8]


class Double(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input * 2


def expect_error(fn, code):
    try:
        fn()
    except MlflowException as e:
        assert e.error_code == code, (e.error_code, code)
        return
    raise AssertionError("expected " + code)


# log, register, alias, load by alias
exp = mlflow.set_experiment("registry-client-" + suffix)
data = pd.DataFrame({"x": [1.0, 2.5]})
with mlflow.start_run() as run:
    info = mlflow.pyfunc.log_model(name="model", python_model=Double(), input_example=data)
assert info.model_uri == "models:/" + info.model_id, info.model_uri
name = "reg-" + suffix
mv = mlflow.register_model(info.model_uri, name)
assert str(mv.version) == "1" and mv.run_id == run.info.run_id, mv
c.set_registered_model_alias(name, "champion", mv.version)
loaded = mlflow.pyfunc.load_model(f"models:/{name}@champion")
pd.testing.assert_frame_equal(loaded.predict(data), data * 2)
lm = mlflow.get_logged_model(info.model_id)
assert lm.status.to_proto() == 2 and lm.source_run_id == run.info.run_id
assert lm.artifact_location == f"mlflow-artifacts:/{exp.experiment_id}/models/{info.model_id}/artifacts"

# the UI's listing of a logged model's files
import requests  # noqa: E402

r = requests.get(f"{sys.argv[1]}/api/2.0/mlflow/logged-models/{info.model_id}/artifacts/directories")
assert r.status_code == 200, r.text
names = sorted(f["path"] for f in r.json()["files"])
assert "MLmodel" in names and "python_model.pkl" in names, names
assert r.json()["root_uri"] == lm.artifact_location

# registry calls around it
n = "cl-" + suffix
rm = c.create_registered_model(n, tags={"team": "a"}, description="desc")
assert rm.name == n and rm.description == "desc" and rm.tags == {"team": "a"}, rm
expect_error(lambda: c.create_registered_model(n), "RESOURCE_ALREADY_EXISTS")
c.create_model_version(n, "s3://bucket/m1", tags={"k": "v"}, description="first")
c.create_model_version(n, "s3://bucket/m2")
c.set_registered_model_alias(n, "prod", 1)
assert str(c.get_model_version_by_alias(n, "prod").version) == "1"
c.update_registered_model(n, description="d2")
c.update_model_version(n, 2, description="second")
c.transition_model_version_stage(n, 2, "Staging")
c.transition_model_version_stage(n, 1, "Staging", archive_existing_versions=True)
assert c.get_model_version(n, 2).current_stage == "Archived"
assert [str(x.version) for x in c.get_latest_versions(n, stages=["Staging"])] == ["1"]
c.set_model_version_tag(n, 1, "x", "y")
c.delete_model_version_tag(n, 1, "x")
c.set_registered_model_tag(n, "x", "y")
c.delete_registered_model_tag(n, "x")
assert c.get_model_version_download_uri(n, 1) == "s3://bucket/m1"
res = c.search_registered_models(filter_string=f"name = '{n}'")
assert len(res) == 1 and {k: str(v) for k, v in res[0].aliases.items()} == {"prod": "1"}, res
assert len(c.search_model_versions(f"name = '{n}'")) == 2
assert len(c.search_registered_models(filter_string="name LIKE 'cl-%'", max_results=1)) == 1
c.rename_registered_model(n, n + "-r")
expect_error(lambda: c.get_registered_model(n), "RESOURCE_DOES_NOT_EXIST")
c.delete_registered_model_alias(n + "-r", "prod")
expect_error(lambda: c.get_model_version_by_alias(n + "-r", "prod"), "INVALID_PARAMETER_VALUE")
c.delete_model_version(n + "-r", 2)
expect_error(lambda: c.get_model_version(n + "-r", 2), "RESOURCE_DOES_NOT_EXIST")
c.delete_registered_model(n + "-r")

# logged models on their own
lm = mlflow.initialize_logged_model(name="lm1", model_type="agent", tags={"a": "b"}, params={"p": "1"})
mlflow.set_logged_model_tags(lm.model_id, {"c": "d"})
mlflow.delete_logged_model_tag(lm.model_id, "c")
mlflow.finalize_logged_model(lm.model_id, "READY")
got = mlflow.get_logged_model(lm.model_id)
assert got.params == {"p": "1"} and got.tags.get("a") == "b" and "c" not in got.tags, (got.params, got.tags)
found = mlflow.search_logged_models(experiment_ids=[exp.experiment_id], filter_string="name = 'lm1'", output_format="list")
assert [m.model_id for m in found] == [lm.model_id], found
print("CLIENT OK")

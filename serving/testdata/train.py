"""Train and register a scikit-learn model with the stock MLflow client.

Usage: train.py TRACKING_URI MODEL_NAME
Registers a new version of MODEL_NAME each time it runs. Prints one JSON
line: the version, the scoring input (dataframe_split) and the predictions
mlflow.pyfunc.load_model gives for it.
"""
import json
import sys

import mlflow
import pandas as pd
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

uri, name = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
X, y = load_iris(return_X_y=True, as_frame=True)
clf = LogisticRegression(max_iter=300).fit(X, y)
mlflow.set_experiment("serving")
with mlflow.start_run():
    info = mlflow.sklearn.log_model(clf, name="model", input_example=X.head(3), registered_model_name=name)
version = info.registered_model_version
sample = X.iloc[[0, 50, 100, 7, 120]]
model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
preds = model.predict(sample)
print(json.dumps({
    "version": int(version),
    "columns": list(sample.columns),
    "data": sample.values.tolist(),
    "predictions": [int(p) for p in preds],
}))

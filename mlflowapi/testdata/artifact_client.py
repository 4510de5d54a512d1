"""Drives tandem's artifact proxy with the stock mlflow client.

Usage: python artifact_client.py TRACKING_URI SOURCE_DIR MODE
MODE "run" logs to a run (needs the tracking API); "repo" talks to the
artifact repository of an mlflow-artifacts:/ URI directly. Prints one JSON
object: the listings seen and whether the downloaded tree equals the source.
"""

import filecmp
import json
import os
import sys
import tempfile

os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] = "true"
os.environ["MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE"] = str(1 << 20)
os.environ["MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE"] = str(1 << 20)

import mlflow  # noqa: E402
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

uri, src, mode = sys.argv[1], sys.argv[2], sys.argv[3]
mlflow.set_tracking_uri(uri)
big = os.path.join(src, "big.bin")
notes = os.path.join(src, "notes.txt")

if mode == "run":
    with mlflow.start_run() as run:
        mlflow.log_artifact(big)
        mlflow.log_artifacts(src, "folder")
        mlflow.log_artifact(notes, "sub/dir")
    root = run.info.artifact_uri
    client = MlflowClient()
    top = [f.path for f in client.list_artifacts(run.info.run_id)]
    folder = [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run.info.run_id, "folder")]
    dst = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=tempfile.mkdtemp())
else:
    root = "mlflow-artifacts:/0/clientrun/artifacts"
    repo = get_artifact_repository(root)
    repo.log_artifact(big)
    repo.log_artifacts(src, "folder")
    repo.log_artifact(notes, "sub/dir")
    top = [f.path for f in repo.list_artifacts()]
    folder = [(f.path, f.is_dir, f.file_size) for f in repo.list_artifacts("folder")]
    dst = mlflow.artifacts.download_artifacts(artifact_uri=root, dst_path=tempfile.mkdtemp())


def same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    if mismatch or errors:
        return False
    return all(same_tree(os.path.join(a, d), os.path.join(b, d)) for d in cmp.common_dirs)


ok = (
    same_tree(src, os.path.join(dst, "folder"))
    and filecmp.cmp(big, os.path.join(dst, "big.bin"), shallow=False)
    and filecmp.cmp(notes, os.path.join(dst, "sub", "dir", "notes.txt"), shallow=False)
)
print(json.dumps({"root": root, "top": top, "folder": folder, "same": ok}))

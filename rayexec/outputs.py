"""tandem's wrapper of a job on Ray: it downloads the job's inputs and
uploads its outputs (standard library only).

The Ray executor ships this file in the job's working folder and makes it
the job's entrypoint:

    python _tandem_outputs.py [--inputs _tandem_inputs.json] \
        [--path EXP/RUN/artifacts/outputs] \
        [--interval SECONDS] [--output NAME | --checkpoint NAME | --restore NAME]... \
        -- COMMAND

With --inputs, it first makes a fresh temporary folder (named by
TANDEM_INPUTS) and downloads into it each input the file lists, in a
folder of the input's name: a folder or a file of a run's artifacts
("artifact_path", "file") through the tracking server's artifact proxy,
or a data asset's files ("files_path", "files": each GET
$MLFLOW_TRACKING_URI + files_path + its path, checked against its size and
sha256) from the region's API. A failed download ends the job (exit 1)
before COMMAND starts. The folder is removed when the job ends.

For outputs, it makes a fresh temporary folder holding one folder per output (named by
TANDEM_OUTPUTS, and by AZUREML_OUTPUT_<NAME> and, for the checkpoint,
TANDEM_CHECKPOINT_DIR), fills the --restore ones from the run's artifacts,
runs COMMAND with sh, and uploads the folders to the run's artifacts under
--path/NAME through the tracking server's artifact proxy
(PUT $MLFLOW_TRACKING_URI/api/2.0/mlflow-artifacts/artifacts/...), with
$MLFLOW_TRACKING_TOKEN. Checkpoint folders (--checkpoint, --restore) are
also uploaded every --interval seconds while COMMAND runs, and when it
fails; the others only when it succeeds. The exit code is COMMAND's, or 1
when COMMAND succeeded and an upload failed. Only files that changed since
their last upload are sent again; symbolic links and special files are
skipped, as the region does for local compute.
"""

import hashlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


def log(msg):
    print("tandem: " + msg, file=sys.stderr, flush=True)


def parse(argv):
    opts = {"inputs": "", "path": "", "interval": 0.0, "outputs": [], "checkpoints": set(), "restore": set()}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return opts, argv[i + 1:]
        if i + 1 >= len(argv):
            break
        v = argv[i + 1]
        if a == "--inputs":
            opts["inputs"] = v
        elif a == "--path":
            opts["path"] = v.strip("/")
        elif a == "--interval":
            opts["interval"] = float(v)
        elif a in ("--output", "--checkpoint", "--restore"):
            opts["outputs"].append(v)
            if a != "--output":
                opts["checkpoints"].add(v)
            if a == "--restore":
                opts["restore"].add(v)
        else:
            break
        i += 2
    raise SystemExit("usage: _tandem_outputs.py [--inputs FILE] [--path P] [--interval S] [--output|--checkpoint|--restore NAME]... -- COMMAND")


class Proxy:
    """The tracking server's artifact proxy, as the attempt's token sees it."""

    def __init__(self, env):
        self.base = env.get("MLFLOW_TRACKING_URI", "").rstrip("/")
        if not self.base.startswith(("http://", "https://")):
            raise SystemExit("tandem: MLFLOW_TRACKING_URI %r is not an http(s) URL" % self.base)
        self.headers = {}
        if env.get("MLFLOW_TRACKING_TOKEN"):
            self.headers["Authorization"] = "Bearer " + env["MLFLOW_TRACKING_TOKEN"]
        self.ctx = None
        if self.base.startswith("https://"):
            if env.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true":
                self.ctx = ssl._create_unverified_context()
            else:
                self.ctx = ssl.create_default_context(cafile=env.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None)

    def url(self, path, query=None):
        u = self.base + PROXY
        if path:
            u += "/" + urllib.parse.quote(path, safe="/")
        if query:
            u += "?" + urllib.parse.urlencode(query)
        return u

    def call(self, method, url, body=None, size=None, sink=None):
        """One request, tried again on a connection error or a 5xx. The
        answer's body is returned, or, with sink (a file opened for writing),
        streamed into it (emptied before each try) and its SHA-256 (hex)
        returned."""
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/octet-stream"
            headers["Content-Length"] = str(size)
        for attempt in range(4):
            if body is not None:
                body.seek(0)
            req = urllib.request.Request(url, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, context=self.ctx, timeout=300) as resp:
                    if sink is None:
                        return resp.read()
                    sink.seek(0)
                    sink.truncate()
                    h = hashlib.sha256()
                    for chunk in iter(lambda: resp.read(1 << 20), b""):
                        h.update(chunk)
                        sink.write(chunk)
                    return h.hexdigest()
            except urllib.error.HTTPError as e:
                detail = e.read()[:500].decode("utf-8", "replace")
                if e.code < 500 or attempt == 3:
                    raise RuntimeError("%s %s: HTTP %d %s" % (method, url.split("?")[0], e.code, detail))
            except (urllib.error.URLError, OSError) as e:
                if attempt == 3:
                    raise RuntimeError("%s %s: %s" % (method, url.split("?")[0], e))
            time.sleep(0.5 * 2 ** attempt)

    def put(self, path, local):
        with open(local, "rb") as f:
            self.call("PUT", self.url(path), f, os.fstat(f.fileno()).st_size)

    def get(self, url, dst):
        """Writes what url answers into the file dst (its folders made) and
        returns its SHA-256 (hex)."""
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as f:
            return self.call("GET", url, sink=f)

    def download(self, path, dst):
        """Copies the artifacts under path into the folder dst."""
        os.makedirs(dst, exist_ok=True)
        listing = json.loads(self.call("GET", self.url("", {"path": path})) or b"{}")
        for e in listing.get("files", []):
            name = e["path"].rsplit("/", 1)[-1]
            if name in ("", ".", ".."):
                continue
            if e.get("is_dir"):
                self.download(path + "/" + name, os.path.join(dst, name))
            else:
                self.get(self.url(path + "/" + name), os.path.join(dst, name))


def inside(folder, rel):
    """folder/rel, refused unless it stays inside folder."""
    p = os.path.normpath(os.path.join(folder, *rel.split("/")))
    if rel.startswith("/") or not p.startswith(os.path.join(folder, "")):
        raise RuntimeError("path %r leaves the input's folder" % rel)
    return p


def download_input(proxy, entry, folder):
    """Downloads one input (an entry of --inputs) into folder."""
    os.makedirs(folder, exist_ok=True)
    if entry.get("artifact_path"):
        path = entry["artifact_path"].strip("/")
        if entry.get("file"):
            proxy.get(proxy.url(path), inside(folder, path.rsplit("/", 1)[-1]))
        else:
            proxy.download(path, folder)
        return
    base = proxy.base + "/" + entry["files_path"].strip("/") + "/"
    for f in entry.get("files", []):
        dst = inside(folder, f["path"])
        digest = proxy.get(base + urllib.parse.quote(f["path"], safe="/"), dst)
        size = os.path.getsize(dst)
        if size != f.get("size", size) or f.get("sha256", digest) != digest:
            raise RuntimeError("file %s arrived with %d bytes and another digest than the data asset's" % (f["path"], size))


def files(folder):
    """The regular files under folder, as sorted slash paths relative to it."""
    out = []
    for d, dirs, names in os.walk(folder):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            if not os.path.islink(p) and os.path.isfile(p):
                out.append(os.path.relpath(p, folder).replace(os.sep, "/"))
    return out


class Outputs:
    def __init__(self, proxy, path, root, names):
        self.proxy, self.path, self.root, self.names = proxy, path, root, names
        self.sent = {}  # (name, rel) -> (size, mtime_ns) of its last upload

    def upload(self, names):
        """Uploads what changed in the named folders; the first error is raised
        after trying every file."""
        first = None
        for name in names:
            base = os.path.join(self.root, name)
            for rel in files(base):
                local = os.path.join(base, rel)
                try:
                    st = os.stat(local)
                    stamp = (st.st_size, st.st_mtime_ns)
                    if self.sent.get((name, rel)) == stamp:
                        continue
                    self.proxy.put(self.path + "/" + name + "/" + rel, local)
                    self.sent[(name, rel)] = stamp
                except Exception as e:  # noqa: BLE001 (reported, then raised)
                    log("uploading output %s file %s: %s" % (name, rel, e))
                    first = first or e
        if first is not None:
            raise first


def exit_code(rc):
    return 128 - rc if rc < 0 else rc


def main(argv):
    opts, command = parse(argv)
    if not command:
        raise SystemExit("tandem: no command")
    env = dict(os.environ)
    proxy = Proxy(env)
    inputs = []
    if opts["inputs"]:
        with open(opts["inputs"]) as f:
            inputs = json.load(f).get("inputs", [])
    in_root = tempfile.mkdtemp(prefix="tandem-inputs-") if inputs else None
    root = tempfile.mkdtemp(prefix="tandem-outputs-")
    try:
        if in_root:
            env["TANDEM_INPUTS"] = in_root
        for entry in inputs:
            try:
                download_input(proxy, entry, inside(in_root, entry["name"]))
            except Exception as e:  # noqa: BLE001
                log("downloading input %s: %s" % (entry.get("name"), e))
                return 1
        env["TANDEM_OUTPUTS"] = root
        for name in opts["outputs"]:
            os.makedirs(os.path.join(root, name), exist_ok=True)
            env["AZUREML_OUTPUT_" + name] = os.path.join(root, name)
            if name in opts["checkpoints"]:
                env["TANDEM_CHECKPOINT_DIR"] = os.path.join(root, name)
        for name in sorted(opts["restore"]):
            try:
                proxy.download(opts["path"] + "/" + name, os.path.join(root, name))
            except Exception as e:  # noqa: BLE001
                log("restoring checkpoint %s: %s" % (name, e))
                return 1
        outs = Outputs(proxy, opts["path"], root, opts["outputs"])
        checkpoints = [n for n in opts["outputs"] if n in opts["checkpoints"]]
        # Ray stops a job by signalling its process group; pass a signal on
        # to the command (in case it runs in a group of its own) and end
        # without uploading.
        stopped = []
        child = subprocess.Popen(["/bin/sh", "-c", " ".join(command)], env=env)

        def stop(sig, _frame):
            stopped.append(sig)
            try:
                child.send_signal(sig)
            except OSError:
                pass

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        interval = opts["interval"] if checkpoints and opts["interval"] > 0 else None
        while True:
            try:
                rc = child.wait(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                try:
                    outs.upload(checkpoints)
                except Exception:  # noqa: BLE001 (logged; tried again next time)
                    pass
        rc = exit_code(rc)
        if stopped:
            return 128 + stopped[0]
        try:
            outs.upload(opts["outputs"] if rc == 0 else checkpoints)
        except Exception:  # noqa: BLE001
            log("the outputs did not all reach the run's artifacts")
            return rc or 1
        return rc
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if in_root:
            shutil.rmtree(in_root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

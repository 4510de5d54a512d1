"""Runs the ranks of a distributed tandem attempt on the Ray cluster this
Ray job runs on (tandem's rayexec ships it as the job's entrypoint).

usage: python _tandem_ranks.py _tandem_ranks.json

The JSON names the command every rank runs and each rank's variables. A
rank is a Ray actor (no CPU reserved, spread over the nodes) that first
reports its node's address and a port free there; the placeholders
{{tandem.rank.K.host}} and {{tandem.rank.K.port}} in every rank's variables
are replaced by rank K's, then each rank runs the command with its
variables, in the job's working folder, its output forwarded to the job's
log by Ray. The first rank to fail stops the others and its exit code is
the job's; the command of a rank dies with the actor that runs it (Ray
stops the child processes of a worker it kills).
"""

import json
import os
import socket
import subprocess
import sys

import ray


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


@ray.remote(num_cpus=0)
class Rank:
    def place(self):
        return ray.util.get_node_ip_address(), _free_port()

    def run(self, command, env):
        full = dict(os.environ)
        full.update(env)
        sys.stdout.flush()
        proc = subprocess.Popen(["/bin/sh", "-c", command], env=full)
        code = proc.wait()
        return 128 - code if code < 0 else code


def _fill(env, places):
    out = {}
    for key, value in env.items():
        for k, (host, port) in enumerate(places):
            value = value.replace("{{tandem.rank.%d.host}}" % k, host).replace("{{tandem.rank.%d.port}}" % k, str(port))
        out[key] = value
    return out


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    ray.init()
    ranks = [Rank.options(scheduling_strategy="SPREAD").remote() for _ in spec["ranks"]]
    places = ray.get([r.place.remote() for r in ranks])
    for k, (host, port) in enumerate(places):
        print("tandem: rank %d of %d on %s (port %d)" % (k, len(ranks), host, port), flush=True)
    runs = {}
    for k, (rank, env) in enumerate(zip(ranks, spec["ranks"])):
        runs[rank.run.remote(spec["command"], _fill(env, places))] = k
    pending = list(runs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        code = ray.get(done[0])
        if code != 0:
            print("tandem: rank %d exited with code %d; stopping the other ranks" % (runs[done[0]], code),
                  file=sys.stderr, flush=True)
            for rank in ranks:
                ray.kill(rank)
            sys.exit(code)
    print("tandem: all %d ranks succeeded" % len(ranks), flush=True)


if __name__ == "__main__":
    main()

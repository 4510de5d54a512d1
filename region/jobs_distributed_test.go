package region_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/jobs"
)

// rendezvous: every rank reports to rank 0 at MASTER_ADDR:MASTER_PORT, as
// torch.distributed's env:// store does; rank 0 prints who came.
const rendezvous = `import os, socket, sys, time
e = os.environ
rank, world = int(e["RANK"]), int(e["WORLD_SIZE"])
print("rank", rank, "local", e["LOCAL_RANK"], "node", e["NODE_RANK"], "world", world, "local_world", e["LOCAL_WORLD_SIZE"], "master", e["MASTER_ADDR"], flush=True)
addr = (e["MASTER_ADDR"], int(e["MASTER_PORT"]))
if rank == 0:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(addr); s.listen(world)
    got = []
    for _ in range(world - 1):
        c, _ = s.accept(); got.append(int(c.recv(16).decode())); c.close()
    print("rank 0 met", sorted(got))
    open(os.path.join(sys.argv[1], "world.txt"), "w").write(str(world))
else:
    for _ in range(600):
        try:
            c = socket.create_connection(addr); break
        except OSError:
            time.sleep(0.05)
    c.sendall(str(rank).encode()); c.close()
`

// TestDistributedJobOnLocalCompute: resources.instance_count 2 with
// distribution {type: pytorch, process_count_per_instance: 2} runs four
// processes with their ranks and a shared master port, who meet; each
// process's log is under user_logs; the four take four instances of the
// quota; when one rank fails the others are stopped and the attempt fails,
// naming the rank; a job larger than the compute fails, saying so.
func TestDistributedJobOnLocalCompute(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs python3")
	}
	_, c, base, owner := jobRegion(t, 4)
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, dir, "src/rdv.py", rendezvous)
	spec := loadJob(t, dir, "dist.yml", `name: ddp
code: ./src
command: python3 rdv.py ${{outputs.out}}
outputs:
  out:
resources:
  instance_count: 2
distribution:
  type: pytorch
  process_count_per_instance: 2
`)
	if _, err := c.SubmitJob(ctx, spec, dir); err != nil {
		t.Fatal(err)
	}
	// While it runs (the ranks may take a moment to meet), a one-instance
	// job queues behind its four instances.
	if _, err := c.SubmitJob(ctx, &tandem.JobSpec{Type: "command", Name: "after", Command: "echo after"}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, "ddp", func(j *tandem.Job) bool { return j.Status.Terminal() })
	logs, _ := c.JobLogs(ctx, "ddp", 0)
	if j.Status != tandem.JobCompleted || len(j.Attempts) != 1 || !strings.HasPrefix(j.Attempts[0].Handle, "dist:") {
		t.Fatalf("ddp: %s %q %+v\n%s", j.Status, j.Message, j.Attempts, logs.Data)
	}
	if !strings.Contains(logs.Data, "rank 0 met [1, 2, 3]") {
		t.Fatalf("rank 0's log (the job's): %s", logs.Data)
	}
	get := func(path string) (int, string) { return runArtifact(t, base, owner, j, path) }
	for rank, want := range []string{"rank 0 local 0 node 0 world 4 local_world 2 master 127.0.0.1", "rank 1 local 1 node 0 world 4",
		"rank 2 local 0 node 1 world 4", "rank 3 local 1 node 1 world 4"} {
		code, body := get(fmt.Sprintf("user_logs/std_log_process_%d.txt", rank))
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("rank %d's log: %d %q, want %q", rank, code, body, want)
		}
	}
	if code, body := get("outputs/out/world.txt"); code != 200 || body != "4" {
		t.Errorf("output: %d %q", code, body)
	}
	after := waitJob(t, c, "after", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if after.Status != tandem.JobCompleted || after.Attempts[0].StartMS < j.Attempts[0].EndMS {
		t.Fatalf("after started before the four instances were free: %+v (ddp ended at %d)", after.Attempts[0], j.Attempts[0].EndMS)
	}

	// Rank 1 fails; ranks 0, 2, 3 would sleep for 10 minutes: they are
	// stopped and the attempt fails naming rank 1.
	fail := loadJob(t, dir, "fail.yml", `name: ddp-fail
command: python3 -c "import os, sys, time; r = int(os.environ['RANK']); print('rank', r, flush=True); sys.exit(3) if r == 1 else time.sleep(600)"
resources:
  instance_count: 2
distribution:
  type: pytorch
  process_count_per_instance: 2
resubmit: {policy: never}
`)
	if _, err := c.SubmitJob(ctx, fail, dir); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, "ddp-fail", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobFailed || !strings.Contains(j.Message, "process of rank 1 failed with exit code 3") || *j.Attempts[0].ExitCode != 3 {
		t.Fatalf("ddp-fail: %s %q %+v", j.Status, j.Message, j.Attempts[0])
	}
	// The other ranks' processes are gone (their handles name their pids).
	waitRanksGone(t, j.Attempts[0].Handle, 4)
	// Canceling a distributed job stops every rank.
	sleeper := &tandem.JobSpec{Type: "command", Name: "ddp-cancel", Command: "sleep 600", InstanceCount: 2,
		Distribution: &tandem.Distribution{Type: tandem.DistributionPyTorch}}
	if _, err := c.SubmitJob(ctx, sleeper, dir); err != nil {
		t.Fatal(err)
	}
	waitJob(t, c, "ddp-cancel", func(j *tandem.Job) bool { return j.Status == tandem.JobRunning })
	if _, err := c.CancelJob(ctx, "ddp-cancel"); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, "ddp-cancel", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobCanceled {
		t.Fatalf("ddp-cancel: %s %q", j.Status, j.Message)
	}
	waitRanksGone(t, j.Attempts[0].Handle, 2)
	// The quota is free again: a job taking all four instances starts.
	all := &tandem.JobSpec{Type: "command", Name: "all-four", Command: "echo rank $RANK", InstanceCount: 4,
		Distribution: &tandem.Distribution{Type: tandem.DistributionPyTorch}}
	if _, err := c.SubmitJob(ctx, all, dir); err != nil {
		t.Fatal(err)
	}
	if j = waitJob(t, c, "all-four", func(j *tandem.Job) bool { return j.Status.Terminal() }); j.Status != tandem.JobCompleted {
		t.Fatalf("all-four: %s %q", j.Status, j.Message)
	}
	// Five processes cannot fit four instances.
	big := &tandem.JobSpec{Type: "command", Name: "too-big", Command: "true", InstanceCount: 1,
		Distribution: &tandem.Distribution{Type: tandem.DistributionPyTorch, ProcessCountPerInstance: 5}}
	if _, err := c.SubmitJob(ctx, big, dir); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, "too-big", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobFailed || !strings.Contains(j.Message, `needs 5 instances; compute "local" allows at most 4`) {
		t.Fatalf("too-big: %s %q", j.Status, j.Message)
	}
}

// TestDistributedJobSurvivesTandemRestart: the ranks of a distributed
// attempt live on while tandem restarts; the restarted region finds them
// again through the attempt's handle and follows them to the end, every
// rank's whole log under user_logs.
func TestDistributedJobSurvivesTandemRestart(t *testing.T) {
	serve := restartable(t)
	stop, c, _, _ := serve()
	ctx := context.Background()
	spec := &tandem.JobSpec{Type: "command", Name: "ddp-survivor", Command: "echo before $RANK; sleep 3; echo after $RANK",
		Distribution: &tandem.Distribution{Type: tandem.DistributionPyTorch, ProcessCountPerInstance: 2}}
	if _, err := c.SubmitJob(ctx, spec, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	waitJob(t, c, "ddp-survivor", func(j *tandem.Job) bool { return j.Status == tandem.JobRunning })
	stop()
	stop, c, base, owner := serve()
	defer stop()
	j := waitJob(t, c, "ddp-survivor", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobCompleted || len(j.Attempts) != 1 {
		t.Fatalf("after a restart: %s %q %+v", j.Status, j.Message, j.Attempts)
	}
	for rank := 0; rank < 2; rank++ {
		code, body := runArtifact(t, base, owner, j, fmt.Sprintf("user_logs/std_log_process_%d.txt", rank))
		if code != 200 || !strings.Contains(body, fmt.Sprintf("before %d", rank)) || !strings.Contains(body, fmt.Sprintf("after %d", rank)) {
			t.Errorf("rank %d's log: %d %q", rank, code, body)
		}
	}
}

// waitRanksGone waits until the processes of every rank of a distributed
// attempt's handle have exited (each rank's handle names its pid).
func waitRanksGone(t *testing.T, handle string, n int) {
	t.Helper()
	hs, ok := jobs.RankHandles(handle)
	if !ok || len(hs) != n {
		t.Fatalf("handle %q: want %d ranks", handle, n)
	}
	for rank, h := range hs {
		parts := strings.Split(h, ":")
		pid := parts[len(parts)-2]
		deadline := time.Now().Add(time.Minute)
		for {
			if _, err := os.Stat("/proc/" + pid); os.IsNotExist(err) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rank %d (pid %s) still runs after its attempt ended", rank, pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// tfMesh: every task of the TF_CONFIG cluster listens at its own address
// and every other task connects to it, as TensorFlow's gRPC servers do;
// each prints whom it met.
const tfMesh = `import json, os, socket, sys, threading, time
c = json.loads(os.environ["TF_CONFIG"])
me, workers = c["task"], c["cluster"]["worker"]
addrs = workers + c["cluster"].get("ps", [])
idx = me["index"] + (0 if me["type"] == "worker" else len(workers))
host, port = addrs[idx].rsplit(":", 1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((host, int(port))); s.listen(16)
got = []
def accept():
    for _ in range(len(addrs) - 1):
        conn, _ = s.accept(); got.append(conn.recv(32).decode()); conn.close()
th = threading.Thread(target=accept); th.start()
for j, a in enumerate(addrs):
    if j == idx:
        continue
    h, p = a.rsplit(":", 1)
    for _ in range(600):
        try:
            x = socket.create_connection((h, int(p))); break
        except OSError:
            time.sleep(0.05)
    x.sendall((me["type"] + str(me["index"])).encode()); x.close()
th.join()
print(me["type"], me["index"], "met", " ".join(sorted(got)), "rank", os.environ["RANK"], flush=True)
if me["type"] == "worker" and me["index"] == 0:
    open(os.path.join(sys.argv[1], "cluster.txt"), "w").write(",".join(addrs))
`

// TestTensorFlowJobOnLocalCompute: distribution {type: tensorflow,
// worker_count: 2, parameter_server_count: 1} runs three processes, each
// with the whole cluster and its own task in TF_CONFIG; they meet at the
// addresses it names, and the three take three instances of the quota.
func TestTensorFlowJobOnLocalCompute(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("needs python3")
	}
	_, c, base, owner := jobRegion(t, 3)
	ctx := context.Background()
	dir := t.TempDir()
	writeFile(t, dir, "src/mesh.py", tfMesh)
	spec := loadJob(t, dir, "tf.yml", `name: tf-mesh
code: ./src
command: python3 mesh.py ${{outputs.out}}
outputs:
  out:
distribution:
  type: tensorflow
  worker_count: 2
  parameter_server_count: 1
`)
	if spec.Processes() != 3 {
		t.Fatalf("processes %d", spec.Processes())
	}
	if _, err := c.SubmitJob(ctx, spec, dir); err != nil {
		t.Fatal(err)
	}
	j := waitJob(t, c, "tf-mesh", func(j *tandem.Job) bool { return j.Status.Terminal() })
	logs, _ := c.JobLogs(ctx, "tf-mesh", 0)
	if j.Status != tandem.JobCompleted {
		t.Fatalf("tf-mesh: %s %q %+v\n%s", j.Status, j.Message, j.Attempts, logs.Data)
	}
	for rank, want := range []string{"worker 0 met ps0 worker1 rank 0", "worker 1 met ps0 worker0 rank 1", "ps 0 met worker0 worker1 rank 2"} {
		code, body := runArtifact(t, base, owner, j, fmt.Sprintf("user_logs/std_log_process_%d.txt", rank))
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("process %d's log: %d %q, want %q", rank, code, body, want)
		}
	}
	if code, body := runArtifact(t, base, owner, j, "outputs/out/cluster.txt"); code != 200 || strings.Count(body, "127.0.0.1:") != 3 {
		t.Errorf("cluster: %d %q", code, body)
	}
	// Four tasks cannot fit three instances.
	big := &tandem.JobSpec{Type: "command", Name: "tf-too-big", Command: "true",
		Distribution: &tandem.Distribution{Type: tandem.DistributionTensorFlow, WorkerCount: 3, ParameterServerCount: 1}}
	if _, err := c.SubmitJob(ctx, big, dir); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, "tf-too-big", func(j *tandem.Job) bool { return j.Status.Terminal() })
	if j.Status != tandem.JobFailed || !strings.Contains(j.Message, "needs 4 instances") {
		t.Fatalf("tf-too-big: %s %q", j.Status, j.Message)
	}
}

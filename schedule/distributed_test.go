package schedule

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func TestRanksAndTorchEnv(t *testing.T) {
	rs := Ranks(2, 3)
	if len(rs) != 6 {
		t.Fatalf("%d ranks", len(rs))
	}
	// Node-major, as torchrun numbers them.
	if rs[4] != (Rank{Rank: 4, LocalRank: 1, NodeRank: 1, WorldSize: 6, LocalWorldSize: 3}) {
		t.Fatalf("rank 4 = %+v", rs[4])
	}
	for i, r := range rs {
		if r.Rank != i || r.NodeRank*3+r.LocalRank != i {
			t.Fatalf("rank %d = %+v", i, r)
		}
	}
	if got := Ranks(0, 0); len(got) != 1 || got[0] != (Rank{WorldSize: 1, LocalWorldSize: 1}) {
		t.Fatalf("unset counts: %+v", got)
	}
	env := rs[4].TorchEnvAt("127.0.0.1", "29500")
	want := map[string]string{"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500", "WORLD_SIZE": "6", "RANK": "4",
		"LOCAL_RANK": "1", "NODE_RANK": "1", "GROUP_RANK": "1", "LOCAL_WORLD_SIZE": "3"}
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("env %v", env)
	}
}

func TestCombine(t *testing.T) {
	run := tandem.ProcessStatus{State: tandem.ProcessRunning}
	ok := tandem.ProcessStatus{State: tandem.ProcessSucceeded}
	fail := tandem.ProcessStatus{State: tandem.ProcessFailed, ExitCode: 7, Message: "boom"}
	pend := tandem.ProcessStatus{State: tandem.ProcessPending}
	stopped := tandem.ProcessStatus{State: tandem.ProcessStopped, Message: "stopped"}
	lost := tandem.ProcessStatus{State: tandem.ProcessLost, Message: "no record"}

	st, stop := Combine([]tandem.ProcessStatus{pend, pend})
	if st.State != tandem.ProcessPending || stop != nil {
		t.Fatalf("all pending: %+v %v", st, stop)
	}
	// One done, one still running: running; nothing to stop.
	st, stop = Combine([]tandem.ProcessStatus{ok, run})
	if st.State != tandem.ProcessRunning || stop != nil {
		t.Fatalf("one done: %+v %v", st, stop)
	}
	st, _ = Combine([]tandem.ProcessStatus{ok, pend})
	if st.State != tandem.ProcessRunning {
		t.Fatalf("one done one pending: %+v", st)
	}
	// Rank 1 failed while 0 and 2 run: failed at once with rank 1's code;
	// 0 and 2 are to be stopped.
	st, stop = Combine([]tandem.ProcessStatus{run, fail, run})
	if st.State != tandem.ProcessFailed || st.ExitCode != 7 || !strings.Contains(st.Message, "rank 1 failed with exit code 7: boom") || !reflect.DeepEqual(stop, []int{0, 2}) {
		t.Fatalf("one failed: %+v %v", st, stop)
	}
	// Once the others were stopped it stays failed.
	st, stop = Combine([]tandem.ProcessStatus{stopped, fail, stopped})
	if st.State != tandem.ProcessFailed || stop != nil {
		t.Fatalf("failed then stopped: %+v %v", st, stop)
	}
	st, stop = Combine([]tandem.ProcessStatus{run, lost})
	if st.State != tandem.ProcessLost || !reflect.DeepEqual(stop, []int{0}) {
		t.Fatalf("lost: %+v %v", st, stop)
	}
	st, _ = Combine([]tandem.ProcessStatus{ok, stopped})
	if st.State != tandem.ProcessStopped {
		t.Fatalf("stopped: %+v", st)
	}
	st, _ = Combine([]tandem.ProcessStatus{ok, ok, ok})
	if st.State != tandem.ProcessSucceeded {
		t.Fatalf("all succeeded: %+v", st)
	}
}

// Every process of a distributed job takes one instance of the quota.
func TestPlanDistributedCountsProcesses(t *testing.T) {
	dist := cmdJob("dist", 1, 0, "")
	dist.Spec.InstanceCount = 2
	dist.Spec.Distribution = &tandem.Distribution{Type: tandem.DistributionPyTorch, ProcessCountPerInstance: 2}
	d := Plan([]*tandem.Job{dist, cmdJob("next", 2, 0, "")}, caps(map[string]int{"local": 5}, nil), 0)
	if got := started(d); !reflect.DeepEqual(got, []string{"dist/", "next/"}) || d.Start[0].Instances != 4 {
		t.Fatalf("started %v %+v", got, d.Start)
	}
	d = Plan([]*tandem.Job{dist}, caps(map[string]int{"local": 3}, nil), 0)
	if !strings.Contains(d.Fail["dist"], "needs 4 instances") {
		t.Fatalf("too big: %+v", d)
	}
	dist.Attempts = []*tandem.JobAttempt{{N: 1, Region: "r", Compute: "local", Status: tandem.AttemptRunning}}
	if u := Used([]*tandem.Job{dist}, "r"); u["local"] != 4 {
		t.Fatalf("used %v", u)
	}
}

// TestTensorFlowEnv: every process gets the whole cluster (workers first,
// then parameter servers, at their ports on 127.0.0.1) and its own task.
func TestTensorFlowEnv(t *testing.T) {
	envs, err := TensorFlowEnvAt(2, 1, []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"})
	if err != nil || len(envs) != 3 {
		t.Fatalf("%v %v", envs, err)
	}
	type tf struct {
		Cluster map[string][]string `json:"cluster"`
		Task    struct {
			Type  string `json:"type"`
			Index int    `json:"index"`
		} `json:"task"`
		Environment string `json:"environment"`
	}
	for i, want := range []string{"worker 0", "worker 1", "ps 0"} {
		var c tf
		if err := json.Unmarshal([]byte(envs[i]["TF_CONFIG"]), &c); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(c.Task.Type, " ", c.Task.Index); got != want || c.Environment != "cloud" {
			t.Errorf("process %d: task %s, want %s", i, got, want)
		}
		if !reflect.DeepEqual(c.Cluster, map[string][]string{"worker": {"127.0.0.1:7001", "127.0.0.1:7002"}, "ps": {"127.0.0.1:7003"}}) {
			t.Errorf("process %d: cluster %v", i, c.Cluster)
		}
		if envs[i]["RANK"] != fmt.Sprint(i) || envs[i]["WORLD_SIZE"] != "3" {
			t.Errorf("process %d: %v", i, envs[i])
		}
	}
	if _, ps := (&tandem.Distribution{Type: "tensorflow"}).TensorFlowTasks(0); ps != 0 {
		t.Fatal("parameter servers by default")
	}
	if envs, _ := TensorFlowEnvAt(1, 0, []string{"127.0.0.1:9"}); !strings.Contains(envs[0]["TF_CONFIG"], `"cluster":{"worker":["127.0.0.1:9"]}`) {
		t.Fatalf("no ps key without parameter servers: %s", envs[0]["TF_CONFIG"])
	}
	if _, err := TensorFlowEnvAt(2, 0, []string{"127.0.0.1:1"}); err == nil {
		t.Fatal("too few ports accepted")
	}
}

func TestPlacedEnv(t *testing.T) {
	tf, err := PlacedEnv(&tandem.Distribution{Type: tandem.DistributionTensorFlow, WorkerCount: 2, ParameterServerCount: 1}, 1)
	if err != nil || len(tf) != 3 {
		t.Fatalf("%v %v", tf, err)
	}
	var cfg struct {
		Cluster map[string][]string `json:"cluster"`
		Task    struct {
			Type  string `json:"type"`
			Index int    `json:"index"`
		} `json:"task"`
	}
	if err := json.Unmarshal([]byte(tf[2]["TF_CONFIG"]), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster["worker"][1] != "{{tandem.rank.1.host}}:{{tandem.rank.1.port}}" || cfg.Cluster["ps"][0] != HostOf(2)+":"+PortOf(2) ||
		cfg.Task.Type != "ps" || cfg.Task.Index != 0 {
		t.Fatalf("TF_CONFIG %s", tf[2]["TF_CONFIG"])
	}
	pt, err := PlacedEnv(&tandem.Distribution{Type: tandem.DistributionPyTorch}, 3)
	if err != nil || len(pt) != 3 || pt[2]["MASTER_ADDR"] != HostOf(0) || pt[2]["NODE_RANK"] != "2" {
		t.Fatalf("%v %v", pt, err)
	}
}

package jobs

import (
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func TestRankProcesses(t *testing.T) {
	spec := &tandem.JobSpec{Type: "command", Command: "x", InstanceCount: 2,
		Distribution: &tandem.Distribution{Type: tandem.DistributionPyTorch, ProcessCountPerInstance: 2}}
	ps, err := rankProcesses(spec, &tandem.ComputeTarget{Name: "local", Type: tandem.ComputeLocal})
	if err != nil || len(ps) != 4 {
		t.Fatalf("%v %v", ps, err)
	}
	for k, env := range ps {
		if env["RANK"] != string(rune('0'+k)) || env["MASTER_PORT"] != ps[0]["MASTER_PORT"] || env["MASTER_PORT"] == "0" || env["WORLD_SIZE"] != "4" {
			t.Fatalf("rank %d: %v", k, env)
		}
	}
	// On Ray the ranks meet where rank 0 is placed, which the executor fills in.
	ps, err = rankProcesses(spec, &tandem.ComputeTarget{Name: "ray", Type: tandem.ComputeRay})
	if err != nil || len(ps) != 4 || ps[3]["MASTER_ADDR"] != "{{tandem.rank.0.host}}" || ps[3]["MASTER_PORT"] != "{{tandem.rank.0.port}}" || ps[3]["RANK"] != "3" {
		t.Fatalf("ray: %v %v", ps, err)
	}
	if _, err := rankProcesses(spec, &tandem.ComputeTarget{Name: "k8s", Type: "kubernetes"}); tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), "runs on local or ray compute; compute k8s is kubernetes") {
		t.Fatalf("other: %v", err)
	}
	spec.Distribution = nil
	if ps, err := rankProcesses(spec, &tandem.ComputeTarget{Name: "local", Type: tandem.ComputeLocal}); ps != nil || err != nil {
		t.Fatalf("no distribution: %v %v", ps, err)
	}
	if hs, ok := RankHandles(`dist:["a","b"]`); !ok || len(hs) != 2 || hs[1] != "b" {
		t.Fatalf("RankHandles %v %v", hs, ok)
	}
	if _, ok := RankHandles("local1:x:1:2"); ok {
		t.Fatal("a plain handle is not distributed")
	}
	if got := ProcessLogName(&tandem.JobAttempt{N: 2}, 3); got != "std_log_attempt_2_process_3.txt" {
		t.Fatal(got)
	}
	if got := ProcessLogName(&tandem.JobAttempt{N: 1}, 0); got != "std_log_process_0.txt" {
		t.Fatal(got)
	}
}

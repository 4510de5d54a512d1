package schedule

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/tandemml/tandem"
)

// Rank is one process of a distributed attempt, numbered as PyTorch's
// launcher numbers them: instances (nodes) in order, processes within an
// instance in order.
type Rank struct {
	Rank, LocalRank, NodeRank int
	WorldSize, LocalWorldSize int
}

// Ranks lays out instances times perInstance processes (each at least 1).
func Ranks(instances, perInstance int) []Rank {
	instances, perInstance = max(1, instances), max(1, perInstance)
	out := make([]Rank, 0, instances*perInstance)
	for node := 0; node < instances; node++ {
		for local := 0; local < perInstance; local++ {
			out = append(out, Rank{Rank: node*perInstance + local, LocalRank: local, NodeRank: node,
				WorldSize: instances * perInstance, LocalWorldSize: perInstance})
		}
	}
	return out
}

// TorchEnvAt is what torch.distributed's env:// initialisation reads, for
// processes that meet at host:port.
func (r Rank) TorchEnvAt(host, port string) map[string]string {
	return map[string]string{
		"MASTER_ADDR":      host,
		"MASTER_PORT":      port,
		"WORLD_SIZE":       strconv.Itoa(r.WorldSize),
		"RANK":             strconv.Itoa(r.Rank),
		"LOCAL_RANK":       strconv.Itoa(r.LocalRank),
		"NODE_RANK":        strconv.Itoa(r.NodeRank),
		"GROUP_RANK":       strconv.Itoa(r.NodeRank),
		"LOCAL_WORLD_SIZE": strconv.Itoa(r.LocalWorldSize),
	}
}

// TensorFlowEnvAt is what TensorFlow's cluster resolvers read, one
// process each: TF_CONFIG naming every task at its host:port (the workers
// first, then the parameter servers, as addrs lists them) and the
// process's own task, as Azure ML sets it for a tensorflow distribution.
// RANK and WORLD_SIZE number the processes as for PyTorch.
func TensorFlowEnvAt(workers, ps int, addrs []string) ([]map[string]string, error) {
	if workers < 1 || ps < 0 || len(addrs) != workers+ps {
		return nil, fmt.Errorf("tensorflow: %d workers and %d parameter servers need %d addresses, have %d", workers, ps, workers+ps, len(addrs))
	}
	cluster := map[string][]string{}
	for i, a := range addrs {
		kind := "worker"
		if i >= workers {
			kind = "ps"
		}
		cluster[kind] = append(cluster[kind], a)
	}
	out := make([]map[string]string, 0, len(addrs))
	for i := range addrs {
		task := map[string]any{"type": "worker", "index": i}
		if i >= workers {
			task = map[string]any{"type": "ps", "index": i - workers}
		}
		b, err := json.Marshal(map[string]any{"cluster": cluster, "task": task, "environment": "cloud"})
		if err != nil {
			return nil, err
		}
		out = append(out, map[string]string{"TF_CONFIG": string(b), "RANK": strconv.Itoa(i), "WORLD_SIZE": strconv.Itoa(len(addrs))})
	}
	return out, nil
}

// HostOf and PortOf stand, in a rank's variables, for the address of the
// node rank k runs on and a port free there, where only the cluster knows
// them when the ranks are placed (Ray): the executor replaces them in
// every rank's variables once every rank has its place. Any text around
// them is kept (TF_CONFIG's JSON).
func HostOf(k int) string { return "{{tandem.rank." + strconv.Itoa(k) + ".host}}" }

// PortOf: see HostOf.
func PortOf(k int) string { return "{{tandem.rank." + strconv.Itoa(k) + ".port}}" }

// RankAddresses is how many addresses a distributed attempt's ranks meet
// at: PyTorch's one (rank 0's), TensorFlow's one per task.
func RankAddresses(d *tandem.Distribution, instances int) int {
	if d.Type == tandem.DistributionTensorFlow {
		workers, ps := d.TensorFlowTasks(instances)
		return workers + ps
	}
	return 1
}

// RankEnv is the variables of a distributed attempt's ranks, with the k-th
// of its RankAddresses at at(k): PyTorch's ranks meet at address 0,
// TensorFlow's name every task's.
func RankEnv(d *tandem.Distribution, instances int, at func(k int) (host, port string)) ([]map[string]string, error) {
	if d.Type == tandem.DistributionTensorFlow {
		workers, ps := d.TensorFlowTasks(instances)
		addrs := make([]string, workers+ps)
		for k := range addrs {
			host, port := at(k)
			addrs[k] = host + ":" + port
		}
		return TensorFlowEnvAt(workers, ps, addrs)
	}
	host, port := at(0)
	var out []map[string]string
	for _, r := range Ranks(instances, d.ProcessCountPerInstance) {
		out = append(out, r.TorchEnvAt(host, port))
	}
	return out, nil
}

// PlacedEnv is RankEnv for ranks placed on a cluster: their addresses are
// HostOf and PortOf, filled in by the executor.
func PlacedEnv(d *tandem.Distribution, instances int) ([]map[string]string, error) {
	return RankEnv(d, instances, func(k int) (string, string) { return HostOf(k), PortOf(k) })
}

// Combine is the state of a distributed attempt from its processes'
// (by rank): failed as soon as one failed (the first failed rank's exit
// code; the others must then be stopped: stop lists the ranks still
// running), else lost if one was lost, succeeded when all succeeded,
// stopped when all ended and one was stopped, else running (pending while
// any is pending and none runs).
func Combine(ps []tandem.ProcessStatus) (st tandem.ProcessStatus, stop []int) {
	failed, lost, stopped := -1, -1, -1
	done, running := 0, 0
	for i, p := range ps {
		switch p.State {
		case tandem.ProcessFailed:
			if failed < 0 {
				failed = i
			}
		case tandem.ProcessLost:
			if lost < 0 {
				lost = i
			}
		case tandem.ProcessStopped:
			if stopped < 0 {
				stopped = i
			}
		case tandem.ProcessRunning:
			running++
		}
		if p.State.Terminal() {
			done++
		}
	}
	stopRest := func() []int {
		var out []int
		for i, p := range ps {
			if !p.State.Terminal() {
				out = append(out, i)
			}
		}
		return out
	}
	switch {
	case failed >= 0:
		p := ps[failed]
		msg := fmt.Sprintf("process of rank %d failed with exit code %d", failed, p.ExitCode)
		if p.Message != "" {
			msg += ": " + p.Message
		}
		return tandem.ProcessStatus{State: tandem.ProcessFailed, ExitCode: p.ExitCode, Message: msg}, stopRest()
	case lost >= 0:
		return tandem.ProcessStatus{State: tandem.ProcessLost, Message: fmt.Sprintf("process of rank %d: %s", lost, ps[lost].Message)}, stopRest()
	case done == len(ps) && stopped >= 0:
		return tandem.ProcessStatus{State: tandem.ProcessStopped, Message: ps[stopped].Message}, nil
	case done == len(ps):
		return tandem.ProcessStatus{State: tandem.ProcessSucceeded}, nil
	case running > 0 || done > 0:
		return tandem.ProcessStatus{State: tandem.ProcessRunning}, nil
	}
	return tandem.ProcessStatus{State: tandem.ProcessPending}, nil
}

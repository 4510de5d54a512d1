package schedule

import (
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

// TorchEnv is what torch.distributed's env:// initialisation reads, for
// processes that all run on this host and meet at 127.0.0.1:masterPort.
func (r Rank) TorchEnv(masterPort int) map[string]string {
	return map[string]string{
		"MASTER_ADDR":      "127.0.0.1",
		"MASTER_PORT":      strconv.Itoa(masterPort),
		"WORLD_SIZE":       strconv.Itoa(r.WorldSize),
		"RANK":             strconv.Itoa(r.Rank),
		"LOCAL_RANK":       strconv.Itoa(r.LocalRank),
		"NODE_RANK":        strconv.Itoa(r.NodeRank),
		"GROUP_RANK":       strconv.Itoa(r.NodeRank),
		"LOCAL_WORLD_SIZE": strconv.Itoa(r.LocalWorldSize),
	}
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

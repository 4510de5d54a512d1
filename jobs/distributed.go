package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/freeport"
	"github.com/tandemml/tandem/schedule"
)

// distributed runs a distributed attempt (LaunchSpec.Processes) on the
// executor it wraps as one attempt per rank, ID-rank-K; its handle lists
// theirs ("dist:" and a JSON list, by rank), so Status, Logs and Stop work
// from the handle alone after a restart of tandem. Everything else passes
// through.
type distributed struct{ tandem.Executor }

const distPrefix = "dist:"

// RankHandles returns the per-rank handles of a distributed attempt's
// handle (nil, false for any other handle).
func RankHandles(handle string) ([]string, bool) {
	rest, ok := strings.CutPrefix(handle, distPrefix)
	if !ok {
		return nil, false
	}
	var hs []string
	if err := json.Unmarshal([]byte(rest), &hs); err != nil || len(hs) == 0 {
		return nil, false
	}
	return hs, true
}

func (d distributed) Start(ctx context.Context, spec tandem.LaunchSpec) (string, error) {
	if _, places := d.Executor.(tandem.ProcessPlacer); places || len(spec.Processes) == 0 {
		return d.Executor.Start(ctx, spec)
	}
	var hs []string
	for k, vars := range spec.Processes {
		sub := spec
		sub.Processes, sub.InstanceCount = nil, 1
		sub.ID = fmt.Sprintf("%s-rank-%d", spec.ID, k)
		sub.Env = make(map[string]string, len(spec.Env)+len(vars))
		for n, v := range spec.Env {
			sub.Env[n] = v
		}
		for n, v := range vars {
			sub.Env[n] = v
		}
		h, err := d.Executor.Start(ctx, sub)
		if err != nil {
			for _, started := range hs {
				_ = d.Executor.Stop(ctx, started)
			}
			return "", fmt.Errorf("rank %d of %d: %w", k, len(spec.Processes), err)
		}
		hs = append(hs, h)
	}
	b, err := json.Marshal(hs)
	if err != nil {
		return "", err
	}
	return distPrefix + string(b), nil
}

// Status combines the ranks' (schedule.Combine) and stops the ranks still
// running once one failed or was lost: the others would wait for it
// forever.
func (d distributed) Status(ctx context.Context, handle string) (tandem.ProcessStatus, error) {
	hs, ok := RankHandles(handle)
	if !ok {
		return d.Executor.Status(ctx, handle)
	}
	ps := make([]tandem.ProcessStatus, len(hs))
	for k, h := range hs {
		st, err := d.Executor.Status(ctx, h)
		if err != nil {
			return tandem.ProcessStatus{}, fmt.Errorf("rank %d: %w", k, err)
		}
		ps[k] = st
	}
	st, stop := schedule.Combine(ps)
	for _, k := range stop {
		_ = d.Executor.Stop(ctx, hs[k])
	}
	return st, nil
}

// Logs are rank 0's (the runner copies every rank's to user_logs too).
func (d distributed) Logs(ctx context.Context, handle string, offset int64) ([]byte, int64, error) {
	if hs, ok := RankHandles(handle); ok {
		return d.Executor.Logs(ctx, hs[0], offset)
	}
	return d.Executor.Logs(ctx, handle, offset)
}

func (d distributed) Stop(ctx context.Context, handle string) error {
	hs, ok := RankHandles(handle)
	if !ok {
		return d.Executor.Stop(ctx, handle)
	}
	var first error
	for _, h := range hs {
		if err := d.Executor.Stop(ctx, h); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// rankProcesses is LaunchSpec.Processes of a distributed command job on
// target: each rank's torch.distributed variables (or TF_CONFIG). On
// local compute the ranks meet at free loopback ports; on a Ray cluster
// at the addresses of the nodes Ray places them on, which the executor
// fills in (schedule.PlacedEnv).
func rankProcesses(spec *tandem.JobSpec, target *tandem.ComputeTarget) ([]map[string]string, error) {
	d := spec.Distribution
	if d == nil {
		return nil, nil
	}
	switch target.Type {
	case tandem.ComputeRay:
		return schedule.PlacedEnv(d, spec.InstanceCount)
	case tandem.ComputeLocal, "":
	default:
		return nil, tandem.Errorf(tandem.EINVALID, "distribution %s runs on local or ray compute; compute %s is %s", d.Type, target.Name, target.Type)
	}
	ports, err := freeport.Many(schedule.RankAddresses(d, spec.InstanceCount))
	if err != nil {
		return nil, fmt.Errorf("distribution: free ports for the ranks to meet at: %w", err)
	}
	return schedule.RankEnv(d, spec.InstanceCount, func(k int) (string, string) { return "127.0.0.1", strconv.Itoa(ports[k]) })
}

package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// procTree lists root and all its descendants, from /proc/*/stat.
func procTree(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return []int{root}
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f := statFields(pid)
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// statFields returns the fields of /proc/PID/stat after the command name:
// [0] is state, [1] ppid, [11] utime, [12] stime, [13] cutime, [14] cstime.
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// cpuSeconds is user+system CPU of the tree, including reaped children.
func cpuSeconds(root int) float64 {
	var ticks int64
	for _, pid := range procTree(root) {
		f := statFields(pid)
		if len(f) < 15 {
			continue
		}
		for _, k := range []int{11, 12, 13, 14} {
			v, _ := strconv.ParseInt(f[k], 10, 64)
			ticks += v
		}
	}
	return float64(ticks) / clockTicks
}

// memKiB sums VmRSS and VmHWM (kB) over the tree.
func memKiB(root int) (rss, hwm int64) { return memKiBOf(procTree(root)) }

func memKiBOf(pids []int) (rss, hwm int64) {
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || (k != "VmRSS" && k != "VmHWM") {
				continue
			}
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if k == "VmRSS" {
				rss += n
			} else {
				hwm += n
			}
		}
	}
	return rss, hwm
}

// pssKiB sums Pss (kB) over the tree from /proc/PID/smaps_rollup: memory
// shared between forked workers counted once, which a VmRSS sum counts
// once per worker.
func pssKiB(root int) int64 { return pssKiBOf(procTree(root)) }

func pssKiBOf(pids []int) int64 {
	var pss int64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Pss:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				pss += n
			}
		}
	}
	return pss
}

// rssSampler tracks the peak of the tree's summed VmRSS between resets (a
// sum of per-process VmHWM overstates a tree whose members peak at
// different times; sampling the sum catches the real peak to within the
// sampling period).
type rssSampler struct {
	root int
	// active: sample only while this server is being measured. Walking
	// /proc and the stock server's page tables five times a second for
	// every idle server took CPU from the one measured (tandem's 10k-run
	// search at c=1: 5-6 ms alone, 7-8 ms beside two idle peers).
	active  atomic.Bool
	mu      sync.Mutex
	peak    int64
	peakPSS int64
	n       int // samples taken
}

func (s *rssSampler) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if s.active.Load() {
			s.sample()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample reads the tree once; PSS (smaps_rollup walks the page tables,
// costly for the stock server's gigabytes over a dozen processes) only
// every fifth sample, so the sampler itself stays a small load on the
// machine it measures.
func (s *rssSampler) sample() { s.sampleAll(false) }

func (s *rssSampler) sampleAll(withPSS bool) {
	pids := procTree(s.root)
	rss, _ := memKiBOf(pids)
	s.mu.Lock()
	s.n++
	withPSS = withPSS || s.n%5 == 1
	s.mu.Unlock()
	var pss int64
	if withPSS {
		pss = pssKiBOf(pids)
	}
	s.mu.Lock()
	s.peak = max(s.peak, rss)
	s.peakPSS = max(s.peakPSS, pss)
	s.mu.Unlock()
}

// reset starts a new window and returns the peaks (RSS sum, PSS sum, kB)
// of the one that ended.
func (s *rssSampler) reset() (rss, pss int64) {
	s.sampleAll(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	rss, pss = s.peak, s.peakPSS
	s.peak, s.peakPSS = 0, 0
	return rss, pss
}

// busyTicks reads /proc/stat's aggregate line: CPU time spent busy and
// in total, in clock ticks.
func busyTicks() (busy, total int64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, false
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, false
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, true
}

// settleMachine waits until the machine is quiet before a measurement: the busy
// share of all CPUs stays under idleShare over one window, or max passes.
// A server measured just before (the stock server's slow requests still
// running, its database still executing them, its garbage collector) would
// otherwise take CPU from the next server's cell. It returns how long it
// waited and whether the machine became quiet.
func settleMachine(ctx context.Context, window, max time.Duration, idleShare float64) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < max {
		b0, t0, ok := busyTicks()
		if !ok {
			return time.Since(start), false
		}
		select {
		case <-ctx.Done():
			return time.Since(start), false
		case <-time.After(window):
		}
		b1, t1, ok := busyTicks()
		if !ok {
			return time.Since(start), false
		}
		if t1 > t0 && float64(b1-b0)/float64(t1-t0) < idleShare {
			return time.Since(start), true
		}
	}
	return time.Since(start), false
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// targets from issue 7: tandem's throughput at least this many times the
// stock server's (0 = no target beyond "ahead of FastTrackML").
func mlflowTarget(scenario string) float64 {
	switch {
	case strings.HasPrefix(scenario, "search-runs"):
		return 10
	case scenario == "create-run", strings.HasPrefix(scenario, "log-batch"):
		return 5
	}
	return 0
}

func fmtNum(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func cellText(c *Cell) string {
	switch {
	case c == nil:
		return "-"
	case !c.Supported:
		return "n/a (not served)"
	case c.Ops == 0 && c.Note != "" && c.FirstError == c.Note:
		return c.Note // not measured: timed out or not loaded at this size
	case c.Ops == 0 || c.Ops == c.Errors:
		return "failed" + failReason(c.FirstError)
	}
	s := fmtNum(c.OpsPerSec)
	if c.MiBPerSec > 0 {
		s += fmt.Sprintf(" (%s MiB/s)", fmtNum(c.MiBPerSec))
	}
	s += fmt.Sprintf(" · %s/%s ms", fmtNum(c.P50ms), fmtNum(c.P99ms))
	if c.Errors > 0 {
		s += fmt.Sprintf(" · %d/%d err", c.Errors, c.Ops)
	}
	return s
}

// failReason names, for a cell with no successful operation, what went
// wrong in a few words: the HTTP status the server answered, or that the
// connection broke (the full error is in the JSON and the log).
func failReason(err string) string {
	for rest := err; ; {
		i := strings.Index(rest, "HTTP ")
		if i < 0 {
			break
		}
		code := rest[i+5 : min(len(rest), i+8)]
		if len(code) == 3 && strings.Trim(code, "0123456789") == "" {
			return " (HTTP " + code + ")"
		}
		rest = rest[i+5:]
	}
	for _, k := range []string{"connection reset", "broken pipe", "EOF", "deadline exceeded", "timed out"} {
		if strings.Contains(err, k) {
			return " (" + k + ")"
		}
	}
	return ""
}

func ratio(t, p *Cell) (float64, bool) {
	if t == nil || p == nil || !t.Supported || !p.Supported || t.OpsPerSec == 0 || p.OpsPerSec == 0 {
		return 0, false
	}
	return t.OpsPerSec / p.OpsPerSec, true
}

func ratioText(t, p *Cell) string {
	if p != nil && !p.Supported {
		return "n/a"
	}
	r, ok := ratio(t, p)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%s×", fmtNum(r))
}

// renderMarkdown writes bench/results/latest.md.
func renderMarkdown(rep *Report, jsonName string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# tandem beside the stock MLflow server and FastTrackML\n\n")
	w("Date %s · machine: %s, %s CPUs, %s · load average before %s, after %s\n\n",
		rep.Date, rep.Machine["cpu"], rep.Machine["cpus"], rep.Machine["memory"], rep.Machine["load_before"], rep.Machine["load_after"])
	w("Command: `%s` (raw numbers: `%s`)", rep.Command, jsonName)
	if d := rep.Machine["duration"]; d != "" {
		w(" · took %s", d)
	}
	w("\n\n")
	for _, n := range rep.Notes {
		w("- %s\n", n)
	}
	if len(rep.Notes) > 0 {
		w("\n")
	}
	if la, cpus := strings.Fields(rep.Machine["load_before"]), rep.Machine["cpus"]; len(la) > 0 && cpus != "" {
		var l, n float64
		fmt.Sscan(la[0], &l)
		fmt.Sscan(cpus, &n)
		if n > 0 && l > n {
			w("**The machine was loaded by other work (load average %.1f on %.0f CPUs): these numbers are not for publication.**\n\n", l, n)
		}
	}
	w("Each cell is throughput (ops/s, successful operations) · p50/p99 latency. Servers run side by side on loopback, one fresh database each; ")
	w("for each scenario and concurrency the servers are measured one after the other in rotating order (%.0f s each), so drift hits all alike. ", rep.Config.CellSeconds)
	w("CPU s/1k ops is user+system time of the server's whole process tree (from /proc/PID/stat) per 1,000 successful operations; peak RSS is the sampled peak of the tree's summed VmRSS during the measurement. ")
	w("Database servers (PostgreSQL) are outside every tree. `$WORK` is %s.\n\n", rep.Config.Work)
	servers := map[string]bool{}
	for _, s := range rep.Servers {
		servers[s.Server] = true
	}
	peers := []string{}
	for _, p := range []string{"mlflow", "fasttrackml"} {
		if servers[p] {
			peers = append(peers, p)
		}
	}
	w("Peak RSS sums VmRSS over the tree, so pages that forked workers share (the stock server runs 4 uvicorn workers) count once per worker; PSS counts them once.\n\n")
	w("| backend | server | version | command | CPU s total | peak RSS MiB | peak PSS MiB | VmHWM sum MiB |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range rep.Servers {
		w("| %s | %s | %s | `%s` | %.1f | %.0f | %.0f | %.0f |\n", s.Backend, s.Server, s.Version, strings.ReplaceAll(s.Command, rep.Config.Work, "$WORK"), s.CPUSeconds, s.PeakRSSMiB, s.PeakPSSMiB, s.HWMSumMiB)
	}
	w("\n")
	var misses []string
	for _, be := range rep.Config.Backends {
		idx := map[[3]string]*Cell{}
		var scen []string
		for i := range rep.Cells {
			c := &rep.Cells[i]
			if c.Backend != be {
				continue
			}
			idx[[3]string{c.Scenario, fmt.Sprint(c.Conc), c.Server}] = c
			if !slices.Contains(scen, c.Scenario) {
				scen = append(scen, c.Scenario)
			}
		}
		if len(scen) == 0 {
			continue
		}
		get := func(sc string, n int, srv string) *Cell { return idx[[3]string{sc, fmt.Sprint(n), srv}] }
		w("## %s\n\n", be)
		w("| scenario | c | tandem |")
		for _, p := range peers {
			w(" %s |", p)
		}
		for _, p := range peers {
			w(" tandem/%s |", p)
		}
		w("\n|---|---|---|")
		for range 2 * len(peers) {
			w("---|")
		}
		w("\n")
		for _, sc := range scen {
			for _, n := range rep.Config.Conc {
				t := get(sc, n, "tandem")
				w("| %s | %s | %s |", sc, concText(n, t, get(sc, n, "mlflow"), get(sc, n, "fasttrackml")), cellText(t))
				for _, p := range peers {
					w(" %s |", cellText(get(sc, n, p)))
				}
				for _, p := range peers {
					w(" %s |", ratioText(t, get(sc, n, p)))
				}
				w("\n")
				// targets
				if t != nil && t.Supported && (t.Ops == 0 || t.Ops == t.Errors) {
					why := t.Note
					if t.FirstError != "" {
						why = t.FirstError
					}
					misses = append(misses, fmt.Sprintf("%s %s c=%d: tandem not measured (%.200s)", be, sc, n, why))
				}
				if m := get(sc, n, "mlflow"); m != nil {
					if r, ok := ratio(t, m); ok && mlflowTarget(sc) > 0 && r < mlflowTarget(sc) {
						misses = append(misses, fmt.Sprintf("%s %s c=%d: %.2f× stock MLflow, target %.0f× (short by %.1f×)", be, sc, n, r, mlflowTarget(sc), mlflowTarget(sc)/r))
					}
				}
				if f := get(sc, n, "fasttrackml"); f != nil {
					if r, ok := ratio(t, f); ok && r < 1 {
						misses = append(misses, fmt.Sprintf("%s %s c=%d: %.2f× FastTrackML, target ahead (short by %.1f×)", be, sc, n, r, 1/r))
					}
				}
			}
		}
		w("\nCPU seconds per 1,000 operations · peak RSS MiB during the measurement:\n\n| scenario | c | tandem |")
		for _, p := range peers {
			w(" %s |", p)
		}
		w("\n|---|---|---|")
		for range peers {
			w("---|")
		}
		w("\n")
		for _, sc := range scen {
			for _, n := range rep.Config.Conc {
				w("| %s | %d |", sc, n)
				for _, srv := range append([]string{"tandem"}, peers...) {
					c := get(sc, n, srv)
					switch {
					case c == nil:
						w(" - |")
					case !c.Supported:
						w(" n/a |")
					case c.Ops == 0 && c.Note != "" && c.FirstError == c.Note:
						w(" - |")
					case c.Ops == c.Errors:
						w(" failed |")
					default:
						w(" %s s · %.0f MiB |", fmtNum(c.CPUPer1k), c.PeakRSSMiB)
					}
				}
				w("\n")
			}
		}
		w("\n")
		// RSS target: tandem's peak at most a quarter of the stock server's
		var tPeak, mPeak float64
		for _, s := range rep.Servers {
			if s.Backend == be && s.Server == "tandem" {
				tPeak = s.PeakRSSMiB
			}
			if s.Backend == be && s.Server == "mlflow" {
				mPeak = s.PeakRSSMiB
			}
		}
		var tPSS, mPSS float64
		for _, s := range rep.Servers {
			if s.Backend == be && s.Server == "tandem" {
				tPSS = s.PeakPSSMiB
			}
			if s.Backend == be && s.Server == "mlflow" {
				mPSS = s.PeakPSSMiB
			}
		}
		if tPSS > 0 && mPSS > 0 && tPSS > mPSS/4 {
			misses = append(misses, fmt.Sprintf("%s peak PSS: tandem %.0f MiB, stock MLflow %.0f MiB (target at most a quarter, %.0f MiB)", be, tPSS, mPSS, mPSS/4))
		}
		if tPeak > 0 && mPeak > 0 && tPeak > mPeak/4 {
			misses = append(misses, fmt.Sprintf("%s peak RSS: tandem %.0f MiB, stock MLflow %.0f MiB (target at most a quarter, %.0f MiB)", be, tPeak, mPeak, mPeak/4))
		}
	}
	if len(rep.Scaling) > 0 {
		w("## search-runs scaling (concurrency 1)\n\n%s\n\n| backend | runs |", "Same query as the table. Each cell: p50/p99 latency · the tree's summed VmRSS after the searches / its sampled peak while searching · server CPU milliseconds per search (10 ms clock ticks, averaged) · seconds it took to bring the data set to this size (bulk load and ANALYZE; not part of any measurement).")
		var srvs []string
		for _, p := range rep.Scaling {
			if !slices.Contains(srvs, p.Server) {
				srvs = append(srvs, p.Server)
			}
		}
		for _, s := range srvs {
			w(" %s |", s)
		}
		w("\n|---|---|")
		for range srvs {
			w("---|")
		}
		w("\n")
		type key struct {
			be   string
			runs int
		}
		var rows []key
		pts := map[key]map[string]ScalePoint{}
		for _, p := range rep.Scaling {
			k := key{p.Backend, p.Runs}
			if pts[k] == nil {
				pts[k] = map[string]ScalePoint{}
				rows = append(rows, k)
			}
			pts[k][p.Server] = p
		}
		for _, k := range rows {
			w("| %s | %d |", k.be, k.runs)
			for _, s := range srvs {
				p, ok := pts[k][s]
				if !ok {
					w(" - |")
					continue
				}
				if p.Ops == 0 && p.Note != "" {
					w(" %s", p.Note)
					if p.GrowSec > 0 {
						w(" · load %s s", fmtNum(p.GrowSec))
					}
					w(" |")
					continue
				}
				w(" %s/%s ms · %.0f/%.0f MiB · cpu %s ms · load %s s", fmtNum(p.P50ms), fmtNum(p.P99ms), p.RSSMiB, p.HWMMiB, fmtNum(p.CPUOp*1000), fmtNum(p.GrowSec))
				if p.Errors > 0 {
					w(" · %d/%d err", p.Errors, p.Ops)
				}
				if p.Note != "" {
					w(" · %s", p.Note)
				}
				w(" |")
			}
			w("\n")
		}
		w("\n")
	}
	if rep.Continuity != nil {
		w("%s", renderContinuity(rep.Continuity))
	}
	w("## Targets missed\n\n")
	if len(misses) == 0 {
		w("None in this run.\n")
	}
	for _, m := range misses {
		w("- %s\n", m)
	}
	if len(rep.Warnings) > 0 {
		w("\n## Warnings\n\n")
		for _, m := range rep.Warnings {
			w("- %s\n", m)
		}
	}
	return b.String()
}

// renderFile is `bench render RESULTS.json [OUT.md]`: the markdown table
// again from a results file (default OUT: latest.md beside it).
func renderFile(args []string) error {
	if len(args) < 1 {
		return errors.New("usage: bench render RESULTS.json [OUT.md]")
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	out := filepath.Join(filepath.Dir(args[0]), "latest.md")
	if len(args) > 1 {
		out = args[1]
	}
	return os.WriteFile(out, []byte(renderMarkdown(&rep, filepath.Base(args[0]))), 0o644)
}

// concText is the concurrency column: "32 (capped at 8)" when the
// scenario ran with fewer callers than asked (see Scenario.MaxConc).
func concText(n int, cells ...*Cell) string {
	for _, c := range cells {
		if c == nil {
			continue
		}
		if _, after, ok := strings.Cut(c.Note, "(concurrency capped at "); ok {
			return fmt.Sprintf("%d (capped at %s)", n, strings.TrimSuffix(after, ")"))
		}
	}
	return fmt.Sprint(n)
}

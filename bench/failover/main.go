// Command failover measures tandem's failover on this machine: it runs
// `tandem drill --local --json` many times per fault kind at the default
// settings (lease_ttl 10s) and reports RTO (p50/p99/max, as the drill's
// clients saw it) and RPO (acknowledged writes missing from the new
// primary's history, kept in a divergence report or lost) per fault. With
// -gateway (the default) a gateway stands in front of the regions and more
// clients write through it: the table adds the RTO they saw and the
// duplicates they met. -rounds repeats the fault on each new primary
// within one drill (every round is one RTO sample). Not a timed test: run
// it by hand (it takes about half an hour at -n 20).
//
//	go run ./bench/failover                      # 20 drills each: kill (sync, async), pause, partition, switchover
//	go run ./bench/failover -n 3                 # a quick validation
//	go run ./bench/failover -n 5 -series kill/sync,partition/async -lease-ttl 3s
//	go run ./bench/failover -n 5 -series kill/sync,pause/sync,kill/async,pause/async -rounds 3
//
// It builds tandem from the tree (or uses -tandem), runs the drills one
// after the other, and writes bench/results/failover-<date>.json (every
// drill's report) and failover-<date>.md (the table), noting the machine's
// load average before and after: other work on the machine shows in the
// numbers.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report is the part of a drill report the benchmark reads.
type report struct {
	Fault           string  `json:"fault"`
	Durability      string  `json:"durability"`
	RTOSeconds      float64 `json:"rto_seconds"`
	Detection       float64 `json:"detection_seconds"`
	Resumed         float64 `json:"resumed_seconds"`
	Acknowledged    int     `json:"acknowledged_writes"`
	Missing         int     `json:"rpo_missing_writes"`
	MissingInReport int     `json:"rpo_missing_in_divergence"`
	Lost            int     `json:"rpo_lost_writes"`
	Divergent       int     `json:"rpo_divergent_writes"`
	GatewayRTO      float64 `json:"gateway_rto_seconds"`
	Duplicates      int     `json:"client_duplicates"`
	Rounds          []struct {
		RTOSeconds        float64 `json:"rto_seconds"`
		GatewayRTOSeconds float64 `json:"gateway_rto_seconds"`
	} `json:"rounds"`
	FailedBack bool   `json:"failed_back"`
	VerifyOK   bool   `json:"verify_ok"`
	Failure    string `json:"failure,omitempty"`
}

// run is one drill: its report, or why it did not produce one.
type run struct {
	Series  string  `json:"series"`
	Seconds float64 `json:"seconds"`
	Report  *report `json:"report,omitempty"`
	Error   string  `json:"error,omitempty"`
}

// summary is one series' figures.
type summary struct {
	Series       string  `json:"series"`
	Drills       int     `json:"drills"`
	Errors       int     `json:"errors"` // drills that produced no report (timeouts)
	RTOP50       float64 `json:"rto_p50_seconds"`
	RTOP99       float64 `json:"rto_p99_seconds"`
	RTOMax       float64 `json:"rto_max_seconds"`
	GatewayP50   float64 `json:"gateway_rto_p50_seconds,omitempty"`
	GatewayP99   float64 `json:"gateway_rto_p99_seconds,omitempty"`
	GatewayMax   float64 `json:"gateway_rto_max_seconds,omitempty"`
	Duplicates   int     `json:"client_duplicates"`
	DetectP50    float64 `json:"detection_p50_seconds,omitempty"`
	ResumedP50   float64 `json:"resumed_p50_seconds,omitempty"`
	Acknowledged int     `json:"acknowledged_writes"`
	Missing      int     `json:"rpo_missing_writes"`
	InReport     int     `json:"rpo_missing_in_divergence"`
	Lost         int     `json:"rpo_lost_writes"`
	Divergent    int     `json:"rpo_divergent_writes"`
	VerifyFailed int     `json:"verify_failed"`
	Failed       int     `json:"failed"` // drills whose report names a failure
}

// percentile is the nearest-rank percentile p (0-100) of xs; 0 for none.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// summarize computes one series' figures from its drills.
func summarize(series string, runs []run) summary {
	sm := summary{Series: series}
	var rto, gw, det, res []float64
	for _, r := range runs {
		if r.Series != series {
			continue
		}
		sm.Drills++
		if r.Report == nil {
			sm.Errors++
			continue
		}
		p := r.Report
		if len(p.Rounds) == 0 { // a drill from before rounds
			rto = append(rto, p.RTOSeconds)
		}
		for _, rd := range p.Rounds {
			rto = append(rto, rd.RTOSeconds)
			if rd.GatewayRTOSeconds > 0 {
				gw = append(gw, rd.GatewayRTOSeconds)
			}
		}
		sm.Duplicates += p.Duplicates
		if p.Detection > 0 {
			det = append(det, p.Detection)
			res = append(res, p.Resumed)
		}
		sm.Acknowledged += p.Acknowledged
		sm.Missing += p.Missing
		sm.InReport += p.MissingInReport
		sm.Lost += p.Lost
		sm.Divergent += p.Divergent
		if !p.VerifyOK {
			sm.VerifyFailed++
		}
		if p.Failure != "" {
			sm.Failed++
		}
	}
	sm.RTOP50, sm.RTOP99 = percentile(rto, 50), percentile(rto, 99)
	if len(rto) > 0 {
		sm.RTOMax = slices.Max(rto)
	}
	sm.DetectP50, sm.ResumedP50 = percentile(det, 50), percentile(res, 50)
	if len(gw) > 0 {
		sm.GatewayP50, sm.GatewayP99, sm.GatewayMax = percentile(gw, 50), percentile(gw, 99), slices.Max(gw)
	}
	return sm
}

// table renders the summaries as markdown.
func table(sums []summary) string {
	var b strings.Builder
	b.WriteString("| fault / durability | drills | RTO p50 | RTO p99 | RTO max | gateway RTO p50 / p99 / max | detected p50 | writes open p50 | acked writes | missing | in divergence | lost | divergent entries | duplicates | failed |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range sums {
		det, res := "-", "-"
		if s.DetectP50 > 0 {
			det, res = fmt.Sprintf("%.2f s", s.DetectP50), fmt.Sprintf("%.2f s", s.ResumedP50)
		}
		gw := "-"
		if s.GatewayP50 > 0 {
			gw = fmt.Sprintf("%.2f / %.2f / %.2f s", s.GatewayP50, s.GatewayP99, s.GatewayMax)
		}
		failed := fmt.Sprint(s.Failed)
		if s.Errors > 0 {
			failed += fmt.Sprintf(" (+%d no report)", s.Errors)
		}
		fmt.Fprintf(&b, "| %s | %d | %.2f s | %.2f s | %.2f s | %s | %s | %s | %d | %d | %d | %d | %d | %d | %s |\n",
			s.Series, s.Drills, s.RTOP50, s.RTOP99, s.RTOMax, gw, det, res, s.Acknowledged, s.Missing, s.InReport, s.Lost, s.Divergent, s.Duplicates, failed)
	}
	return b.String()
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func main() {
	n := flag.Int("n", 20, "drills per series")
	seriesFlag := flag.String("series", "kill/sync,kill/async,pause/sync,partition/sync,switchover/sync", "fault/durability series to run")
	bin := flag.String("tandem", "", "tandem binary (default: build from the tree)")
	lease := flag.Duration("lease-ttl", 10*time.Second, "lease_ttl of the drill workspaces (10s is the default setting)")
	outDir := flag.String("out", "bench/results", "where to write failover-<date>.json and .md")
	timeout := flag.Duration("drill-timeout", 4*time.Minute, "give up on one drill after this long (per round)")
	gw := flag.Bool("gateway", true, "put a gateway in front of the regions and write through it too (tandem drill --gateway)")
	rounds := flag.Int("rounds", 1, "faults per drill, each on the primary the round before elected (tandem drill --rounds)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dc := drillConfig{lease: *lease, timeout: *timeout * time.Duration(max(*rounds, 1)), gateway: *gw, rounds: *rounds}
	if err := runBench(ctx, *n, strings.Split(*seriesFlag, ","), *bin, dc, *outDir); err != nil {
		fmt.Fprintln(os.Stderr, "bench/failover:", err)
		os.Exit(1)
	}
}

// drillConfig is what every drill of a run shares.
type drillConfig struct {
	lease, timeout time.Duration
	gateway        bool
	rounds         int
}

// args are the `tandem drill` arguments for fault and mode.
func (dc drillConfig) args(fault, mode string) []string {
	a := []string{"drill", "--local", "--json", "--fault", fault, "--durability", mode, "--lease-ttl", dc.lease.String(), "--rounds", fmt.Sprint(dc.rounds)}
	if dc.gateway {
		a = append(a, "--gateway")
	}
	return a
}

func runBench(ctx context.Context, n int, series []string, bin string, dc drillConfig, outDir string) error {
	lease := dc.lease
	if bin == "" {
		tmp, err := os.MkdirTemp("", "tandem-failover-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		bin = filepath.Join(tmp, "tandem")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/tandem")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build tandem: %w", err)
		}
	}
	started := time.Now().UTC()
	doc := map[string]any{
		"started": started.Format(time.RFC3339), "lease_ttl": lease.String(), "drills_per_series": n,
		"cpus": runtime.NumCPU(), "loadavg_before": loadavg(),
		"command": "tandem " + strings.Join(dc.args("F", "D"), " "), "gateway": dc.gateway, "rounds": dc.rounds,
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	base := filepath.Join(outDir, "failover-"+started.Format("20060102-150405"))
	var runs []run
	// write rewrites both files: after every drill, so that an interrupted
	// series still leaves its figures.
	write := func(final bool) error {
		var sums []summary
		for _, s := range series {
			sums = append(sums, summarize(s, runs))
		}
		doc["finished"] = time.Now().UTC().Format(time.RFC3339)
		doc["complete"] = final
		doc["loadavg_after"] = loadavg()
		doc["summary"] = sums
		doc["drills"] = runs
		b, _ := json.MarshalIndent(doc, "", "  ")
		if err := os.WriteFile(base+".json", append(b, '\n'), 0o644); err != nil {
			return err
		}
		note := ""
		if !final {
			note = " (interrupted or in progress: partial)"
		}
		md := fmt.Sprintf("# Failover drills, %s%s\n\n`%s`, up to %d drills per series, lease_ttl %s, %d CPUs; load average %s before, %s after (other work on the machine shows in the numbers).\n\n%s",
			started.Format("2006-01-02 15:04 UTC"), note, doc["command"], n, lease, runtime.NumCPU(), doc["loadavg_before"], doc["loadavg_after"], table(sums))
		if err := os.WriteFile(base+".md", []byte(md), 0o644); err != nil {
			return err
		}
		if final {
			fmt.Print(md)
		}
		return nil
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		for _, s := range series {
			if ctx.Err() != nil {
				break
			}
			fault, mode, ok := strings.Cut(s, "/")
			if !ok {
				return fmt.Errorf("series %q: want fault/durability", s)
			}
			r := drill(ctx, bin, dc, fault, mode)
			r.Series = s
			runs = append(runs, r)
			if r.Report != nil {
				fmt.Fprintf(os.Stderr, "%s #%d: RTO %.2fs, missing %d (lost %d), verify %v %s\n", s, i+1, r.Report.RTOSeconds, r.Report.Missing, r.Report.Lost, r.Report.VerifyOK, r.Report.Failure)
			} else {
				fmt.Fprintf(os.Stderr, "%s #%d: no report: %s\n", s, i+1, r.Error)
			}
			if err := write(false); err != nil {
				return err
			}
		}
	}
	if err := write(ctx.Err() == nil); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s.json and %s.md\n", base, base)
	return nil
}

// drill runs one `tandem drill --local --json` and reads its report (the
// drill exits non-zero when it fails but still prints the report).
func drill(ctx context.Context, bin string, dc drillConfig, fault, mode string) run {
	ctx, cancel := context.WithTimeout(ctx, dc.timeout)
	defer cancel()
	t0 := time.Now()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, dc.args(fault, mode)...)
	cmd.Stdout, cmd.Stderr = &out, io.MultiWriter(&errb)
	err := cmd.Run()
	r := run{Seconds: time.Since(t0).Seconds()}
	var rep report
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr == nil && rep.Fault != "" {
		rep.Durability = mode
		r.Report = &rep
		return r
	}
	msg := strings.TrimSpace(errb.String())
	if i := strings.LastIndex(msg, "\n"); i >= 0 {
		msg = msg[i+1:]
	}
	r.Error = fmt.Sprintf("%v: %s", err, msg)
	return r
}

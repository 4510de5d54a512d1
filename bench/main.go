// Command bench is tandem's load generator: it measures create-run,
// log-batch (10 and 1,000 metrics), search-runs over 10k runs,
// get-metric-history of 100k points and a 100 MiB artifact upload and
// download against any MLflow-compatible server (tandem or the stock
// `mlflow server`), and prints throughput with p50/p99 latencies.
//
//	go run ./bench -url http://127.0.0.1:5000
//	go run ./bench -url http://127.0.0.1:5000 -scenarios create-run,search-runs -search-runs 2000
//
// It writes to the server: point it at a scratch workspace.
//
// `go run ./bench compare` (or bench/run) starts tandem, the stock MLflow
// server and FastTrackML side by side on loopback and compares them; see
// compare.go and bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/tandemml/tandem/bench/loadgen"
)

func main() {
	if len(os.Args) > 1 {
		var err error
		switch os.Args[1] {
		case "compare":
			err = runCompare(os.Args[2:])
		case "render":
			err = renderFile(os.Args[2:])
		case "serve-tandem":
			err = serveTandem(os.Args[2:])
		default:
			loadMain()
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	loadMain()
}

// loadMain is the single-server load generator (`go run ./bench -url URL`).
func loadMain() {
	var cfg loadgen.Config
	target := flag.String("url", envOr("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"), "server root URL (MLFLOW_TRACKING_URI)")
	scen := flag.String("scenarios", "", "comma-separated scenarios (default all): "+strings.Join(loadgen.Names, ","))
	flag.IntVar(&cfg.Concurrency, "c", 8, "parallel callers")
	flag.IntVar(&cfg.Ops, "ops", 500, "operations per timed scenario (log-batch-1000 does ops/10, search ops/5, history ops/50)")
	flag.IntVar(&cfg.SearchRuns, "search-runs", 10_000, "runs in the searched experiment")
	flag.IntVar(&cfg.HistoryPoints, "history-points", 100_000, "points in the read metric history")
	flag.IntVar(&cfg.ArtifactMiB, "artifact-mib", 100, "artifact size in MiB")
	flag.StringVar(&cfg.Experiment, "experiment", "", "run in this existing experiment (id) instead of a new one")
	flag.Parse()
	if *scen != "" {
		cfg.Scenarios = strings.Split(*scen, ",")
	}
	cfg.Progress = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	start := time.Now()
	fmt.Fprintf(os.Stderr, "bench: %s, %d callers\n", *target, cfg.Concurrency)
	res, err := loadgen.Execute(ctx, loadgen.NewClient(*target, cfg.Concurrency), cfg)
	fmt.Printf("\n%s (%s)\n", *target, time.Since(start).Round(time.Millisecond))
	failed := false
	for _, r := range res {
		fmt.Println(r)
		if r.Errors > 0 {
			failed = true
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// Continuity is the "continuity figures" section of the results: the
// numbers of the replication, failover and migration benchmarks, gathered
// in the same run (replication) or from the files those benchmarks wrote
// (failover drills, migration), each with where it came from.
type Continuity struct {
	// Replication is the output of `go run ./bench/replication`, run at the
	// end of the comparison (servers stopped), verbatim.
	ReplicationCommand string `json:"replication_command,omitempty"`
	Replication        string `json:"replication,omitempty"`
	ReplicationError   string `json:"replication_error,omitempty"`
	// Failover: the drills found in bench/results/failover-*.json.
	FailoverFiles []string      `json:"failover_files,omitempty"`
	Failover      []FailoverRow `json:"failover,omitempty"`
	FailoverNote  string        `json:"failover_note,omitempty"`
	// Transfer is the latest section of bench/transfer/RESULTS.md
	// (export/import beside mlflow-export-import).
	TransferFile string `json:"transfer_file,omitempty"`
	Transfer     string `json:"transfer,omitempty"`
}

// FailoverRow summarises the drills of one fault kind and durability mode.
type FailoverRow struct {
	Fault      string    `json:"fault"`
	Durability string    `json:"durability"`
	Drills     int       `json:"drills"`
	RTO        []float64 `json:"rto_seconds"`
	Acked      int       `json:"acknowledged_writes"`
	Missing    int       `json:"rpo_missing_writes"`
	Lost       int       `json:"rpo_lost_writes"`
	Failed     int       `json:"failed_drills"`
}

// runNotes says how this run departs from the defaults (shown on top of
// the markdown).
func runNotes(cfg *compareConfig) []string {
	var out []string
	if cfg.Full {
		out = append(out, fmt.Sprintf("--full: %.0f s a measurement (the default table uses 10 s) so that the whole run, two backends with 1M-run scaling, fits in about an hour on 2 cores.", cfg.CellSeconds))
	}
	if slices.ContainsFunc(cfg.SearchSizes, func(n int) bool { return n >= 100_000 }) {
		out = append(out, "Scaling points at 100k runs and more take at least 3 searches (5 below), each point at least one measurement's time.")
	}
	for _, n := range cfg.TableSizes {
		if n >= 100_000 {
			out = append(out, "search-runs over 100k runs and more runs with at most 8 callers (the c=32 row says \"capped at 8\"): the stock server takes seconds a search there.")
			break
		}
	}
	if cfg.Load == "sql" {
		out = append(out, "The search-runs data set is bulk-loaded into each server's own tables by copying the rows that server wrote for a template run created through its own API (bench/README.md, \"Loading the search data set\"); loading is not timed as part of any measurement. A loaded run is checked against the template through the API, and each server's first result page against the expected one.")
	} else {
		out = append(out, "The search-runs data set is loaded through each server's API (runs/create + log-batch per run).")
	}
	if cfg.SearchTimeout > 0 {
		out = append(out, fmt.Sprintf("A search that takes longer than %.0f s counts as timed out; that server is then not searched at larger sizes, and the tables say so.", cfg.SearchTimeout))
	}
	return out
}

// setFlags returns the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	out := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { out[f.Name] = true })
	return out
}

// collectContinuity runs the replication benchmark and reads the failover
// and migration results.
func collectContinuity(ctx context.Context, cfg *compareConfig) *Continuity {
	c := &Continuity{}
	args := []string{"run", "./bench/replication", "-rate", "500", "-seconds", "10", "-artifact-mb", "256"}
	if cfg.Quick {
		args = []string{"run", "./bench/replication", "-rate", "200", "-seconds", "2", "-backlog", "500", "-artifact-mb", "16"}
	}
	c.ReplicationCommand = "go " + strings.Join(args, " ")
	logf("continuity: %s", c.ReplicationCommand)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	cmd := exec.CommandContext(rctx, "go", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	cancel()
	c.Replication = strings.TrimSpace(out.String())
	if err != nil {
		c.ReplicationError = fmt.Sprintf("%v: %.500s", err, strings.TrimSpace(errb.String()))
		logf("continuity: replication benchmark: %s", c.ReplicationError)
	}
	readFailover(c, cfg.Out)
	readTransfer(c, filepath.Join("bench", "transfer", "RESULTS.md"))
	return c
}

// readFailover reads bench/results/failover-*.json. The drill reports
// (`tandem drill --json`) carry fault, durability, rto_seconds and the
// rpo_* counts; a file may hold one report, a list, or an object with a
// list inside: every JSON object with an rto_seconds field is a drill.
func readFailover(c *Continuity, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "failover-*.json"))
	sort.Strings(files)
	rows := map[[2]string]*FailoverRow{}
	var keys [][2]string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		c.FailoverFiles = append(c.FailoverFiles, filepath.Base(f))
		var drills []map[string]any
		dec := json.NewDecoder(bytes.NewReader(b))
		for {
			var v any
			if err := dec.Decode(&v); err != nil {
				break // also several reports one after the other (JSON lines)
			}
			findDrills(v, &drills)
		}
		for _, d := range drills {
			fault, _ := d["fault"].(string)
			mode, _ := d["durability"].(string)
			k := [2]string{fault, mode}
			r := rows[k]
			if r == nil {
				r = &FailoverRow{Fault: fault, Durability: mode}
				rows[k] = r
				keys = append(keys, k)
			}
			r.Drills++
			if v, ok := d["rto_seconds"].(float64); ok {
				r.RTO = append(r.RTO, v)
			}
			r.Acked += intField(d, "acknowledged_writes")
			r.Missing += intField(d, "rpo_missing_writes")
			r.Lost += intField(d, "rpo_lost_writes")
			if f, _ := d["failure"].(string); f != "" {
				r.Failed++
			}
		}
	}
	for _, k := range keys {
		c.Failover = append(c.Failover, *rows[k])
	}
	if len(files) == 0 {
		c.FailoverNote = "no bench/results/failover-*.json in this tree: run the failover drills (`tandem drill --local --json`, issue 5) to fill this table"
	} else if len(c.Failover) == 0 {
		c.FailoverNote = "the failover files hold no drill report (no rto_seconds field)"
	}
}

func findDrills(v any, out *[]map[string]any) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["rto_seconds"]; ok {
			*out = append(*out, x)
			return
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			findDrills(x[k], out)
		}
	case []any:
		for _, e := range x {
			findDrills(e, out)
		}
	}
}

func intField(m map[string]any, k string) int {
	f, _ := m[k].(float64)
	return int(f)
}

// readTransfer keeps the first "## " section of bench/transfer/RESULTS.md
// (the latest run) up to the end of its first table and the paragraph
// after it.
func readTransfer(c *Continuity, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	c.TransferFile = path
	lines := strings.Split(string(b), "\n")
	var out []string
	in, table, after := false, false, false
	for _, l := range lines {
		if strings.HasPrefix(l, "## ") {
			if in {
				break
			}
			in = true
		}
		if !in {
			continue
		}
		if strings.HasPrefix(l, "|") {
			table = true
		} else if table && strings.TrimSpace(l) != "" {
			after = true
		} else if after && strings.TrimSpace(l) == "" {
			break
		}
		out = append(out, l)
	}
	c.Transfer = strings.TrimSpace(strings.Join(out, "\n"))
}

func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// renderContinuity writes the "continuity figures" section.
func renderContinuity(c *Continuity) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("## Continuity figures\n\n")
	w("### Replication lag and catch-up\n\n")
	switch {
	case c.Replication != "":
		w("`%s`, run in this comparison after the servers stopped (a primary and a secondary region in one process, SQLite + folders, HTTP over loopback):\n\n```\n%s\n```\n\n", c.ReplicationCommand, c.Replication)
		if c.ReplicationError != "" {
			w("It failed: %s\n\n", c.ReplicationError)
		}
	case c.ReplicationError != "":
		w("`%s` failed: %s\n\n", c.ReplicationCommand, c.ReplicationError)
	default:
		w("Not run.\n\n")
	}
	w("### Failover drills (RTO, RPO)\n\n")
	if len(c.Failover) > 0 {
		w("From %s. RTO: last write acknowledged by the old primary to the first acknowledged by the new one, as clients saw it. RPO: acknowledged writes missing from the new primary's history (lost: not even in a divergence report).\n\n", strings.Join(c.FailoverFiles, ", "))
		w("| fault | durability | drills | RTO p50 s | RTO max s | acknowledged writes | missing (RPO) | lost | failed drills |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range c.Failover {
			mx := 0.0
			for _, v := range r.RTO {
				mx = max(mx, v)
			}
			w("| %s | %s | %d | %.2f | %.2f | %d | %d | %d | %d |\n", r.Fault, r.Durability, r.Drills, percentile(r.RTO, 0.5), mx, r.Acked, r.Missing, r.Lost, r.Failed)
		}
		w("\n")
	} else {
		w("%s.\n\n", c.FailoverNote)
	}
	w("### Export/import beside mlflow-export-import\n\n")
	if c.Transfer != "" {
		w("From `%s` (latest run; `bash bench/transfer/run.sh`):\n\n%s\n\n", c.TransferFile, strings.Replace(c.Transfer, "## ", "#### ", 1))
	} else {
		w("No bench/transfer/RESULTS.md in this tree.\n\n")
	}
	return b.String()
}

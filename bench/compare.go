package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tandemml/tandem/bench/loadgen"
	"github.com/tandemml/tandem/freeport"
)

// compareConfig is what `bench compare` was asked to do.
type compareConfig struct {
	Quick, Full   bool
	Servers       []string
	Backends      []string
	Conc          []int
	CellSeconds   float64
	SearchSizes   []int // scaling series
	TableSizes    []int // sizes at which search-runs runs at every concurrency
	HistoryPoints int
	SmallMiB      float64
	LargeMiB      float64
	Scenarios     []string
	Venv          string
	FMLVenv       string
	TandemBin     string
	PostgresURL   string
	Out           string
	Work          string
	Profile       string
	NoAnalyze     bool
	Load          string  // how the search set is loaded: sql (bulk, each server's own tables) or api
	SearchTimeout float64 // seconds one search may take before it counts as timed out
	Continuity    bool    // run the replication benchmark and collect the other continuity figures
	Command       string
}

// Cell is one (backend, scenario, concurrency, server) measurement.
type Cell struct {
	Backend     string  `json:"backend"`
	Scenario    string  `json:"scenario"`
	Conc        int     `json:"concurrency"`
	Server      string  `json:"server"`
	Supported   bool    `json:"supported"`
	Ops         int     `json:"ops"`
	Errors      int     `json:"errors"`
	Seconds     float64 `json:"seconds"`
	OpsPerSec   float64 `json:"ops_per_sec"`
	MiBPerSec   float64 `json:"mib_per_sec,omitempty"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	CPUPer1k    float64 `json:"cpu_seconds_per_1000_ops"`
	PeakRSSMiB  float64 `json:"peak_rss_mib"`
	PeakPSSMiB  float64 `json:"peak_pss_mib"`
	Note        string  `json:"note,omitempty"`
	FirstError  string  `json:"first_error,omitempty"`
	ProfileFile string  `json:"profile,omitempty"`
}

// ScalePoint is one step of the search-runs scaling series.
type ScalePoint struct {
	Backend string  `json:"backend"`
	Server  string  `json:"server"`
	Runs    int     `json:"runs"`
	Ops     int     `json:"ops"`
	Errors  int     `json:"errors"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	RSSMiB  float64 `json:"rss_mib"`      // summed VmRSS right after the searches
	HWMMiB  float64 `json:"peak_rss_mib"` // sampled peak since the previous step
	PSSMiB  float64 `json:"peak_pss_mib"` // same, proportional set size
	GrowSec float64 `json:"load_seconds"` // time to load the runs added in this step
	CPUOp   float64 `json:"cpu_seconds_per_search,omitempty"`
	Note    string  `json:"note,omitempty"` // not loaded, timed out, wrong answer
}

// ServerInfo describes one started server.
type ServerInfo struct {
	Backend    string  `json:"backend"`
	Server     string  `json:"server"`
	Command    string  `json:"command"`
	Version    string  `json:"version,omitempty"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	PeakPSSMiB float64 `json:"peak_pss_mib"`
	HWMSumMiB  float64 `json:"vmhwm_sum_mib"`
	CPUSeconds float64 `json:"cpu_seconds"`
}

// Report is bench/results/<date>.json.
type Report struct {
	Date     string            `json:"date"`
	Command  string            `json:"command"`
	Machine  map[string]string `json:"machine"`
	Config   compareConfig     `json:"config"`
	Servers  []ServerInfo      `json:"servers"`
	Cells    []Cell            `json:"cells"`
	Scaling  []ScalePoint      `json:"scaling"`
	Notes    []string          `json:"notes,omitempty"` // how this run departs from the defaults
	Warnings []string          `json:"warnings,omitempty"`
	// Continuity holds the figures of the replication, failover and
	// migration benchmarks (continuity.go).
	Continuity *Continuity `json:"continuity,omitempty"`
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		f = strings.NewReplacer("k", "000", "M", "000000").Replace(f)
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func runCompare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	var cfg compareConfig
	fs.BoolVar(&cfg.Quick, "quick", false, "small sizes, 1 s a cell: a few minutes in all")
	fs.BoolVar(&cfg.Full, "full", false, "adds search-runs over 100k runs to the table and 1M runs to the scaling series; 5 s a cell (about an hour)")
	servers := fs.String("servers", "tandem,mlflow,fasttrackml", "servers to compare")
	backends := fs.String("backends", "sqlite,postgres", "metadata backends, in order")
	conc := fs.String("c", "1,8,32", "concurrencies")
	fs.Float64Var(&cfg.CellSeconds, "cell-seconds", 0, "seconds a measurement (default 10, --full 5, --quick 1)")
	fs.StringVar(&cfg.Load, "load", "sql", "how the search-runs data set is loaded: sql (bulk, into each server's own tables, copying a run the server created; see bulkload.go) or api (runs/create + log-batch per run)")
	fs.Float64Var(&cfg.SearchTimeout, "search-timeout", 120, "seconds one search may take; longer counts as timed out and the server is not searched at larger sizes")
	fs.BoolVar(&cfg.Continuity, "continuity", true, "run the replication benchmark (bench/replication) and collect the failover and migration figures into the results")
	sizes := fs.String("search-sizes", "", "scaling series sizes (default 1k,10k,100k; --full adds 1M; --quick 100,1k)")
	tsizes := fs.String("table-sizes", "", "search-runs sizes measured at every concurrency (default 10k; --full 10k,100k; --quick 1k)")
	fs.IntVar(&cfg.HistoryPoints, "history-points", 0, "metric history length (default 100000, --quick 10000)")
	fs.Float64Var(&cfg.SmallMiB, "small-mib", 1, "small artifact MiB")
	fs.Float64Var(&cfg.LargeMiB, "large-mib", 0, "large artifact MiB (default 100, --quick 10)")
	scen := fs.String("scenarios", "", "only these scenarios (comma-separated; 'search-runs' for the search table and series)")
	fs.StringVar(&cfg.Venv, "venv", "bench/.venv", "venv with the stock mlflow server (bench/run makes it)")
	fs.StringVar(&cfg.FMLVenv, "fml-venv", "bench/.venv-fml", "venv with fasttrackml (bench/run makes it)")
	fs.StringVar(&cfg.TandemBin, "tandem", "", "tandem binary (default: go build ./cmd/tandem into the work dir)")
	fs.StringVar(&cfg.PostgresURL, "postgres", os.Getenv("TANDEM_TEST_POSTGRES"), "PostgreSQL admin URL; each server gets a fresh database (TANDEM_TEST_POSTGRES)")
	fs.StringVar(&cfg.Out, "out", "bench/results", "results folder")
	fs.StringVar(&cfg.Work, "work", "", "scratch folder for databases and artifacts (default bench/results/tmp/<stamp>)")
	fs.StringVar(&cfg.Profile, "profile", "", "write a CPU profile of tandem per cell into this folder (runs tandem through `bench serve-tandem`)")
	fs.BoolVar(&cfg.NoAnalyze, "no-analyze", false, "on PostgreSQL, do not ANALYZE each server's database after loading the search runs (autovacuum's timing then decides the plans)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Command = "go run ./bench compare " + strings.Join(args, " ")
	cfg.Servers = strings.Split(*servers, ",")
	cfg.Backends = strings.Split(*backends, ",")
	var err error
	if cfg.Conc, err = intList(*conc); err != nil {
		return err
	}
	pick := func(v float64, def, quick float64) float64 {
		if v > 0 {
			return v
		}
		if cfg.Quick {
			return quick
		}
		return def
	}
	cfg.CellSeconds = pick(cfg.CellSeconds, 10, 1)
	if cfg.Full && !cfg.Quick && !setFlags(fs)["cell-seconds"] {
		cfg.CellSeconds = 5
	}
	if cfg.Load != "sql" && cfg.Load != "api" {
		return fmt.Errorf("--load must be sql or api")
	}
	cfg.HistoryPoints = int(pick(float64(cfg.HistoryPoints), 100_000, 10_000))
	cfg.LargeMiB = pick(cfg.LargeMiB, 100, 10)
	switch {
	case *sizes != "":
		cfg.SearchSizes, err = intList(*sizes)
	case cfg.Quick:
		cfg.SearchSizes = []int{100, 1000}
	case cfg.Full:
		cfg.SearchSizes = []int{1000, 10_000, 100_000, 1_000_000}
	default:
		cfg.SearchSizes = []int{1000, 10_000, 100_000}
	}
	if err != nil {
		return err
	}
	switch {
	case *tsizes != "":
		cfg.TableSizes, err = intList(*tsizes)
	case cfg.Quick:
		cfg.TableSizes = []int{1000}
	case cfg.Full:
		cfg.TableSizes = []int{10_000, 100_000}
	default:
		cfg.TableSizes = []int{10_000}
	}
	if err != nil {
		return err
	}
	for _, s := range cfg.TableSizes {
		if !slices.Contains(cfg.SearchSizes, s) {
			cfg.SearchSizes = append(cfg.SearchSizes, s)
		}
	}
	slices.Sort(cfg.SearchSizes)
	if *scen != "" {
		cfg.Scenarios = strings.Split(*scen, ",")
	}
	stamp := time.Now().UTC().Format("20060102-150405")
	if cfg.Work == "" {
		cfg.Work = filepath.Join(cfg.Out, "tmp", stamp)
	}
	if cfg.Work, err = filepath.Abs(cfg.Work); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Work, 0o755); err != nil {
		return err
	}
	if cfg.Venv, err = filepath.Abs(cfg.Venv); err != nil {
		return err
	}
	if cfg.FMLVenv, err = filepath.Abs(cfg.FMLVenv); err != nil {
		return err
	}
	if cfg.TandemBin != "" {
		if cfg.TandemBin, err = filepath.Abs(cfg.TandemBin); err != nil {
			return err
		}
	}
	if cfg.Profile != "" {
		if cfg.Profile, err = filepath.Abs(cfg.Profile); err != nil {
			return err
		}
		if err := os.MkdirAll(cfg.Profile, 0o755); err != nil {
			return err
		}
	}
	ctx, stop := signalContext()
	defer stop()

	if cfg.TandemBin == "" && slices.Contains(cfg.Servers, "tandem") && cfg.Profile == "" {
		cfg.TandemBin = filepath.Join(cfg.Work, "tandem")
		logf("building tandem into %s", cfg.TandemBin)
		b := exec.CommandContext(ctx, "go", "build", "-o", cfg.TandemBin, "./cmd/tandem")
		b.Stdout, b.Stderr = os.Stderr, os.Stderr
		if err := b.Run(); err != nil {
			return fmt.Errorf("build tandem: %w", err)
		}
	}

	shown := cfg
	shown.PostgresURL = redactURL(cfg.PostgresURL)
	rep := &Report{Date: time.Now().UTC().Format(time.RFC3339), Command: cfg.Command, Machine: machineInfo(), Config: shown}
	rep.Notes = runNotes(&cfg)
	started := time.Now()
	for _, be := range cfg.Backends {
		if err := compareBackend(ctx, &cfg, be, stamp, rep); err != nil {
			if ctx.Err() != nil {
				return err
			}
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: %v", be, err))
			logf("backend %s: %v", be, err)
		}
	}
	if cfg.Continuity {
		rep.Continuity = collectContinuity(ctx, &cfg)
	}
	rep.Machine["load_after"] = loadAvg()
	rep.Machine["duration"] = time.Since(started).Round(time.Second).String()
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return err
	}
	jb, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	jpath := filepath.Join(cfg.Out, stamp+".json")
	if err := os.WriteFile(jpath, jb, 0o644); err != nil {
		return err
	}
	md := renderMarkdown(rep, filepath.Base(jpath))
	if err := os.WriteFile(filepath.Join(cfg.Out, "latest.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Println(md)
	logf("wrote %s and %s", jpath, filepath.Join(cfg.Out, "latest.md"))
	return nil
}

// redactURL hides a password in a URL (the results are published).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

func redactArgs(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = redactURL(a)
	}
	return strings.Join(out, " ")
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", a...)
}

func machineInfo() map[string]string {
	m := map[string]string{"goos": runtime.GOOS, "goarch": runtime.GOARCH, "cpus": strconv.Itoa(runtime.NumCPU()), "load_before": loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m["memory"] = strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"))
	}
	if h, err := os.Hostname(); err == nil {
		m["host"] = h
	}
	return m
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// server is one started peer.
type server struct {
	name, backend string
	url           string
	cmd           *exec.Cmd
	argv          string
	rss           *rssSampler
	stopSampler   context.CancelFunc
	client        *loadgen.Client
	fix           *loadgen.Fixture
	search        *loadgen.SearchSet
	bulk          *bulkPlan
	// killed: stopped early (a search timed out and the server would
	// keep computing it while the others are measured); CPU and VmHWM as
	// read just before.
	killed    bool
	killedCPU float64
	killedHWM int64
	profCtl   string
	dbName    string
	version   string
}

// pgURL returns the admin URL with the database replaced, in the scheme a
// server wants.
func pgURL(admin, db, scheme string, keepQuery bool) (string, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", err
	}
	u.Scheme = scheme
	u.Path = "/" + db
	if !keepQuery {
		u.RawQuery = ""
	}
	return u.String(), nil
}

func startServer(ctx context.Context, cfg *compareConfig, name, backend, stamp string) (_ *server, err error) {
	port, err := freeport.One()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cfg.Work, backend, name)
	if err := os.MkdirAll(filepath.Join(dir, "artifacts"), 0o755); err != nil {
		return nil, err
	}
	s := &server{name: name, backend: backend, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	defer func() {
		if err != nil {
			s.stop(cfg) // the process group and the database, whatever was made
		}
	}()
	var dbURL func(scheme string, keepQuery bool) (string, error)
	switch backend {
	case "sqlite":
	case "postgres":
		if cfg.PostgresURL == "" {
			return nil, errors.New("no PostgreSQL: run scripts/services.sh start and source its output, or pass --postgres")
		}
		s.dbName = fmt.Sprintf("bench_%s_%s", name, strings.ReplaceAll(stamp, "-", "_"))
		if err := pgExec(ctx, cfg.PostgresURL, "CREATE DATABASE "+s.dbName); err != nil {
			return nil, fmt.Errorf("create database %s: %w", s.dbName, err)
		}
		dbURL = func(scheme string, keepQuery bool) (string, error) {
			return pgURL(cfg.PostgresURL, s.dbName, scheme, keepQuery)
		}
	default:
		return nil, fmt.Errorf("unknown backend %q (sqlite, postgres)", backend)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var argv []string
	env := os.Environ()
	switch name {
	case "tandem":
		meta := "sqlite://" + filepath.Join(dir, "tandem.db")
		if dbURL != nil {
			if meta, err = dbURL("postgres", true); err != nil {
				return nil, err
			}
		}
		art := "file://" + filepath.Join(dir, "artifacts")
		if cfg.Profile != "" {
			self, err := os.Executable()
			if err != nil {
				return nil, err
			}
			argv = []string{self, "serve-tandem", "--listen", addr, "--metadata", meta, "--artifacts", art,
				"--profile-addr-file", filepath.Join(dir, "profile.addr")}
		} else {
			argv = []string{cfg.TandemBin, "server", "--listen", addr, "--metadata", meta, "--artifacts", art, "--log-level", "warn", "--no-auth"}
		}
	case "mlflow":
		meta := "sqlite:///" + filepath.Join(dir, "mlflow.db")
		if dbURL != nil {
			if meta, err = dbURL("postgresql+psycopg2", false); err != nil {
				return nil, err
			}
		}
		argv = []string{filepath.Join(cfg.Venv, "bin", "mlflow"), "server", "--host", "127.0.0.1", "--port", strconv.Itoa(port),
			"--backend-store-uri", meta, "--artifacts-destination", filepath.Join(dir, "artifacts")}
		env = append(env, "MLFLOW_HOME="+dir)
	case "fasttrackml":
		meta := "sqlite://" + filepath.Join(dir, "fml.db")
		if dbURL != nil {
			if meta, err = dbURL("postgres", true); err != nil {
				return nil, err
			}
		}
		argv = []string{filepath.Join(cfg.FMLVenv, "bin", "fml"), "server", "--listen-address", addr,
			"--database-uri", meta, "--default-artifact-root", filepath.Join(dir, "artifacts")}
	default:
		return nil, fmt.Errorf("unknown server %q (tandem, mlflow, fasttrackml)", name)
	}
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.argv = redactArgs(argv)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	s.client = loadgen.NewClient(s.url, 64)
	deadline := time.Now().Add(6 * time.Minute) // the stock server migrates its schema first: minutes on a busy machine
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default", nil)
		resp, err := s.client.HTTP.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			break
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("%s exited while starting (%v): see %s", name, err, filepath.Join(dir, "server.log"))
		case <-ctx.Done():
			s.stop(cfg)
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop(cfg)
			return nil, fmt.Errorf("%s did not answer within 6 minutes: see %s", name, filepath.Join(dir, "server.log"))
		}
	}
	if cfg.Profile != "" && name == "tandem" {
		b, err := os.ReadFile(filepath.Join(dir, "profile.addr"))
		if err == nil {
			s.profCtl = "http://" + string(b)
		}
	}
	s.rss = &rssSampler{root: cmd.Process.Pid}
	sctx, cancel := context.WithCancel(context.Background())
	s.stopSampler = cancel
	go s.rss.run(sctx, 200*time.Millisecond)
	s.version = serverVersion(cfg, name)
	return s, nil
}

func serverVersion(cfg *compareConfig, name string) string {
	var c *exec.Cmd
	switch name {
	case "mlflow":
		c = exec.Command(filepath.Join(cfg.Venv, "bin", "python"), "-c", "import mlflow; print(mlflow.__version__)")
	case "fasttrackml":
		c = exec.Command(filepath.Join(cfg.FMLVenv, "bin", "python"), "-c", "import importlib.metadata as m; print(m.version('fasttrackml'))")
	default:
		c = exec.Command("git", "describe", "--always", "--dirty")
	}
	b, err := c.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// stop ends the server's process group (the group this command made for it)
// and drops its PostgreSQL database.
func (s *server) stop(cfg *compareConfig) {
	if s.stopSampler != nil {
		s.stopSampler()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		pgid := s.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		for i := 0; i < 100; i++ {
			if syscall.Kill(-pgid, 0) != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
	if s.dbName != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pgExec(ctx, cfg.PostgresURL, "DROP DATABASE IF EXISTS "+s.dbName+" WITH (FORCE)"); err != nil {
			logf("drop database %s: %v", s.dbName, err)
		}
	}
}

func pgExec(ctx context.Context, admin, sql string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// analyzeFresh runs ANALYZE on the database at u and checks that it took:
// no table may look changed by more than autovacuum's own re-analyse
// threshold since (10% of its rows + 50), the condition under which a
// server (tandem does) may distrust its statistics. A late statistics
// report can undo an ANALYZE; it is retried up to three times.
func analyzeFresh(ctx context.Context, u string) error {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var stale []string
	for try := range 3 {
		if try > 0 {
			time.Sleep(time.Second)
		}
		if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
			return err
		}
		rows, err := conn.Query(ctx, `SELECT relname FROM pg_stat_user_tables
			WHERE schemaname = current_schema() AND n_mod_since_analyze > 0.1 * n_live_tup + 50 ORDER BY relname`)
		if err != nil {
			return err
		}
		stale, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(stale) == 0 {
			return nil
		}
	}
	return fmt.Errorf("statistics still look stale after ANALYZE: %s", strings.Join(stale, ", "))
}

func (cfg *compareConfig) want(name string) bool {
	if len(cfg.Scenarios) == 0 {
		return true
	}
	for _, s := range cfg.Scenarios {
		if s == name || (s == "search-runs" && strings.HasPrefix(name, "search-runs")) {
			return true
		}
	}
	return false
}

// compareBackend starts every server on one backend, runs the suite with
// the servers interleaved cell by cell, then the search scaling series.
func compareBackend(ctx context.Context, cfg *compareConfig, backend, stamp string, rep *Report) error {
	var srvs []*server
	defer func() {
		for _, s := range srvs {
			cpu := cpuSeconds(s.cmd.Process.Pid)
			_, hwm := memKiB(s.cmd.Process.Pid)
			if s.killed {
				cpu, hwm = s.killedCPU, s.killedHWM
			}
			peak, peakPSS := s.rss.reset()
			for _, c := range rep.Cells {
				if c.Backend == backend && c.Server == s.name {
					peak = max(peak, int64(c.PeakRSSMiB*1024))
					peakPSS = max(peakPSS, int64(c.PeakPSSMiB*1024))
				}
			}
			for _, p := range rep.Scaling {
				if p.Backend == backend && p.Server == s.name {
					peak = max(peak, int64(p.HWMMiB*1024))
					peakPSS = max(peakPSS, int64(p.PSSMiB*1024))
				}
			}
			rep.Servers = append(rep.Servers, ServerInfo{Backend: backend, Server: s.name, Command: s.argv, Version: s.version,
				PeakRSSMiB: float64(peak) / 1024, PeakPSSMiB: float64(peakPSS) / 1024, HWMSumMiB: float64(hwm) / 1024, CPUSeconds: cpu})
			s.stop(cfg)
			// The uploaded artifacts and the SQLite files (a million runs) can
			// be gigabytes; the server logs stay. PostgreSQL databases are
			// dropped by stop.
			if err := os.RemoveAll(filepath.Join(cfg.Work, backend, s.name, "artifacts")); err != nil {
				logf("remove artifacts: %v", err)
			}
			if s.backend == "sqlite" {
				dbs, _ := filepath.Glob(s.sqlitePath(cfg) + "*")
				for _, f := range dbs {
					os.Remove(f)
				}
			}
		}
	}()
	for _, name := range cfg.Servers {
		logf("[%s] starting %s", backend, name)
		s, err := startServer(ctx, cfg, name, backend, stamp)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s/%s: %v", backend, name, err))
			logf("[%s] %s not started: %v", backend, name, err)
			continue
		}
		srvs = append(srvs, s)
		logf("[%s] %s up at %s", backend, name, s.url)
	}
	if len(srvs) == 0 {
		return errors.New("no server started")
	}
	for _, s := range srvs {
		f, err := loadgen.NewFixture(ctx, s.client, stamp, 32)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		s.fix = f
	}
	rot := 0
	order := func() []*server {
		rot++
		out := slices.Clone(srvs)
		k := rot % len(out)
		return append(out[k:], out[:k]...)
	}
	suite := loadgen.Suite(loadgen.SuiteConfig{HistoryPoints: cfg.HistoryPoints,
		SmallArtifact: int64(cfg.SmallMiB * (1 << 20)), LargeArtifact: int64(cfg.LargeMiB * (1 << 20))})
	for _, sc := range suite {
		if !cfg.want(sc.Name) {
			continue
		}
		ops := map[*server]loadgen.Op{}
		for _, s := range srvs {
			logf("[%s] %s: setup on %s", backend, sc.Name, s.name)
			op, err := sc.Prepare(ctx, s.client, s.fix)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				c := Cell{Backend: backend, Scenario: sc.Name, Server: s.name, Note: sc.Note}
				if loadgen.Unsupported(err) {
					c.Note = "not served"
				} else {
					c.Supported = true
					c.FirstError = "setup: " + err.Error()
				}
				for _, n := range cfg.Conc {
					c.Conc = n
					rep.Cells = append(rep.Cells, c)
				}
				logf("[%s] %s on %s: %v", backend, sc.Name, s.name, err)
				continue
			}
			ops[s] = op
		}
		for _, n := range cfg.Conc {
			for _, s := range order() {
				op, ok := ops[s]
				if !ok {
					continue
				}
				rep.Cells = append(rep.Cells, measureCell(ctx, cfg, s, backend, sc, op, n))
			}
		}
	}

	// search-runs: grow every server's search set step by step; at each
	// step measure the series point (concurrency 1), and at table sizes
	// the full concurrency matrix.
	if !cfg.want("search-runs") {
		return nil
	}
	for _, s := range srvs {
		if err := prepareSearch(ctx, cfg, s, stamp); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s: search set: %w", s.name, err)
		}
	}
	defer func() {
		for _, s := range srvs {
			if s.bulk != nil {
				s.bulk.store.Close()
			}
		}
	}()
	active := slices.Clone(srvs)
	dropped := map[*server]string{} // why a server is no longer searched
	for _, size := range cfg.SearchSizes {
		var grown []*server
		for _, s := range srvs {
			if why, ok := dropped[s]; ok {
				rep.Scaling = append(rep.Scaling, ScalePoint{Backend: backend, Server: s.name, Runs: size, Note: why})
				continue
			}
			logf("[%s] search set: loading %s to %d runs (%s)", backend, s.name, size, cfg.Load)
			t := time.Now()
			err := growSearch(ctx, cfg, s, size)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s/%s: %v", backend, s.name, err))
				logf("[%s] %s: %v", backend, s.name, err)
				dropped[s] = fmt.Sprintf("not loaded: %.200s", err)
				rep.Scaling = append(rep.Scaling, ScalePoint{Backend: backend, Server: s.name, Runs: size, Note: dropped[s]})
				continue
			}
			if s.dbName != "" && !cfg.NoAnalyze {
				// Same for every server: fresh statistics, so that the plans
				// do not depend on when autovacuum last looked at the tables.
				if u, err := pgURL(cfg.PostgresURL, s.dbName, "postgres", true); err == nil {
					if err := analyzeFresh(ctx, u); err != nil {
						logf("[%s] analyze %s: %v", backend, s.dbName, err)
					}
				}
			}
			loadSec := time.Since(t).Seconds()
			pt := ScalePoint{Backend: backend, Server: s.name, Runs: size, GrowSec: loadSec}
			// One untimed search, checked against the expected first page:
			// every server answers from the same logical data (it also
			// warms every server alike).
			cctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.SearchTimeout*float64(time.Second)))
			err = s.search.CheckFirstPage(cctx, s.client)
			cancel()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					dropped[s] = fmt.Sprintf("timed out (one search > %.0f s at %s runs)", cfg.SearchTimeout, countName(size))
					pt.Note = dropped[s]
					rep.Scaling = append(rep.Scaling, pt)
					logf("[%s] %s @%d runs: %s; stopping it so that it does not compute the abandoned search while the others are measured", backend, s.name, size, pt.Note)
					s.kill()
					continue
				}
				pt.Note = fmt.Sprintf("wrong first page: %.200s", err)
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s/%s at %d runs: %v", backend, s.name, size, err))
				logf("[%s] %s @%d runs: %v", backend, s.name, size, err)
			}
			quietBefore(ctx, backend, s.name)
			s.rss.reset()
			s.rss.active.Store(true)
			minOps := 5
			if size >= 100_000 {
				minOps = 3 // slow servers take seconds a search there
			}
			cpu0 := cpuSeconds(s.cmd.Process.Pid)
			r := loadgen.Measure(ctx, "search-runs", withTimeout(s.search.SearchOp(s.client), cfg.SearchTimeout), 1, minOps, 200, time.Duration(cfg.CellSeconds*float64(time.Second)))
			if r.Ops > r.Errors {
				pt.CPUOp = (cpuSeconds(s.cmd.Process.Pid) - cpu0) / float64(r.Ops-r.Errors)
			}
			rss, _ := memKiB(s.cmd.Process.Pid)
			peak, peakPSS := s.rss.reset()
			s.rss.active.Store(false)
			pt.Ops, pt.Errors, pt.P50ms, pt.P99ms = r.Ops, r.Errors, ms(r.P50), ms(r.P99)
			pt.RSSMiB, pt.HWMMiB, pt.PSSMiB = float64(rss)/1024, float64(peak)/1024, float64(peakPSS)/1024
			if r.FirstErr != nil && errors.Is(r.FirstErr, context.DeadlineExceeded) {
				dropped[s] = fmt.Sprintf("timed out (a search > %.0f s at %s runs)", cfg.SearchTimeout, countName(size))
				pt.Note = strings.TrimPrefix(pt.Note+"; "+dropped[s], "; ")
				s.kill()
			} else {
				grown = append(grown, s)
			}
			rep.Scaling = append(rep.Scaling, pt)
			logf("[%s] %s @%d runs: loaded in %.1f s, p50 %.1f ms p99 %.1f ms rss %.0f MiB (%d errors) %s", backend, s.name, size, loadSec, pt.P50ms, pt.P99ms, pt.RSSMiB, r.Errors, pt.Note)
		}
		active = grown
		if slices.Contains(cfg.TableSizes, size) {
			sc := loadgen.Scenario{Name: fmt.Sprintf("search-runs-%s", countName(size)), Note: loadgen.SearchNote}
			if size >= 100_000 {
				// The stock server takes seconds a search here; 32 callers
				// would need minutes a cell just to give each one operation.
				sc.MaxConc = 8
			}
			for _, n := range cfg.Conc {
				for _, s := range order() {
					if slices.Contains(active, s) {
						c := measureCell(ctx, cfg, s, backend, sc, withTimeout(s.search.SearchOp(s.client), cfg.SearchTimeout), n)
						rep.Cells = append(rep.Cells, c)
						if strings.Contains(c.FirstError, context.DeadlineExceeded.Error()) {
							settle(ctx, s, 5*time.Minute) // let it finish the abandoned searches first
						}
					} else if why, ok := dropped[s]; ok {
						rep.Cells = append(rep.Cells, Cell{Backend: backend, Scenario: sc.Name, Conc: n, Server: s.name, Supported: true, Note: why, FirstError: why})
					}
				}
			}
		}
	}
	return nil
}

// kill stops a server's processes early (its database stays until the
// end of the backend).
func (s *server) kill() {
	if s.killed || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.killedCPU = cpuSeconds(s.cmd.Process.Pid)
	_, s.killedHWM = memKiB(s.cmd.Process.Pid)
	s.killed = true
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// settle waits until the server's process tree uses less than a quarter
// of a CPU (at most max).
func settle(ctx context.Context, s *server, max time.Duration) {
	start := time.Now()
	for time.Since(start) < max && ctx.Err() == nil {
		c0 := cpuSeconds(s.cmd.Process.Pid)
		time.Sleep(time.Second)
		if cpuSeconds(s.cmd.Process.Pid)-c0 < 0.25 {
			break
		}
	}
	logf("[%s] %s: waited %.0f s for it to go idle", s.backend, s.name, time.Since(start).Seconds())
}

// withTimeout bounds each call of op.
func withTimeout(op loadgen.Op, seconds float64) loadgen.Op {
	if seconds <= 0 {
		return op
	}
	return func(ctx context.Context, i int) error {
		ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds*float64(time.Second)))
		defer cancel()
		return op(ctx, i)
	}
}

// prepareSearch creates the server's search experiment and, for --load
// sql, the template run and the bulk loader's plan.
func prepareSearch(ctx context.Context, cfg *compareConfig, s *server, stamp string) error {
	if cfg.Load != "sql" {
		ss, err := loadgen.NewSearchSet(ctx, s.client, stamp)
		s.search = ss
		return err
	}
	return prepareSearchWith(ctx, s, stamp, func() (*bulkStore, error) { return openBulk(ctx, cfg, s) })
}

// prepareSearchWith makes the search set, its template run and the bulk
// plan, with the server's database opened by open.
func prepareSearchWith(ctx context.Context, s *server, stamp string, open func() (*bulkStore, error)) error {
	ss, err := loadgen.NewSearchSet(ctx, s.client, stamp)
	if err != nil {
		return err
	}
	s.search = ss
	if err := ss.NewSearchTemplate(ctx, s.client, stamp); err != nil {
		return err
	}
	tmplLoc, err := artifactLocation(ctx, s.client, ss.TemplateExpID)
	if err != nil {
		return err
	}
	searchLoc, err := artifactLocation(ctx, s.client, ss.ExpID)
	if err != nil {
		return err
	}
	b, err := open()
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	plan, err := planBulk(ctx, b, ss, tmplLoc, searchLoc)
	if err != nil {
		b.Close()
		return err
	}
	s.bulk = plan
	return nil
}

func artifactLocation(ctx context.Context, c *loadgen.Client, expID string) (string, error) {
	var out struct {
		Experiment struct {
			ArtifactLocation string `json:"artifact_location"`
		} `json:"experiment"`
	}
	err := c.Call(ctx, http.MethodGet, "experiments/get", url.Values{"experiment_id": {expID}}, &out)
	return strings.TrimRight(out.Experiment.ArtifactLocation, "/"), err
}

// growSearch brings the server's search set to n runs, through the bulk
// loader or the API. After the first bulk load a loaded run is compared
// with the template through the API.
func growSearch(ctx context.Context, cfg *compareConfig, s *server, n int) error {
	ss := s.search
	if s.bulk == nil {
		return ss.Grow(ctx, s.client, n, 8)
	}
	from := ss.Runs
	if err := s.bulk.load(ctx, from, n); err != nil {
		return fmt.Errorf("bulk load runs %d..%d: %w", from, n, err)
	}
	ss.Runs = max(ss.Runs, n)
	if from == 0 && n > 0 {
		if err := ss.CheckRun(ctx, s.client, bulkRunID(0), 0); err != nil {
			return err
		}
	}
	return nil
}

func countName(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func measureCell(ctx context.Context, cfg *compareConfig, s *server, backend string, sc loadgen.Scenario, op loadgen.Op, n int) Cell {
	c := Cell{Backend: backend, Scenario: sc.Name, Conc: n, Server: s.name, Supported: true, Note: sc.Note}
	conc := n
	if sc.MaxConc > 0 && conc > sc.MaxConc {
		conc = sc.MaxConc
		c.Note += fmt.Sprintf(" (concurrency capped at %d)", conc)
	}
	pid := s.cmd.Process.Pid
	quietBefore(ctx, backend, s.name)
	if s.profCtl != "" {
		c.ProfileFile = filepath.Join(cfg.Profile, fmt.Sprintf("%s-%s-c%d.pprof", backend, sc.Name, n))
		profCall(s.profCtl + "/start?file=" + url.QueryEscape(c.ProfileFile))
	}
	s.rss.reset()
	s.rss.active.Store(true)
	cpu0 := cpuSeconds(pid)
	r := loadgen.Measure(ctx, sc.Name, op, conc, conc, sc.MaxOps, time.Duration(cfg.CellSeconds*float64(time.Second)))
	cpu := cpuSeconds(pid) - cpu0
	if s.profCtl != "" {
		profCall(s.profCtl + "/stop")
	}
	rss, pss := s.rss.reset()
	s.rss.active.Store(false)
	c.PeakRSSMiB, c.PeakPSSMiB = float64(rss)/1024, float64(pss)/1024
	c.Ops, c.Errors, c.Seconds = r.Ops, r.Errors, r.Elapsed.Seconds()
	good := r.Ops - r.Errors
	if r.Elapsed > 0 {
		c.OpsPerSec = float64(good) / r.Elapsed.Seconds()
		if sc.Bytes > 0 {
			c.MiBPerSec = float64(good) * float64(sc.Bytes) / (1 << 20) / r.Elapsed.Seconds()
		}
	}
	c.P50ms, c.P99ms = ms(r.P50), ms(r.P99)
	if good > 0 {
		c.CPUPer1k = cpu / float64(good) * 1000
	}
	if r.FirstErr != nil {
		c.FirstError = r.FirstErr.Error()
		if r.Errors == r.Ops && loadgen.Unsupported(r.FirstErr) {
			c.Supported = false
			c.Note = "not served"
		}
	}
	logf("[%s] %-24s c=%-2d %-11s %8.1f ops/s p50 %8.2f ms p99 %8.2f ms cpu/1k %7.2f s rss %6.0f MiB err %d",
		backend, sc.Name, n, s.name, c.OpsPerSec, c.P50ms, c.P99ms, c.CPUPer1k, c.PeakRSSMiB, c.Errors)
	if c.FirstError != "" {
		logf("   first error: %.300s", c.FirstError)
	}
	return c
}

// quietBefore waits, before a measurement of name, for the machine to be
// quiet (under a fifth of the CPUs busy for 300 ms, at most 15 s): cells
// run back to back with every server up, and one server's leftovers (the
// stock server's slow requests still running, its database still executing
// them) would otherwise be charged to the next server's cell.
func quietBefore(ctx context.Context, backend, name string) {
	waited, quiet := settleMachine(ctx, 300*time.Millisecond, 15*time.Second, 0.2)
	switch {
	case !quiet:
		logf("[%s] machine still busy after %.1f s; measuring %s anyway", backend, waited.Seconds(), name)
	case waited > 2*time.Second:
		logf("[%s] waited %.1f s for the machine to settle before measuring %s", backend, waited.Seconds(), name)
	}
}

func profCall(u string) {
	resp, err := http.Post(u, "text/plain", nil)
	if err != nil {
		logf("profile control: %v", err)
		return
	}
	resp.Body.Close()
}

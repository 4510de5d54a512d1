//go:build tandemtest

// Command replication benchmarks tandem's replication on this machine (not a
// timed test; run it by hand and paste the numbers in the issue):
//
//	go run ./bench/replication -rate 500 -seconds 10 -artifact-mb 1024
//
// It runs a primary and a secondary region in this process, each with its
// own SQLite file and artifact folder, talking HTTP over loopback, and
// measures:
//
//   - lag: time from an entry's commit on the primary to its apply on the
//     secondary (p50/p99/max), at a fixed write rate and at the maximum rate
//     a few concurrent writers reach;
//   - catch-up (timed until data is on disk, like cp + sync): with the secondary stopped, the primary takes a backlog of
//     small entries and artifacts; then the secondary restarts and the time
//     to catch up gives entries/s and MB/s, beside `cp -r` of the same
//     artifact bytes in the same run;
//   - peak Go heap during catch-up (bounded memory with large artifacts).
//
// Small writes are MLflow log-batch requests of 10 metrics (one journal
// entry each); artifacts go through the TEST ONLY test.note op, which
// stores a blob of any size in one request.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/workspace"
)

func main() {
	rate := flag.Int("rate", 500, "fixed write rate (writes/s)")
	seconds := flag.Int("seconds", 10, "duration of each lag phase")
	writers := flag.Int("writers", 8, "concurrent writers for the max-rate phase")
	backlog := flag.Int("backlog", 5000, "small entries in the catch-up backlog")
	artifactMB := flag.Int("artifact-mb", 256, "MiB of artifacts in the catch-up backlog")
	artifactFiles := flag.Int("artifact-files", 4, "number of artifact files the MiB are split into")
	flag.Parse()
	if err := run(*rate, *seconds, *writers, *backlog, *artifactMB, *artifactFiles); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type node struct {
	r      *region.Region
	cancel context.CancelFunc
	done   chan struct{}
}

func run(rate, seconds, writers, backlog, artifactMB, artifactFiles int) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tandem-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Setenv("TANDEM_BENCH_PEER_KEY", "bench-peer-key-0123456789abcdef")
	ports := []string{freeAddr(), freeAddr()}
	yaml := fmt.Sprintf(`workspace: bench
primary: east
peer_key: {env: TANDEM_BENCH_PEER_KEY}
regions:
  - {name: east, url: "http://%s", metadata: "sqlite://%s/east/tandem.db", artifacts: "file://%s/east/artifacts"}
  - {name: west, url: "http://%s", metadata: "sqlite://%s/west/tandem.db", artifacts: "file://%s/west/artifacts"}
`, ports[0], dir, dir, ports[1], dir, dir)
	ws, err := workspace.Parse([]byte(yaml))
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var delays delaySet
	start := func(name string, record bool) (*node, error) {
		reg, _ := ws.Region(name)
		r, err := region.Open(ctx, region.Config{Name: name, Listen: reg.Listen, MetadataURL: reg.MetadataURL,
			ArtifactsURL: reg.ArtifactURL, Workspace: ws, Logger: log, TestHooks: region.TestHooks{TestOps: true}})
		if err != nil {
			return nil, err
		}
		if record {
			r.Store.OnCommit(func(e tandem.Entry) { delays.add(time.Since(e.Time)) })
		}
		cctx, cancel := context.WithCancel(ctx)
		n := &node{r: r, cancel: cancel, done: make(chan struct{})}
		go func() { r.Serve(cctx, nil); r.Close(); close(n.done) }()
		return n, waitHealthy("http://"+reg.Listen, 10*time.Second)
	}
	stop := func(n *node) { n.cancel(); <-n.done }
	east, err := start("east", false)
	if err != nil {
		return err
	}
	defer stop(east)
	west, err := start("west", true)
	if err != nil {
		return err
	}
	defer func() { stop(west) }()
	primary := "http://" + ports[0]
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	put := func(key string, body io.Reader, size int64) error {
		req, _ := http.NewRequest("PUT", primary+"/api/tandem/v1/test/note?kind=runs&value=v&key="+key, body)
		req.ContentLength = size
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("put: %s", resp.Status)
		}
		return nil
	}
	post := func(path string, body string) ([]byte, error) {
		resp, err := client.Post(primary+"/api/2.0/mlflow/"+path, "application/json", strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("%s: %s %s", path, resp.Status, b)
		}
		return b, nil
	}
	// One run; each write is a log-batch of 10 metrics (one journal entry).
	b, err := post("runs/create", `{"experiment_id":"0"}`)
	if err != nil {
		return err
	}
	var created struct {
		Run struct {
			Info struct {
				RunID string `json:"run_id"`
			} `json:"info"`
		} `json:"run"`
	}
	json.Unmarshal(b, &created)
	runID := created.Run.Info.RunID
	var step atomic.Int64
	logBatch := func() error {
		n := step.Add(1)
		var ms []string
		for k := range 10 {
			ms = append(ms, fmt.Sprintf(`{"key":"m%d","value":%d.5,"timestamp":%d,"step":%d}`, k, n, time.Now().UnixMilli(), n))
		}
		_, err := post("runs/log-batch", fmt.Sprintf(`{"run_id":%q,"metrics":[%s]}`, runID, strings.Join(ms, ",")))
		return err
	}
	waitHead := func(n *node, seq int64, d time.Duration) error {
		deadline := time.Now().Add(d)
		for {
			h, err := n.r.Store.Head(ctx)
			if err == nil && h.Seq >= seq {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("secondary stuck at %v, want %d", h, seq)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	head := func() int64 { h, _ := east.r.Store.Head(ctx); return h.Seq }
	fmt.Printf("tandem replication bench: %s, GOMAXPROCS=%d, SQLite + file on both regions, loopback HTTP\n\n", runtime.Version(), runtime.GOMAXPROCS(0))

	// Phase 1: fixed rate.
	delays.reset()
	var seq atomic.Int64
	interval := time.Second / time.Duration(rate)
	t0 := time.Now()
	end := t0.Add(time.Duration(seconds) * time.Second)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	var late int
	for i := 0; ; i++ {
		next := t0.Add(time.Duration(i) * interval)
		if next.After(end) {
			break
		}
		time.Sleep(time.Until(next))
		select {
		case sem <- struct{}{}:
		default:
			late++
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			seq.Add(1)
			if err := logBatch(); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}()
	}
	wg.Wait()
	if err := waitHead(west, head(), 30*time.Second); err != nil {
		return err
	}
	fmt.Printf("fixed rate %d log-batch writes/s for %ds: %d writes (%d skipped: writers saturated)\n  lag %s\n\n", rate, seconds, seq.Load(), late, delays.summary())

	// Phase 2: max rate.
	delays.reset()
	var n atomic.Int64
	end = time.Now().Add(time.Duration(seconds) * time.Second)
	t0 = time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(end); i++ {
				if logBatch() == nil {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	if err := waitHead(west, head(), 60*time.Second); err != nil {
		return err
	}
	fmt.Printf("max rate, %d writers: %.0f writes/s\n  lag %s\n\n", writers, float64(n.Load())/el.Seconds(), delays.summary())

	// Phase 3: catch-up after an outage of the secondary, first a backlog
	// of small entries, then one of large artifacts.
	catchUp := func(what string, write func() error) (time.Duration, int64, error) {
		stop(west)
		if err := write(); err != nil {
			return 0, 0, err
		}
		target := head()
		before, err := headOf(ctx, dir)
		if err != nil {
			return 0, 0, err
		}
		var peak atomic.Uint64
		sampling := make(chan struct{})
		go func() {
			var ms runtime.MemStats
			for {
				select {
				case <-sampling:
					return
				case <-time.After(50 * time.Millisecond):
				}
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}()
		exec.Command("sync").Run()
		t0 := time.Now()
		west, err = start("west", false)
		if err != nil {
			return 0, 0, err
		}
		err = waitHead(west, target, 10*time.Minute)
		exec.Command("sync").Run() // count flushing to disk, as for cp below
		el := time.Since(t0)
		close(sampling)
		fmt.Printf("catch-up, %s: %d entries in %.2fs = %.0f entries/s; peak Go heap (both regions) %.1f MiB\n",
			what, target-before, el.Seconds(), float64(target-before)/el.Seconds(), float64(peak.Load())/(1<<20))
		return el, target - before, err
	}
	if _, _, err := catchUp(fmt.Sprintf("%d log-batches of 10 metrics", backlog), func() error {
		for range backlog {
			if err := logBatch(); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	fileMB := max(1, artifactMB/artifactFiles)
	bytesTotal := int64(artifactFiles*fileMB) << 20
	el, _, err = catchUp(fmt.Sprintf("%d artifacts of %d MiB", artifactFiles, fileMB), func() error {
		for i := range artifactFiles {
			if err := put(fmt.Sprintf("big%d", i), &patternReader{n: int64(fileMB) << 20, seed: byte(i)}, int64(fileMB)<<20); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("  artifact bytes: %.1f MB/s\n", float64(bytesTotal)/1e6/el.Seconds())
	// cp of the same bytes, same run.
	src := filepath.Join(dir, "east", "artifacts", "test-notes", "runs")
	dst := filepath.Join(dir, "cp-copy")
	exec.Command("sync").Run()
	t0 = time.Now()
	if out, err := exec.Command("cp", "-r", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("cp: %v %s", err, out)
	}
	exec.Command("sync").Run()
	cpEl := time.Since(t0)
	fmt.Printf("cp -r of the same artifact folder: %.2fs = %.1f MB/s; tandem catch-up reached %.0f%% of cp\n",
		cpEl.Seconds(), float64(bytesTotal)/1e6/cpEl.Seconds(), 100*cpEl.Seconds()/el.Seconds())
	return nil
}

// headOf is the secondary's head read from its file while it is stopped.
func headOf(ctx context.Context, dir string) (int64, error) {
	r, err := region.Open(ctx, region.Config{Name: "probe", MetadataURL: "sqlite://" + filepath.Join(dir, "west", "tandem.db"),
		ArtifactsURL: "file://" + filepath.Join(dir, "probe"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return 0, err
	}
	defer r.Close()
	h, err := r.Store.Head(ctx)
	return h.Seq, err
}

type delaySet struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *delaySet) add(d time.Duration) { s.mu.Lock(); s.d = append(s.d, d); s.mu.Unlock() }
func (s *delaySet) reset()              { s.mu.Lock(); s.d = nil; s.mu.Unlock() }
func (s *delaySet) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.d) == 0 {
		return "(no entries)"
	}
	d := append([]time.Duration(nil), s.d...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return fmt.Sprintf("p50 %v  p99 %v  max %v  (%d entries; commit-to-apply, ms resolution)",
		q(0.5).Round(100*time.Microsecond), q(0.99).Round(100*time.Microsecond), d[len(d)-1].Round(100*time.Microsecond), len(d))
}

// patternReader yields n bytes of a cheap non-constant pattern.
type patternReader struct {
	n    int64
	seed byte
	off  int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	for i := range b {
		x := uint64(p.off+int64(i)) * 0x9E3779B97F4A7C15
		b[i] = byte(x>>56) ^ p.seed
	}
	p.off += int64(len(b))
	return len(b), nil
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHealthy(base string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var _ = bytes.MinRead

package transfer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/transfer"
	"github.com/tandemml/tandem/transfer/bundle"
	"github.com/tandemml/tandem/transfer/mlflowsource"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
)

// TestMigrateFromStockMLflow: a stock mlflow server populated by the stock
// client with 500 runs (five with 150 params, five with 10,000-point metric
// histories, NaN values, nested runs, a deleted run, a dataset input,
// artifacts), a logged model, registered models with versions, a stage,
// aliases and tags, is read through its REST API and imported; then the
// stock client asks both servers the same questions (every run through
// search_runs and get_run, every metric history, artifact listings, a set
// of filtered, ordered and paged searches, deleted runs by view type, the
// registry) and gets the same answers. Importing again changes nothing.
func TestMigrateFromStockMLflow(t *testing.T) {
	const runs = 500
	ctx := t.Context()
	src := mlflowtest.StartWorkers(t, 2) // a worker per core of a CI machine
	start := time.Now()
	mlflowtest.PopulateWith(t, ctx, src.URL, mlflowtest.Shape{Runs: runs, Points: 10000, BigEvery: 100, ParamsEvery: 100, Threads: 8})
	t.Logf("populated %d runs in %s", runs, time.Since(start).Round(time.Second))
	dst := newWorkspace(t, storetest.SQLiteURL(t))

	migrate := func() *transfer.Report {
		c, err := mlflowsource.New(src.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "mlflow.tar")
		w, err := bundle.Create(path, bundle.Meta{Source: "mlflow"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Export(ctx, w, mlflowsource.Options{All: true, Parallel: 8}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		checkShapes(t, path, runs)
		rep, err := importBundle(t, dst, path, false)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	start = time.Now()
	rep := migrate()
	t.Logf("migrated in %s", time.Since(start).Round(time.Second))
	if rep.Conflicts() != 0 || rep.Counts[bundle.KindRun][sqlstore.ImportNew] != runs || rep.Counts[bundle.KindModelVersion][sqlstore.ImportNew] != 2 {
		t.Fatalf("first migration: %+v %+v", rep.Counts, rep.Notes)
	}
	start = time.Now()
	c := mlflowtest.Compare(t, ctx, src.URL, dst.URL, false)
	t.Logf("compared in %s", time.Since(start).Round(time.Second))
	if c.Runs != runs || c.Models != 2 || len(c.Diffs) > 0 {
		t.Fatalf("stock client sees %d differences over %d runs and %d models: %+v", len(c.Diffs), c.Runs, c.Models, c.Diffs)
	}
	before := head(t, dst)
	rep = migrate()
	if rep.Conflicts() != 0 || rep.Counts[bundle.KindRun][sqlstore.ImportPresent] != runs || head(t, dst) != before {
		t.Fatalf("second migration changed something: %+v %+v", rep.Counts, rep.Notes)
	}
}

// checkShapes makes sure the source had what the issue asks a migration to
// carry: runs with 150 params, 10,000-point histories, nested and deleted
// runs.
func checkShapes(t *testing.T, path string, runs int) {
	t.Helper()
	r, err := bundle.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var n, manyParams, longHistory, nested, deleted int
	err = r.Walk(t.Context(), func(it bundle.Item, body io.Reader) error {
		if it.Kind != bundle.KindRun {
			return nil
		}
		var run bundle.Run
		if err := bundle.Decode(body, &run); err != nil {
			return err
		}
		n++
		if len(run.Params) >= 150 {
			manyParams++
		}
		loss := 0
		for _, m := range run.Metrics {
			if m.Key == "loss" {
				loss++
			}
		}
		if loss >= 10000 {
			longHistory++
		}
		for _, tg := range run.Tags {
			if tg.Key == "mlflow.parentRunId" {
				nested++
			}
		}
		if run.LifecycleStage == "deleted" {
			deleted++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != runs || manyParams < 3 || longHistory < 3 || nested < 3 || deleted < 1 {
		t.Fatalf("source shapes: %d runs, %d with 150 params, %d with 10,000-point histories, %d nested, %d deleted",
			n, manyParams, longHistory, nested, deleted)
	}
}

// buildTandem builds the tandem binary once per test run.
func buildTandem(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(t.TempDir(), "tandem")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/tandem")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build tandem: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs `tandem server` on the given data and waits until it
// answers.
func startServer(t *testing.T, bin, dir, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "server", "--listen", addr,
		"--metadata", "sqlite://"+filepath.Join(dir, "tandem.db"), "--artifacts", "file://"+filepath.Join(dir, "artifacts"), "--no-auth")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 200; i++ {
		if resp, err := http.Get("http://" + addr + "/health"); err == nil {
			resp.Body.Close()
			return cmd
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("tandem server did not start:\n%s", logs.String())
	return nil
}

// TestInterruptedImportResumes: a real tandem server is killed (SIGKILL)
// in the middle of an import, once part of the runs are committed and
// while most are not; after a restart the same import finishes, reports
// some runs already present and the others new, nothing is duplicated, and
// the result equals the source object by object.
func TestInterruptedImportResumes(t *testing.T) {
	const runs = 200
	ctx := t.Context()
	src := newWorkspace(t, storetest.SQLiteURL(t))
	mlflowtest.PopulateWith(t, ctx, src.URL, mlflowtest.Shape{Runs: runs, Points: 2000, Threads: 4, TrackingOnly: true})
	path := filepath.Join(t.TempDir(), "ws.tar")
	exportAll(t, src, path)
	bin := buildTandem(t)
	dir := t.TempDir()
	addr := freePort(t)
	srv := startServer(t, bin, dir, addr)

	// Watch the target through its API: the kill lands once a tenth of the
	// runs are committed, far from the end. Progress lines alone cannot
	// place it: the server runs ahead of what this client has read.
	expIDs, err := sqlstore.TransferExperimentIDs(ctx, src.Store.Reader())
	if err != nil {
		t.Fatal(err)
	}
	committed := func() (int, error) {
		q, _ := json.Marshal(map[string]any{"experiment_ids": expIDs, "run_view_type": "ALL", "max_results": 1000})
		resp, err := http.Post("http://"+addr+"/api/2.0/mlflow/runs/search", "application/json", bytes.NewReader(q))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var out struct {
			Runs []json.RawMessage `json:"runs"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		return len(out.Runs), err
	}
	body, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+addr+transfer.ImportPath, "application/x-tar", body)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan transfer.Event, 1024)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var ev transfer.Event
			json.Unmarshal(sc.Bytes(), &ev)
			events <- ev
		}
	}()
	killedAt := -1
	deadline := time.Now().Add(2 * time.Minute)
	for killedAt < 0 && time.Now().Before(deadline) {
		n, err := committed()
		if err == nil && n >= runs/10 {
			srv.Process.Kill() // SIGKILL: no cleanup of any kind
			srv.Wait()
			killedAt = n
			break
		}
		select {
		case ev, ok := <-events:
			if !ok || ev.Event == "report" || ev.Event == "error" {
				deadline = time.Now() // finished (or failed) before the kill
			}
		case <-time.After(time.Millisecond):
		}
	}
	resp.Body.Close()
	body.Close()
	if killedAt < 0 {
		t.Fatal("the import finished before it could be interrupted: make the bundle bigger")
	}
	t.Logf("killed the server with %d of %d runs committed", killedAt, runs)

	startServer(t, bin, dir, addr)
	body, _ = os.Open(path)
	defer body.Close()
	resp, err = http.Post("http://"+addr+transfer.ImportPath, "application/x-tar", body)
	if err != nil {
		t.Fatal(err)
	}
	var rep *transfer.Report
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev transfer.Event
		json.Unmarshal(sc.Bytes(), &ev)
		if ev.Event == "error" {
			t.Fatalf("second import: %s", ev.Message)
		}
		if ev.Event == "report" {
			rep = ev.Report
		}
	}
	resp.Body.Close()
	if rep == nil || rep.Conflicts() != 0 {
		t.Fatalf("second import: %+v", rep)
	}
	got := rep.Counts[bundle.KindRun]
	if got[sqlstore.ImportPresent]+got[sqlstore.ImportNew] != runs || got[sqlstore.ImportPresent] < killedAt || got[sqlstore.ImportNew] == 0 {
		t.Fatalf("resume after %d runs: %+v", killedAt, rep.Counts)
	}
	t.Logf("resumed: %v", rep.Counts)
	// Compare with the source, object by object, reading the server's data
	// directly (SQLite in WAL mode allows it while the server runs).
	dst := openOffline(t, dir)
	if n := sameWorkspaces(t, src, dst); n != runs {
		t.Fatalf("compared %d runs", n)
	}
	var points [2]int
	for i, w := range []*workspace{src, dst} {
		w.Store.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM metrics`).Scan(&points[i])
	}
	if points[0] != points[1] || points[0] == 0 {
		t.Fatalf("metric rows: source %d, imported %d", points[0], points[1])
	}
}

// openOffline opens a region's data directly, without HTTP.
func openOffline(t *testing.T, dir string) *workspace {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(dir, "tandem.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	bs, err := blobstore.Open(context.Background(), "file://"+filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bs.Close() })
	return &workspace{Region: &region.Region{Store: st, Blobs: bs}, URL: fmt.Sprint("offline:", dir)}
}

package transfer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/bundle"
	"github.com/tandemml/tandem/mlflowsource"
	"github.com/tandemml/tandem/mlflowsource/mlflowtest"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/transfer"
)

// TestMigrateFromStockMLflow: a stock mlflow server populated by the stock
// client (runs with 150 params, long metric histories, NaN values, nested
// and deleted runs, a dataset input, artifacts, a logged model, registered
// models with versions, a stage, aliases and tags) is read through its
// REST API and imported; then the stock client asks both servers the same
// questions and gets the same answers. Importing again changes nothing.
func TestMigrateFromStockMLflow(t *testing.T) {
	ctx := t.Context()
	src := mlflowtest.Start(t)
	src.Populate(t, ctx, 16, 1000, false)
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
		if _, err := c.Export(ctx, w, mlflowsource.Options{All: true, Parallel: 4}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		rep, err := importBundle(t, dst, path, false)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	rep := migrate()
	if rep.Conflicts() != 0 || rep.Counts[bundle.KindRun][sqlstore.ImportNew] != 16 || rep.Counts[bundle.KindModelVersion][sqlstore.ImportNew] != 2 {
		t.Fatalf("first migration: %+v %+v", rep.Counts, rep.Notes)
	}
	c := mlflowtest.Compare(t, ctx, src.URL, dst.URL, false)
	if c.Runs != 16 || c.Models != 2 || len(c.Diffs) > 0 {
		t.Fatalf("stock client sees %d differences over %d runs and %d models: %+v", len(c.Diffs), c.Runs, c.Models, c.Diffs)
	}
	before := head(t, dst)
	rep = migrate()
	if rep.Conflicts() != 0 || rep.Counts[bundle.KindRun][sqlstore.ImportPresent] != 16 || head(t, dst) != before {
		t.Fatalf("second migration changed something: %+v %+v", rep.Counts, rep.Notes)
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
		"--metadata", "sqlite://"+filepath.Join(dir, "tandem.db"), "--artifacts", "file://"+filepath.Join(dir, "artifacts"))
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
// in the middle of an import; after a restart the same import finishes,
// nothing is duplicated, and the result equals the source object by object.
func TestInterruptedImportResumes(t *testing.T) {
	ctx := t.Context()
	src := newWorkspace(t, storetest.SQLiteURL(t))
	mlflowtest.Populate(t, ctx, src.URL, 150, 2000, true)
	path := filepath.Join(t.TempDir(), "ws.tar")
	exportAll(t, src, path)
	bin := buildTandem(t)
	dir := t.TempDir()
	addr := freePort(t)
	srv := startServer(t, bin, dir, addr)

	body, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+addr+transfer.ImportPath, "application/x-tar", body)
	if err != nil {
		t.Fatal(err)
	}
	killedAt := -1
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev transfer.Event
		json.Unmarshal(sc.Bytes(), &ev)
		// Kill at the first sign of importing: the server runs ahead of the
		// progress lines this client has read, so waiting longer risks a kill
		// after the last commit.
		if ev.Event == "progress" && ev.Progress.Phase == "import" && ev.Progress.Done < ev.Progress.Total {
			srv.Process.Kill() // SIGKILL: no cleanup of any kind
			srv.Wait()
			killedAt = ev.Progress.Done
			break
		}
		if ev.Event == "report" || ev.Event == "error" {
			break
		}
	}
	resp.Body.Close()
	body.Close()
	if killedAt < 0 {
		t.Fatal("the import finished before it could be interrupted: make the bundle bigger")
	}
	t.Logf("killed the server after %d objects", killedAt)

	startServer(t, bin, dir, addr)
	body, _ = os.Open(path)
	defer body.Close()
	resp, err = http.Post("http://"+addr+transfer.ImportPath, "application/x-tar", body)
	if err != nil {
		t.Fatal(err)
	}
	var rep *transfer.Report
	sc = bufio.NewScanner(resp.Body)
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
	runs := rep.Counts[bundle.KindRun]
	if runs[sqlstore.ImportPresent]+runs[sqlstore.ImportNew] != 150 {
		t.Fatalf("resume: %+v", rep.Counts)
	}
	if runs[sqlstore.ImportNew] == 0 {
		// The kill landed after the last commit (a loaded machine); the
		// comparison below still proves nothing was duplicated.
		t.Logf("every run was already present on resume")
	}
	t.Logf("resumed: %v", rep.Counts)
	// Compare with the source, object by object, reading the server's data
	// directly (SQLite in WAL mode allows it while the server runs).
	dst := openOffline(t, dir)
	if n := sameWorkspaces(t, src, dst); n != 150 {
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

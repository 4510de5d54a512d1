package transfer_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/transfer"
	"github.com/tandemml/tandem/transfer/bundle"
	"github.com/tandemml/tandem/transfer/mlflowsource/mlflowtest"
)

// workspace is an in-process region served over loopback HTTP.
type workspace struct {
	*region.Region
	URL string
}

func newWorkspace(t *testing.T, metadataURL string) *workspace {
	t.Helper()
	r, err := region.Open(t.Context(), region.Config{Name: "test", MetadataURL: metadataURL, ArtifactsURL: storetest.FileURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	var n int
	if err := r.Store.Reader().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM experiments`).Scan(&n); err != nil {
		t.Skipf("the tracking tables are not in this build yet: %v", err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	return &workspace{Region: r, URL: srv.URL}
}

func (w *workspace) exporter() *transfer.Exporter {
	return &transfer.Exporter{Store: w.Store, Blobs: w.Blobs, Workspace: "ws", Region: "test"}
}

func (w *workspace) importer() *transfer.Importer {
	return &transfer.Importer{Store: w.Store, Blobs: w.Blobs}
}

func exportAll(t *testing.T, w *workspace, path string) transfer.ExportStats {
	t.Helper()
	ex := w.exporter()
	meta, err := ex.Meta(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	bw, err := bundle.Create(path, meta)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ex.Export(t.Context(), bw, transfer.Selection{All: true}, nil)
	if err != nil {
		bw.Abort()
		t.Fatal(err)
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	return st
}

func importBundle(t *testing.T, w *workspace, path string, dry bool) (*transfer.Report, error) {
	t.Helper()
	r, err := bundle.Open(path)
	if err != nil {
		return nil, err
	}
	return w.importer().Import(t.Context(), r, transfer.ImportOptions{DryRun: dry})
}

func head(t *testing.T, w *workspace) tandem.Position {
	p, err := w.Store.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sameWorkspaces compares every experiment and run of a and b object by
// object, through the store's whole-object reads.
func sameWorkspaces(t *testing.T, a, b *workspace) int {
	t.Helper()
	ctx := t.Context()
	ids, err := sqlstore.TransferExperimentIDs(ctx, a.Store.Reader())
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	for _, id := range ids {
		x, _, err := sqlstore.TransferExperiment(ctx, a.Store.Reader(), id)
		if err != nil {
			t.Fatal(err)
		}
		y, ok, err := sqlstore.TransferExperiment(ctx, b.Store.Reader(), id)
		if err != nil || !ok {
			t.Fatalf("experiment %s missing after import: %v", id, err)
		}
		if id != "0" && (x.Name != y.Name || x.CreationTime != y.CreationTime || x.LastUpdateTime != y.LastUpdateTime ||
			x.LifecycleStage != y.LifecycleStage || len(x.Tags) != len(y.Tags)) {
			t.Fatalf("experiment %s differs:\n%+v\n%+v", id, x, y)
		}
		rids, _ := sqlstore.TransferRunIDs(ctx, a.Store.Reader(), id)
		for _, rid := range rids {
			ra, _, _ := sqlstore.TransferRun(ctx, a.Store.Reader(), rid)
			rb, ok, err := sqlstore.TransferRun(ctx, b.Store.Reader(), rid)
			if err != nil || !ok {
				t.Fatalf("run %s missing after import: %v", rid, err)
			}
			if d := sqlstore.DiffRun(ra, rb); d != "" {
				t.Fatalf("run %s differs: %s", rid, d)
			}
			for _, f := range rb.Artifacts {
				rd, err := b.Blobs.Open(ctx, sqlstore.RunArtifactPrefix(rb.ExperimentID, rid)+f.Path)
				if err != nil {
					t.Fatalf("artifact bytes %s missing: %v", f.Path, err)
				}
				n, _ := io.Copy(io.Discard, rd)
				rd.Close()
				if n != f.Size {
					t.Fatalf("artifact %s: %d bytes, want %d", f.Path, n, f.Size)
				}
			}
			runs++
		}
		lms, _ := sqlstore.TransferLoggedModelIDs(ctx, a.Store.Reader(), id)
		for _, lid := range lms {
			la, _, _ := sqlstore.TransferLoggedModel(ctx, a.Store.Reader(), lid)
			lb, ok, err := sqlstore.TransferLoggedModel(ctx, b.Store.Reader(), lid)
			if err != nil || !ok {
				t.Fatalf("logged model %s missing after import: %v", lid, err)
			}
			if d := sqlstore.DiffLoggedModel(la, lb); d != "" {
				t.Fatalf("logged model %s differs: %s", lid, d)
			}
		}
	}
	names, _ := sqlstore.TransferRegisteredModelNames(ctx, a.Store.Reader())
	for _, name := range names {
		ma, va, _, _ := sqlstore.TransferRegisteredModel(ctx, a.Store.Reader(), name)
		mb, vb, ok, err := sqlstore.TransferRegisteredModel(ctx, b.Store.Reader(), name)
		if err != nil || !ok {
			t.Fatalf("registered model %s missing after import: %v", name, err)
		}
		if !reflect.DeepEqual(ma, mb) || !reflect.DeepEqual(va, vb) {
			t.Fatalf("registered model %s differs:\n%+v %+v\n%+v %+v", name, ma, va, mb, vb)
		}
	}
	return runs
}

// TestRoundTrip: a workspace populated by the stock mlflow client (and with
// assets of every kind) is exported, imported into an empty workspace (SQLite and PostgreSQL), and
// the two are identical object by object and to the stock client. A second
// import changes nothing; a dry run changes nothing; a tampered bundle
// imports nothing.
func TestRoundTrip(t *testing.T) {
	ctx := t.Context()
	src := newWorkspace(t, storetest.SQLiteURL(t))
	mlflowtest.Populate(t, ctx, src.URL, 12, 120, false)
	assetFiles := populateAssets(t, src)
	dir := t.TempDir()
	path := filepath.Join(dir, "ws.tgz")
	st := exportAll(t, src, path)
	if st.Runs != 12 || st.Blobs != 6+assetFiles || st.Assets != 7 || st.Models != 2 || st.Versions != 3 || st.LoggedModels != 1 {
		t.Fatalf("export stats %+v", st)
	}
	for _, be := range storetest.MetadataURLs(t) {
		t.Run(be.Name, func(t *testing.T) {
			dst := newWorkspace(t, be.URL)
			// A dry run plans without writing.
			before := head(t, dst)
			rep, err := importBundle(t, dst, path, true)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Counts[bundle.KindRun][sqlstore.ImportNew] != 12 || head(t, dst) != before {
				t.Fatalf("dry run: %+v, head %v -> %v", rep.Counts, before, head(t, dst))
			}
			rep, err = importBundle(t, dst, path, false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Counts[bundle.KindRun][sqlstore.ImportNew] != 12 || rep.Conflicts() != 0 || rep.Blobs != 6+assetFiles ||
				rep.Counts[bundle.KindAsset][sqlstore.ImportNew] != 7 ||
				rep.Counts[bundle.KindRegisteredModel][sqlstore.ImportNew] != 2 || rep.Counts[bundle.KindModelVersion][sqlstore.ImportNew] != 3 ||
				rep.Counts[bundle.KindLoggedModel][sqlstore.ImportNew] != 1 {
				t.Fatalf("import: %+v notes %+v", rep.Counts, rep.Notes)
			}
			if n := sameWorkspaces(t, src, dst); n != 12 {
				t.Fatalf("compared %d runs", n)
			}
			if n := sameAssets(t, src, dst); n != 7 {
				t.Fatalf("compared %d assets", n)
			}
			// Importing again changes nothing and says so.
			before = head(t, dst)
			rep, err = importBundle(t, dst, path, false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Counts[bundle.KindRun][sqlstore.ImportPresent] != 12 || rep.Counts[bundle.KindExperiment][sqlstore.ImportPresent] != 3 ||
				rep.Counts[bundle.KindRegisteredModel][sqlstore.ImportPresent] != 2 || rep.Counts[bundle.KindLoggedModel][sqlstore.ImportPresent] != 1 ||
				rep.Counts[bundle.KindAsset][sqlstore.ImportPresent] != 7 || head(t, dst) != before {
				t.Fatalf("second import: %+v, head %v -> %v", rep.Counts, before, head(t, dst))
			}
			if be.Name == "sqlite" {
				c := mlflowtest.Compare(t, ctx, src.URL, dst.URL, false)
				if len(c.Diffs) > 0 || c.Runs != 12 || c.Models != 2 {
					t.Fatalf("stock client sees differences (%d runs, %d models): %+v", c.Runs, c.Models, c.Diffs)
				}
			}
		})
	}
	// A tampered copy is refused and imports nothing.
	good, _ := os.ReadFile(path)
	bad := filepath.Join(dir, "bad.tgz")
	os.WriteFile(bad, good[:len(good)*2/3], 0o644)
	empty := newWorkspace(t, storetest.SQLiteURL(t))
	before := head(t, empty)
	if _, err := importBundle(t, empty, bad, false); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("truncated bundle: %v", err)
	}
	if head(t, empty) != before {
		t.Fatal("a truncated bundle changed the workspace")
	}
}

func post(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
}

// TestImportConflictsAndMapping: an experiment id taken by another
// experiment is mapped (and said so); a run changed in the target is a
// conflict that changes nothing.
func TestImportConflictsAndMapping(t *testing.T) {
	ctx := t.Context()
	src := newWorkspace(t, storetest.SQLiteURL(t))
	sum := mlflowtest.Populate(t, ctx, src.URL, 4, 10, true)
	path := filepath.Join(t.TempDir(), "b")
	exportAll(t, src, path)

	dst := newWorkspace(t, storetest.SQLiteURL(t))
	post(t, dst.URL+"/api/2.0/mlflow/experiments/create", `{"name":"someone-else"}`) // takes id 1
	rep, err := importBundle(t, dst, path, false)
	if err != nil {
		t.Fatal(err)
	}
	var mapped bool
	for _, n := range rep.Notes {
		if n.Kind == bundle.KindExperiment && n.ID == sum.Experiments[0] && n.TargetID != "" && n.TargetID != sum.Experiments[0] {
			mapped = true
		}
	}
	if !mapped || rep.Counts[bundle.KindRun][sqlstore.ImportNew] != 4 {
		t.Fatalf("mapping not reported: %+v %+v", rep.Counts, rep.Notes)
	}
	// Runs of the mapped experiment landed in its new id, with their artifacts.
	r0, ok, err := sqlstore.TransferRun(ctx, dst.Store.Reader(), sum.Runs[0])
	if err != nil || !ok || r0.ExperimentID == sum.Experiments[0] || len(r0.Artifacts) != 2 {
		t.Fatalf("run 0 after mapping: %+v %v", r0, err)
	}
	// Change a run here: importing again reports the conflict, changes nothing.
	post(t, dst.URL+"/api/2.0/mlflow/runs/set-tag", `{"run_id":"`+sum.Runs[1]+`","key":"edited","value":"yes"}`)
	before := head(t, dst)
	rep, err = importBundle(t, dst, path, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts[bundle.KindRun][sqlstore.ImportConflict] != 1 || rep.Counts[bundle.KindRun][sqlstore.ImportPresent] != 3 || head(t, dst) != before {
		t.Fatalf("conflict: %+v %+v", rep.Counts, rep.Notes)
	}
}

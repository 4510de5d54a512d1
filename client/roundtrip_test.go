package client_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
	"github.com/tandemml/tandem/storetest"
)

const secretValue = "TOPSECRET-d4t4st0re-credential-value"

func loadFile(t *testing.T, path string, k tandem.AssetKind) *tandem.Asset {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := assetyaml.Load(path, b, k)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The project folder's assets in dependency order.
var project = []struct {
	file string
	kind tandem.AssetKind
}{
	{"datastore.yaml", tandem.AssetDatastore},
	{"environment.yaml", tandem.AssetEnvironment},
	{"data.yaml", tandem.AssetData},
	{"data-shared.yaml", tandem.AssetData},
	{"component.yaml", tandem.AssetComponent},
	{"pipeline.yaml", tandem.AssetPipeline},
	{"model.yaml", tandem.AssetModel},
}

// TestRoundTripBetweenWorkspaces: every asset kind is created from YAML in
// workspace A, downloaded, created in workspace B from the download and
// downloaded again: the canonical YAML and the file digests are identical.
// Along the way no response, log line or downloaded file holds the
// datastore's secret, and the metadata database holds it only encrypted.
func TestRoundTripBetweenWorkspaces(t *testing.T) {
	ctx := t.Context()
	metaA := storetest.SQLiteURL(t)
	if pg := storetest.PostgresURL(t); pg != "" {
		metaA = pg // A on PostgreSQL when available, B on SQLite
	}
	wa, wb := startWorkspace(t, metaA, storetest.S3URL(t)), startWorkspace(t, "", "")
	ca, cb := newClient(t, wa.URL), newClient(t, wb.URL)
	src := filepath.Join("testdata", "project")
	out := t.TempDir()
	for _, p := range project {
		a := loadFile(t, filepath.Join(src, p.file), p.kind)
		created, err := ca.CreateAsset(ctx, a, src)
		if err != nil {
			t.Fatalf("create %s in A: %v", p.file, err)
		}
		if ds, ok := created.Spec.(*tandem.Datastore); ok && (!ds.HasCredentials || ds.Credentials != nil) {
			t.Fatalf("datastore create response: %+v", ds)
		}
		if p.kind.Versioned() && created.Version == "" {
			t.Fatalf("%s: no version", p.file)
		}
		dirA := filepath.Join(out, "A", p.file)
		yA, gotA, err := ca.Download(ctx, p.kind, created.Name, created.Version, dirA)
		if err != nil {
			t.Fatalf("download %s from A: %v", p.file, err)
		}
		b := loadFile(t, yA, p.kind)
		if p.kind == tandem.AssetDatastore {
			// Credentials are write-only: B gets its own copy of the secret.
			b.Spec.(*tandem.Datastore).Credentials = a.Spec.(*tandem.Datastore).Credentials
		}
		if _, err := cb.CreateAsset(ctx, b, dirA); err != nil {
			t.Fatalf("create %s in B from A's download: %v", p.file, err)
		}
		dirB := filepath.Join(out, "B", p.file)
		yB, gotB, err := cb.Download(ctx, p.kind, created.Name, created.Version, dirB)
		if err != nil {
			t.Fatalf("download %s from B: %v", p.file, err)
		}
		ya, _ := os.ReadFile(yA)
		yb, _ := os.ReadFile(yB)
		if !bytes.Equal(ya, yb) {
			t.Fatalf("%s: canonical YAML differs:\nA:\n%s\nB:\n%s", p.file, ya, yb)
		}
		if !sameFiles(gotA.Files, gotB.Files) {
			t.Fatalf("%s: files differ:\nA %+v\nB %+v", p.file, gotA.Files, gotB.Files)
		}
		if len(a.Spec.LocalPaths()) > 0 && len(gotA.Files) == 0 {
			t.Fatalf("%s: local paths but no files stored", p.file)
		}
		// The files are readable with ordinary tools at the documented path.
		for _, f := range gotA.Files {
			ref, err := wa.Blobs.Digest(ctx, gotA.StoragePrefix()+f.Path)
			if err != nil || ref.SHA256 != f.SHA256 {
				t.Fatalf("%s: stored file %s: %v %+v", p.file, f.Path, err, ref)
			}
			if wa.Blobs.LocalRoot() == "" {
				continue // on S3: the Digest above read it at its path
			}
			if _, err := os.Stat(filepath.Join(wa.Blobs.LocalRoot(), "assets", p.kind.Plural(), created.Name, created.Version, filepath.FromSlash(f.Path))); err != nil {
				t.Fatalf("readable path: %v", err)
			}
		}
	}
	env, err := ca.GetAsset(ctx, tandem.AssetEnvironment, "serve-env", "latest")
	if err != nil || len(env.Files) != 3 {
		t.Fatalf("environment files = %+v, %v", env, err)
	}
	// The journal entry that created it names its blobs, so replication
	// ships the bytes before applying the entry.
	es, _ := wa.Store.ReadJournal(ctx, 0, 1000)
	var blobs []tandem.BlobRef
	for _, e := range es {
		if e.Op == "asset.create.environment" {
			blobs = e.Blobs
			if e.Kind != tandem.KindEnvironments {
				t.Fatalf("environment entry kind = %s", e.Kind)
			}
		}
	}
	if len(blobs) != 3 || blobs[0].Path != "assets/environments/serve-env/1/conda.yaml" || blobs[0].SHA256 != env.Files[0].SHA256 || blobs[0].Size != env.Files[0].Size {
		t.Fatalf("journal blobs = %+v", blobs)
	}
	u, err := ca.ResolveDatastorePath(ctx, "tandem://datastores/shared_s3/paths/datasets/iris/")
	if err != nil || u != "s3://training-data/team-a/datasets/iris" {
		t.Fatalf("resolve = %q, %v", u, err)
	}
	ds, err := cb.GetAsset(ctx, tandem.AssetDatastore, "shared_s3", "")
	if err != nil || !ds.Spec.(*tandem.Datastore).HasCredentials {
		t.Fatalf("datastore in B = %+v %v", ds, err)
	}

	// The secret: not in any response or log line of either workspace, not
	// in any downloaded file, not in clear in the metadata databases or the
	// journal.
	for name, w := range map[string]*workspace{"A": wa, "B": wb} {
		if strings.Contains(w.recorded(), secretValue) || strings.Contains(w.recorded(), "AKIATANDEMTESTKEY") {
			t.Fatalf("workspace %s: secret in a response or log line", name)
		}
		es, _ := w.Store.ReadJournal(ctx, 0, 10000)
		for _, e := range es {
			if bytes.Contains(e.Payload, []byte(secretValue)) {
				t.Fatalf("workspace %s: secret in clear in journal entry %s", name, e.Op)
			}
		}
		var n int
		w.Store.Reader().QueryRowContext(ctx, `SELECT COUNT(*) FROM assets WHERE spec LIKE ? OR secret LIKE ?`, "%"+secretValue+"%", "%"+secretValue+"%").Scan(&n)
		if n != 0 {
			t.Fatalf("workspace %s: secret in clear in the assets table", name)
		}
	}
	filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secretValue)) {
				t.Fatalf("secret in downloaded file %s", p)
			}
		}
		return nil
	})
}

func sameFiles(a, b []tandem.AssetFile) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestImmutableVersionsAndErrors: a second create of the same version is
// EEXISTS and changes nothing; references to missing assets are EINVALID;
// archive hides a version from latest; restore brings it back.
func TestImmutableVersionsAndErrors(t *testing.T) {
	ctx := t.Context()
	w := startWorkspace(t, "", "")
	c := newClient(t, w.URL)
	src := filepath.Join("testdata", "project")
	comp := loadFile(t, filepath.Join(src, "component.yaml"), tandem.AssetComponent)
	if _, err := c.CreateAsset(ctx, comp, src); tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), "serve-env") {
		t.Fatalf("component before its environment: %v", err)
	}
	env := loadFile(t, filepath.Join(src, "environment.yaml"), tandem.AssetEnvironment)
	if _, err := c.CreateAsset(ctx, env, src); err != nil {
		t.Fatal(err)
	}
	head, _ := w.Store.Head(ctx)
	env.Version = "1"
	if _, err := c.CreateAsset(ctx, env, src); tandem.ErrorCode(err) != tandem.EEXISTS {
		t.Fatalf("second create of version 1: %v", err)
	}
	if h, _ := w.Store.Head(ctx); h != head {
		t.Fatal("a refused create changed the journal")
	}
	env.Version = ""
	if v2, err := c.CreateAsset(ctx, env, src); err != nil || v2.Version != "2" {
		t.Fatalf("auto version: %+v %v", v2, err)
	}
	if err := c.ArchiveAsset(ctx, tandem.AssetEnvironment, "serve-env", "2", true); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.GetAsset(ctx, tandem.AssetEnvironment, "serve-env", "latest"); l.Version != "1" {
		t.Fatalf("latest after archive = %s", l.Version)
	}
	if err := c.ArchiveAsset(ctx, tandem.AssetEnvironment, "serve-env", "2", false); err != nil {
		t.Fatal(err)
	}
	if l, _ := c.GetAsset(ctx, tandem.AssetEnvironment, "serve-env", ""); l.Version != "2" {
		t.Fatalf("latest after restore = %s", l.Version)
	}
	if _, err := c.GetAsset(ctx, tandem.AssetData, "nope", "1"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("missing data: %v", err)
	}
}

// TestFailsOverToNextEndpoint: the first endpoint refuses connections; the
// client uses the next one and sticks to it.
func TestFailsOverToNextEndpoint(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	w := startWorkspace(t, "", "")
	c := newClient(t, dead, w.URL)
	if _, err := c.ListAssets(t.Context(), tandem.AssetEnvironment, "", false); err != nil {
		t.Fatalf("list through the second endpoint: %v", err)
	}
	c2 := newClient(t, dead)
	if _, err := c2.ListAssets(t.Context(), tandem.AssetEnvironment, "", false); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("no endpoint reachable: %v; want EUNAVAILABLE", err)
	}
}

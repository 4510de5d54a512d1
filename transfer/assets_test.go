package transfer_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/transfer"
	"github.com/tandemml/tandem/transfer/bundle"
)

// storedSecret stands for a datastore's encrypted credentials as the
// assets table holds them; no bundle may contain it.
const storedSecret = "c2VhbGVkLWNyZWRlbnRpYWxzLXNlbnRpbmVsLTc3NDE="

// createAsset stores files (path -> bytes) under the asset's storage
// prefix and records the asset, as the asset API does.
func createAsset(t *testing.T, w *workspace, a *tandem.Asset, secret string, files map[string]string) *tandem.Asset {
	t.Helper()
	ctx := t.Context()
	var refs []tandem.BlobRef
	for _, p := range tandem.SortedKeys(files) {
		sum := sha256.Sum256([]byte(files[p]))
		a.Files = append(a.Files, tandem.AssetFile{Path: p, Size: int64(len(files[p])), SHA256: hex.EncodeToString(sum[:])})
	}
	if a.Version == "" && a.Kind.Versioned() {
		t.Fatal("test assets name their version")
	}
	for _, f := range a.Files {
		ref, err := w.Blobs.Put(ctx, a.StoragePrefix()+f.Path, bytes.NewReader([]byte(files[f.Path])), f.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	out, err := w.Store.CreateAsset(ctx, a, secret, refs)
	if err != nil {
		t.Fatalf("create %s %s: %v", a.Kind, a.Name, err)
	}
	return out
}

// populateAssets gives w one asset of every kind: an environment in two
// versions (the first archived, with tags and a description), a datastore
// with stored credentials, a data asset on it, a data asset with files, a
// component and a pipeline. It returns the number of asset files.
func populateAssets(t *testing.T, w *workspace) int {
	t.Helper()
	ctx := t.Context()
	createAsset(t, w, &tandem.Asset{Kind: tandem.AssetEnvironment, Name: "train-env", Version: "1", Description: "first",
		Tags: map[string]string{"team": "ml"}, Spec: &tandem.Environment{Image: "python:3.11", CondaFile: "conda.yaml"}}, "",
		map[string]string{"conda.yaml": "dependencies:\n  - numpy\n"})
	createAsset(t, w, &tandem.Asset{Kind: tandem.AssetEnvironment, Name: "train-env", Version: "2",
		Spec: &tandem.Environment{Image: "python:3.12", CondaFile: "conda.yaml"}}, "",
		map[string]string{"conda.yaml": "dependencies:\n  - numpy\n  - pandas\n"})
	if err := w.Store.ArchiveAsset(ctx, tandem.AssetEnvironment, "train-env", "1", true); err != nil {
		t.Fatal(err)
	}
	createAsset(t, w, &tandem.Asset{Kind: tandem.AssetDatastore, Name: "lake", Description: "the lake",
		Spec: &tandem.Datastore{Type: "s3", Bucket: "lake-bucket", Region: "us-east-1"}}, storedSecret, nil)
	createAsset(t, w, &tandem.Asset{Kind: tandem.AssetData, Name: "raw", Version: "3",
		Spec: &tandem.Data{Type: tandem.DataURIFolder, Path: "tandem://datastores/lake/paths/raw/"}}, "", nil)
	createAsset(t, w, &tandem.Asset{Kind: tandem.AssetData, Name: "labels", Version: "1",
		Spec: &tandem.Data{Type: tandem.DataURIFolder, Path: "labels"}}, "",
		map[string]string{"labels/a.csv": "id,label\n1,cat\n", "labels/b.csv": "id,label\n2,dog\n"})
	createAsset(t, w, &tandem.Asset{Kind: tandem.AssetComponent, Name: "trainer", Version: "1",
		Spec: &tandem.Component{Type: "command", Environment: "azureml:train-env:2", Command: "python train.py", Code: "src"}}, "",
		map[string]string{"src/train.py": "print('train')\n"})
	createAsset(t, w, &tandem.Asset{Kind: tandem.AssetPipeline, Name: "nightly", Version: "1",
		Spec: &tandem.Pipeline{Type: "pipeline", Jobs: map[string]*tandem.PipelineStep{"train": {Type: "command", Component: "azureml:trainer:1"}}}}, "", nil)
	return 5
}

// sameAssets compares every asset of a with b: definition, description,
// tags, archived state, times and file bytes (byte-identical).
func sameAssets(t *testing.T, a, b *workspace) int {
	t.Helper()
	ctx := t.Context()
	ids, err := sqlstore.TransferAssetIDs(ctx, a.Store.Reader())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		var kind, name, version string
		kind, rest, _ := cut(id)
		name, version, _ = cut(rest)
		x, err := a.Store.GetAsset(ctx, tandem.AssetKind(kind), name, version)
		if err != nil {
			t.Fatal(err)
		}
		y, err := b.Store.GetAsset(ctx, tandem.AssetKind(kind), name, version)
		if err != nil {
			t.Fatalf("asset %s missing after import: %v", id, err)
		}
		if ds, ok := x.Spec.(*tandem.Datastore); ok {
			ds.HasCredentials = false // credentials never travel
		}
		if !reflect.DeepEqual(x, y) {
			t.Fatalf("asset %s differs:\n%+v %+v\n%+v %+v", id, x, x.Spec, y, y.Spec)
		}
		for _, f := range x.Files {
			want := readBlob(t, a, x.StoragePrefix()+f.Path)
			if got := readBlob(t, b, y.StoragePrefix()+f.Path); !bytes.Equal(got, want) {
				t.Fatalf("asset %s file %s: bytes differ", id, f.Path)
			}
		}
	}
	return len(ids)
}

func cut(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func readBlob(t *testing.T, w *workspace, key string) []byte {
	t.Helper()
	rd, err := w.Blobs.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("blob %s: %v", key, err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// grepTree reports whether any file under dir contains s.
func grepTree(t *testing.T, dir, s string) bool {
	t.Helper()
	found := false
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			t.Logf("%s contains %q", p, s)
			found = true
		}
		return nil
	})
	return found
}

// TestAssetRoundTrip: assets of every kind are exported with --all,
// imported into an empty workspace (SQLite and PostgreSQL) keeping
// versions, description, tags, archived state and byte-identical files;
// the datastore arrives without credentials; a second import reports
// everything already present and changes nothing; a datastore that exists
// with credentials keeps them; a changed version is a conflict.
func TestAssetRoundTrip(t *testing.T) {
	ctx := t.Context()
	src := newWorkspace(t, storetest.SQLiteURL(t))
	files := populateAssets(t, src)
	path := filepath.Join(t.TempDir(), "assets")
	st := exportAll(t, src, path)
	if st.Assets != 7 || st.Blobs != files {
		t.Fatalf("export stats %+v", st)
	}
	for _, be := range storetest.MetadataURLs(t) {
		t.Run(be.Name, func(t *testing.T) {
			dst := newWorkspace(t, be.URL)
			rep, err := importBundle(t, dst, path, false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Counts[bundle.KindAsset][sqlstore.ImportNew] != 7 || rep.Conflicts() != 0 || rep.Blobs != files {
				t.Fatalf("import: %+v notes %+v", rep.Counts, rep.Notes)
			}
			if n := sameAssets(t, src, dst); n != 7 {
				t.Fatalf("compared %d assets", n)
			}
			if sec, err := dst.Store.AssetSecret(ctx, tandem.AssetDatastore, "lake"); err != nil || sec != "" {
				t.Fatalf("imported datastore has credentials %q (%v)", sec, err)
			}
			// "latest" follows the source: version 1 stays archived.
			if l, err := dst.Store.GetAsset(ctx, tandem.AssetEnvironment, "train-env", "latest"); err != nil || l.Version != "2" {
				t.Fatalf("latest environment: %+v %v", l, err)
			}
			before := head(t, dst)
			rep, err = importBundle(t, dst, path, false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Counts[bundle.KindAsset][sqlstore.ImportPresent] != 7 || head(t, dst) != before {
				t.Fatalf("second import: %+v, head %v -> %v", rep.Counts, before, head(t, dst))
			}
		})
	}

	// Into a workspace where the datastore exists with credentials and
	// environment version 2 differs: the datastore keeps its credentials,
	// the version is a conflict left untouched, the rest is imported.
	dst := newWorkspace(t, storetest.SQLiteURL(t))
	createAsset(t, dst, &tandem.Asset{Kind: tandem.AssetDatastore, Name: "lake", Description: "the lake",
		Spec: &tandem.Datastore{Type: "s3", Bucket: "lake-bucket", Region: "us-east-1"}}, "other-secret", nil)
	createAsset(t, dst, &tandem.Asset{Kind: tandem.AssetEnvironment, Name: "train-env", Version: "2",
		Spec: &tandem.Environment{Image: "python:3.13"}}, "", nil)
	rep, err := importBundle(t, dst, path, false)
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Counts[bundle.KindAsset]
	if c[sqlstore.ImportPresent] != 1 || c[sqlstore.ImportConflict] != 1 || c[sqlstore.ImportNew] != 5 {
		t.Fatalf("import over existing assets: %+v %+v", rep.Counts, rep.Notes)
	}
	if sec, _ := dst.Store.AssetSecret(ctx, tandem.AssetDatastore, "lake"); sec != "other-secret" {
		t.Fatalf("datastore credentials after import: %q", sec)
	}
	if e, _ := dst.Store.GetAsset(ctx, tandem.AssetEnvironment, "train-env", "2"); e.Spec.(*tandem.Environment).Image != "python:3.13" {
		t.Fatalf("conflicting version was changed: %+v", e.Spec)
	}
}

// TestAssetBundleHasNoSecret: neither a folder bundle nor an archive of a
// workspace whose datastore holds credentials contains them (nor the word
// "credentials"), whether exported whole or by asset.
func TestAssetBundleHasNoSecret(t *testing.T) {
	src := newWorkspace(t, storetest.SQLiteURL(t))
	populateAssets(t, src)
	if sec, _ := src.Store.AssetSecret(t.Context(), tandem.AssetDatastore, "lake"); sec != storedSecret {
		t.Fatalf("test setup: datastore secret %q", sec)
	}
	dir := t.TempDir()
	exportAll(t, src, filepath.Join(dir, "all"))
	exportAll(t, src, filepath.Join(dir, "all.tar"))
	ex := src.exporter()
	meta, _ := ex.Meta(t.Context())
	bw, err := bundle.Create(filepath.Join(dir, "one"), meta)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ex.Export(t.Context(), bw, transfer.Selection{Assets: []transfer.AssetRef{{Kind: tandem.AssetData, Name: "raw"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	if st.Assets != 2 { // the data asset brings its datastore
		t.Fatalf("export of one data asset: %+v", st)
	}
	if !grepTree(t, dir, "lake-bucket") {
		t.Fatal("the datastore definition is not in the bundles")
	}
	for _, s := range []string{storedSecret, "credentials", "other-secret"} {
		if grepTree(t, dir, s) {
			t.Fatalf("a bundle contains %q", s)
		}
	}
}

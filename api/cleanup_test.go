package api_test

import (
	"crypto/rand"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/api"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"gocloud.dev/secrets/localsecrets"
)

// TestFailedAssetUploadLeavesNothing: a multipart create whose second file
// is refused (wrong digest) removes the first file it already stored and
// the version's folder; SweepAssetUploads removes week-old files no
// version records (a create that died before its commit) and keeps
// recorded versions and recent leftovers.
func TestFailedAssetUploadLeavesNothing(t *testing.T) {
	ctx := t.Context()
	st, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	bl, err := blobstore.Open(ctx, storetest.FileURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer bl.Close()
	var key [32]byte
	rand.Read(key[:])
	s := api.New(api.Config{Store: st, Jobs: sqlstore.NewJobs(st), Blobs: bl, Keeper: localsecrets.NewKeeper(key)})
	hs := httptest.NewServer(s)
	defer hs.Close()
	const sumA = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb" // sha256("a")
	create := func(name, second string) int {
		var buf strings.Builder
		mw := multipart.NewWriter(&buf)
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="asset"`)
		w, _ := mw.CreatePart(h)
		w.Write([]byte(`{"asset":{"kind":"data","name":"` + name + `","spec":{"type":"uri_folder","path":"x"}},"files":[{"path":"x/a.txt","sha256":"` + sumA + `"},{"path":"x/b.txt","sha256":"` + sumA + `"}]}`))
		for _, f := range []struct{ path, content string }{{"x/a.txt", "a"}, {"x/b.txt", second}} {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", `form-data; name="file"`)
			h.Set(api.PathHeader, f.path)
			w, _ := mw.CreatePart(h)
			w.Write([]byte(f.content))
		}
		mw.Close()
		resp, err := http.Post(hs.URL+api.Prefix+"/data", mw.FormDataContentType(), strings.NewReader(buf.String()))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := create("bad", "not a"); code != 400 {
		t.Fatalf("bad upload: %d", code)
	}
	root := bl.LocalRoot()
	if _, err := os.Stat(filepath.Join(root, "assets/data/bad/1")); err == nil {
		t.Fatal("failed upload left assets/data/bad/1 behind")
	}
	if code := create("good", "a"); code != 201 {
		t.Fatalf("good upload: %d", code)
	}
	// Leftovers of creates that died before their commit.
	for _, p := range []string{"assets/data/ghost/1/x/a.txt", "assets/data/fresh/1/x/a.txt"} {
		if _, err := bl.Put(ctx, p, strings.NewReader("a"), ""); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-8 * 24 * time.Hour)
	for _, p := range []string{"assets/data/ghost/1/x/a.txt", "assets/data/good/1/x/a.txt", "assets/data/good/1/x/b.txt"} {
		os.Chtimes(filepath.Join(root, p), old, old)
	}
	n, err := s.SweepAssetUploads(ctx, time.Now(), 7*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d %v, want 1", n, err)
	}
	for p, want := range map[string]bool{"assets/data/ghost/1/x/a.txt": false, "assets/data/fresh/1/x/a.txt": true,
		"assets/data/good/1/x/a.txt": true, "assets/data/good/1/x/b.txt": true} {
		if ok, _ := bl.Exists(ctx, p); ok != want {
			t.Errorf("%s exists = %v after the sweep, want %v", p, ok, want)
		}
	}
	if _, err := st.GetAsset(ctx, tandem.AssetData, "good", "1"); err != nil {
		t.Fatal(err)
	}
}

package blobstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/storetest"
)

// backends opens a fresh file:// store and, when TANDEM_TEST_S3 is set, a
// fresh S3 (versitygw) prefix.
func backends(t *testing.T) map[string]*blobstore.Store {
	t.Helper()
	out := map[string]*blobstore.Store{}
	urls := map[string]string{"file": storetest.FileURL(t)}
	if u := storetest.S3URL(t); u != "" {
		urls["s3"] = u
	}
	for name, u := range urls {
		s, err := blobstore.Open(context.Background(), u)
		if err != nil {
			t.Fatalf("open %s: %v", name, err)
		}
		t.Cleanup(func() { s.Close() })
		out[name] = s
	}
	return out
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

func TestPutOpenDigestDelete(t *testing.T) {
	for name, s := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			data := bytes.Repeat([]byte("tandem "), 100000)
			key := "0/run1/artifacts/dir/model file.bin"
			ref, err := s.Put(ctx, key, bytes.NewReader(data), sum(data))
			if err != nil {
				t.Fatal(err)
			}
			if ref.Path != key || ref.Size != int64(len(data)) || ref.SHA256 != sum(data) {
				t.Fatalf("ref = %+v", ref)
			}
			r, err := s.Open(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, err %v", len(got), err)
			}
			if d, err := s.Digest(ctx, key); err != nil || d != ref {
				t.Fatalf("digest = %+v, %v; want %+v", d, err, ref)
			}
			if ok, err := s.Exists(ctx, key); !ok || err != nil {
				t.Fatalf("exists = %v, %v", ok, err)
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("deleting a missing key: %v", err)
			}
			if _, err := s.Open(ctx, key); tandem.ErrorCode(err) != tandem.ENOTFOUND {
				t.Fatalf("open after delete: %v; want ENOTFOUND", err)
			}
		})
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(b []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("client went away")
	}
	k := min(len(b), f.n)
	for i := range b[:k] {
		b[i] = 'x'
	}
	f.n -= k
	return k, nil
}

// A write that fails half-way, or whose digest is not the expected one,
// publishes nothing under its key, and leaves an older object in place.
func TestPutFailureLeavesNothing(t *testing.T) {
	for name, s := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, err := s.Put(ctx, "a/partial.bin", &failingReader{n: 3 << 20}, ""); err == nil {
				t.Fatal("put from a failing reader succeeded")
			}
			if ok, _ := s.Exists(ctx, "a/partial.bin"); ok {
				t.Fatal("a failed put left an object")
			}
			_, err := s.Put(ctx, "a/digest.bin", strings.NewReader("abc"), sum([]byte("abd")))
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("digest mismatch: %v; want EINVALID", err)
			}
			if ok, _ := s.Exists(ctx, "a/digest.bin"); ok {
				t.Fatal("a put with the wrong digest left an object")
			}
			if _, err := s.Put(ctx, "a/old.bin", strings.NewReader("old"), ""); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Put(ctx, "a/old.bin", &failingReader{n: 1 << 20}, ""); err == nil {
				t.Fatal("failing overwrite succeeded")
			}
			if d, err := s.Digest(ctx, "a/old.bin"); err != nil || d.SHA256 != sum([]byte("old")) {
				t.Fatalf("old object after a failed overwrite: %+v, %v", d, err)
			}
			if s.LocalRoot() != "" {
				// No temporary files survive a failed write.
				filepath.Walk(s.LocalRoot(), func(p string, info os.FileInfo, err error) error {
					if err == nil && strings.HasSuffix(p, ".tmp") {
						t.Errorf("temporary file left: %s", p)
					}
					return nil
				})
			}
		})
	}
}

func TestDeletePrefix(t *testing.T) {
	for name, s := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for _, k := range []string{"stage/u1/a", "stage/u1/b", "stage/u1x/c", "stage/u2/d"} {
				if _, err := s.Put(ctx, k, strings.NewReader(k), ""); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.DeletePrefix(ctx, "stage/u1"); tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("prefix without slash: %v", err)
			}
			if err := s.DeletePrefix(ctx, "stage/u1/"); err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]bool{"stage/u1/a": false, "stage/u1/b": false, "stage/u1x/c": true, "stage/u2/d": true} {
				if ok, _ := s.Exists(ctx, k); ok != want {
					t.Errorf("exists(%s) = %v, want %v", k, ok, want)
				}
			}
			if root := s.LocalRoot(); root != "" {
				if _, err := os.Stat(filepath.Join(root, "stage", "u1")); !os.IsNotExist(err) {
					t.Errorf("emptied folder still there: %v", err)
				}
			}
		})
	}
}

func TestPutRejectsBadKeys(t *testing.T) {
	s := backends(t)["file"]
	for _, k := range []string{"", "/etc/passwd", "../x", "a/../../x", "a\\b", "a//b", "a/./b", "c:x", "a\x00b", "a#b"} {
		if _, err := s.Put(context.Background(), k, strings.NewReader("x"), ""); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("put %q: %v; want EINVALID", k, err)
		}
	}
	// Nothing escaped the root.
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.LocalRoot()), "x")); !os.IsNotExist(err) {
		t.Fatal("a write escaped the artifact root")
	}
}

func TestCheckPath(t *testing.T) {
	good := []string{"a", "a/b/c.txt", "0/abc/artifacts/model/MLmodel", ".hidden", "a/.b", "a..b", "日本語/файл.txt", "a b/c-d_e"}
	bad := []string{"", "/a", "a/", "a//b", "..", "a/..", "./a", "a/./b", "a\\b", "C:/x", "a\x00", "a\x1fb", "a\x7fb", "a#b", "\xff", strings.Repeat("a", 1025)}
	for _, p := range good {
		if err := blobstore.CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v; want ok", p, err)
		}
	}
	for _, p := range bad {
		if err := blobstore.CheckPath(p); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("CheckPath(%q) = %v; want EINVALID", p, err)
		}
	}
}

// FuzzCheckPath: whatever CheckPath accepts is a clean, relative, forward-
// slash path that cannot leave the root once joined to it.
func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"a/b", "../a", "a/../b", "/abs", "a\\b", "a//b", "x/./y", "C:\\x", "a\x00", "#", "..a/b..", "%2e%2e/x", "日本/語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if blobstore.CheckPath(p) != nil {
			return
		}
		if !utf8.ValidString(p) || p == "" || len(p) > 1024 {
			t.Fatalf("accepted %q", p)
		}
		if path.Clean(p) != p || path.IsAbs(p) || strings.HasPrefix(p, "../") || p == ".." || p == "." {
			t.Fatalf("accepted unclean path %q (clean %q)", p, path.Clean(p))
		}
		if strings.ContainsAny(p, "\\\x00#") {
			t.Fatalf("accepted %q", p)
		}
		root := "/srv/root"
		if j := filepath.Join(root, p); !strings.HasPrefix(j, root+"/") {
			t.Fatalf("%q escapes the root: %s", p, j)
		}
	})
}

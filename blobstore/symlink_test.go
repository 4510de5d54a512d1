package blobstore_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/storetest"
)

// TestNoWriteThroughSymlinks plants a folder link and a file link inside a
// folder store, pointing outside it, and writes and deletes through them
// with the keys artifact uploads, multipart parts and asset files use:
// every attempt is refused and nothing outside the store changes.
func TestNoWriteThroughSymlinks(t *testing.T) {
	ctx := context.Background()
	s, err := blobstore.Open(ctx, storetest.FileURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := s.LocalRoot()
	for _, dir := range []string{"1/r1/artifacts", ".tandem/mpu", "assets/data/d"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(root, dir, "link")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(victim, filepath.Join(root, dir, "file")); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{
		"1/r1/artifacts/link/x.txt", "1/r1/artifacts/link/victim", "1/r1/artifacts/file",
		".tandem/mpu/link/upload/part-1", ".tandem/mpu/file",
		"assets/data/d/link/1/file.csv", "assets/data/d/file",
	} {
		if _, err := s.Put(ctx, key, strings.NewReader("evil"), ""); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("put %s: %v, want EINVALID", key, err)
		}
		if err := s.Delete(ctx, key); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("delete %s: %v, want EINVALID", key, err)
		}
	}
	if err := s.DeletePrefix(ctx, ".tandem/mpu/link/"); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("delete prefix through a link: %v, want EINVALID", err)
	}
	ents, _ := os.ReadDir(outside)
	if b, _ := os.ReadFile(victim); string(b) != "keep" || len(ents) != 1 {
		t.Fatalf("outside the store changed: victim %q, %d entries", b, len(ents))
	}
	// Ordinary keys still work beside the links.
	if _, err := s.Put(ctx, "1/r1/artifacts/ok/x.txt", strings.NewReader("fine"), ""); err != nil {
		t.Fatal(err)
	}
}

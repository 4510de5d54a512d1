// Package blobstore is tandem's artifact storage on gocloud.dev/blob: a
// folder (file://, the default), any S3-compatible server (s3://), Azure Blob
// (azblob://) or GCS (gs://), chosen by URL. Artifacts are stored under their
// readable path (<experiment_id>/<run_id>/artifacts/<path>), so ordinary
// storage tools can browse them when tandem is down.
package blobstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/tandemml/tandem"
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/azureblob" // azblob://
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob" // gs://
	_ "gocloud.dev/blob/s3blob"  // s3://
	"gocloud.dev/gcerrors"
)

// Store is one region's artifact storage.
type Store struct {
	bucket *blob.Bucket
	url    string
	root   string // local folder for file:// stores, "" otherwise
}

// Open opens the storage named by rawURL. For file:// URLs the folder is
// created if needed, writes go to a temporary file beside the final one and
// are renamed into place, and no sidecar metadata files are written.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "artifacts URL: %v", err)
	}
	s := &Store{url: u.Redacted()}
	switch u.Scheme {
	case "file":
		root := u.Host + u.Path
		if root == "" {
			return nil, tandem.Errorf(tandem.EINVALID, "artifacts URL %q: no folder", rawURL)
		}
		if !filepath.IsAbs(root) {
			if root, err = filepath.Abs(root); err != nil {
				return nil, err
			}
		}
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, fmt.Errorf("artifacts folder: %w", err)
		}
		b, err := fileblob.OpenBucket(root, &fileblob.Options{Metadata: fileblob.MetadataDontWrite, NoTempDir: true})
		if err != nil {
			return nil, fmt.Errorf("open artifacts %s: %w", s.url, err)
		}
		s.bucket, s.root = b, root
	case "s3", "azblob", "gs":
		b, err := blob.OpenBucket(ctx, rawURL)
		if err != nil {
			return nil, fmt.Errorf("open artifacts %s: %w", s.url, err)
		}
		s.bucket = b
	default:
		return nil, tandem.Errorf(tandem.EINVALID, "artifacts URL %q: scheme must be file, s3, azblob or gs", s.url)
	}
	return s, nil
}

// Close releases the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

// URL is the storage URL with any password removed.
func (s *Store) URL() string { return s.url }

// LocalRoot is the folder of a file:// store, or "" for remote stores.
func (s *Store) LocalRoot() string { return s.root }

// Bucket exposes the portable bucket for packages that stream (replication).
func (s *Store) Bucket() *blob.Bucket { return s.bucket }

// Put streams r to key and returns its size and SHA-256. The object becomes
// visible at key only once all bytes are written (fileblob renames a
// temporary file; object stores publish on completion), so a crash never
// leaves a partial object under key. When want is not empty and the digest
// differs, the write is aborted and nothing appears under key.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, wantSHA256 string) (tandem.BlobRef, error) {
	if err := CheckPath(key); err != nil {
		return tandem.BlobRef{}, err
	}
	if err := s.checkNoSymlink(key); err != nil {
		return tandem.BlobRef{}, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{ContentType: "application/octet-stream", DisableContentTypeDetection: true})
	if err != nil {
		return tandem.BlobRef{}, fmt.Errorf("put %s: %w", key, err)
	}
	h := sha256.New()
	n, err := io.Copy(w, io.TeeReader(r, h))
	if err != nil {
		cancel() // aborts the write: nothing is published
		w.Close()
		return tandem.BlobRef{}, fmt.Errorf("put %s: %w", key, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if wantSHA256 != "" && !strings.EqualFold(sum, wantSHA256) {
		cancel()
		w.Close()
		return tandem.BlobRef{}, tandem.Errorf(tandem.EINVALID, "put %s: sha256 %s does not match expected %s", key, sum, wantSHA256)
	}
	if err := w.Close(); err != nil {
		return tandem.BlobRef{}, fmt.Errorf("put %s: %w", key, err)
	}
	return tandem.BlobRef{Path: key, SHA256: sum, Size: n}, nil
}

// Open returns a reader of key's bytes. A missing key is ENOTFOUND.
func (s *Store) Open(ctx context.Context, key string) (*blob.Reader, error) {
	if err := CheckPath(key); err != nil {
		return nil, err
	}
	r, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil {
		if gcerrors.Code(err) == gcerrors.NotFound {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "artifact %s not found", key)
		}
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	return r, nil
}

// Exists reports whether key holds an object.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	return s.bucket.Exists(ctx, key)
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := CheckPath(key); err != nil {
		return err
	}
	if err := s.checkNoSymlink(key); err != nil {
		return err
	}
	if err := s.bucket.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// DeletePrefix removes every object whose key starts with prefix (which
// must end with "/"). Used to clean staging areas such as multipart parts.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	if !strings.HasSuffix(prefix, "/") {
		return tandem.Errorf(tandem.EINVALID, "delete prefix %q: must end with /", prefix)
	}
	if err := CheckPath(strings.TrimSuffix(prefix, "/")); err != nil {
		return err
	}
	if err := s.checkNoSymlink(strings.TrimSuffix(prefix, "/")); err != nil {
		return err
	}
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			if s.root != "" {
				// Folders are not objects: drop the emptied folders too,
				// deepest first (os.Remove leaves a folder that is not
				// empty, e.g. written to meanwhile).
				removeEmptyDirs(filepath.Join(s.root, filepath.FromSlash(prefix)))
			}
			return nil
		} else if err != nil {
			return fmt.Errorf("delete prefix %s: %w", prefix, err)
		}
		if obj.IsDir {
			continue
		}
		if err := s.Delete(ctx, obj.Key); err != nil {
			return err
		}
	}
}

// Digest reads key and returns its size and SHA-256.
func (s *Store) Digest(ctx context.Context, key string) (tandem.BlobRef, error) {
	r, err := s.Open(ctx, key)
	if err != nil {
		return tandem.BlobRef{}, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return tandem.BlobRef{}, fmt.Errorf("digest %s: %w", key, err)
	}
	return tandem.BlobRef{Path: key, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// CheckPath validates a storage key or an artifact path relative to a run's
// artifact root: not empty, relative, no "." or ".." segments, no
// backslashes, no '#' (MLflow rejects it too), no NUL or control
// characters, valid UTF-8, at most 1024 bytes.
func CheckPath(p string) error {
	bad := func(why string) error {
		return tandem.Errorf(tandem.EINVALID, "invalid artifact path %q: %s", p, why)
	}
	switch {
	case p == "":
		return bad("empty")
	case len(p) > 1024:
		return bad("longer than 1024 bytes")
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return bad("absolute paths are not allowed")
	case strings.Contains(p, "\\"):
		return bad("backslashes are not allowed")
	case strings.Contains(p, "#"):
		return bad("'#' is not allowed")
	case len(p) >= 2 && p[1] == ':':
		return bad("drive letters are not allowed")
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return bad("control characters are not allowed")
		}
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return bad("empty path segment")
		case ".", "..":
			return bad("'.' and '..' segments are not allowed")
		}
	}
	return nil
}

// checkNoSymlink refuses, in a folder store, a key whose path below the
// root passes through a symbolic link (a folder or the file itself): the
// write or delete would land wherever the link points, outside the store.
// Reads do not follow links either (fileblob), so what tandem writes is
// always what it reads. The root itself may be a link (an operator's
// choice). Parts of the key that do not exist yet are created as folders.
func (s *Store) checkNoSymlink(key string) error {
	if s.root == "" {
		return nil
	}
	p := s.root
	for _, seg := range strings.Split(key, "/") {
		p = filepath.Join(p, seg)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return fmt.Errorf("check %s: %w", key, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return tandem.Errorf(tandem.EINVALID, "invalid artifact path %q: %s is a symbolic link in the artifact store; tandem does not write through links", key, strings.TrimPrefix(p, s.root+string(filepath.Separator)))
		}
	}
	return nil
}

// removeEmptyDirs removes dir and the folders below it that are empty,
// deepest first. Links are not followed (WalkDir does not).
func removeEmptyDirs(dir string) {
	var dirs []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		os.Remove(dirs[i])
	}
}

package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Reader reads a bundle: a folder or an archive. Open checks the manifest;
// Verify checks every item's size and digest; Walk hands items over in
// manifest order, checking each one as it goes.
type Reader struct {
	path     string
	archive  bool
	manifest *Manifest
	raw      []byte // manifest.json as read
}

// Open opens the bundle at path and parses its manifest (see ParseManifest).
// A folder without manifest.json, an archive whose first entry is not
// manifest.json, or a damaged manifest is refused with EINVALID.
func Open(path string) (*Reader, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, invalid("%s does not exist", path)
		}
		return nil, fmt.Errorf("bundle: %w", err)
	}
	r := &Reader{path: path, archive: !st.IsDir()}
	var body []byte
	if r.archive {
		err = r.withTar(func(tr *tar.Reader) error {
			h, err := tr.Next()
			if err != nil {
				return tarErr(err, "reading the manifest")
			}
			if h.Name != "manifest.json" || !plainFile(h) {
				return invalid("first archive entry is %q, not manifest.json", h.Name)
			}
			if h.Size > MaxManifestSize {
				return invalid("manifest is larger than %d bytes", MaxManifestSize)
			}
			body, err = io.ReadAll(io.LimitReader(tr, h.Size))
			if err != nil {
				return tarErr(err, "reading the manifest")
			}
			if int64(len(body)) != h.Size {
				return invalid("truncated: manifest cut short")
			}
			return nil
		})
	} else {
		body, err = readLimited(filepath.Join(path, "manifest.json"), MaxManifestSize)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, invalid("%s has no manifest.json: not a bundle, or an export that did not finish", path)
		}
	}
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(body)
	if err != nil {
		return nil, err
	}
	r.manifest, r.raw = m, body
	return r, nil
}

// Manifest returns the parsed manifest. Callers must not modify it.
func (r *Reader) Manifest() *Manifest { return r.manifest }

// Verify reads every item and checks its size and SHA-256, and for an
// archive that nothing is missing, extra or out of order. It returns an
// EINVALID error naming the first bad item: a bundle that fails Verify must
// not be imported at all.
func (r *Reader) Verify(ctx context.Context) error {
	return r.Walk(ctx, func(Item, io.Reader) error { return nil })
}

// WalkFunc receives one item. For an object record, body holds the whole
// record, already checked against the manifest. For a blob, body streams
// the bytes and is checked only when it reaches its end: pass it.SHA256 to
// a store that refuses mismatching content (blobstore.Put does), or call
// Verify first. Unread bytes are drained and checked after the call.
type WalkFunc func(it Item, body io.Reader) error

// Walk calls fn for every item in manifest order and fails on the first
// item whose bytes do not match the manifest.
func (r *Reader) Walk(ctx context.Context, fn WalkFunc) error {
	if r.archive {
		return r.withTar(func(tr *tar.Reader) error {
			if _, err := tr.Next(); err != nil { // the manifest, read by Open
				return tarErr(err, "reading the manifest")
			}
			for i, it := range r.manifest.Items {
				if err := ctx.Err(); err != nil {
					return err
				}
				h, err := tr.Next()
				if err != nil {
					return tarErr(err, fmt.Sprintf("looking for item %d (%s)", i, it.Path))
				}
				if h.Name != it.Path || !plainFile(h) {
					return invalid("archive entry %d is %q, the manifest lists %q there", i+1, h.Name, it.Path)
				}
				if h.Size != it.Size {
					return invalid("%s: archive entry has %d bytes, the manifest says %d", it.Path, h.Size, it.Size)
				}
				if err := r.item(it, tr, fn); err != nil {
					return err
				}
			}
			if h, err := tr.Next(); err == nil {
				return invalid("archive has an entry %q the manifest does not list", h.Name)
			} else if err != io.EOF {
				return tarErr(err, "after the last item")
			}
			return nil
		})
	}
	for _, it := range r.manifest.Items {
		if err := ctx.Err(); err != nil {
			return err
		}
		full := filepath.Join(r.path, filepath.FromSlash(it.Path))
		st, err := os.Lstat(full)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return invalid("%s is missing", it.Path)
			}
			return fmt.Errorf("bundle: %w", err)
		}
		if !st.Mode().IsRegular() {
			return invalid("%s is not a regular file", it.Path)
		}
		if st.Size() != it.Size {
			return invalid("%s has %d bytes, the manifest says %d", it.Path, st.Size(), it.Size)
		}
		f, err := os.Open(full)
		if err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		err = r.item(it, f, fn)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// item checks one item's bytes from src and hands them to fn.
func (r *Reader) item(it Item, src io.Reader, fn WalkFunc) error {
	if it.Kind != KindBlob {
		body, err := io.ReadAll(io.LimitReader(src, it.Size+1))
		if err != nil {
			return tarErr(err, "reading "+it.Path)
		}
		if int64(len(body)) != it.Size {
			return invalid("truncated: %s has %d bytes, the manifest says %d", it.Path, len(body), it.Size)
		}
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != it.SHA256 {
			return invalid("%s was altered: its SHA-256 does not match the manifest", it.Path)
		}
		return fn(it, bytes.NewReader(body))
	}
	vr := &verifyReader{r: io.LimitReader(src, it.Size), h: sha256.New()}
	if err := fn(it, vr); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, vr); err != nil {
		return tarErr(err, "reading "+it.Path)
	}
	if vr.n != it.Size {
		return invalid("truncated: %s has %d bytes, the manifest says %d", it.Path, vr.n, it.Size)
	}
	if hex.EncodeToString(vr.h.Sum(nil)) != it.SHA256 {
		return invalid("%s was altered: its SHA-256 does not match the manifest", it.Path)
	}
	return nil
}

// plainFile accepts only regular, non-sparse entries: a sparse entry could
// declare terabytes of zeros in a few bytes of archive.
func plainFile(h *tar.Header) bool {
	if h.Typeflag != tar.TypeReg {
		return false
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse") {
			return false
		}
	}
	return true
}

type verifyReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	return n, err
}

// withTar opens the archive (gzip or plain, told apart by its first bytes)
// and runs fn on its tar stream.
func (r *Reader) withTar(fn func(*tar.Reader) error) error {
	f, err := os.Open(r.path)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return invalid("%s: bad gzip header: %v", r.path, err)
		}
		defer gz.Close()
		src = gz
	}
	return fn(tar.NewReader(src))
}

// tarErr turns a read error into a clear EINVALID bundle error.
func tarErr(err error, step string) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("truncated: the archive ends while %s", step)
	case errors.Is(err, tar.ErrHeader), errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader):
		return invalid("damaged archive while %s: %v", step, err)
	}
	var perr *os.PathError
	if errors.As(err, &perr) {
		return fmt.Errorf("bundle: %w", err)
	}
	return invalid("damaged archive while %s: %v", step, err)
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, invalid("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// Decode decodes an object record handed over by Walk into v. Unknown
// fields are refused: a record written by a newer tandem fails loudly
// rather than losing data silently.
func Decode(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("object record: %v", err)
	}
	return nil
}

// WriteTar writes the bundle as a plain tar archive to w (manifest first,
// items in manifest order), checking every item on the way: a folder bundle
// can be sent where an archive is expected.
func (r *Reader) WriteTar(ctx context.Context, w io.Writer) error {
	tw := tar.NewWriter(w)
	hdr := func(name string, size int64) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644,
			ModTime: r.manifest.Created, Format: tar.FormatPAX}
	}
	if err := tw.WriteHeader(hdr("manifest.json", int64(len(r.raw)))); err != nil {
		return err
	}
	if _, err := tw.Write(r.raw); err != nil {
		return err
	}
	err := r.Walk(ctx, func(it Item, body io.Reader) error {
		if err := tw.WriteHeader(hdr(it.Path, it.Size)); err != nil {
			return err
		}
		_, err := io.Copy(tw, body)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// Extract writes the bundle as a folder at dir (which must not exist or be
// empty), checking every item; manifest.json is written last, so an
// interrupted extraction is not mistaken for a bundle.
func (r *Reader) Extract(ctx context.Context, dir string) error {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return invalid("folder %s exists and is not empty", dir)
	}
	err := r.Walk(ctx, func(it Item, body io.Reader) error {
		full := filepath.Join(dir, filepath.FromSlash(it.Path))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		f, err := os.Create(full)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ".manifest.json.tmp")
	if err := writeSync(tmp, r.raw); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "manifest.json"))
}

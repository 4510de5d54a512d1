package rayexec

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tandemml/tandem"
)

// maxPackageSize bounds a working_dir package. Ray keeps packages in its
// GCS and refuses those of its gRPC message limit (512 MiB) or more; we
// stop a little before, with a clear error.
const maxPackageSize = 500 << 20

// packageTime is the modification time of every zip entry (2000-01-01
// UTC), so that the same folder always makes the same bytes and the same
// package name.
const packageTime = 946684800

// workdirPackage is a zipped working folder, in a temporary file, with the
// name Ray stores it under.
type workdirPackage struct {
	Path string // the zip file; the caller removes it
	Size int64
	// Name is "_ray_pkg_<hash>.zip": Ray's prefix for uploaded packages
	// and a hash of the zip's bytes, so that equal folders share one
	// package in the cluster and different ones never do.
	Name string
}

// URI is the package's runtime_env URI.
func (p workdirPackage) URI() string { return "gcs://" + p.Name }

// packDir zips dir into a temporary file in tmp ("" for the default),
// deterministically: entries in lexical order, paths relative to dir with
// forward slashes, one fixed time, the permission bits kept (Ray's
// unpacking ignores them, the hash does not). Regular files are stored with
// their content, symbolic links to files with their target's content;
// folders get entries of their own; links to folders and special files are
// skipped (a link could point outside the snapshot or loop).
//
// extra are files tandem adds at the top of the folder (by name, after
// dir's own entries, in lexical order); a dir that holds one of their
// names is refused. dir "" packs only extra.
func packDir(dir, tmp string, extra map[string][]byte) (workdirPackage, error) {
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return workdirPackage{}, tandem.Errorf(tandem.EINVALID, "ray: working folder: %v", err)
		} else if !st.IsDir() {
			return workdirPackage{}, tandem.Errorf(tandem.EINVALID, "ray: working folder %s is not a folder", dir)
		}
		for name := range extra {
			if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
				return workdirPackage{}, tandem.Errorf(tandem.EINVALID, "ray: working folder %s has a file %s, a name tandem takes for its own file in the job's folder; rename it", dir, name)
			}
		}
	}
	f, err := os.CreateTemp(tmp, "tandem-raypkg-*.zip")
	if err != nil {
		return workdirPackage{}, fmt.Errorf("ray package: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	zw := zip.NewWriter(cw)
	if dir != "" {
		err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path == dir {
				return nil
			}
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			name := filepath.ToSlash(rel)
			info, err := os.Stat(path) // follows links
			if err != nil {
				return err
			}
			switch {
			case d.Type()&fs.ModeSymlink != 0 && info.IsDir():
				return nil
			case info.IsDir():
				hdr := &zip.FileHeader{Name: name + "/", Method: zip.Store, Modified: time.Unix(packageTime, 0).UTC()}
				hdr.SetMode(fs.ModeDir | info.Mode().Perm())
				_, err := zw.CreateHeader(hdr)
				return err
			case !info.Mode().IsRegular():
				return nil
			}
			hdr := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Unix(packageTime, 0).UTC()}
			hdr.SetMode(info.Mode().Perm())
			w, err := zw.CreateHeader(hdr)
			if err != nil {
				return err
			}
			src, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, src)
			src.Close()
			if err == nil && cw.n >= maxPackageSize {
				return errTooLarge
			}
			return err
		})
	}
	for _, name := range tandem.SortedKeys(extra) {
		if err != nil {
			break
		}
		hdr := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Unix(packageTime, 0).UTC()}
		hdr.SetMode(0o644)
		var w io.Writer
		if w, err = zw.CreateHeader(hdr); err == nil {
			_, err = w.Write(extra[name])
		}
	}
	if err == nil {
		err = zw.Close()
	}
	if err == errTooLarge || (err == nil && cw.n >= maxPackageSize) {
		return workdirPackage{}, tandem.Errorf(tandem.ELIMIT, "ray: working folder %s zips to more than %d MiB, the most a Ray cluster takes as a working_dir", dir, maxPackageSize>>20)
	} else if err != nil {
		return workdirPackage{}, tandem.Errorf(tandem.EINVALID, "ray: packing working folder: %v", err)
	}
	if err := f.Close(); err != nil {
		return workdirPackage{}, fmt.Errorf("ray package: %w", err)
	}
	ok = true
	sum := hex.EncodeToString(h.Sum(nil))
	return workdirPackage{Path: f.Name(), Size: cw.n, Name: "_ray_pkg_" + sum[:32] + ".zip"}, nil
}

var errTooLarge = fmt.Errorf("package too large")

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

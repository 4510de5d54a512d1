package assetyaml

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/tandemml/tandem"
)

// LocalFile is a file an asset uploads: Path relative to the YAML file's
// folder (forward slashes, as stored), Abs where it is on disk.
type LocalFile struct {
	Path string
	Abs  string
}

// CollectFiles lists the files behind spec's local paths, relative to dir
// (the YAML file's folder): a file is itself, a folder is every regular
// file under it. Symbolic links and empty folders are errors, so what is
// uploaded is exactly what a download writes back.
func CollectFiles(dir string, spec interface{ LocalPaths() []string }) ([]LocalFile, error) {
	seen := map[string]bool{}
	var out []LocalFile
	for _, p := range spec.LocalPaths() {
		rel, err := tandem.CleanLocalPath(p)
		if err != nil {
			return nil, err
		}
		root := filepath.Join(dir, filepath.FromSlash(rel))
		st, err := os.Lstat(root)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "local path %q: %v", p, err)
		}
		n := 0
		err = filepath.WalkDir(root, func(abs string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if de.Type()&fs.ModeSymlink != 0 {
				return tandem.Errorf(tandem.EINVALID, "local path %q: %s is a symbolic link", p, abs)
			}
			if de.IsDir() {
				return nil
			}
			if !de.Type().IsRegular() {
				return tandem.Errorf(tandem.EINVALID, "local path %q: %s is not a regular file", p, abs)
			}
			r, err := filepath.Rel(dir, abs)
			if err != nil {
				return err
			}
			r = filepath.ToSlash(r)
			n++
			if !seen[r] {
				seen[r] = true
				out = append(out, LocalFile{Path: r, Abs: abs})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if n == 0 && st.IsDir() {
			return nil, tandem.Errorf(tandem.EINVALID, "local path %q: folder is empty", p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

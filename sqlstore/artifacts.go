package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
)

var _ tandem.ArtifactIndex = (*Store)(nil)

// artifactDelete is the payload of "artifact.delete": the path the user
// deleted and every file it removed, so that a secondary (and replication,
// which deletes the bytes) knows exactly what went.
type artifactDelete struct {
	Path  string   `json:"path"`
	Files []string `json:"files"`
}

func (s *Store) registerArtifacts() {
	s.register("artifact.put", tandem.KindArtifacts, applyArtifactPut)
	s.register("artifact.delete", tandem.KindArtifacts, applyArtifactDelete)
}

// splitArtifactPath returns the directory ("" at the root) and base name.
func splitArtifactPath(p string) (dir, name string) {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

// ancestors lists the directories above p, deepest first ("a/b/c" gives
// "a/b", "a").
func ancestors(p string) []string {
	var out []string
	for {
		dir, _ := splitArtifactPath(p)
		if dir == "" {
			return out
		}
		out = append(out, dir)
		p = dir
	}
}

// CheckWritable asks the write gate whether this region accepts writes now
// (EUNAVAILABLE when it does not). The artifact proxy calls it before it
// writes any bytes, so that a secondary never overwrites the replicated
// bytes of an artifact with an upload it is going to refuse. Mutate checks
// the gate again at commit.
func (s *Store) CheckWritable(ctx context.Context) error {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	_, err := gate.WriteEpoch(ctx)
	return err
}

// PutArtifact records a file whose bytes are already in storage under
// a.Path (blobstore.Put returned its size and digest). It appends an
// "artifact.put" journal entry whose Blobs name the bytes, so replication
// can ship them. An existing record at the same path is replaced. It fails
// with EINVALID when the path is a directory or lies under a file.
// Callers: the artifact proxy, after the bytes are published.
func (s *Store) PutArtifact(ctx context.Context, a tandem.Artifact) (tandem.Entry, error) {
	return s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if a.Path == "" || a.SHA256 == "" || a.Size < 0 {
			return nil, tandem.Errorf(tandem.EINVALID, "artifact record needs a path, a size and a sha256")
		}
		if ok, err := IsArtifactDir(ctx, tx, a.Path); err != nil {
			return nil, err
		} else if ok {
			return nil, tandem.Errorf(tandem.EINVALID, "artifact path %q is a directory", a.Path)
		}
		for _, d := range ancestors(a.Path) {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM artifacts WHERE path = ?`, d).Scan(&one)
			if err == nil {
				return nil, tandem.Errorf(tandem.EINVALID, "artifact path %q lies under the file %q", a.Path, d)
			} else if !IsNoRows(err) {
				return nil, fmt.Errorf("artifact put: %w", err)
			}
		}
		return &Change{Op: "artifact.put", Key: a.Path, Payload: a,
			Blobs: []tandem.BlobRef{{Path: a.Path, SHA256: a.SHA256, Size: a.Size}}}, nil
	})
}

func applyArtifactPut(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var a tandem.Artifact
	if err := json.Unmarshal(e.Payload, &a); err != nil {
		return fmt.Errorf("artifact.put payload: %w", err)
	}
	dir, name := splitArtifactPath(a.Path)
	if _, err := tx.ExecContext(ctx, `INSERT INTO artifacts (path, dir, name, size, sha256, created_ms) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, created_ms = excluded.created_ms`,
		a.Path, dir, name, a.Size, a.SHA256, a.CreatedMs); err != nil {
		return fmt.Errorf("artifact.put: %w", err)
	}
	for _, d := range ancestors(a.Path) {
		pd, pn := splitArtifactPath(d)
		if _, err := tx.ExecContext(ctx, `INSERT INTO artifact_dirs (path, dir, name) VALUES (?, ?, ?) ON CONFLICT (path) DO NOTHING`,
			d, pd, pn); err != nil {
			return fmt.Errorf("artifact.put dirs: %w", err)
		}
	}
	return nil
}

// DeleteArtifacts removes the record of the file at p, or of every file
// under the directory p (p == "" means everything). It returns the journal
// entry and the paths of the removed files, whose bytes the caller deletes
// from storage after the commit (they are invisible from that moment). When
// nothing matches it returns ENOTFOUND and writes nothing.
func (s *Store) DeleteArtifacts(ctx context.Context, p string) (tandem.Entry, []string, error) {
	var files []string
	e, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		fs, err := artifactFilesAt(ctx, tx, p)
		if err != nil {
			return nil, err
		}
		if len(fs) == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "no artifact at %q", p)
		}
		files = fs
		return &Change{Op: "artifact.delete", Key: p, Payload: artifactDelete{Path: p, Files: fs}}, nil
	})
	if err != nil {
		return tandem.Entry{}, nil, err
	}
	return e, files, nil
}

// artifactFilesAt lists the file at p, or the files under directory p,
// sorted.
func artifactFilesAt(ctx context.Context, q Querier, p string) ([]string, error) {
	var rows *sql.Rows
	var err error
	if p == "" {
		rows, err = q.QueryContext(ctx, `SELECT path FROM artifacts`)
	} else {
		prefix := p + "/"
		rows, err = q.QueryContext(ctx, `SELECT path FROM artifacts WHERE path = ? OR SUBSTR(path, 1, ?) = ?`,
			p, len([]rune(prefix)), prefix)
	}
	if err != nil {
		return nil, fmt.Errorf("artifact files: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("artifact files: %w", err)
	}
	sort.Strings(out)
	return out, nil
}

func applyArtifactDelete(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var d artifactDelete
	if err := json.Unmarshal(e.Payload, &d); err != nil {
		return fmt.Errorf("artifact.delete payload: %w", err)
	}
	dirs := map[string]bool{}
	for _, f := range d.Files {
		if _, err := tx.ExecContext(ctx, `DELETE FROM artifacts WHERE path = ?`, f); err != nil {
			return fmt.Errorf("artifact.delete: %w", err)
		}
		for _, a := range ancestors(f) {
			dirs[a] = true
		}
	}
	// Prune directories left empty, deepest first, so a parent sees its
	// children's removal.
	order := make([]string, 0, len(dirs))
	for dir := range dirs {
		order = append(order, dir)
	}
	sort.Slice(order, func(i, j int) bool {
		di, dj := strings.Count(order[i], "/"), strings.Count(order[j], "/")
		if di != dj {
			return di > dj
		}
		return order[i] < order[j]
	})
	for _, dir := range order {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM artifacts WHERE dir = ?) + (SELECT COUNT(*) FROM artifact_dirs WHERE dir = ?)`,
			dir, dir).Scan(&n); err != nil {
			return fmt.Errorf("artifact.delete prune: %w", err)
		}
		if n == 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM artifact_dirs WHERE path = ?`, dir); err != nil {
				return fmt.Errorf("artifact.delete prune: %w", err)
			}
		}
	}
	return nil
}

// GetArtifact returns the record of the file at p; ENOTFOUND when there is
// none (p may still be a directory: see IsArtifactDir).
func (s *Store) GetArtifact(ctx context.Context, p string) (tandem.Artifact, error) {
	return GetArtifact(ctx, s.Reader(), p)
}

// GetArtifact is Store.GetArtifact on q (in or out of a transaction).
func GetArtifact(ctx context.Context, q Querier, p string) (tandem.Artifact, error) {
	a := tandem.Artifact{Path: p}
	err := q.QueryRowContext(ctx, `SELECT size, sha256, created_ms FROM artifacts WHERE path = ?`, p).
		Scan(&a.Size, &a.SHA256, &a.CreatedMs)
	if IsNoRows(err) {
		return tandem.Artifact{}, tandem.Errorf(tandem.ENOTFOUND, "artifact %q not found", p)
	} else if err != nil {
		return tandem.Artifact{}, fmt.Errorf("get artifact: %w", err)
	}
	return a, nil
}

// IsArtifactDir reports whether p is a directory holding at least one
// artifact. The root ("") always is.
func (s *Store) IsArtifactDir(ctx context.Context, p string) (bool, error) {
	return IsArtifactDir(ctx, s.Reader(), p)
}

// IsArtifactDir is Store.IsArtifactDir on q.
func IsArtifactDir(ctx context.Context, q Querier, p string) (bool, error) {
	if p == "" {
		return true, nil
	}
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM artifact_dirs WHERE path = ?`, p).Scan(&one)
	if IsNoRows(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("artifact dir: %w", err)
	}
	return true, nil
}

// ListArtifactDir lists one level of the directory dir ("" is the root):
// its files with their sizes and its subdirectories, sorted by name. A
// directory that does not exist (or a file) lists as empty, as MLflow's
// artifact repositories do.
func (s *Store) ListArtifactDir(ctx context.Context, dir string) ([]tandem.ArtifactEntry, error) {
	return ListArtifactDir(ctx, s.Reader(), dir)
}

// ListArtifactDir is Store.ListArtifactDir on q.
func ListArtifactDir(ctx context.Context, q Querier, dir string) ([]tandem.ArtifactEntry, error) {
	var out []tandem.ArtifactEntry
	rows, err := q.QueryContext(ctx, `SELECT name, size FROM artifacts WHERE dir = ?`, dir)
	if err != nil {
		return nil, fmt.Errorf("list artifacts: %w", err)
	}
	for rows.Next() {
		var e tandem.ArtifactEntry
		if err := rows.Scan(&e.Name, &e.Size); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list artifacts: %w", err)
		}
		out = append(out, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list artifacts: %w", err)
	}
	rows, err = q.QueryContext(ctx, `SELECT name FROM artifact_dirs WHERE dir = ?`, dir)
	if err != nil {
		return nil, fmt.Errorf("list artifact dirs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e := tandem.ArtifactEntry{IsDir: true}
		if err := rows.Scan(&e.Name); err != nil {
			return nil, fmt.Errorf("list artifact dirs: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list artifact dirs: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ArtifactsUnder returns the records of every file at or under p ("" is
// everything) in the region's replica, sorted by path.
func (s *Store) ArtifactsUnder(ctx context.Context, p string) ([]tandem.Artifact, error) {
	return ArtifactsUnder(ctx, s.Reader(), p)
}

// ArtifactsUnder returns the records of every file at or under p ("" is
// everything), sorted by path. Export and verification use it.
func ArtifactsUnder(ctx context.Context, q Querier, p string) ([]tandem.Artifact, error) {
	paths, err := artifactFilesAt(ctx, q, p)
	if err != nil {
		return nil, err
	}
	out := make([]tandem.Artifact, 0, len(paths))
	for _, f := range paths {
		a, err := GetArtifact(ctx, q, f)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// RunArtifactURI returns the artifact URI of run id (ENOTFOUND in MLflow's
// words when there is no such run, deleted runs included).
func (s *Store) RunArtifactURI(ctx context.Context, id string) (string, error) {
	var uri string
	err := s.Reader().QueryRowContext(ctx, `SELECT artifact_uri FROM runs WHERE run_id = ?`, id).Scan(&uri)
	if IsNoRows(err) {
		return "", tandem.Errorf(tandem.ENOTFOUND, "Run with id=%s not found", id)
	} else if err != nil {
		return "", fmt.Errorf("run %s: %w", id, err)
	}
	return uri, nil
}

package client

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/workspace"
)

// WorkspaceLookup is where FindWorkspace looks for the workspace file
// (workspace.yaml): an explicit path (--workspace), the value of
// TANDEM_WORKSPACE, and the folder the search starts from.
type WorkspaceLookup struct {
	Explicit string
	Env      string
	Cwd      string
}

// DefaultWorkspaceLookup fills WorkspaceLookup from the process:
// TANDEM_WORKSPACE and os.Getwd.
func DefaultWorkspaceLookup(explicit string) WorkspaceLookup {
	l := WorkspaceLookup{Explicit: explicit, Env: os.Getenv("TANDEM_WORKSPACE")}
	l.Cwd, _ = os.Getwd()
	return l
}

// FindWorkspace returns the path of the workspace file, found the way
// FindConfig finds the client config: Explicit, then Env, then the
// workspace_file recorded in .tandem/config.json (by `tandem up`) in Cwd
// and each of its parents. The nearest client config decides: one that
// records no workspace file ends the search (its folder belongs to a
// workspace attached by URL). An explicit path or TANDEM_WORKSPACE that
// does not exist is an error; nothing found is ENOTFOUND.
func FindWorkspace(l WorkspaceLookup) (string, error) {
	if p, err := named("workspace file", l.Explicit, l.Env); p != "" || err != nil {
		return p, err
	}
	notFound := tandem.Errorf(tandem.ENOTFOUND, "no workspace file found (--workspace, TANDEM_WORKSPACE, or the one `tandem up` records in .tandem/config.json here or in a parent folder)")
	if l.Cwd == "" {
		return "", notFound
	}
	dir, err := filepath.Abs(l.Cwd)
	if err != nil {
		return "", notFound
	}
	for {
		p := filepath.Join(dir, ConfigDir, ConfigFile)
		if _, err := os.Stat(p); err == nil {
			c, err := LoadConfig(p)
			if err != nil {
				return "", err
			}
			if c.WorkspaceFile == "" {
				return "", notFound
			}
			wp := c.WorkspaceFile
			if !filepath.IsAbs(wp) {
				wp = filepath.Join(dir, wp)
			}
			if _, err := os.Stat(wp); err != nil {
				return "", tandem.Errorf(tandem.ENOTFOUND, "workspace file %s (recorded in %s): %v", wp, p, errors.Unwrap(err))
			}
			return wp, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", notFound
		}
		dir = parent
	}
}

// LoadWorkspace finds the workspace file (FindWorkspace with
// DefaultWorkspaceLookup(explicit)) and loads it: every verb that needs
// the workspace file calls it.
func LoadWorkspace(explicit string) (*workspace.Workspace, error) {
	p, err := FindWorkspace(DefaultWorkspaceLookup(explicit))
	if err != nil {
		return nil, err
	}
	return workspace.Load(p)
}

// WorkspaceRegions is RegionsFromWorkspace for the workspace file that
// LoadWorkspace finds.
func WorkspaceRegions(explicit string) (*Regions, error) {
	ws, err := LoadWorkspace(explicit)
	if err != nil {
		return nil, err
	}
	return RegionsFromWorkspace(ws)
}

// RecordWorkspace returns the workspace_file value that points from the
// project folder dir to the workspace file at wsPath: relative when the
// file is inside dir, else absolute.
func RecordWorkspace(dir, wsPath string) string {
	ad, err1 := filepath.Abs(dir)
	aw, err2 := filepath.Abs(wsPath)
	if err1 != nil || err2 != nil {
		return wsPath
	}
	if rel, err := filepath.Rel(ad, aw); err == nil && filepath.IsLocal(rel) {
		return filepath.ToSlash(rel)
	}
	return aw
}

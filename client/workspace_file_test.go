package client

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tandemml/tandem"
)

// FindWorkspace looks where FindConfig looks: --workspace, then
// TANDEM_WORKSPACE, then the file tandem up recorded in .tandem/config.json
// here or in a parent folder.
func TestFindWorkspace(t *testing.T) {
	root := t.TempDir()
	project := filepath.Join(root, "project")
	deep := filepath.Join(project, "src", "pkg")
	os.MkdirAll(deep, 0o755)
	wsPath := filepath.Join(project, "tandem-data", "workspace.yaml")
	os.MkdirAll(filepath.Dir(wsPath), 0o755)
	os.WriteFile(wsPath, []byte("workspace: x\n"), 0o644)
	other := filepath.Join(root, "other.yaml")
	os.WriteFile(other, []byte("workspace: y\n"), 0o644)

	if _, err := FindWorkspace(WorkspaceLookup{Cwd: deep}); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("nothing recorded: %v", err)
	}
	rec := RecordWorkspace(project, wsPath)
	if rec != "tandem-data/workspace.yaml" {
		t.Fatalf("recorded as %q", rec)
	}
	if _, err := WriteConfig(project, &Config{Workspace: "x", Endpoints: []string{"http://127.0.0.1:1"}, WorkspaceFile: rec}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		l    WorkspaceLookup
		want string
	}{
		{"recorded, from a subfolder", WorkspaceLookup{Cwd: deep}, wsPath},
		{"recorded, here", WorkspaceLookup{Cwd: project}, wsPath},
		{"env before recorded", WorkspaceLookup{Env: other, Cwd: deep}, other},
		{"flag before env", WorkspaceLookup{Explicit: wsPath, Env: other, Cwd: root}, wsPath},
	} {
		got, err := FindWorkspace(c.l)
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	if _, err := FindWorkspace(WorkspaceLookup{Explicit: filepath.Join(root, "missing.yaml"), Cwd: project}); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("a missing --workspace is an error, not skipped: %v", err)
	}
	// The nearest client config decides: one attached by URL (no
	// workspace file) ends the search.
	if _, err := WriteConfig(deep, &Config{Workspace: "z", Endpoints: []string{"http://127.0.0.1:2"}}); err != nil {
		t.Fatal(err)
	}
	if got, err := FindWorkspace(WorkspaceLookup{Cwd: deep}); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("below an attached folder: %q, %v", got, err)
	}
	// A recorded file that is gone is an error that names it.
	os.Remove(wsPath)
	if _, err := FindWorkspace(WorkspaceLookup{Cwd: project}); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("recorded file removed: %v", err)
	}
	if got := RecordWorkspace(project, other); got != other {
		t.Fatalf("a file outside the project is recorded absolute: %q", got)
	}
}

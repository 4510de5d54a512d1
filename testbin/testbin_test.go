package testbin

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ModuleRoot(), "go.mod")); err != nil {
		t.Fatalf("ModuleRoot %s has no go.mod", ModuleRoot())
	}
	t.Setenv("TESTBIN_PROG", bin)
	if p, _ := Lookup(Tool{Env: "TESTBIN_PROG", Path: []string{"sh"}}); p != bin {
		t.Fatalf("the variable's path was not chosen: %q", p)
	}
	// A variable naming a missing file is not replaced by PATH.
	t.Setenv("TESTBIN_PROG", filepath.Join(dir, "missing"))
	if p, tried := Lookup(Tool{Env: "TESTBIN_PROG", Path: []string{"sh"}}); p != "" || len(tried) != 1 {
		t.Fatalf("Lookup = %q, tried %v", p, tried)
	}
	t.Setenv("TESTBIN_PROG", "")
	if p, _ := Lookup(Tool{Env: "TESTBIN_PROG", Path: []string{"sh"}}); p == "" {
		t.Fatal("sh not found on PATH")
	}
	if p, _ := Lookup(Tool{Path: []string{"sh"}, Accept: func(string) bool { return false }}); p != "" {
		t.Fatalf("a refused candidate was returned: %q", p)
	}
	if p, _ := Lookup(Tool{Repo: []string{"go.mod"}}); p != filepath.Join(ModuleRoot(), "go.mod") {
		t.Fatalf("repo path: %q", p)
	}
}

// Package testbin finds the programs that tests start beside tandem (an
// OCI registry, Ray, Dex, toxiproxy, Chromium, Prometheus, etcd). Each is
// named by an environment variable, else looked for under the module's
// .tandem folder (where scripts/test.sh builds it) and on PATH. A test
// without the program is skipped, or fails when its TANDEM_REQUIRE_*
// variable is 1, as in CI, so that a missing program never passes
// silently. Only tests import this package.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Tool says where one program may be.
type Tool struct {
	// Name is what the messages call it ("Dex").
	Name string
	// Env names the variable that gives its path. When it is set, only
	// that path is tried.
	Env string
	// Repo are paths relative to the module root (".tandem/bin/dex"), or
	// absolute ones.
	Repo []string
	// Path are names looked up on PATH.
	Path []string
	// Require names the variable that, at 1, makes a missing program a
	// failure rather than a skip.
	Require string
	// Hint says how to get it, for the message.
	Hint string
	// Accept, when set, must approve a candidate (for a generic name
	// such as "server" on PATH).
	Accept func(path string) bool
}

// Lookup returns the program's path, or "" and what was tried.
func Lookup(tool Tool) (string, []string) {
	var cands []string
	if tool.Env != "" && os.Getenv(tool.Env) != "" {
		cands = append(cands, os.Getenv(tool.Env))
	} else {
		root := ModuleRoot()
		for _, r := range tool.Repo {
			if !filepath.IsAbs(r) {
				r = filepath.Join(root, filepath.FromSlash(r))
			}
			cands = append(cands, r)
		}
		for _, n := range tool.Path {
			if p, err := exec.LookPath(n); err == nil {
				cands = append(cands, p)
			} else {
				cands = append(cands, n+" on PATH")
			}
		}
	}
	for _, p := range cands {
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			continue
		}
		if tool.Accept == nil || tool.Accept(p) {
			return p, cands
		}
	}
	return "", cands
}

// Find returns the program's path, or skips the test (fails it when the
// tool's Require variable is 1).
func Find(t testing.TB, tool Tool) string {
	t.Helper()
	p, tried := Lookup(tool)
	if p != "" {
		return p
	}
	msg := fmt.Sprintf("no %s (tried %s)", tool.Name, strings.Join(tried, ", "))
	if tool.Env != "" {
		msg += "; set " + tool.Env
	}
	if tool.Hint != "" {
		msg += "; " + tool.Hint
	}
	if tool.Require != "" && os.Getenv(tool.Require) == "1" {
		t.Fatalf("%s (%s=1)", msg, tool.Require)
	}
	t.Skip(msg)
	return ""
}

// ModuleRoot is the folder of tandem's go.mod.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Dex is the OIDC provider the identity tests run: $TANDEM_DEX, else
// .tandem/bin/dex (scripts/test.sh builds it from scripts/dex).
func Dex() Tool {
	return Tool{Name: "Dex", Env: "TANDEM_DEX", Repo: []string{".tandem/bin/dex"}, Require: "TANDEM_REQUIRE_OIDC",
		Hint: "cd scripts/dex && go build -o ../../.tandem/bin/dex github.com/dexidp/dex/cmd/dex"}
}

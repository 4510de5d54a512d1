package pyenv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tandemml/tandem"
)

// These tests build real virtualenvs on the host's python3 and install a
// tiny pure-Python package from the package index.

func basePython(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH")
	}
	return p
}

func condaEnv(t *testing.T, yaml string) (*tandem.Environment, map[string][]byte) {
	t.Helper()
	return &tandem.Environment{Image: "python:3-slim", CondaFile: "conda.yaml"}, map[string][]byte{"conda.yaml": []byte(yaml)}
}

func ensure(t *testing.T, c *Cache, name string, env *tandem.Environment, files map[string][]byte) (string, string) {
	t.Helper()
	var progress bytes.Buffer
	py, err := c.Ensure(context.Background(), name, env, files, &progress)
	if err != nil {
		t.Fatalf("Ensure %s: %v\n%s", name, err, progress.String())
	}
	return py, progress.String()
}

func TestEnsureBuildsOnceThenCached(t *testing.T) {
	t.Parallel()
	base := basePython(t)
	dir := t.TempDir()
	c := New(dir, base, nil)
	c.Installer = InstallerPip
	env, files := condaEnv(t, "name: six\ndependencies:\n  - pip\n  - pip:\n    - six==1.16.0\n")

	py, progress := ensure(t, c, "six:1", env, files)
	if !strings.Contains(progress, "building environment") || !strings.Contains(progress, "pip install 1 requirement") {
		t.Fatalf("first Ensure did not build:\n%s", progress)
	}
	out, err := exec.Command(py, "-c", "import six, sys; print(six.__version__); print(sys.prefix)").CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", py, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if lines[0] != "1.16.0" || lines[1] != filepath.Dir(filepath.Dir(py)) {
		t.Fatalf("the virtualenv's python says %q (at %s)", lines, py)
	}
	if !strings.HasPrefix(py, dir) {
		t.Fatalf("python %s outside the cache %s", py, dir)
	}
	// The installed scripts name the interpreter where it stays.
	pipScript, _ := os.ReadFile(filepath.Join(filepath.Dir(py), "pip"))
	if !bytes.Contains(pipScript, []byte(py)) {
		t.Fatalf("bin/pip does not run %s:\n%s", py, pipScript)
	}
	manifest := filepath.Dir(filepath.Dir(py)) + ".json"
	st1, err := os.Stat(manifest)
	if err != nil {
		t.Fatal(err)
	}

	// Again, from this cache and from a new one on the same folder (a
	// restarted region), written differently: no build.
	again := "dependencies:\n  - pip:\n    - Six == 1.16.0\n"
	env2, files2 := condaEnv(t, again)
	for i, cc := range []*Cache{c, New(dir, base, nil)} {
		py2, progress := ensure(t, cc, "six:2", env2, files2)
		if py2 != py || strings.Contains(progress, "building") || !strings.Contains(progress, "cached") {
			t.Fatalf("Ensure #%d: python %s, progress:\n%s", i+2, py2, progress)
		}
	}
	st2, _ := os.Stat(manifest)
	if !st2.ModTime().Equal(st1.ModTime()) {
		t.Fatal("the manifest was rewritten: the environment was built again")
	}
}

// Concurrent Ensure calls of one environment build it once, also from two
// caches on one folder (as two regions on one host): their in-process
// locks differ, the lock file is shared.
func TestEnsureConcurrent(t *testing.T) {
	t.Parallel()
	base := basePython(t)
	dir := t.TempDir()
	caches := []*Cache{New(dir, base, nil), New(dir, base, nil)}
	for _, c := range caches {
		c.Installer = InstallerPip
	}
	env, files := condaEnv(t, "name: empty\ndependencies: [pip]\n")
	var wg sync.WaitGroup
	pys := make([]string, 4)
	progress := make([]bytes.Buffer, 4)
	errs := make([]error, 4)
	for i := range pys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pys[i], errs[i] = caches[i%2].Ensure(context.Background(), "empty", env, files, &progress[i])
		}()
	}
	wg.Wait()
	builds := 0
	for i := range pys {
		if errs[i] != nil {
			t.Fatalf("Ensure %d: %v", i, errs[i])
		}
		if pys[i] != pys[0] {
			t.Fatalf("two pythons: %s, %s", pys[0], pys[i])
		}
		builds += strings.Count(progress[i].String(), "building environment")
	}
	if builds != 1 {
		t.Fatalf("%d builds of one environment", builds)
	}
	if out, err := exec.Command(pys[0], "-c", "import sys; print(sys.prefix != sys.base_prefix)").Output(); err != nil || strings.TrimSpace(string(out)) != "True" {
		t.Fatalf("not a virtualenv: %s %v", out, err)
	}
}

// A requirement pip cannot install fails with pip's own words, publishes
// nothing, and is tried afresh next time.
func TestEnsurePipFailure(t *testing.T) {
	t.Parallel()
	base := basePython(t)
	dir := t.TempDir()
	c := New(dir, base, nil)
	c.Installer = InstallerPip
	env, files := condaEnv(t, "dependencies:\n  - tandem-test-no-such-package-zq==0.0.1\n")
	for i := 0; i < 2; i++ {
		var progress bytes.Buffer
		_, err := c.Ensure(context.Background(), "broken:1", env, files, &progress)
		if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), "environment broken:1: installing its requirements failed") ||
			!strings.Contains(err.Error(), "tandem-test-no-such-package-zq") {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		if !strings.Contains(progress.String(), "building environment") {
			t.Fatalf("attempt %d did not build:\n%s", i+1, progress.String())
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, "envs", "*.json"))
	if len(left) != 0 {
		t.Fatalf("a failed build published %v", left)
	}
}

func TestEnsureRefuses(t *testing.T) {
	base := basePython(t)
	c := New(t.TempDir(), base, nil)
	out, err := exec.Command(base, "-c", "import sys; print('%d.%d' % sys.version_info[:2])").Output()
	if err != nil {
		t.Fatal(err)
	}
	have := strings.TrimSpace(string(out))
	env, files := condaEnv(t, "dependencies:\n  - python=2.7\n")
	_, err = c.Ensure(context.Background(), "old:1", env, files, nil)
	if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), "environment old:1") ||
		!strings.Contains(err.Error(), "python ==2.7.*") || !strings.Contains(err.Error(), "python is "+have) {
		t.Fatalf("python 2.7: %v", err)
	}
	_, err = c.Ensure(context.Background(), "serve:3", &tandem.Environment{Image: "nginx:1"}, nil, nil)
	want := "environment serve:3 needs a container image; compute type local runs Python virtualenvs only"
	if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), want) {
		t.Fatalf("image only: %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(c.dir, "envs")); len(entries) != 0 {
		t.Fatalf("refused environments left %d entries", len(entries))
	}
}

// With uv on PATH, the same build goes through uv.
func TestEnsureUV(t *testing.T) {
	base := basePython(t)
	if _, err := exec.LookPath("uv"); err != nil {
		t.Skip("no uv on PATH")
	}
	c := New(t.TempDir(), base, nil)
	env, files := condaEnv(t, "dependencies:\n  - six==1.16.0\n")
	py, progress := ensure(t, c, "six:uv", env, files)
	if !strings.Contains(progress, "uv venv") {
		t.Fatalf("not built with uv:\n%s", progress)
	}
	out, err := exec.Command(py, "-c", "import six; print(six.__version__)").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "1.16.0" {
		t.Fatalf("%s: %s %v", py, out, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(py), "pip")); err != nil {
		t.Fatalf("no pip in the uv virtualenv: %v", err)
	}
	_, progress = ensure(t, c, "six:uv", env, files)
	if strings.Contains(progress, "building") {
		t.Fatalf("second Ensure built:\n%s", progress)
	}
}

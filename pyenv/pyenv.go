// Package pyenv materialises a tandem.Environment as a Python virtualenv
// for local compute: it reads the environment's conda file or pip
// requirements (Requirements, pure), and builds one virtualenv per
// distinct requirement list on the host's base Python (Cache.Ensure).
//
// Virtualenvs are cached under the cache folder by the SHA-256 digest of
// the normalised requirement list and the base Python's version:
//
//	envs/<id>/       the virtualenv (bin/python); id = the digest's first 32 hex digits
//	envs/<id>.json   its manifest (the full digest), written last, through a rename
//	envs/<id>.lock   held while it is being built
//
// A virtualenv cannot move once built (its scripts name their interpreter
// by absolute path), so it is built in its final folder and published by
// the atomic rename of its manifest: a folder without a manifest is never
// used, and is rebuilt from scratch by the next Ensure. Concurrent Ensure
// calls for one digest, in this process or another sharing the folder,
// build it once.
//
// uv is used when found on PATH (never downloading a Python of its own),
// else "python -m venv" and pip.
package pyenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/keylock"
)

// Installers.
const (
	InstallerAuto = ""    // uv when on PATH, else pip
	InstallerUV   = "uv"  // uv venv + uv pip install
	InstallerPip  = "pip" // python -m venv + pip install
)

// Cache builds and keeps virtualenvs.
type Cache struct {
	dir  string
	base string
	log  *slog.Logger
	// Installer chooses the tool (InstallerAuto, InstallerUV,
	// InstallerPip).
	Installer string

	locks keylock.Locks

	mu          sync.Mutex
	baseVersion string // found once, by the first Ensure that needs it
}

// New returns a cache of virtualenvs under cacheDir built on basePython
// (a path or a command name; "python3" when empty).
func New(cacheDir, basePython string, log *slog.Logger) *Cache {
	if abs, err := filepath.Abs(cacheDir); err == nil {
		cacheDir = abs
	}
	if basePython == "" {
		basePython = "python3"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{dir: cacheDir, base: basePython, log: log}
}

// manifest is envs/<digest>.json.
type manifest struct {
	Digest    string   `json:"digest"`
	Python    string   `json:"python"`      // the virtualenv's interpreter
	Base      string   `json:"base_python"` // its version
	Installer string   `json:"installer"`
	Pip       []string `json:"pip"`
	BuiltMS   int64    `json:"built_ms"`
}

// Ensure returns the interpreter of a virtualenv that satisfies env,
// building it on first use. name is the environment's name (for
// messages); files holds the environment's files by path (its conda file
// or requirements). Progress lines, and the installer's own output, go to
// progress. An environment that is only an image, a python version the
// base Python does not meet, or requirements pip cannot install are
// EINVALID, with pip's words in the message.
func (c *Cache) Ensure(ctx context.Context, name string, env *tandem.Environment, files map[string][]byte, progress io.Writer) (string, error) {
	if progress == nil {
		progress = io.Discard
	}
	if env == nil {
		return "", tandem.Errorf(tandem.EINVALID, "environment %s: no definition", name)
	}
	spec, err := Requirements(name, env, files)
	if err != nil {
		return "", err
	}
	version, err := c.baseVersionOf(ctx)
	if err != nil {
		return "", err
	}
	if err := spec.CheckPython(version); err != nil {
		return "", tandem.Errorf(tandem.EINVALID, "environment %s: %s (local compute builds virtualenvs on the host's python %s)", name, err, c.base)
	}
	digest := spec.Digest(version)
	short := digest[:12]
	if py, ok := c.ready(digest); ok {
		fmt.Fprintf(progress, "environment %s cached (%s)\n", short, py)
		return py, nil
	}

	unlock, err := c.lock(ctx, digest)
	if err != nil {
		return "", err
	}
	defer unlock()
	if py, ok := c.ready(digest); ok { // built while we waited
		fmt.Fprintf(progress, "environment %s cached (%s)\n", short, py)
		return py, nil
	}
	if len(spec.Ignored) > 0 {
		fmt.Fprintf(progress, "environment %s: leaving out conda-only packages: %s\n", short, strings.Join(spec.Ignored, ", "))
	}
	if env.Image != "" || env.Build != nil {
		fmt.Fprintf(progress, "environment %s: local compute ignores the image and uses a virtualenv\n", short)
	}
	py, err := c.build(ctx, name, spec, version, digest, progress)
	if err != nil {
		return "", err
	}
	return py, nil
}

// envDir is the virtualenv's folder, named by the digest's first 128
// bits (shorter paths keep scripts' #! lines within the kernel's limit).
func (c *Cache) envDir(digest string) string { return filepath.Join(c.dir, "envs", digest[:32]) }

// ready reads a published virtualenv's manifest and checks its
// interpreter is still there.
func (c *Cache) ready(digest string) (string, bool) {
	b, err := os.ReadFile(c.envDir(digest) + ".json")
	if err != nil {
		return "", false
	}
	var m manifest
	if json.Unmarshal(b, &m) != nil || m.Digest != digest {
		return "", false
	}
	if _, err := os.Stat(m.Python); err != nil {
		return "", false
	}
	return m.Python, true
}

// lock takes the build lock of digest: in this process, then on the lock
// file for other processes.
func (c *Cache) lock(ctx context.Context, digest string) (func(), error) {
	unlock := c.locks.Lock(digest)
	if err := os.MkdirAll(filepath.Join(c.dir, "envs"), 0o755); err != nil {
		unlock()
		return nil, fmt.Errorf("pyenv: cache folder: %w", err)
	}
	release, err := lockFile(ctx, c.envDir(digest)+".lock")
	if err != nil {
		unlock()
		return nil, err
	}
	return func() { release(); unlock() }, nil
}

// baseVersionOf runs the base Python once to learn its version.
func (c *Cache) baseVersionOf(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.baseVersion != "" {
		return c.baseVersion, nil
	}
	out, err := exec.CommandContext(ctx, c.base, "-c", `import sys; print("%d.%d.%d" % sys.version_info[:3])`).Output()
	if err != nil {
		return "", fmt.Errorf("pyenv: base python %s: %w", c.base, err)
	}
	c.baseVersion = strings.TrimSpace(string(out))
	return c.baseVersion, nil
}

func (c *Cache) installer() string {
	if c.Installer != InstallerAuto {
		return c.Installer
	}
	if _, err := exec.LookPath("uv"); err == nil {
		return InstallerUV
	}
	return InstallerPip
}

// build makes the virtualenv in its final folder and publishes it. The
// caller holds the digest's lock.
func (c *Cache) build(ctx context.Context, name string, spec *Spec, version, digest string, progress io.Writer) (string, error) {
	short := digest[:12]
	dir := c.envDir(digest)
	inst := c.installer()
	// Whatever is there has no manifest: a build that failed or crashed.
	if err := os.Remove(dir + ".json"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("pyenv: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("pyenv: clear %s: %w", dir, err)
	}
	t0 := time.Now()
	fmt.Fprintf(progress, "building environment %s: %s venv on python %s\n", short, inst, version)
	py := filepath.Join(dir, "bin", "python")
	var venv []string
	if inst == InstallerUV {
		// --seed: pip in the virtualenv too, for commands that run
		// "pip install" themselves.
		venv = []string{"uv", "venv", "--quiet", "--seed", "--python", c.base, dir}
	} else {
		venv = []string{c.base, "-m", "venv", dir}
	}
	if tail, err := c.run(ctx, progress, venv...); err != nil {
		os.RemoveAll(dir)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		c.log.Error("creating a virtualenv failed", "environment", name, "digest", short, "err", err, "output", lastLines(tail, 15))
		return "", fmt.Errorf("pyenv: create virtualenv %s: %w", short, err)
	}
	if len(spec.Pip) > 0 {
		reqFile := filepath.Join(dir, "tandem-requirements.txt")
		if err := os.WriteFile(reqFile, []byte(strings.Join(spec.Pip, "\n")+"\n"), 0o644); err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("pyenv: %w", err)
		}
		fmt.Fprintf(progress, "building environment %s: pip install %d requirement(s)\n", short, len(spec.Pip))
		var install []string
		if inst == InstallerUV {
			install = []string{"uv", "pip", "install", "--python", py, "-r", reqFile}
		} else {
			install = []string{py, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-r", reqFile}
		}
		if tail, err := c.run(ctx, progress, install...); err != nil {
			os.RemoveAll(dir)
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			c.log.Info("environment install failed", "environment", name, "digest", short, "err", err)
			return "", tandem.Errorf(tandem.EINVALID, "environment %s: installing its requirements failed: %s", name, lastLines(tail, 15))
		}
	}
	m := manifest{Digest: digest, Python: py, Base: version, Installer: inst, Pip: spec.Pip, BuiltMS: time.Now().UnixMilli()}
	if err := writeManifest(dir+".json", m); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	c.log.Info("environment built", "environment", name, "digest", short, "installer", inst, "packages", len(spec.Pip), "seconds", time.Since(t0).Seconds())
	fmt.Fprintf(progress, "environment %s built in %.1fs (%s)\n", short, time.Since(t0).Seconds(), py)
	return py, nil
}

// run runs an installer command with its output going to progress; it
// returns the output's end for error messages.
func (c *Cache) run(ctx context.Context, progress io.Writer, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	tail := &tailBuffer{max: 16 << 10}
	w := io.MultiWriter(progress, tail)
	cmd.Stdout, cmd.Stderr = w, w
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME", "PYTHONPATH":
			// tandem's own environment must not redirect the install.
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_INPUT=1",
		"UV_PYTHON_DOWNLOADS=never") // the host's python, never one fetched
	err := cmd.Run()
	return tail.buf.Bytes(), err
}

func writeManifest(p string, m manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("pyenv: write manifest: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("pyenv: publish manifest: %w", err)
	}
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

// lastLines is the end of an installer's output, for a message.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

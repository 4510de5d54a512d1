package main

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/storetest"
)

var update = flag.Bool("update", false, "rewrite golden files")

const secretValue = "TOPSECRET-d4t4st0re-credential-value"

var projectDir = filepath.Join("..", "..", "client", "testdata", "project")

// run executes the CLI in-process and returns its output and error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("tandem %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// startRegion runs a whole region (as `tandem server` does) on loopback and
// writes a workspace config for it; it returns the config path.
func startRegion(t *testing.T, name string) (cfg string, logs *lockedBuffer) {
	t.Helper()
	logs = &lockedBuffer{}
	r, err := region.Open(t.Context(), region.Config{Name: name, MetadataURL: storetest.SQLiteURL(t),
		ArtifactsURL: storetest.FileURL(t), Logger: newTestLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	hs := httptest.NewServer(r.Handler())
	t.Cleanup(hs.Close)
	dir := t.TempDir()
	mustRun(t, "attach", "--workspace", name, "--endpoint", hs.URL, "--path", dir)
	return filepath.Join(dir, ".tandem", "config.json"), logs
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/tandem -run %s -update)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs from golden file %s:\n--- got\n%s\n--- want\n%s", name, p, got, want)
	}
}

func TestHelpGolden(t *testing.T) {
	for _, args := range [][]string{
		{"attach"}, {"config"}, {"config", "tracking-uri"},
		{"model"}, {"model", "create"}, {"model", "download"},
		{"environment"}, {"environment", "create"}, {"environment", "show"}, {"environment", "list"}, {"environment", "archive"},
		{"data"}, {"data", "create"}, {"datastore"}, {"datastore", "create"},
		{"component"}, {"component", "download"}, {"pipeline"}, {"pipeline", "create"},
	} {
		out := mustRun(t, append(args, "--help")...)
		if !strings.Contains(out, "Example") && len(args) > 1 {
			t.Errorf("tandem %s --help has no example", strings.Join(args, " "))
		}
		golden(t, "help-"+strings.Join(args, "-")+".txt", out)
	}
}

var timesRE = regexp.MustCompile(`("(created|updated)_ms": )\d+|(Created\s+)\S+`)

func normalize(s string) string { return timesRE.ReplaceAllString(s, "${1}${3}TIME") }

// TestOutputGolden: table, JSON and YAML output of show and list.
func TestOutputGolden(t *testing.T) {
	cfg, _ := startRegion(t, "east")
	for _, f := range []string{"datastore.yaml", "environment.yaml", "data.yaml", "data-shared.yaml", "component.yaml"} {
		kind := strings.TrimSuffix(strings.TrimSuffix(f, ".yaml"), "-shared")
		mustRun(t, kind, "create", "-f", filepath.Join(projectDir, f), "--config", cfg, "-o", "json")
	}
	mustRun(t, "environment", "create", "-f", filepath.Join(projectDir, "environment.yaml"), "--config", cfg)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"environment-list.txt", []string{"environment", "list"}},
		{"environment-list-versions.json", []string{"environment", "list", "-n", "serve-env", "-o", "json"}},
		{"environment-show.txt", []string{"environment", "show", "-n", "serve-env", "-v", "1"}},
		{"environment-show.json", []string{"environment", "show", "-n", "serve-env", "-o", "json"}},
		{"environment-show.yaml", []string{"environment", "show", "-n", "serve-env", "-o", "yaml"}},
		{"data-list.txt", []string{"data", "list"}},
		{"data-show-shared.txt", []string{"data", "show", "-n", "iris-shared"}},
		{"datastore-list.txt", []string{"datastore", "list"}},
		{"datastore-show.txt", []string{"datastore", "show", "-n", "shared_s3"}},
		{"datastore-show.json", []string{"datastore", "show", "-n", "shared_s3", "-o", "json"}},
		{"component-list.json", []string{"component", "list", "-o", "json"}},
	} {
		out := mustRun(t, append(c.args, "--config", cfg)...)
		if strings.Contains(out, secretValue) {
			t.Fatalf("%v printed the secret", c.args)
		}
		golden(t, c.name, normalize(out))
	}
	if got := mustRun(t, "config", "tracking-uri", "--config", cfg); !strings.HasPrefix(got, "http://127.0.0.1:") {
		t.Fatalf("tracking-uri = %q", got)
	}
}

// TestCLIRoundTrip: for every asset kind, create from YAML in workspace A,
// download, create from the download in workspace B, download again: the
// two folders are byte-for-byte identical (canonical YAML and files). No
// output, log line or downloaded file holds the datastore secret.
func TestCLIRoundTrip(t *testing.T) {
	cfgA, logsA := startRegion(t, "east")
	cfgB, logsB := startRegion(t, "west")
	out := t.TempDir()
	var printed strings.Builder
	for _, c := range []struct{ file, kind, name string }{
		{"datastore.yaml", "datastore", "shared_s3"},
		{"environment.yaml", "environment", "serve-env"},
		{"data.yaml", "data", "iris"},
		{"data-shared.yaml", "data", "iris-shared"},
		{"component.yaml", "component", "train"},
		{"pipeline.yaml", "pipeline", "train-pipeline"},
		{"model.yaml", "model", "iris-model"},
	} {
		printed.WriteString(mustRun(t, c.kind, "create", "-f", filepath.Join(projectDir, c.file), "--config", cfgA))
		if c.kind == "datastore" {
			// No download for datastores (credentials are write-only): the
			// YAML from show, plus the credentials, recreates it in B.
			y := mustRun(t, "datastore", "show", "-n", c.name, "-o", "yaml", "--config", cfgA)
			printed.WriteString(y)
			mustRun(t, "datastore", "create", "-f", filepath.Join(projectDir, c.file), "--config", cfgB)
			y2 := mustRun(t, "datastore", "show", "-n", c.name, "-o", "yaml", "--config", cfgB)
			if y != y2 {
				t.Fatalf("datastore YAML differs:\n%s\n%s", y, y2)
			}
			continue
		}
		dirA, dirB := filepath.Join(out, "A", c.name), filepath.Join(out, "B", c.name)
		printed.WriteString(mustRun(t, c.kind, "download", "-n", c.name, "-p", dirA, "--config", cfgA))
		printed.WriteString(mustRun(t, c.kind, "create", "-f", filepath.Join(dirA, c.kind+".yaml"), "--config", cfgB, "-o", "json"))
		printed.WriteString(mustRun(t, c.kind, "download", "-n", c.name, "-p", dirB, "--config", cfgB))
		a, b := readTree(t, dirA), readTree(t, dirB)
		if len(a) == 0 || len(a) != len(b) {
			t.Fatalf("%s: downloads differ: %d vs %d files", c.file, len(a), len(b))
		}
		for p, content := range a {
			if b[p] != content {
				t.Fatalf("%s: %s differs between workspaces:\n%s\n---\n%s", c.file, p, content, b[p])
			}
		}
	}
	if !strings.Contains(printed.String(), "Downloaded environment serve-env version 1 (3 files)") {
		t.Fatalf("download output:\n%s", printed.String())
	}
	all := printed.String() + logsA.String() + logsB.String()
	for _, s := range []string{secretValue, "AKIATANDEMTESTKEY"} {
		if strings.Contains(all, s) {
			t.Fatalf("secret %q printed or logged", s)
		}
	}
	for p, content := range readTree(t, out) {
		if strings.Contains(content, secretValue) {
			t.Fatalf("secret in downloaded %s", p)
		}
	}
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			m[rel] = string(b)
		}
		return nil
	})
	return m
}

// TestExitCodes: usage 2, not found 3, already exists 4, unreachable 5.
func TestExitCodes(t *testing.T) {
	cfg, _ := startRegion(t, "east")
	envFile := filepath.Join(projectDir, "environment.yaml")
	mustRun(t, "environment", "create", "-f", envFile, "-v", "7", "--config", cfg)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: x\nimage: y\nflavour: z\n"), 0o644)
	dead := filepath.Join(t.TempDir())
	mustRun(t, "attach", "-w", "gone", "-e", "http://127.0.0.1:1", "--path", dead)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"environment", "show", "-n", "nope", "--config", cfg}, 3, "not found"},
		{[]string{"environment", "create", "-f", envFile, "-v", "7", "--config", cfg}, 4, "already exists"},
		{[]string{"environment", "create", "-f", bad, "--config", cfg}, 2, "bad.yaml:3:1: unknown field \"flavour\""},
		{[]string{"environment", "list", "--bogus", "--config", cfg}, 2, "unknown flag"},
		{[]string{"environment", "list", "-o", "xml", "--config", cfg}, 2, "--output"},
		{[]string{"environment", "show", "--config", cfg}, 2, "--name is required"},
		{[]string{"environment", "list", "--config", filepath.Join(dead, ".tandem", "config.json")}, 5, "no endpoint"},
		{[]string{"environment", "list", "--config", filepath.Join(dead, "missing.json")}, 3, "missing.json"},
	} {
		_, err := run(t, c.args...)
		if err == nil {
			t.Errorf("%v succeeded", c.args)
			continue
		}
		if got := exitCode(err); got != c.code || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%v: exit %d %v; want %d with %q", c.args, got, err, c.code, c.msg)
		}
	}
	_ = tandem.EINVALID
}

// lockedBuffer is a log sink the server's goroutines and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestCLIDiscoversConfig: without --config the CLI finds .tandem/config.json
// from a nested folder, and TANDEM_CONFIG wins over it.
func TestCLIDiscoversConfig(t *testing.T) {
	proj := t.TempDir()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("TANDEM_CONFIG", "")
	mustRun(t, "attach", "-w", "proj", "-e", "http://127.0.0.1:5001", "-e", "http://127.0.0.1:5002", "--path", proj)
	nested := filepath.Join(proj, "src", "pkg", "deep")
	os.MkdirAll(nested, 0o755)
	t.Chdir(nested)
	if got := mustRun(t, "config", "tracking-uri"); got != "http://127.0.0.1:5001\n" {
		t.Fatalf("tracking-uri from a nested folder = %q", got)
	}
	if got := mustRun(t, "config", "show"); !strings.Contains(got, "endpoint 2: http://127.0.0.1:5002") {
		t.Fatalf("config show:\n%s", got)
	}
	other := t.TempDir()
	mustRun(t, "attach", "-w", "other", "-e", "http://127.0.0.1:6001", "--path", other)
	t.Setenv("TANDEM_CONFIG", filepath.Join(other, ".tandem", "config.json"))
	if got := mustRun(t, "config", "tracking-uri"); got != "http://127.0.0.1:6001\n" {
		t.Fatalf("TANDEM_CONFIG ignored: %q", got)
	}
}

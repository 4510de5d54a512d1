package rayexec

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

func TestEntrypoint(t *testing.T) {
	plain := tandem.LaunchSpec{ID: "j", Command: "python train.py --lr 0.1"}
	if got := entrypoint(plain); got != plain.Command {
		t.Fatalf("no outputs: %q", got)
	}
	if extraFiles(plain) != nil {
		t.Fatal("no outputs, yet an uploader in the package")
	}
	spec := tandem.LaunchSpec{ID: "j", Command: `python train.py --out "$TANDEM_OUTPUTS"/model && echo 'done'`,
		Outputs:             []tandem.LaunchOutput{{Name: "model"}, {Name: "ckpt", Checkpoint: true, Restore: true}, {Name: "state", Checkpoint: true}},
		OutputsArtifactPath: "3/abc/artifacts/outputs", CheckpointInterval: 2500 * time.Millisecond}
	want := `exec python _tandem_outputs.py --path 3/abc/artifacts/outputs --interval 2.5 --output model --restore ckpt --checkpoint state -- ` +
		`'python train.py --out "$TANDEM_OUTPUTS"/model && echo '\''done'\'''`
	if got := entrypoint(spec); got != want {
		t.Fatalf("entrypoint\n%s\nwant\n%s", got, want)
	}
	// The shell gives the uploader the command as it was, as one word.
	out, err := exec.Command("sh", "-c", `set -- `+strings.TrimPrefix(want, "exec python ")+`; shift 12; printf %s "$*"`).Output()
	if err != nil || string(out) != spec.Command {
		t.Fatalf("the command through sh: %q %v", out, err)
	}
	if b := extraFiles(spec)[uploaderName]; string(b) != string(uploaderScript) || len(b) == 0 {
		t.Fatalf("package extra files: %v", extraFiles(spec))
	}
	if submitted := newSubmitRequest(spec, "gcs://x"); submitted.Entrypoint != want {
		t.Fatalf("submitted entrypoint %q", submitted.Entrypoint)
	}
	if got := tandem.OutputRef("model"); got != `"$TANDEM_OUTPUTS"/model` {
		t.Fatalf("OutputRef %q", got)
	}
}

func TestPackDirExtra(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"train.py": "print(1)\n", "z/last.txt": "z"})
	pkg, err := packDir(dir, t.TempDir(), map[string][]byte{uploaderName: []byte("script")})
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(pkg.Path)
	names, content := zipEntries(t, pkg.Path)
	if content[uploaderName] != "script" {
		t.Fatalf("%s holds %q", uploaderName, content[uploaderName])
	}
	if got := strings.Join(names, " "); got != "train.py z/ z/last.txt "+uploaderName {
		t.Fatalf("entries: %s", got)
	}
	// Only the extra files, without a folder.
	only, err := packDir("", t.TempDir(), map[string][]byte{uploaderName: []byte("script")})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(only.Path)
	if only.Name == pkg.Name {
		t.Fatal("the folder's files changed nothing")
	}
	// A job's own file of that name is refused, not overwritten.
	writeTree(t, dir, map[string]string{uploaderName: "mine"})
	if _, err := packDir(dir, t.TempDir(), map[string][]byte{uploaderName: []byte("script")}); tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), uploaderName) {
		t.Fatalf("a folder holding %s: %v", uploaderName, err)
	}
}

// proxy stands for the region's artifact proxy: it keeps what is PUT and
// serves listings and downloads of what it holds, and refuses PUTs under
// refuse.
type proxy struct {
	mu     sync.Mutex
	files  map[string]string // path -> content
	auth   map[string]string // path -> Authorization of its PUT
	refuse string
	marker string            // a file created when the first PUT arrives
	api    map[string]string // URL path -> content, served outside the artifact proxy (the region's API)
	gets   []string          // the URL paths asked for, with their Authorization
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	const root = "/api/2.0/mlflow-artifacts/artifacts"
	if r.Method == http.MethodGet {
		p.gets = append(p.gets, r.URL.Path+" "+r.Header.Get("Authorization"))
	}
	if b, ok := p.api[r.URL.Path]; ok && r.Method == http.MethodGet {
		w.Write([]byte(b))
		return
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, root), "/")
	switch {
	case r.Method == http.MethodPut:
		if p.refuse != "" && strings.HasPrefix(rel, p.refuse) {
			http.Error(w, `{"error_code":"PERMISSION_DENIED"}`, http.StatusForbidden)
			return
		}
		b, _ := io.ReadAll(r.Body)
		p.files[rel], p.auth[rel] = string(b), r.Header.Get("Authorization")
		if p.marker != "" {
			os.WriteFile(p.marker, nil, 0o644)
		}
		w.Write([]byte("{}"))
	case r.Method == http.MethodGet && rel == "":
		dir := r.URL.Query().Get("path") + "/"
		seen := map[string]bool{}
		var list []map[string]any
		for f := range p.files {
			rest, ok := strings.CutPrefix(f, dir)
			if !ok {
				continue
			}
			name, _, isDir := strings.Cut(rest, "/")
			if !seen[name] {
				seen[name] = true
				list = append(list, map[string]any{"path": name, "is_dir": isDir})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"files": list})
	case r.Method == http.MethodGet:
		if b, ok := p.files[rel]; ok {
			w.Write([]byte(b))
			return
		}
		http.NotFound(w, r)
	default:
		http.Error(w, "no", http.StatusMethodNotAllowed)
	}
}

func (p *proxy) got() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]string{}
	for k, v := range p.files {
		out[k] = v
	}
	return out
}

// wrapped is spec's entrypoint as Ray would run it (sh in a working
// folder holding the package's extra files), against the proxy at url,
// with its temporary folders in tmp. A `python` on PATH is the host's
// python3, as Ray's runtime environment has one.
func wrapped(t *testing.T, spec tandem.LaunchSpec, url, tmp string) *exec.Cmd {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3")
	}
	bin, work := t.TempDir(), t.TempDir()
	if err := os.Symlink(py, filepath.Join(bin, "python")); err != nil {
		t.Fatal(err)
	}
	for name, b := range extraFiles(spec) {
		if err := os.WriteFile(filepath.Join(work, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", "-c", entrypoint(spec))
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "TMPDIR="+tmp,
		"MLFLOW_TRACKING_URI="+url+"/", "MLFLOW_TRACKING_TOKEN=tok-1")
	return cmd
}

// runWrapped runs wrapped and returns its exit code and output.
func runWrapped(t *testing.T, spec tandem.LaunchSpec, url string) (int, string) {
	t.Helper()
	out, err := wrapped(t, spec, url, t.TempDir()).CombinedOutput()
	return exitCode(t, err), string(out)
}

// checkJobFolder: the folder the command printed last as "folder=PATH" is
// a temporary one of the wrapper's (named with prefix), removed at the end.
func checkJobFolder(t *testing.T, out, prefix string) {
	t.Helper()
	_, folder, _ := strings.Cut(out, "folder=")
	folder = strings.TrimSpace(folder)
	if !strings.Contains(folder, prefix) {
		t.Fatalf("the job's folder %q is not one named %s*", folder, prefix)
	}
	if _, err := os.Stat(folder); !os.IsNotExist(err) {
		t.Fatalf("the job's folder %s is left behind: %v", folder, err)
	}
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestUploader(t *testing.T) {
	const base = "7/run1/artifacts/outputs"
	newProxy := func() (*proxy, string) {
		p := &proxy{files: map[string]string{}, auth: map[string]string{}}
		srv := httptest.NewServer(p)
		t.Cleanup(srv.Close)
		return p, srv.URL
	}

	t.Run("uploads the outputs after the command, keeps its exit code", func(t *testing.T) {
		p, url := newProxy()
		spec := tandem.LaunchSpec{OutputsArtifactPath: base, Outputs: []tandem.LaunchOutput{{Name: "model"}, {Name: "empty"}},
			Command: `mkdir -p "$AZUREML_OUTPUT_model/sub" && printf 'x\001y' > "$AZUREML_OUTPUT_model/sub/a b.bin" && ` +
				`echo hi > ` + tandem.OutputRef("model") + `/top.txt && ln -s /etc/passwd ` + tandem.OutputRef("model") + `/link && ` +
				`echo "folder=$TANDEM_OUTPUTS"`}
		code, out := runWrapped(t, spec, url)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		want := map[string]string{base + "/model/sub/a b.bin": "x\001y", base + "/model/top.txt": "hi\n"}
		if got := p.got(); len(got) != len(want) || got[base+"/model/sub/a b.bin"] != want[base+"/model/sub/a b.bin"] || got[base+"/model/top.txt"] != "hi\n" {
			t.Fatalf("uploaded %q, want %q", got, want)
		}
		if a := p.auth[base+"/model/top.txt"]; a != "Bearer tok-1" {
			t.Fatalf("Authorization %q", a)
		}
		// The folder was a temporary one of the job's, removed at the end.
		checkJobFolder(t, out, "tandem-outputs-")
	})

	t.Run("a failed command uploads only its checkpoints", func(t *testing.T) {
		p, url := newProxy()
		spec := tandem.LaunchSpec{OutputsArtifactPath: base, Outputs: []tandem.LaunchOutput{{Name: "model"}, {Name: "ckpt", Checkpoint: true}},
			Command: `echo m > "$AZUREML_OUTPUT_model/m" && echo c > "$TANDEM_CHECKPOINT_DIR/c" && exit 3`}
		code, out := runWrapped(t, spec, url)
		if code != 3 {
			t.Fatalf("exit %d, want the command's 3: %s", code, out)
		}
		if got := p.got(); len(got) != 1 || got[base+"/ckpt/c"] != "c\n" {
			t.Fatalf("uploaded %q", got)
		}
	})

	t.Run("checkpoints go up while the command runs", func(t *testing.T) {
		p, url := newProxy()
		p.marker = filepath.Join(t.TempDir(), "arrived")
		spec := tandem.LaunchSpec{OutputsArtifactPath: base, CheckpointInterval: 100 * time.Millisecond,
			Outputs: []tandem.LaunchOutput{{Name: "ckpt", Checkpoint: true}},
			// Succeeds only if the checkpoint reached the proxy within
			// 10 s, while the command still ran.
			Command: `echo step1 > "$TANDEM_CHECKPOINT_DIR/c"; i=0; while [ ! -f ` + p.marker + ` ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; test -f ` + p.marker}
		if code, out := runWrapped(t, spec, url); code != 0 {
			t.Fatalf("the checkpoint did not arrive while the command ran: exit %d: %s", code, out)
		}
		if got := p.got(); got[base+"/ckpt/c"] != "step1\n" {
			t.Fatalf("uploaded %q", got)
		}
	})

	t.Run("restores the last checkpoint before the command", func(t *testing.T) {
		p, url := newProxy()
		p.files[base+"/ckpt/epoch.txt"] = "4"
		p.files[base+"/ckpt/deep/w.bin"] = "weights"
		spec := tandem.LaunchSpec{OutputsArtifactPath: base, Outputs: []tandem.LaunchOutput{{Name: "ckpt", Checkpoint: true, Restore: true}},
			Command: `test "$(cat "$TANDEM_CHECKPOINT_DIR/epoch.txt")" = 4 && test "$(cat "$TANDEM_CHECKPOINT_DIR/deep/w.bin")" = weights && echo 5 > "$TANDEM_CHECKPOINT_DIR/epoch.txt"`}
		if code, out := runWrapped(t, spec, url); code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		if got := p.got(); got[base+"/ckpt/epoch.txt"] != "5\n" || got[base+"/ckpt/deep/w.bin"] != "weights" {
			t.Fatalf("after the run: %q", got)
		}
	})

	t.Run("stopped: no upload, its folder removed", func(t *testing.T) {
		// Ray stops a job with SIGTERM to its process group.
		p, url := newProxy()
		tmp, marker := t.TempDir(), filepath.Join(t.TempDir(), "started")
		spec := tandem.LaunchSpec{OutputsArtifactPath: base, Outputs: []tandem.LaunchOutput{{Name: "model"}, {Name: "ckpt", Checkpoint: true}},
			Command: `echo m > "$AZUREML_OUTPUT_model/m"; echo c > "$TANDEM_CHECKPOINT_DIR/c"; touch ` + marker + `; sleep 30`}
		cmd := wrapped(t, spec, url, tmp)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			if _, err := os.Stat(marker); err == nil {
				break
			} else if i == 200 {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				t.Fatalf("the command did not start: %s", out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		start := time.Now()
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code := exitCode(t, cmd.Wait())
		if code != 128+int(syscall.SIGTERM) || time.Since(start) > 10*time.Second {
			t.Fatalf("exit %d after %s: %s", code, time.Since(start), out.String())
		}
		if got := p.got(); len(got) != 0 {
			t.Fatalf("a stopped job uploaded %q", got)
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Fatalf("left in the temporary folder: %v", left)
		}
	})

	t.Run("a refused upload fails a command that succeeded", func(t *testing.T) {
		p, url := newProxy()
		p.refuse = base + "/model/"
		spec := tandem.LaunchSpec{OutputsArtifactPath: base, Outputs: []tandem.LaunchOutput{{Name: "model"}},
			Command: `echo m > "$AZUREML_OUTPUT_model/m"`}
		code, out := runWrapped(t, spec, url)
		if code != 1 || !strings.Contains(out, "tandem: uploading output model file m") || !strings.Contains(out, "403") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
}

package localexec_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/localexec"
	"github.com/tandemml/tandem/pyenv"
)

// An attempt runs in the virtualenv pyenv built for its environment, the
// way the job runner wires the two: "python" and the packages are the
// environment's.
func TestAttemptInVirtualenv(t *testing.T) {
	base, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH")
	}
	dir := t.TempDir()
	envs := pyenv.New(filepath.Join(dir, "envs"), base, nil)
	env := &tandem.Environment{Image: "python:3-slim", PipRequirements: "requirements.txt"}
	var progress bytes.Buffer
	py, err := envs.Ensure(context.Background(), "six:1", env, map[string][]byte{"requirements.txt": []byte("six==1.16.0\n")}, &progress)
	if err != nil {
		t.Fatalf("Ensure: %v\n%s", err, progress.String())
	}
	e := localexec.New(filepath.Join(dir, "attempts"), nil)
	h, err := e.Start(context.Background(), tandem.LaunchSpec{
		ID: "job-1/1", WorkDir: t.TempDir(), Python: py,
		Command: `python -c "import six, sys; print(six.__version__, sys.prefix)"`,
	})
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(2 * time.Minute)
	var st tandem.ProcessStatus
	for time.Now().Before(end) {
		if st, err = e.Status(context.Background(), h); err != nil || st.State.Terminal() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, _, _ := e.Logs(context.Background(), h, 0)
	if st.State != tandem.ProcessSucceeded {
		t.Fatalf("status %+v %v: %s", st, err, out)
	}
	if want := "1.16.0 " + filepath.Dir(filepath.Dir(py)); strings.TrimSpace(string(out)) != want {
		t.Fatalf("the attempt printed %q, want %q", out, want)
	}
}

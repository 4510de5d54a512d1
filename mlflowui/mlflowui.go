// Package mlflowui serves the MLflow UI on tandem: the static build that
// ships inside the user's installed mlflow package (mlflow/server/js/build),
// read from that folder at run time. Nothing of MLflow's is copied into
// tandem. The page at / and its files under /static-files/ are what the
// stock server serves there; the UI then talks to tandem's /ajax-api,
// /get-artifact and /model-versions/get-artifact routes.
package mlflowui

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandemml/tandem"
)

// Find resolves the --mlflow-ui value: a folder holding the build's
// index.html, or "auto", which asks a Python (python, else TANDEM_PYTHON,
// else python3 on PATH) where its mlflow package is.
func Find(ctx context.Context, value, python string) (string, error) {
	if value != "auto" {
		return checkBuild(value)
	}
	if python == "" {
		python = os.Getenv("TANDEM_PYTHON")
	}
	if python == "" {
		python = "python3"
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c",
		"import os, mlflow.server as s; print(os.path.join(os.path.dirname(s.__file__), 'js', 'build'))").Output()
	if err != nil {
		var ee *exec.ExitError
		msg := err.Error()
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			msg = strings.TrimSpace(string(ee.Stderr))
			if i := strings.LastIndex(msg, "\n"); i >= 0 {
				msg = msg[i+1:]
			}
		}
		return "", tandem.Errorf(tandem.EINVALID, "--mlflow-ui auto: %s cannot tell where mlflow is installed (%s); install it (pip install mlflow), name the interpreter in TANDEM_PYTHON, or give the build folder", python, msg)
	}
	return checkBuild(strings.TrimSpace(string(out)))
}

func checkBuild(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(abs, "index.html")); err != nil {
		return "", tandem.Errorf(tandem.EINVALID, "--mlflow-ui %s: no index.html there (a source install of mlflow has no UI build; use a release from PyPI)", dir)
	}
	return abs, nil
}

// Handler serves the UI from one build folder.
type Handler struct {
	root *os.Root
}

// New opens the build folder dir (from Find). Files are read through an
// os.Root: nothing outside the folder is reachable, symbolic links
// included.
func New(dir string) (*Handler, error) {
	if _, err := checkBuild(dir); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("mlflow ui: %w", err)
	}
	return &Handler{root: root}, nil
}

// ServeHTTP answers GET / with the UI's page and GET /static-files/P with
// the build's file P.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := "index.html"
	if p, ok := strings.CutPrefix(r.URL.Path, "/static-files/"); ok {
		name = path.Clean("/" + p)[1:]
	} else if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if name == "" || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	f, err := h.root.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		http.NotFound(w, r)
		return
	}
	if name == "index.html" {
		w.Header().Set("Cache-Control", "no-cache")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=2419200")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, st.Name(), st.ModTime(), f)
}

package mlflowui

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHandler serves the page and the build's files, and nothing outside
// the build folder (.., a symbolic link out of it).
func TestHandler(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "static", "js"), 0o755)
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<html>ui</html>"), 0o644)
	os.WriteFile(filepath.Join(dir, "static", "js", "main.js"), []byte("console.log(1)"), 0o644)
	secret := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(secret, []byte("secret"), 0o644)
	os.Symlink(secret, filepath.Join(dir, "static", "link.txt"))
	h, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	get := func(p string) (int, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", p, nil))
		return w.Code, w.Body.String()
	}
	if c, b := get("/"); c != 200 || b != "<html>ui</html>" {
		t.Fatalf("/: %d %q", c, b)
	}
	if c, b := get("/static-files/static/js/main.js"); c != 200 || !strings.Contains(b, "console.log") {
		t.Fatalf("main.js: %d %q", c, b)
	}
	for _, p := range []string{"/static-files/../../etc/passwd", "/static-files/static/link.txt", "/static-files/static", "/other"} {
		if c, b := get(p); c != http.StatusNotFound || strings.Contains(b, "secret") {
			t.Fatalf("%s: %d %q, want 404", p, c, b)
		}
	}
	if _, err := New(t.TempDir()); err == nil {
		t.Fatal("a folder without index.html was accepted")
	}
}

// TestFindAuto asks the test venv's python where its mlflow UI build is.
func TestFindAuto(t *testing.T) {
	py, _ := filepath.Abs("../python/.venv/bin/python")
	if v := os.Getenv("TANDEM_TEST_MLFLOW_VENV"); v != "" {
		py = filepath.Join(v, "bin", "python")
	}
	if _, err := os.Stat(py); err != nil {
		t.Skip("no python venv with mlflow")
	}
	dir, err := Find(t.Context(), "auto", py)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil || !strings.Contains(dir, "mlflow") {
		t.Fatalf("auto found %s: %v", dir, err)
	}
	if _, err := Find(t.Context(), "auto", "/nonexistent/python"); err == nil || !strings.Contains(err.Error(), "cannot tell") {
		t.Fatalf("a missing python: %v", err)
	}
}

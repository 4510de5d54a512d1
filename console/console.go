// Package console is tandem's own web console: a few static files (plain
// HTML, CSS and JavaScript modules, no build step) embedded in the binary
// and served under /console/, and the reads the console needs that no
// other endpoint answers: every region's status at once (regions.go) and
// every region's endpoints with their request counts (endpoints.go).
//
// The page holds no workspace data and no secret: it reads the region's
// authenticated API with the user's own credentials (a bearer token or a
// user's name and password, kept in the tab's sessionStorage), so what a
// user sees is what their roles let them read. The static files are
// public (auth's ClassPublic).
package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// Prefix is where the console is mounted.
const Prefix = "/console/"

//go:embed static
var static embed.FS

// CSP is the Content-Security-Policy of every console response: only the
// console's own files run, no inline script or style, no framing, and
// requests only to the region that served the page.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// file is one embedded file, ready to serve.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// handler serves the embedded files. Immutable after New.
type handler struct {
	files map[string]file // by path below static/ ("index.html", "js/app.js")
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// Files returns every embedded file by its path below the console's root
// ("index.html", "js/app.js"): what tests measure.
func Files() map[string][]byte {
	out := map[string][]byte{}
	fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		out[strings.TrimPrefix(p, "static/")] = b
		return nil
	})
	return out
}

// Handler serves the console at Prefix (mount it for "GET /console/" and
// "GET /console"): /console redirects to /console/, /console/ is the page,
// /console/FILE one of its files. Every answer carries the strict CSP; files
// carry an ETag from their content and are revalidated on each load
// (Cache-Control: no-cache), so a new binary's files are never mixed with
// an old one's.
func Handler() http.Handler {
	h := &handler{files: map[string]file{}}
	for p, b := range Files() {
		ct := contentTypes[path.Ext(p)]
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(b)
		h.files[p] = file{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if name == "" {
		name = "index.html"
	}
	f, ok := h.files[name]
	if !ok || strings.Contains(name, "..") {
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("no such console file\n"))
		return
	}
	hd.Set("Content-Type", f.contentType)
	hd.Set("ETag", f.etag)
	hd.Set("Cache-Control", "no-cache")
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		return
	}
	w.Write(f.body)
}

// etagMatch reports whether an If-None-Match list names etag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func etagMatch(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

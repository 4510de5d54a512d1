package console

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func serve(t *testing.T, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec
}

func TestServesFilesWithTypesAndCSP(t *testing.T) {
	for path, want := range map[string]string{
		"/console/":            "text/html; charset=utf-8",
		"/console/index.html":  "text/html; charset=utf-8",
		"/console/console.css": "text/css; charset=utf-8",
		"/console/js/app.js":   "text/javascript; charset=utf-8",
		"/console/favicon.svg": "image/svg+xml",
	} {
		rec := serve(t, "GET", path, nil)
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d", path, rec.Code)
		}
		if got := rec.Header().Get("Content-Type"); got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, want)
		}
		if rec.Header().Get("Content-Security-Policy") != CSP || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: headers %v lack the CSP or nosniff", path, rec.Header())
		}
		if rec.Body.Len() == 0 {
			t.Errorf("GET %s: empty body", path)
		}
	}
	if !strings.Contains(CSP, "script-src 'self'") || strings.Contains(CSP, "unsafe") {
		t.Fatalf("CSP %q must allow only the console's own scripts", CSP)
	}
	if rec := serve(t, "GET", "/console", nil); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/console/" {
		t.Errorf("GET /console: %d %v, want a redirect to /console/", rec.Code, rec.Header())
	}
	for _, p := range []string{"/console/nope.js", "/console/js/../index.html", "/console/static/index.html"} {
		if rec := serve(t, "GET", p, nil); rec.Code != 404 {
			t.Errorf("GET %s: %d, want 404", p, rec.Code)
		}
	}
	if rec := serve(t, "POST", "/console/", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /console/: %d, want 405", rec.Code)
	}
}

func TestETagRevalidation(t *testing.T) {
	first := serve(t, "GET", "/console/js/app.js", nil)
	etag := first.Header().Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{24}"$`).MatchString(etag) || first.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, first.Header().Get("Cache-Control"))
	}
	if rec := serve(t, "GET", "/console/js/app.js", map[string]string{"If-None-Match": etag}); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Fatalf("revalidation with the ETag: %d, %d bytes; want 304 and no body", rec.Code, rec.Body.Len())
	}
	if rec := serve(t, "GET", "/console/js/app.js", map[string]string{"If-None-Match": `"0000", W/` + etag}); rec.Code != http.StatusNotModified {
		t.Fatalf("a list naming the ETag weakly: %d, want 304", rec.Code)
	}
	if rec := serve(t, "GET", "/console/js/app.js", map[string]string{"If-None-Match": `"stale"`}); rec.Code != 200 || rec.Body.Len() == 0 {
		t.Fatalf("a stale ETag: %d, want the file", rec.Code)
	}
	if other := serve(t, "GET", "/console/js/api.js", nil).Header().Get("ETag"); other == etag {
		t.Fatalf("two files share the ETag %s", etag)
	}
}

var (
	scriptTag  = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	attrRef    = regexp.MustCompile(`(?i)\b(?:src|href)="([^"]+)"`)
	jsImport   = regexp.MustCompile(`(?m)^\s*import\s[^"']*["']([^"']+)["']`)
	inlineAttr = regexp.MustCompile(`(?i)\son[a-z]+\s*=|\sstyle\s*=|javascript:`)
)

// firstLoad returns every file the page loads on its first visit (the
// page, what it links, and the JS modules imported from there) and the
// total of their sizes.
func firstLoad(t *testing.T) (map[string]int, int) {
	t.Helper()
	files := Files()
	loaded := map[string]int{}
	var visit func(name string)
	visit = func(name string) {
		if _, ok := loaded[name]; ok {
			return
		}
		b, ok := files[name]
		if !ok {
			t.Errorf("the page loads %s, which is not embedded", name)
			return
		}
		loaded[name] = len(b)
		dir := ""
		if i := strings.LastIndex(name, "/"); i >= 0 {
			dir = name[:i+1]
		}
		var refs [][]string
		switch {
		case strings.HasSuffix(name, ".html"):
			refs = attrRef.FindAllStringSubmatch(string(b), -1)
		case strings.HasSuffix(name, ".js"):
			refs = jsImport.FindAllStringSubmatch(string(b), -1)
		}
		for _, m := range refs {
			ref := m[1]
			if strings.HasPrefix(ref, "#") {
				continue
			}
			if strings.Contains(ref, "://") || strings.HasPrefix(ref, "/") {
				t.Errorf("%s loads %s from elsewhere: the console loads only its own files", name, ref)
				continue
			}
			ref = strings.TrimPrefix(ref, "./")
			visit(dir + ref)
		}
	}
	visit("index.html")
	total := 0
	for _, n := range loaded {
		total += n
	}
	return loaded, total
}

// TestFirstLoadSize: the page and everything it loads on a first visit
// stay under 300 KB (issue 17), and every JS module is part of it.
func TestFirstLoadSize(t *testing.T) {
	loaded, total := firstLoad(t)
	t.Logf("first load: %d bytes in %d files %v", total, len(loaded), loaded)
	if total >= 300*1024 {
		t.Fatalf("first load is %d bytes, want under 300 KB", total)
	}
	for name := range Files() {
		if strings.HasSuffix(name, ".js") {
			if _, ok := loaded[name]; !ok {
				t.Errorf("%s is embedded but no page loads it", name)
			}
		}
	}
	if len(loaded) < 5 {
		t.Fatalf("the first load found only %v: the reference scan is broken", loaded)
	}
}

// TestNoInlineCode: the CSP forbids inline scripts and styles, so the
// page must have none (they would silently not run).
func TestNoInlineCode(t *testing.T) {
	page := string(Files()["index.html"])
	tags := scriptTag.FindAllStringSubmatch(page, -1)
	if len(tags) == 0 {
		t.Fatal("index.html loads no script")
	}
	for _, m := range tags {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			t.Errorf("inline script in index.html: %s", m[0])
		}
	}
	if strings.Contains(strings.ToLower(page), "<style") || inlineAttr.MatchString(page) {
		t.Error("index.html has an inline style or event handler")
	}
	for name, b := range Files() {
		if strings.HasSuffix(name, ".js") && (strings.Contains(string(b), "eval(") || strings.Contains(string(b), "new Function") ||
			strings.Contains(string(b), "innerHTML") || strings.Contains(string(b), `setAttribute("style"`)) {
			t.Errorf("%s uses eval, innerHTML or inline styles", name)
		}
	}
}

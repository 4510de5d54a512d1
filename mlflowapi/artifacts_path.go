package mlflowapi

import (
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
)

// reservedPrefix is the first path segment tandem keeps for itself in the
// artifact root (multipart staging lives under it). Users cannot write,
// read or list it.
const reservedPrefix = ".tandem"

// checkArtifactPath validates a user-supplied artifact path (relative to the
// artifact root) and returns it; "" is allowed only when allowRoot is set.
// A trailing "/" is dropped, as MLflow's repositories do.
func checkArtifactPath(p string, allowRoot bool) (string, error) {
	if p != "" && !strings.HasSuffix(p, "//") {
		p = strings.TrimSuffix(p, "/")
	}
	if p == "" {
		if allowRoot {
			return "", nil
		}
		return "", tandem.Errorf(tandem.EINVALID, "Invalid path: an artifact path is required")
	}
	if err := blobstore.CheckPath(p); err != nil {
		// MLflow's words for every unsafe path (absolute, "..", "#", ...)
		return "", tandem.Errorf(tandem.EINVALID, "Invalid path")
	}
	if first, _, _ := strings.Cut(p, "/"); first == reservedPrefix {
		return "", tandem.Errorf(tandem.EINVALID, "invalid artifact path %q: %q is reserved", p, reservedPrefix)
	}
	return p, nil
}

// assetsPrefix is the first path segment under which tandem's own asset
// API stores files (models, environment build contexts, ...). The MLflow
// artifact proxy may read it (a model version's source points there) but
// never write or delete there: those bytes are immutable, digest-checked
// versions.
const assetsPrefix = "assets"

// checkWritableArtifactPath is checkArtifactPath for uploads and deletes.
func checkWritableArtifactPath(p string, allowRoot bool) (string, error) {
	p, err := checkArtifactPath(p, allowRoot)
	if err != nil {
		return "", err
	}
	if first, _, _ := strings.Cut(p, "/"); first == assetsPrefix {
		return "", tandem.Errorf(tandem.EINVALID, "invalid artifact path %q: %q holds tandem's immutable asset files; use the tandem asset API", p, assetsPrefix)
	}
	return p, nil
}

// joinArtifactPath joins a directory ("" is the root) and a relative path.
func joinArtifactPath(dir, rel string) string {
	switch {
	case dir == "":
		return rel
	case rel == "":
		return dir
	}
	return dir + "/" + rel
}

// ParseArtifactURI returns the path relative to the artifact root that a
// run's or logged model's proxied artifact URI names:
//
//	mlflow-artifacts:/0/<run>/artifacts
//	mlflow-artifacts://host:port/0/<run>/artifacts
//	http(s)://host/api/2.0/mlflow-artifacts/artifacts/0/<run>/artifacts
//
// Other schemes (a bucket or a local folder) are not served by tandem's
// proxy and give ENOTIMPLEMENTED; malformed URIs and unsafe paths give
// EINVALID.
func ParseArtifactURI(uri string) (string, error) {
	if !utf8.ValidString(uri) {
		return "", tandem.Errorf(tandem.EINVALID, "artifact URI is not valid UTF-8")
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", tandem.Errorf(tandem.EINVALID, "artifact URI %q: %v", uri, err)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", tandem.Errorf(tandem.EINVALID, "artifact URI %q: no query, fragment or credentials allowed", uri)
	}
	var p string
	switch strings.ToLower(u.Scheme) {
	case "mlflow-artifacts":
		p = u.Path
		if u.Opaque != "" {
			return "", tandem.Errorf(tandem.EINVALID, "artifact URI %q: expected mlflow-artifacts:/<path>", uri)
		}
	case "http", "https":
		const anchor = "/mlflow-artifacts/artifacts"
		i := strings.Index(u.Path, anchor)
		if i < 0 {
			return "", tandem.Errorf(tandem.ENOTIMPLEMENTED, "artifact URI %q is not served by this artifact proxy", uri)
		}
		if pre := u.Path[:i]; pre != "/api/2.0" && pre != "/ajax-api/2.0" {
			return "", tandem.Errorf(tandem.ENOTIMPLEMENTED, "artifact URI %q is not served by this artifact proxy", uri)
		}
		p = u.Path[i+len(anchor):]
		if p != "" && !strings.HasPrefix(p, "/") {
			return "", tandem.Errorf(tandem.ENOTIMPLEMENTED, "artifact URI %q is not served by this artifact proxy", uri)
		}
	default:
		return "", tandem.Errorf(tandem.ENOTIMPLEMENTED, "artifact URI %q is not served by tandem's artifact proxy", uri)
	}
	p = strings.TrimPrefix(p, "/")
	return checkArtifactPath(p, true)
}

// Guard rejects requests to the MLflow APIs whose URL path holds "." or
// ".." segments, empty segments or a NUL, with INVALID_PARAMETER_VALUE,
// before a ServeMux would silently redirect them to a cleaned path (which
// a client could follow to a place it did not name). Other requests go to
// next. region wraps its whole handler with it.
func Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Handles(r.URL.Path) && !cleanURLPath(r.URL.Path) {
			writeJSON(w, http.StatusBadRequest, errorBody{ErrorCode: tandem.MLflowName(tandem.EINVALID),
				Message: "Invalid path"}) // MLflow's words; the README says which paths are refused
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanURLPath reports whether p is already in the form path.Clean gives
// (apart from a trailing slash) and holds no NUL.
func cleanURLPath(p string) bool {
	if strings.ContainsRune(p, 0) {
		return false
	}
	c := path.Clean(p)
	return c == p || c+"/" == p
}

// pathLocks serialises writers of the same artifact path within this
// process, so that the bytes in storage and the metadata record always
// come from the same upload.
type pathLocks struct {
	mu sync.Mutex
	m  map[string]*pathLock
}

type pathLock struct {
	mu sync.Mutex
	n  int
}

// lock takes the lock of p and returns its release.
func (l *pathLocks) lock(p string) func() {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*pathLock{}
	}
	pl := l.m[p]
	if pl == nil {
		pl = &pathLock{}
		l.m[p] = pl
	}
	pl.n++
	l.mu.Unlock()
	pl.mu.Lock()
	return func() {
		pl.mu.Unlock()
		l.mu.Lock()
		if pl.n--; pl.n == 0 {
			delete(l.m, p)
		}
		l.mu.Unlock()
	}
}

// textExtensions are served as text/plain, as MLflow does, so that logs,
// configs and notebooks display instead of downloading as binaries.
var textExtensions = map[string]bool{
	"txt": true, "log": true, "err": true, "cfg": true, "conf": true, "cnf": true, "cf": true,
	"ini": true, "properties": true, "prop": true, "hocon": true, "toml": true, "yaml": true,
	"yml": true, "xml": true, "json": true, "js": true, "py": true, "py3": true, "csv": true,
	"tsv": true, "md": true, "rst": true, "ipynb": true, "MLmodel": true, "MLproject": true,
}

// mimeTypes is the extension table for everything else (lower case).
var mimeTypes = map[string]string{
	".html": "text/html", ".htm": "text/html", ".css": "text/css", ".svg": "image/svg+xml",
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".bmp": "image/bmp", ".ico": "image/vnd.microsoft.icon", ".tif": "image/tiff", ".tiff": "image/tiff",
	".webp": "image/webp", ".pdf": "application/pdf", ".zip": "application/zip",
	".tar": "application/x-tar", ".wav": "audio/x-wav", ".mp3": "audio/mpeg", ".mp4": "video/mp4",
	".mpeg": "video/mpeg", ".avi": "video/x-msvideo", ".mov": "video/quicktime",
	".sh": "application/x-sh", ".c": "text/plain", ".h": "text/plain",
	".pkl": "application/octet-stream", ".wasm": "application/wasm",
}

// contentType guesses a download's Content-Type from its file name, the way
// MLflow's server does: the text extensions above are text/plain, known
// extensions get their type, anything else is application/octet-stream.
func contentType(name string) string {
	ext := path.Ext(name)
	key := strings.TrimPrefix(ext, ".")
	if key == "" {
		key = name
	}
	if textExtensions[key] {
		return "text/plain"
	}
	if t, ok := mimeTypes[strings.ToLower(ext)]; ok {
		return t
	}
	return "application/octet-stream"
}

// contentDisposition builds "attachment; filename=..." (RFC 6266), with an
// RFC 5987 filename* parameter for non-ASCII names.
func contentDisposition(name string) string {
	ascii := true
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return "attachment; filename=" + quoteHeaderValue(name)
	}
	var fb strings.Builder
	for _, r := range name {
		if r < 0x80 && r >= 0x20 {
			fb.WriteRune(r)
		}
	}
	fallback := fb.String()
	if fallback == "" {
		fallback = "download"
	}
	var enc strings.Builder
	for _, b := range []byte(name) {
		if isAttrChar(b) {
			enc.WriteByte(b)
		} else {
			enc.WriteString("%" + strings.ToUpper(hex2(b)))
		}
	}
	return "attachment; filename=" + quoteHeaderValue(fallback) + "; filename*=UTF-8''" + enc.String()
}

func hex2(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// isAttrChar is RFC 5987's attr-char.
func isAttrChar(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", b) >= 0
}

// quoteHeaderValue returns v bare when it is an HTTP token, else quoted
// with backslash escapes.
func quoteHeaderValue(v string) string {
	token := v != ""
	for i := 0; i < len(v) && token; i++ {
		c := v[i]
		token = c > 0x20 && c < 0x7f && strings.IndexByte(`()<>@,;:\"/[]?={}`, c) < 0
	}
	if token {
		return v
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

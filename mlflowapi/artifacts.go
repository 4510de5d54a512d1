package mlflowapi

// The artifact proxy (MLflow's MlflowArtifactsService) and the tracking
// endpoint artifacts/list.
//
// Paths are relative to the artifact root, the same as the storage keys of
// the bytes (<experiment_id>/<run_id>/artifacts/<path>). The order of a
// write is: bytes streamed to storage under their final path (published
// atomically), then the metadata record and its journal entry in one
// transaction. Reads (list, download) serve only what the metadata records,
// so a crash between the two leaves nothing visible.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tandemml/tandem"
)

// artifactRoots are the prefixes MLflow registers its artifact service under.
var artifactRoots = []string{"/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/"}

// artifactState is the artifact proxy's in-process state.
type artifactState struct {
	locks     pathLocks
	now       func() time.Time
	lastSweep atomic.Int64 // unix ms of the last sweep of abandoned uploads
	origin    Origin       // set before serving (SetOrigin)
}

// SetOrigin sets where the URLs handed to clients point. Call before
// serving.
func (s *Server) SetOrigin(o Origin) { s.art.origin = o }

func (s *Server) routesArtifacts() {
	s.art = &artifactState{now: time.Now}
	for _, p := range artifactRoots {
		s.handleRaw("GET "+p+"artifacts", s.listArtifactsProxy)
		s.handleRaw("GET "+p+"artifacts/{path...}", s.downloadArtifact)
		s.handleRaw("PUT "+p+"artifacts/{path...}", s.uploadArtifact)
		s.handleRaw("DELETE "+p+"artifacts/{path...}", s.deleteArtifact)
		s.handleRaw("POST "+p+"mpu/create/{path...}", s.mpuCreate)
		s.handleRaw("POST "+p+"mpu/complete/{path...}", s.mpuComplete)
		s.handleRaw("POST "+p+"mpu/abort/{path...}", s.mpuAbort)
		s.handleRaw("PUT "+p+"mpu/parts/{upload_id}/{part_number}", s.mpuUploadPart)
		s.handleRaw("GET "+p+"presigned/{path...}", s.presignedDownload)
	}
	s.handle("GET", "artifacts/list", s.listRunArtifacts)
	// The MLflow UI's own downloads (artifact preview, model files).
	s.handleRaw("GET /get-artifact", s.uiRunArtifact)
	s.handleRaw("GET /model-versions/get-artifact", s.uiModelVersionArtifact)
}

// storeArtifact streams body to storage at p and then records it. It holds
// p's lock throughout, so that concurrent writers of one path leave bytes
// and record from the same upload.
func (s *Server) storeArtifact(ctx context.Context, p string, body io.Reader) (tandem.Artifact, error) {
	unlock := s.art.locks.lock(p)
	defer unlock()
	// Refuse early what the record would refuse, before writing any bytes.
	if err := s.Store.CheckWritable(ctx); err != nil {
		return tandem.Artifact{}, err
	}
	if err := s.checkPlacement(ctx, p); err != nil {
		return tandem.Artifact{}, err
	}
	ref, err := s.Blobs.Put(ctx, p, body, "")
	if err != nil {
		return tandem.Artifact{}, err
	}
	a := tandem.Artifact{Path: p, Size: ref.Size, SHA256: ref.SHA256, CreatedMs: s.art.now().UnixMilli()}
	if _, err := s.Store.PutArtifact(ctx, a); err != nil {
		return tandem.Artifact{}, err
	}
	return a, nil
}

// checkPlacement refuses a file at p when p is a directory or lies under a
// recorded file.
func (s *Server) checkPlacement(ctx context.Context, p string) error {
	if dir, err := s.Store.IsArtifactDir(ctx, p); err != nil {
		return err
	} else if dir {
		return tandem.Errorf(tandem.EINVALID, "artifact path %q is a directory", p)
	}
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		if _, err := s.Store.GetArtifact(ctx, d); err == nil {
			return tandem.Errorf(tandem.EINVALID, "artifact path %q lies under the file %q", p, d)
		} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
			return err
		}
	}
	return nil
}

// uploadArtifact: PUT /api/2.0/mlflow-artifacts/artifacts/<path>. The body
// is streamed to storage (never buffered whole).
func (s *Server) uploadArtifact(w http.ResponseWriter, r *http.Request) {
	p, err := checkWritableArtifactPath(r.PathValue("path"), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.storeArtifact(r.Context(), p, uploadBody{r.Body}); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// uploadBody marks failures to read a request body (the client went away,
// a truncated chunked body) as the client's problem, so they are answered
// as bad input rather than logged as internal errors.
type uploadBody struct{ r io.Reader }

func (b uploadBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = tandem.Errorf(tandem.EINVALID, "reading the upload: %v", err)
	}
	return n, err
}

// downloadArtifact: GET /api/2.0/mlflow-artifacts/artifacts/<path>, with
// MLflow's download headers (Content-Type by extension, attachment
// Content-Disposition, nosniff) plus ETag (the SHA-256), Last-Modified and
// Range support.
func (s *Server) downloadArtifact(w http.ResponseWriter, r *http.Request) {
	p, err := checkArtifactPath(r.PathValue("path"), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.serveArtifact(w, r, p)
}

// serveArtifact answers with the bytes of the artifact stored at p.
func (s *Server) serveArtifact(w http.ResponseWriter, r *http.Request, p string) {
	ctx := r.Context()
	a, err := s.Store.GetArtifact(ctx, p)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		if dir, derr := s.Store.IsArtifactDir(ctx, p); derr == nil && dir {
			err = tandem.Errorf(tandem.EINVALID, "Artifact path refers to a directory, not a file: '%s'", p)
		} else {
			err = tandem.Errorf(tandem.ENOTFOUND, "No such artifact: '%s'", p)
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rd, err := s.Blobs.Open(ctx, p)
	if err != nil {
		// The record exists, so the bytes must: anything else is damage.
		s.writeError(w, r, fmt.Errorf("artifact %s is recorded but its bytes cannot be read: %v", p, err))
		return
	}
	defer rd.Close()
	if rd.Size() != a.Size {
		s.writeError(w, r, fmt.Errorf("artifact %s: stored size %d differs from recorded size %d", p, rd.Size(), a.Size))
		return
	}
	name := path.Base(p)
	h := w.Header()
	h.Set("Content-Type", contentType(name))
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+a.SHA256+`"`)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.UnixMilli(a.CreatedMs), rd)
}

// fileInfo is MLflow's FileInfo message.
type fileInfo struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size,omitempty"`
}

func fileInfos(entries []tandem.ArtifactEntry, base string) []fileInfo {
	out := make([]fileInfo, 0, len(entries))
	for _, e := range entries {
		fi := fileInfo{Path: joinArtifactPath(base, e.Name), IsDir: e.IsDir}
		if !e.IsDir {
			size := e.Size
			fi.FileSize = &size
		}
		out = append(out, fi)
	}
	return out
}

// listArtifactsProxy: GET /api/2.0/mlflow-artifacts/artifacts?path=<dir>.
// Lists one level of dir; names are relative to dir. A missing directory
// or a file lists as empty, as MLflow does.
func (s *Server) listArtifactsProxy(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Path string `json:"path"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := checkArtifactPath(req.Path, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	entries, err := s.Store.ListArtifactDir(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var resp struct {
		Files []fileInfo `json:"files,omitempty"`
	}
	resp.Files = fileInfos(hideReserved(p, entries), "")
	writeJSON(w, http.StatusOK, resp)
}

// hideReserved drops tandem's reserved folder from a root listing.
func hideReserved(dir string, es []tandem.ArtifactEntry) []tandem.ArtifactEntry {
	if dir != "" {
		return es
	}
	out := es[:0]
	for _, e := range es {
		if e.Name != reservedPrefix {
			out = append(out, e)
		}
	}
	return out
}

// deleteArtifact: DELETE /api/2.0/mlflow-artifacts/artifacts/<path>. Deletes
// a file or a whole directory; deleting nothing succeeds, as in MLflow. The
// records go first (one journal entry), then the bytes.
func (s *Server) deleteArtifact(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := checkWritableArtifactPath(r.PathValue("path"), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	unlock := s.art.locks.lock(p)
	_, files, err := s.Store.DeleteArtifacts(ctx, p)
	unlock()
	if err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND {
		s.writeError(w, r, err)
		return
	}
	s.deleteBytes(context.WithoutCancel(ctx), files)
	writeJSON(w, http.StatusOK, struct{}{})
}

// deleteBytes removes the bytes of files whose records were deleted, unless
// a new upload recorded the same path meanwhile. Failures leave unreferenced
// bytes, which nothing serves; they are logged.
func (s *Server) deleteBytes(ctx context.Context, files []string) {
	for _, f := range files {
		unlock := s.art.locks.lock(f)
		_, err := s.Store.GetArtifact(ctx, f)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			err = s.Blobs.Delete(ctx, f)
		}
		unlock()
		if err != nil {
			s.Log.Warn("artifact bytes not deleted", "path", f, "err", err)
		}
	}
}

// listRunArtifacts: GET /api/2.0/mlflow/artifacts/list?run_id=&path=&page_token=.
// Resolves the run's artifact_uri (mlflow-artifacts:/<exp>/<run>/artifacts)
// and lists one level under it; paths in the answer are relative to the
// run's root. All entries come in one page (no next_page_token), as with
// MLflow's own proxied repositories.
func (s *Server) listRunArtifacts(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		RunID     string `json:"run_id"`
		RunUUID   string `json:"run_uuid"`
		Path      string `json:"path"`
		PageToken string `json:"page_token"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	id := req.RunID
	if id == "" {
		id = req.RunUUID
	}
	if id == "" {
		s.writeError(w, r, tandem.MissingParam("run_id"))
		return
	}
	uri, err := s.Store.RunArtifactURI(ctx, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	root, err := ParseArtifactURI(uri)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rel := ""
	if req.Path != "" {
		if rel, err = checkArtifactPath(req.Path, true); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	entries, err := s.Store.ListArtifactDir(ctx, joinArtifactPath(root, rel))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var resp struct {
		RootURI string     `json:"root_uri"`
		Files   []fileInfo `json:"files,omitempty"`
	}
	resp.RootURI = uri
	resp.Files = fileInfos(hideReserved(joinArtifactPath(root, rel), entries), rel)
	writeJSON(w, http.StatusOK, resp)
}

// Origin decides the scheme://host of the URLs the server hands out
// (multipart part URLs, presigned downloads). Headers are the client's to
// choose, so they are believed only from a configured gateway.
type Origin struct {
	// Advertised is the region's configured base URL (workspace region
	// url:, or the listen address of a single server); "" when unknown.
	Advertised string
	// TrustedProxies are the addresses whose X-Forwarded-Proto/Host and
	// Host are believed.
	TrustedProxies []netip.Prefix
}

// requestBase is the scheme://host clients must use, and the API prefix
// the request used (/api/2.0/ or /ajax-api/2.0/). From a trusted proxy the
// forwarded headers decide; otherwise the advertised URL, and only when
// none is configured the request's own Host (X-Forwarded-* ignored).
func (s *Server) requestBase(r *http.Request) (string, string) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	base := ""
	if s.fromTrustedProxy(r) {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
			scheme = p
		}
		if h := r.Header.Get("X-Forwarded-Host"); h != "" && !strings.ContainsAny(h, "/ ,") {
			host = h
		}
	} else if s.art.origin.Advertised != "" {
		base = strings.TrimSuffix(s.art.origin.Advertised, "/")
	}
	if base == "" {
		base = scheme + "://" + host
	}
	prefix := artifactRoots[0]
	for _, p := range artifactRoots {
		if strings.HasPrefix(r.URL.Path, p) {
			prefix = p
		}
	}
	return base, prefix
}

func (s *Server) fromTrustedProxy(r *http.Request) bool {
	if len(s.art.origin.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	for _, p := range s.art.origin.TrustedProxies {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}

// presignedDownload: GET /api/2.0/mlflow-artifacts/presigned/<path>. tandem
// has no separate object store URL to hand out: the "presigned" URL is its
// own download endpoint, which serves Range requests, so the client's
// parallel chunked download works against it.
func (s *Server) presignedDownload(w http.ResponseWriter, r *http.Request) {
	p, err := checkArtifactPath(r.PathValue("path"), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := s.Store.GetArtifact(r.Context(), p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	base, prefix := s.requestBase(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"url":       base + prefix + "artifacts/" + escapePath(p),
		"headers":   map[string]string{},
		"file_size": a.Size,
	})
}

// escapePath percent-encodes each segment of p for use in a URL path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

package mlflowapi

// Multipart upload through the artifact proxy, in the shape the MLflow
// client's HttpArtifactRepository uses when MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD
// is set:
//
//	POST mpu/create/<dir>    {"path": local_file, "num_parts": n}
//	  -> {"upload_id": id, "credentials": [{"url": ..., "part_number": i}, ...]}
//	PUT  <credential url>    part bytes -> 200, ETag: "<sha256 of the part>"
//	POST mpu/complete/<dir>  {"path", "upload_id", "parts": [{"part_number", "etag", "url"}]}
//	POST mpu/abort/<dir>     {"path", "upload_id"}
//
// The final artifact is <dir>/<basename of path>. The credential URLs point
// back at tandem (mpu/parts/<id>/<n>). Parts are staged in storage under
// .tandem/mpu/<id>/ (with the upload's manifest), concatenated into the final
// path on complete (streamed, hashed, published atomically, then recorded),
// and removed on complete or abort. The upload id is a random 128-bit
// token. Staging is local to a region and is not journalled: only the
// completed artifact is.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

const (
	mpuPrefix   = reservedPrefix + "/mpu/"
	mpuMaxParts = 10000
)

// mpuManifest records what an upload was created for.
type mpuManifest struct {
	Path      string `json:"path"`
	NumParts  int64  `json:"num_parts"`
	CreatedMs int64  `json:"created_ms"`
}

func mpuDir(id string) string              { return mpuPrefix + id + "/" }
func mpuManifestKey(id string) string      { return mpuDir(id) + "upload.json" }
func mpuPartKey(id string, n int64) string { return fmt.Sprintf("%spart-%05d", mpuDir(id), n) }

func checkUploadID(id string) error {
	if len(id) != 32 {
		return tandem.Errorf(tandem.EINVALID, "invalid upload_id %q", id)
	}
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return tandem.Errorf(tandem.EINVALID, "invalid upload_id %q", id)
	}
	return nil
}

// mpuTarget is the final artifact path of an upload: the directory in the
// URL joined with the base name of the client's local file.
func mpuTarget(r *http.Request, localFile string) (string, error) {
	dir, err := checkArtifactPath(r.PathValue("path"), true)
	if err != nil {
		return "", err
	}
	if localFile == "" {
		return "", tandem.MissingParam("path")
	}
	base := localFile
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	return checkWritableArtifactPath(joinArtifactPath(dir, base), false)
}

func (s *Server) readManifest(ctx context.Context, id string) (mpuManifest, error) {
	var m mpuManifest
	rd, err := s.Blobs.Open(ctx, mpuManifestKey(id))
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return m, tandem.Errorf(tandem.ENOTFOUND, "multipart upload %s not found (completed, aborted or never created)", id)
	} else if err != nil {
		return m, err
	}
	defer rd.Close()
	b, err := io.ReadAll(io.LimitReader(rd, 64<<10))
	if err != nil {
		return m, fmt.Errorf("multipart upload %s: read manifest: %w", id, err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("multipart upload %s: manifest: %w", id, err)
	}
	return m, nil
}

// mpuCreate: POST /api/2.0/mlflow-artifacts/mpu/create/<dir>.
func (s *Server) mpuCreate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		Path     string `json:"path"`
		NumParts Int64  `json:"num_parts"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	target, err := mpuTarget(r, req.Path)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.NumParts.V < 1 || req.NumParts.V > mpuMaxParts {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "num_parts must be between 1 and %d, got %d", mpuMaxParts, req.NumParts.V))
		return
	}
	if err := s.Store.CheckWritable(ctx); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.checkPlacement(ctx, target); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.maybeSweep(ctx)
	var raw [16]byte
	rand.Read(raw[:])
	id := hex.EncodeToString(raw[:])
	m, _ := json.Marshal(mpuManifest{Path: target, NumParts: req.NumParts.V, CreatedMs: s.art.now().UnixMilli()})
	if _, err := s.Blobs.Put(ctx, mpuManifestKey(id), strings.NewReader(string(m)), ""); err != nil {
		s.writeError(w, r, err)
		return
	}
	type credential struct {
		URL        string `json:"url"`
		PartNumber int64  `json:"part_number"`
	}
	base, prefix := s.requestBase(r)
	creds := make([]credential, 0, req.NumParts.V)
	for i := int64(1); i <= req.NumParts.V; i++ {
		creds = append(creds, credential{URL: fmt.Sprintf("%s%smpu/parts/%s/%d", base, prefix, id, i), PartNumber: i})
	}
	writeJSON(w, http.StatusOK, map[string]any{"upload_id": id, "credentials": creds})
}

// mpuUploadPart: PUT /api/2.0/mlflow-artifacts/mpu/parts/<upload_id>/<n>
// (tandem's own endpoint, reached through the credential URLs). The part
// is streamed to the staging area; the answer's ETag is its SHA-256.
func (s *Server) mpuUploadPart(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("upload_id")
	if err := checkUploadID(id); err != nil {
		s.writeError(w, r, err)
		return
	}
	n, err := strconv.ParseInt(r.PathValue("part_number"), 10, 64)
	if err != nil {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "invalid part number %q", r.PathValue("part_number")))
		return
	}
	m, err := s.readManifest(ctx, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if n < 1 || n > m.NumParts {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "part number %d is outside 1..%d", n, m.NumParts))
		return
	}
	ref, err := s.Blobs.Put(ctx, mpuPartKey(id, n), uploadBody{r.Body}, "")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", `"`+ref.SHA256+`"`)
	w.WriteHeader(http.StatusOK)
}

type mpuPart struct {
	PartNumber Int64  `json:"part_number"`
	ETag       string `json:"etag"`
	URL        string `json:"url"`
}

// mpuComplete: POST /api/2.0/mlflow-artifacts/mpu/complete/<dir>.
func (s *Server) mpuComplete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		Path     string    `json:"path"`
		UploadID string    `json:"upload_id"`
		Parts    []mpuPart `json:"parts"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	m, err := s.openUpload(ctx, r, req.Path, req.UploadID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(req.Parts) == 0 {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Missing value for required parameter 'parts'."))
		return
	}
	last := int64(0)
	for _, p := range req.Parts {
		if p.PartNumber.V <= last || p.PartNumber.V > m.NumParts {
			s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "parts must be in increasing order within 1..%d; got part %d after %d", m.NumParts, p.PartNumber.V, last))
			return
		}
		last = p.PartNumber.V
	}
	if err := s.completeUpload(ctx, req.UploadID, m.Path, req.Parts); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Blobs.DeletePrefix(context.WithoutCancel(ctx), mpuDir(req.UploadID)); err != nil {
		s.Log.Warn("multipart staging not removed", "upload_id", req.UploadID, "err", err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// completeUpload concatenates the staged parts into target and records it.
func (s *Server) completeUpload(ctx context.Context, id, target string, parts []mpuPart) error {
	unlock := s.art.locks.lock(target)
	defer unlock()
	if err := s.Store.CheckWritable(ctx); err != nil {
		return err
	}
	if err := s.checkPlacement(ctx, target); err != nil {
		return err
	}
	pr := &partsReader{ctx: ctx, blobs: s.Blobs, id: id, parts: parts}
	defer pr.close()
	ref, err := s.Blobs.Put(ctx, target, pr, "")
	if pr.err != nil {
		return pr.err // the write was aborted: nothing was published
	}
	if err != nil {
		return err
	}
	a := tandem.Artifact{Path: target, Size: ref.Size, SHA256: ref.SHA256, CreatedMs: s.art.now().UnixMilli()}
	_, err = s.Store.PutArtifact(ctx, a)
	return err
}

// partsReader reads the staged parts in order, opening each only when the
// previous one is exhausted, and checks each part's SHA-256 against the
// ETag the client got for it.
type partsReader struct {
	ctx   context.Context
	blobs *blobstore.Store
	id    string
	parts []mpuPart
	i     int
	cur   *blob.Reader
	h     hash.Hash
	err   error // a user-facing failure (missing part, ETag mismatch)
}

func (p *partsReader) Read(b []byte) (int, error) {
	for {
		if p.err != nil {
			return 0, p.err
		}
		if p.cur == nil {
			if p.i == len(p.parts) {
				return 0, io.EOF
			}
			n := p.parts[p.i].PartNumber.V
			rd, err := p.blobs.Open(p.ctx, mpuPartKey(p.id, n))
			if tandem.ErrorCode(err) == tandem.ENOTFOUND {
				p.err = tandem.Errorf(tandem.EINVALID, "part %d of multipart upload %s was not uploaded", n, p.id)
				continue
			} else if err != nil {
				return 0, err
			}
			p.cur, p.h = rd, sha256.New()
		}
		n, err := p.cur.Read(b)
		p.h.Write(b[:n])
		if err == io.EOF {
			part := p.parts[p.i]
			p.cur.Close()
			p.cur = nil
			p.i++
			if want := strings.Trim(part.ETag, `"`); want != "" && !strings.EqualFold(want, hex.EncodeToString(p.h.Sum(nil))) {
				p.err = tandem.Errorf(tandem.EINVALID, "part %d of multipart upload %s does not match its ETag", part.PartNumber.V, p.id)
				return 0, p.err
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (p *partsReader) close() {
	if p.cur != nil {
		p.cur.Close()
	}
}

// mpuAbort: POST /api/2.0/mlflow-artifacts/mpu/abort/<dir>. Removes the
// staged parts; nothing becomes visible.
func (s *Server) mpuAbort(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		Path     string `json:"path"`
		UploadID string `json:"upload_id"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.openUpload(ctx, r, req.Path, req.UploadID); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Blobs.DeletePrefix(ctx, mpuDir(req.UploadID)); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// sweepEvery and sweepAge bound how often abandoned uploads are swept
// (from mpu/create, in the background) and how old they must be.
const (
	sweepEvery = time.Hour
	sweepAge   = 7 * 24 * time.Hour
)

// maybeSweep starts a background sweep of abandoned uploads at most once
// per sweepEvery.
func (s *Server) maybeSweep(ctx context.Context) {
	now := s.art.now().UnixMilli()
	last := s.art.lastSweep.Load()
	if now-last < sweepEvery.Milliseconds() || !s.art.lastSweep.CompareAndSwap(last, now) {
		return
	}
	go func() {
		if n, err := s.SweepUploads(context.WithoutCancel(ctx), sweepAge); err != nil {
			s.Log.Warn("sweeping abandoned multipart uploads", "err", err)
		} else if n > 0 {
			s.Log.Info("swept abandoned multipart uploads", "count", n)
		}
	}()
}

// SweepUploads removes the staging of multipart uploads created before
// now-olderThan that were never completed or aborted (a client that died,
// or a crash). Callers: the region's housekeeping, periodically.
func (s *Server) SweepUploads(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := s.art.now().Add(-olderThan).UnixMilli()
	it := s.Blobs.Bucket().List(&blob.ListOptions{Prefix: mpuPrefix, Delimiter: "/"})
	n := 0
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF || gcerrors.Code(err) == gcerrors.NotFound {
			return n, nil // NotFound: the staging changed while listing; next sweep
		} else if err != nil {
			return n, fmt.Errorf("sweep uploads: %w", err)
		}
		id := strings.TrimSuffix(strings.TrimPrefix(obj.Key, mpuPrefix), "/")
		if !obj.IsDir || checkUploadID(id) != nil {
			continue
		}
		m, err := s.readManifest(ctx, id)
		switch {
		case err == nil && m.CreatedMs >= cutoff:
			continue
		case tandem.ErrorCode(err) == tandem.ENOTFOUND:
			// No manifest: being created right now, or damaged. Only
			// staging whose every object is old goes.
			newest, err := s.newestObject(ctx, mpuDir(id))
			if err != nil {
				return n, err
			}
			if newest.UnixMilli() >= cutoff {
				continue
			}
		case err != nil:
			return n, err
		}
		if err := s.Blobs.DeletePrefix(ctx, mpuDir(id)); err != nil {
			return n, err
		}
		n++
	}
}

// newestObject returns the latest modification time of the objects under
// prefix (the zero time when there are none).
func (s *Server) newestObject(ctx context.Context, prefix string) (time.Time, error) {
	var newest time.Time
	it := s.Blobs.Bucket().List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return newest, nil
		} else if gcerrors.Code(err) == gcerrors.NotFound {
			return s.art.now(), nil // an object came or went while listing: in use
		} else if err != nil {
			return newest, fmt.Errorf("sweep uploads: %w", err)
		}
		if obj.ModTime.After(newest) {
			newest = obj.ModTime
		}
	}
}

// openUpload resolves the target of a complete or abort request (the URL's
// directory and the client's file name), checks the upload id, and returns
// the upload's manifest when it was created for that same target.
func (s *Server) openUpload(ctx context.Context, r *http.Request, localFile, uploadID string) (mpuManifest, error) {
	target, err := mpuTarget(r, localFile)
	if err != nil {
		return mpuManifest{}, err
	}
	if err := checkUploadID(uploadID); err != nil {
		return mpuManifest{}, err
	}
	m, err := s.readManifest(ctx, uploadID)
	if err != nil {
		return mpuManifest{}, err
	}
	if m.Path != target {
		return mpuManifest{}, tandem.Errorf(tandem.EINVALID, "multipart upload %s was created for %q, not %q", uploadID, m.Path, target)
	}
	return m, nil
}

package mlflowapi

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tandemml/tandem"
)

// uiRunArtifact: GET /get-artifact?path=P&run_uuid=ID (or run_id), the
// MLflow UI's download of one file of a run (its artifact preview).
func (s *Server) uiRunArtifact(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("run_id")
	if id == "" {
		id = q.Get("run_uuid")
	}
	if id == "" {
		s.writeError(w, r, tandem.MissingParam("run_id"))
		return
	}
	rel, err := checkArtifactPath(q.Get("path"), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	root, err := s.runArtifactRoot(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.serveArtifact(w, r, joinArtifactPath(root, rel))
}

// uiModelVersionArtifact: GET /model-versions/get-artifact?path=P&name=N&version=V,
// one file of a registered model version, from where its files are stored.
func (s *Server) uiModelVersionArtifact(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("name")
	v, err := strconv.ParseInt(q.Get("version"), 10, 64)
	if name == "" || err != nil || v < 1 {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Invalid value %q for parameter 'version' supplied: a model version is a positive integer, with the model's 'name'", q.Get("version")))
		return
	}
	rel, err := checkArtifactPath(q.Get("path"), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	uri, err := s.Store.GetModelVersionDownloadURI(r.Context(), name, v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	root, err := ParseArtifactURI(uri)
	if err != nil {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "model version %s/%d is stored outside this workspace (%s)", name, v, uri))
		return
	}
	s.serveArtifact(w, r, joinArtifactPath(root, rel))
}

// maxUIUpload bounds one upload-artifact body, as MLflow bounds it (10 MB).
const maxUIUpload = 10 << 20

// uiUploadArtifact: POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=ID&path=P
// with the file's bytes as the body, the MLflow UI's upload of one file
// into a run's artifacts (its evaluation tables). As MLflow: the path is
// percent-decoded, then refused when unsafe; the body must be non-empty
// and at most 10 MB; the run must exist (in any lifecycle stage). The
// answer is an empty body.
func (s *Server) uiUploadArtifact(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("run_uuid")
	if id == "" {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Request must specify run_uuid."))
		return
	}
	raw := q.Get("path")
	if raw == "" {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Request must specify path."))
		return
	}
	rel, err := checkArtifactPath(unescapeFully(raw), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tooLarge := tandem.Errorf(tandem.EINVALID, "Artifact size is too large. Max size is 10MB.")
	if r.ContentLength > maxUIUpload {
		s.writeError(w, r, tooLarge)
		return
	}
	data, err := io.ReadAll(io.LimitReader(uploadBody{r.Body}, maxUIUpload+1))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(data) == 0 {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Request must specify data."))
		return
	}
	if len(data) > maxUIUpload {
		s.writeError(w, r, tooLarge)
		return
	}
	root, err := s.runArtifactRoot(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	full, err := checkWritableArtifactPath(joinArtifactPath(root, rel), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.storeArtifact(r.Context(), full, bytes.NewReader(data)); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
}

// runArtifactRoot is the path under the artifact root of run id's
// artifacts (ENOTFOUND in MLflow's words when there is no such run).
func (s *Server) runArtifactRoot(ctx context.Context, id string) (string, error) {
	uri, err := s.Store.RunArtifactURI(ctx, id)
	if err != nil {
		return "", err
	}
	return ParseArtifactURI(uri)
}

// unescapeFully undoes percent-encoding until the path stops changing (at
// most 10 rounds), as MLflow decodes a path before it judges it: a path
// whose escapes hide ".." is refused, not stored under a literal name.
func unescapeFully(p string) string {
	for range 10 {
		d, err := url.PathUnescape(p)
		if err != nil || d == p {
			return p
		}
		p = d
	}
	return p
}

// uiLoggedModelArtifact: GET /ajax-api/2.0/mlflow/logged-models/{model_id}/artifacts/files?artifact_file_path=P,
// one file of a logged model (the UI's model page), with the download
// headers of every artifact.
func (s *Server) uiLoggedModelArtifact(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Query().Get("artifact_file_path")
	if p == "" {
		// MLflow answers this one with its BAD_REQUEST code, which tandem's
		// error codes do not name.
		writeJSON(w, http.StatusBadRequest, errorBody{ErrorCode: "BAD_REQUEST",
			Message: `Request must include the "artifact_file_path" query parameter.`})
		return
	}
	rel, err := checkArtifactPath(p, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lm, err := s.Store.GetLoggedModel(r.Context(), r.PathValue("model_id"), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	root, err := ParseArtifactURI(lm.ArtifactLocation)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.serveArtifact(w, r, joinArtifactPath(root, rel))
}

package mlflowapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
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
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Missing value for required parameter 'run_id'. See the API docs for more information about request parameters."))
		return
	}
	rel, err := checkArtifactPath(q.Get("path"), false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var uri string
	err = s.Store.Reader().QueryRowContext(r.Context(), `SELECT artifact_uri FROM runs WHERE run_id = ?`, id).Scan(&uri)
	if sqlstore.IsNoRows(err) {
		s.writeError(w, r, tandem.Errorf(tandem.ENOTFOUND, "Run with id=%s not found", id))
		return
	} else if err != nil {
		s.writeError(w, r, fmt.Errorf("get-artifact: run %s: %w", id, err))
		return
	}
	root, err := ParseArtifactURI(uri)
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

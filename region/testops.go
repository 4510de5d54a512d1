package region

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
)

// routesTestOps registers the TEST ONLY endpoint that drives the
// test.note.<kind> ops (sqlstore/replication.go), enabled by
// TANDEM_TEST_OPS=1. It exists so replication can be tested and
// benchmarked before the tracking and registry ops land; it writes only the
// test_notes table and its blobs under test-notes/.
//
//	PUT /api/tandem/v1/test/note?kind=runs&key=k&value=v   body: blob bytes (optional)
func (r *Region) routesTestOps() {
	r.mux.HandleFunc("PUT /api/tandem/v1/test/note", func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		kind := tandem.Kind(q.Get("kind"))
		if !slices.Contains(sqlstore.TestNoteKinds, kind) {
			http.Error(w, "kind must be one of the test note kinds", http.StatusBadRequest)
			return
		}
		note := sqlstore.TestNote{Key: q.Get("key"), Value: q.Get("value")}
		var blobs []tandem.BlobRef
		if req.ContentLength != 0 {
			path := "test-notes/" + string(kind) + "/" + note.Key
			// Refuse before storing bytes when this region cannot write.
			if _, err := (tandem.RoleGate{Roles: r.Roles}).WriteEpoch(req.Context()); err != nil {
				writeTestErr(w, err)
				return
			}
			ref, err := r.Blobs.Put(req.Context(), path, req.Body, "")
			if err != nil {
				writeTestErr(w, err)
				return
			}
			note.Blob, note.SHA = ref.Path, ref.SHA256
			blobs = []tandem.BlobRef{ref}
		}
		e, err := r.Store.Write(req.Context(), &sqlstore.Change{Op: "test.note." + string(kind), Key: note.Key, Payload: note, Blobs: blobs})
		if err != nil {
			writeTestErr(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"position": e.Position, "blobs": blobs})
	})
	r.mux.HandleFunc("GET /api/tandem/v1/test/note", func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		var value string
		var blob *string
		err := r.Store.Reader().QueryRowContext(req.Context(), `SELECT value, blob_path FROM test_notes WHERE kind = ? AND key = ?`, q.Get("kind"), q.Get("key")).Scan(&value, &blob)
		if sqlstore.IsNoRows(err) {
			writeTestErr(w, tandem.Errorf(tandem.ENOTFOUND, "no note"))
			return
		} else if err != nil {
			writeTestErr(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"value": value, "blob": blob})
	})
}

func writeTestErr(w http.ResponseWriter, err error) {
	code := tandem.ErrorCode(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(tandem.HTTPStatus(code))
	json.NewEncoder(w).Encode(map[string]string{"error_code": tandem.MLflowName(code), "message": tandem.ErrorMessage(err)})
}

var _ = io.EOF

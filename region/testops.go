//go:build tandemtest

package region

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/sqlstore"
)

// TestHooks, in a build with the tag tandemtest only, are the test ops
// switch and the fault injectors a test can turn on (tandem server reads
// them from TANDEM_TEST_OPS and TANDEM_TEST_CORRUPT_BLOBS).
type TestHooks struct {
	// TestOps enables PUT/GET /api/tandem/v1/test/note.
	TestOps bool
	// BlobHook wraps the blob bytes this region sends to secondaries,
	// e.g. to corrupt them in transit.
	BlobHook func(path string, r io.Reader) io.Reader
}

func (c Config) replicationHooks() replication.TestHooks {
	return replication.TestHooks{BlobHook: c.BlobHook}
}

// routesTestOps registers the endpoint that drives the test.note.<kind>
// ops (sqlstore/testnotes_tandemtest.go) when TestOps is on. Tests of
// replication and failover write notes of any size and kind with it; it
// writes only the test_notes table and its blobs under test-notes/.
//
//	PUT /api/tandem/v1/test/note?kind=runs&key=k&value=v   body: blob bytes (optional)
func (r *Region) routesTestOps() {
	if !r.cfg.TestOps {
		return
	}
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

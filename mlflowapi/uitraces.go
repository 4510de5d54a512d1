package mlflowapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/otlpspan"
)

// traceDataFile is the name MLflow gives a trace's span data.
const traceDataFile = "traces.json"

// uiTraceArtifact: GET /ajax-api/{2,3}.0/mlflow/get-trace-artifact?request_id=ID,
// the MLflow UI's trace view: the trace's spans as MLflow's traces.json
// ({"spans": [...]} in Span.to_dict's form), built from the spans in the
// metadata store, or else the traces.json a client uploaded to the trace's
// artifact location. With path=P it is the attachment P of the trace
// (attachments/P under that location).
func (s *Server) uiTraceArtifact(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id := q.Get("request_id")
	if id == "" {
		writeJSON(w, http.StatusBadRequest, errorBody{ErrorCode: "BAD_REQUEST",
			Message: `Request must include the "request_id" query parameter.`})
		return
	}
	ctx := r.Context()
	var rel string
	if p := q.Get("path"); p != "" {
		var err error
		if rel, err = checkArtifactPath(unescapeFully(p), false); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	infos, err := s.Store.BatchTraceInfos(ctx, []string{id})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(infos) == 0 {
		if rel != "" {
			s.writeError(w, r, tandem.Errorf(tandem.ENOTFOUND, "Trace with ID '%s' not found.", id))
		} else {
			s.writeError(w, r, tandem.Errorf(tandem.ENOTFOUND, "Trace with ID %s is not found.", id))
		}
		return
	}
	root := func() (string, error) {
		loc := infos[0].Tags[tandem.TraceTagArtifactLocation]
		if loc == "" {
			return "", tandem.Errorf(tandem.ENOTFOUND, "Trace %s has no artifact location", id)
		}
		return ParseArtifactURI(loc)
	}
	if rel != "" {
		dir, err := root()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.serveArtifact(w, r, joinArtifactPath(dir, "attachments/"+rel))
		return
	}
	spans, err := s.Store.TraceSpans(ctx, []string{id})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(spans[id]) == 0 {
		dir, err := root()
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.serveArtifact(w, r, joinArtifactPath(dir, traceDataFile))
		return
	}
	out := make([]map[string]any, 0, len(spans[id]))
	for _, sp := range spans[id] {
		d, err := otlpspan.MLflowDict(sp.Content)
		if err != nil {
			s.writeError(w, r, fmt.Errorf("trace %s: stored span %s: %w", id, sp.SpanID, err))
			return
		}
		out = append(out, d)
	}
	b, err := json.Marshal(map[string]any{"spans": out})
	if err != nil {
		s.writeError(w, r, fmt.Errorf("trace %s: %w", id, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", contentDisposition(traceDataFile))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

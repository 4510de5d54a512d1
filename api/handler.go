package api

import (
	"errors"
	"io"
	"net/http"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/strictjson"
)

// handle returns the handler of an operation that answers JSON: it calls
// fn and writes what it returns with status, or the error in the API's
// format. Operations that read a JSON body use handleJSON.
func handle[Resp any](s *Server, status int, fn func(r *http.Request) (Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out, err := fn(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, status, out)
	}
}

// maxJSONBytes bounds the JSON body of an operation other than create.
const maxJSONBytes = 1 << 20

// handleJSON is handle for an operation with a JSON body: the body is
// decoded strictly (see decodeStrict) into a new Req before fn is called.
func handleJSON[Req, Resp any](s *Server, status int, fn func(r *http.Request, req *Req) (Resp, error)) http.HandlerFunc {
	return handle(s, status, func(r *http.Request) (Resp, error) {
		req := new(Req)
		body, err := readBody(r, maxJSONBytes)
		if err == nil {
			err = decodeStrict(body, req, "")
		}
		if err != nil {
			var zero Resp
			return zero, err
		}
		return fn(r, req)
	})
}

// readBody reads at most limit bytes of the request body; a larger body is
// ELIMIT.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "could not read the request body")
	}
	if int64(len(b)) > limit {
		return nil, tandem.Errorf(tandem.ELIMIT, "request body is larger than %d bytes", limit)
	}
	return b, nil
}

// decodeStrict decodes a JSON object into v: no data after it, no key
// twice, no key v does not have, every value of its field's type. Errors
// are EINVALID and name the field by its JSON path under prefix.
func decodeStrict(body []byte, v any, prefix string) error {
	err := strictjson.Decode(body, v, strictjson.Options{DisallowUnknown: true, Prefix: prefix})
	var e *strictjson.Error
	if errors.As(err, &e) {
		return tandem.Errorf(tandem.EINVALID, "%s", e.Error())
	}
	return err
}

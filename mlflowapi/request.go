package mlflowapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/strictjson"
)

// How an endpoint is written: a request type whose fields carry json tags
// (and mlflow:"required" where MLflow's server requires the field), and a
// method that takes the decoded request and returns the response value:
//
//	s.handle("POST", "experiments/create", handleJSON(s, s.createExperiment))
//	func (s *Server) createExperiment(r *http.Request, req *createExperimentReq) (any, error)
//
// handleJSON does the rest: decoding, the required-field checks, MLflow's
// error format and the JSON response.

// handleJSON returns the handler of a JSON endpoint: it decodes the request
// (the body, or the query string for GET) into a new Req, refuses a missing
// required field, calls fn and writes what it returns with status 200.
// Errors are written in MLflow's format.
func handleJSON[Req, Resp any](s *Server, fn func(r *http.Request, req *Req) (Resp, error)) http.HandlerFunc {
	return handleCall(s, func(r *http.Request) (Resp, error) {
		req := new(Req)
		if err := decode(r, req); err != nil {
			var zero Resp
			return zero, err
		}
		if err := checkRequired(req); err != nil {
			var zero Resp
			return zero, err
		}
		return fn(r, req)
	})
}

// handleCall returns the handler of an endpoint that reads no JSON (only
// its path or query): it calls fn and writes the result as handleJSON does.
func handleCall[Resp any](s *Server, fn func(r *http.Request) (Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out, err := fn(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// limitBody refuses a request whose body is declared larger than n bytes
// with tooLarge's message, and bounds the body it reads to n.
func (s *Server) limitBody(n int64, tooLarge func(size int64) error, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > n {
			s.writeError(w, r, tooLarge(r.ContentLength))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, n)
		h(w, r)
	}
}

// empty is the response of endpoints that answer {}.
type empty struct{}

// apiDocs ends MLflow's messages about request parameters.
const apiDocs = " See the API docs for more information about request parameters."

// missing is MLflow's error for an absent required request field.
func missing(field string) error {
	return tandem.Errorf(tandem.EINVALID, "Missing value for required parameter '%s'."+apiDocs, field)
}

// invalidValue is MLflow's error for a request field of the wrong type or
// out of range: the value as JSON, and its type as MLflow (Python) names it.
func invalidValue(field string, v any) error {
	return tandem.Errorf(tandem.EINVALID, "Invalid value %s for parameter '%s' supplied:  Hint: Value was of type '%s'."+apiDocs,
		strictjson.FormatValue(v), field, pythonType(v))
}

// pythonType names the type of a parsed JSON value as MLflow's messages do.
func pythonType(v any) string {
	switch strictjson.TypeOf(v) {
	case "string":
		return "str"
	case "integer":
		return "int"
	case "number":
		return "float"
	case "boolean":
		return "bool"
	case "array":
		return "list"
	case "object":
		return "dict"
	}
	return "NoneType"
}

// requestError words a strictjson error for the MLflow API.
func requestError(err error) error {
	var e *strictjson.Error
	if err == nil || !errors.As(err, &e) {
		return err
	}
	if e.Kind == strictjson.WrongType {
		return invalidValue(e.Path, e.Value)
	}
	return tandem.Errorf(tandem.EINVALID, "%s", e.Error())
}

// positiveMaxResults refuses a max_results that is set but not positive,
// or (limit > 0) above limit, as MLflow's server does; 0 is "not set".
func positiveMaxResults(m Int64, limit int64) (int, error) {
	if m.Set && m.V <= 0 {
		return 0, tandem.Errorf(tandem.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer.", m.V)
	}
	if limit > 0 {
		if err := maxResultsAtMost(m, limit); err != nil {
			return 0, err
		}
	}
	return int(m.V), nil
}

// maxResultsAtMost refuses a max_results above limit, as MLflow's search
// handlers do before the search runs.
func maxResultsAtMost(m Int64, limit int64) error {
	if m.Set && m.V > limit {
		return invalidValue("max_results", json.Number(strconv.FormatInt(m.V, 10)))
	}
	return nil
}

// checkRequired refuses the first field of req (in declaration order,
// embedded structs included) tagged mlflow:"required" that the request
// left out: an absent or empty string, an unset Int64/Float64/Bool, an
// absent list or object. (MLflow's server treats "" as absent too.) A
// check() error method of req (runIDReq's, promoted) runs first.
func checkRequired(req any) error {
	if c, ok := req.(interface{ check() error }); ok {
		if err := c.check(); err != nil {
			return err
		}
	}
	return required(reflect.ValueOf(req).Elem())
}

func required(v reflect.Value) error {
	t := v.Type()
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if err := required(v.Field(i)); err != nil {
				return err
			}
			continue
		}
		if f.Tag.Get("mlflow") != "required" {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if absent(v.Field(i)) {
			return missing(name)
		}
	}
	return nil
}

// presence is implemented by the request field types that know whether
// the request set them (Int64, Float64, Bool).
type presence interface{ present() bool }

func absent(v reflect.Value) bool {
	if p, ok := v.Interface().(presence); ok {
		return !p.present()
	}
	switch v.Kind() {
	case reflect.String:
		return v.Len() == 0
	case reflect.Pointer:
		return v.IsNil() || v.Elem().Kind() == reflect.String && v.Elem().Len() == 0
	case reflect.Slice, reflect.Map:
		return v.IsNil()
	}
	return false
}

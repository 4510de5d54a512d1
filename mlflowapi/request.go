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
func missing(field string) error { return tandem.MissingParam(field) }

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
// (MLflow ends the first message with a period for metric history only:
// period says so.)
func positiveMaxResults(m Int64, limit int64, period bool) (int, error) {
	if m.Set && m.V <= 0 {
		end := ""
		if period {
			end = "."
		}
		return 0, tandem.Errorf(tandem.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer%s", m.V, end)
	}
	if limit > 0 {
		if err := maxResultsAtMost(m, limit); err != nil {
			return 0, err
		}
	}
	return int(m.V), nil
}

// maxResultsAtMost refuses a max_results above limit, as MLflow's search
// handlers do before the search runs, naming the value as it was sent.
func maxResultsAtMost(m Int64, limit int64) error {
	if m.Set && m.V > limit {
		if m.Str {
			return invalidValue("max_results", strconv.FormatInt(m.V, 10))
		}
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
		if req, _ := requiredTag(f); !req {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if absent(v.Field(i)) {
			return missing(name)
		}
	}
	return nil
}

// inFieldOrder makes a wrong-typed field's error (err, from decoding into
// v) the one MLflow's server gives: MLflow checks the fields of a request
// one after the other, each for presence (when required) and then for its
// type, so a required field declared before the wrong-typed one and left
// out is reported instead, and of two wrong-typed fields the first
// declared. redecode decodes the request again into fresh without the
// top-level keys in drop; it is called until the rest decodes.
func inFieldOrder(v any, err error, redecode func(drop map[string]bool, fresh any) error) error {
	var e *strictjson.Error
	if !errors.As(err, &e) || e.Kind != strictjson.WrongType {
		return err
	}
	wrong := map[string]error{}
	drop := map[string]bool{}
	fresh := reflect.New(reflect.TypeOf(v).Elem())
	for cur := err; cur != nil; {
		var ce *strictjson.Error
		if !errors.As(cur, &ce) || ce.Kind != strictjson.WrongType {
			return err
		}
		key := topKey(ce.Path)
		if drop[key] {
			return err
		}
		drop[key], wrong[key] = true, cur
		fresh = reflect.New(reflect.TypeOf(v).Elem())
		cur = redecode(drop, fresh.Interface())
	}
	if first := firstInOrder(fresh.Interface(), fresh.Elem(), wrong); first != nil {
		return first
	}
	return err
}

// topKey is the top-level key of a JSON path: "tags" of "tags[0].key".
func topKey(path string) string {
	if i := strings.IndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return path
}

// firstInOrder walks the fields of the request struct v in declaration
// order and returns the first problem: a wrong-typed field (wrong, by JSON
// name) or a required one left out. An embedded struct with a check()
// method (runIDReq) is checked after its own fields (by calling the
// method as promoted to top, the whole request).
func firstInOrder(top any, v reflect.Value, wrong map[string]error) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if err := firstInOrder(top, v.Field(i), wrong); err != nil {
				return err
			}
			_, own := reflect.Zero(f.Type).Interface().(interface{ check() error })
			if c, ok := top.(interface{ check() error }); own && ok {
				if err := c.check(); err != nil {
					// embedded with mlflow:"typefirst": as a required
					// field tagged so (see requiredTag)
					if tf, ok := top.(interface{ checkTypeFirst() error }); ok && f.Tag.Get("mlflow") == "typefirst" {
						return tf.checkTypeFirst()
					}
					return err
				}
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if err, ok := wrong[name]; ok {
			return err
		}
		if req, typeFirst := requiredTag(f); req && absent(v.Field(i)) {
			if typeFirst {
				// MLflow checks this field's type before its presence:
				// an absent one is a null of the wrong type.
				return invalidValue(name, nil)
			}
			return missing(name)
		}
	}
	return nil
}

// requiredTag reads a field's mlflow tag: "required", or
// "required,typefirst" where MLflow's handler checks the field's type
// before its presence (which shows only when another field has the wrong
// type: see inFieldOrder).
func requiredTag(f reflect.StructField) (required, typeFirst bool) {
	switch f.Tag.Get("mlflow") {
	case "required":
		return true, false
	case "required,typefirst":
		return true, true
	}
	return false, false
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

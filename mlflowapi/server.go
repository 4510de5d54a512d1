// Package mlflowapi serves the MLflow REST API (tracking, model registry,
// logged models, artifact proxy) on top of tandem's metadata and artifact
// stores, so the stock mlflow client works against tandem unchanged.
//
// Every route is registered under both /api/2.0/mlflow/ and
// /ajax-api/2.0/mlflow/. Paths under those prefixes that tandem does not
// serve answer MLflow's NOT_IMPLEMENTED JSON error, never an HTML page.
package mlflowapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	graphql "github.com/graph-gophers/graphql-go"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/strictjson"
	"github.com/tandemml/tandem/tracemetrics"
	"github.com/tandemml/tandem/webhook"
)

// MaxBodyBytes bounds a JSON request body (artifact uploads stream and are
// not bounded by it).
const MaxBodyBytes = 16 << 20

// Store is what the MLflow API needs of a region's metadata store: the
// MLflow areas declared in the root package, and trace metrics (their
// query types live in package tracemetrics, above the root). sqlstore's
// Store implements it.
type Store interface {
	tandem.TrackingStore
	tandem.RegistryStore
	tandem.ArtifactIndex
	tandem.TraceStore
	tandem.GenAIStore
	tandem.WebhookStore
	tandem.GatewayStore
	// QueryTraceMetrics answers MLflow's QueryTraceMetrics over the traces
	// of the experiments the query names.
	QueryTraceMetrics(ctx context.Context, q tracemetrics.Query) ([]tracemetrics.Point, error)
}

// Server is the MLflow API of one region.
type Server struct {
	Store  Store
	Blobs  *blobstore.Store
	Log    *slog.Logger
	mux    *http.ServeMux
	prefix []string
	art    *artifactState // artifacts.go
	routes []string       // "METHOD /full/pattern", in registration order
	// graphql is the schema /graphql answers (graphql.go).
	graphql *graphql.Schema
	// graphqlBounds are the root field and alias limits of /graphql
	// (graphql_limits.go).
	graphqlBounds graphqlBounds
	// hooks checks webhook URLs and delivers the registry's events
	// (webhooks.go; the region sets its own with SetWebhooks).
	hooks *webhook.Service
	// deployments is the deployments server gateway-proxy forwards to
	// ("": none; gateway.go).
	deployments string
	// gatewaySecrets seals AI gateway secret values (aigateway.go; the
	// region sets its vault with SetGatewaySecrets).
	gatewaySecrets GatewaySecrets
	// hostSchemes are the host-addressed schemes a client may name in an
	// artifact location or a model version source (tandem.CheckHostAddressed;
	// the region sets them with SetAllowedHostSchemes).
	hostSchemes []string
}

// SetAllowedHostSchemes sets the host-addressed URI schemes (http, ftp,
// ...) clients may name in an experiment's artifact_location or a model
// version's source; none by default, as MLflow's server has it.
func (s *Server) SetAllowedHostSchemes(schemes []string) { s.hostSchemes = schemes }

// New returns a Server with every route registered.
func New(store Store, blobs *blobstore.Store, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{Store: store, Blobs: blobs, Log: log, mux: http.NewServeMux(),
		prefix: []string{"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"}}
	s.hooks = webhook.New(webhook.Config{Store: store, Log: log})
	s.routesTracking()
	s.routesRegistry()
	s.routesArtifacts()
	s.routesTraces()    // traces.go
	s.routesGenAI()     // genai.go
	s.routesIssues()    // issues.go
	s.routesAIGateway() // aigateway.go
	s.routesWebhooks()  // webhooks.go
	s.routesAjax()
	s.graphql = s.newGraphQL()
	s.handleRaw("POST /graphql", s.serveGraphQL)
	s.handleRaw("GET /graphql", s.serveGraphQL)
	for _, p := range apiPrefixes() {
		s.mux.HandleFunc(p, s.notImplemented)
	}
	return s
}

// ServeHTTP serves the MLflow API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// apiPrefixes are the paths under which MLflow's API lives; each is also
// the catch-all pattern that answers what tandem does not serve.
func apiPrefixes() []string {
	return []string{"/api/2.0/", "/ajax-api/2.0/", "/api/3.0/", "/ajax-api/3.0/"}
}

// Handles reports whether path belongs to this API (callers mount it at /).
func Handles(path string) bool {
	for _, p := range apiPrefixes() {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// handle registers h for "METHOD name" under both MLflow prefixes, where name
// is relative to /api/2.0/mlflow/ (for example "POST experiments/create").
func (s *Server) handle(method, name string, h http.HandlerFunc) {
	for _, p := range s.prefix {
		s.handleRaw(method+" "+p+name, h)
	}
}

// handleRaw registers h for a full pattern (used for mlflow-artifacts).
func (s *Server) handleRaw(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, h)
	s.routes = append(s.routes, pattern)
}

// Routes lists every registered route as "METHOD /full/pattern" (the
// authorisation route table is checked against it).
func (s *Server) Routes() []string { return s.routes }

func (s *Server) notImplemented(w http.ResponseWriter, r *http.Request) {
	if allow := s.allowed(r); len(allow) > 0 {
		// A served path asked with another method: 405 with the methods
		// it has, as MLflow's server answers (in MLflow's error format).
		w.Header().Set("Allow", strings.Join(allow, ", "))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_ = json.NewEncoder(w).Encode(errorBody{ErrorCode: "BAD_REQUEST",
			Message: fmt.Sprintf("The method %s is not allowed for %s (allowed: %s).", r.Method, r.URL.Path, strings.Join(allow, ", "))})
		return
	}
	s.writeError(w, r, tandem.Errorf(tandem.ENOTIMPLEMENTED,
		"tandem does not implement %s %s", r.Method, r.URL.Path))
}

// allowed lists the methods that have a route of their own for r's path
// (none when the path has no route at all).
func (s *Server) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := s.mux.Handler(probe); pattern != "" && !slices.Contains(apiPrefixes(), pattern) {
			out = append(out, m)
		}
	}
	return out
}

// errorBody is MLflow's JSON error format.
type errorBody struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
	// Detail is tandem's addition (e.g. primary_url); MLflow clients ignore it.
	Detail map[string]string `json:"details,omitempty"`
}

// writeError writes err in MLflow's JSON error format with the matching HTTP
// status. Internal errors are logged in full and shown as "Internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := tandem.ErrorCode(err)
	if code == tandem.EINTERNAL {
		s.Log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body := errorBody{ErrorCode: tandem.MLflowName(code), Message: tandem.ErrorMessage(err)}
	var te *tandem.Error
	if errors.As(err, &te) {
		body.Detail = te.Detail
	}
	writeJSON(w, tandem.HTTPStatus(code), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	buf, err := json.Marshal(v)
	if err != nil {
		status, buf = 500, []byte(`{"error_code":"INTERNAL_ERROR","message":"Internal error."}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf)
}

// decode reads a request into v: the JSON body for POST/PATCH/DELETE, the
// query string for GET (fields that are slices take every value of their
// key, see strictjson.DecodeQuery). It refuses bodies over MaxBodyBytes and
// anything strictjson refuses (invalid UTF-8, malformed JSON, data after
// the object, a key twice, a value of the wrong type) with EINVALID, worded
// as MLflow's server words it (INVALID_PARAMETER_VALUE).
func decode(r *http.Request, v any) error {
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		return requestError(inFieldOrder(v, strictjson.DecodeQuery(q, v), func(drop map[string]bool, fresh any) error {
			kept := url.Values{}
			for k, vs := range q {
				if !drop[k] {
					kept[k] = vs
				}
			}
			return strictjson.DecodeQuery(kept, fresh)
		}))
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return tandem.Errorf(tandem.EINVALID, "request body is larger than %d bytes", mb.Limit)
		}
		return tandem.Errorf(tandem.EINVALID, "could not read request body")
	}
	if len(b) > MaxBodyBytes {
		return tandem.Errorf(tandem.EINVALID, "request body is larger than %d bytes", MaxBodyBytes)
	}
	// Python's json writes non-finite floats as bare NaN and Infinity, and
	// MLflow's server reads them so.
	b = strictjson.QuoteNonFinite(b)
	return requestError(inFieldOrder(v, strictjson.Decode(b, v, strictjson.Options{}), func(drop map[string]bool, fresh any) error {
		tree, err := strictjson.Parse(b)
		if err != nil {
			return err
		}
		obj, _ := tree.(map[string]any)
		for k := range drop {
			delete(obj, k)
		}
		return strictjson.DecodeValue(obj, fresh, strictjson.Options{})
	}))
}

// Int64 is an int64 request field that accepts a JSON number or a string
// holding one (proto3 JSON encodes int64 as strings). Set reports presence.
type Int64 struct {
	V   int64
	Set bool
	// Str: the request sent it as a string (every query-string value is
	// one), which MLflow's messages show as a str.
	Str bool
}

func (i *Int64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" {
		return nil
	}
	if s == "" {
		return tandem.Errorf(tandem.EINVALID, "expected an integer, got %s", b)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) {
			return tandem.Errorf(tandem.EINVALID, "expected an integer, got %s", b)
		}
		v = int64(f)
	}
	i.V, i.Set, i.Str = v, true, strings.HasPrefix(string(b), `"`)
	return nil
}

func (i Int64) present() bool { return i.Set }

func (i Int64) MarshalJSON() ([]byte, error) { return []byte(strconv.FormatInt(i.V, 10)), nil }

// Float64 is a float request field that accepts a JSON number or a string,
// including "NaN", "Infinity" and "-Infinity" as proto3 JSON writes them.
type Float64 struct {
	V   float64
	Set bool
}

func (f *Float64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" {
		return nil
	}
	switch s {
	case "NaN", "nan":
		f.V, f.Set = math.NaN(), true
		return nil
	case "Infinity", "inf", "+Infinity":
		f.V, f.Set = math.Inf(1), true
		return nil
	case "-Infinity", "-inf":
		f.V, f.Set = math.Inf(-1), true
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return tandem.Errorf(tandem.EINVALID, "expected a number, got %s", b)
	}
	f.V, f.Set = v, true
	return nil
}

func (f Float64) present() bool { return f.Set }

// Bool is a boolean request field that accepts true/false or "true"/"false".
type Bool struct {
	V   bool
	Set bool
}

func (x *Bool) UnmarshalJSON(b []byte) error {
	switch strings.ToLower(strings.Trim(string(b), `"`)) {
	case "null":
		return nil
	case "true":
		x.V, x.Set = true, true
	case "false":
		x.V, x.Set = false, true
	default:
		return tandem.Errorf(tandem.EINVALID, "expected a boolean, got %s", b)
	}
	return nil
}

func (x Bool) present() bool { return x.Set }

// Bootstrap creates what a new workspace has before any request: experiment
// "0" named "Default", as MLflow does. It does nothing when it exists.
func (s *Server) Bootstrap(ctx context.Context) error { return s.bootstrapTracking(ctx) }

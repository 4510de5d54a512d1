package serving

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/keyvault"
	"github.com/tandemml/tandem/strictjson"
)

// APIPrefix is where the endpoints API is mounted (inside tandem's API).
const APIPrefix = "/api/tandem/v1/online-endpoints"

// EndpointResponse is an endpoint as the API shows it: with this region's
// scoring URI, never its keys.
type EndpointResponse struct {
	tandem.OnlineEndpoint
	ScoringURI string `json:"scoring_uri,omitempty"`
}

// EndpointsResponse is the body of the endpoint list.
type EndpointsResponse struct {
	Endpoints []EndpointResponse `json:"endpoints"`
}

// DeploymentsResponse is the body of a deployment list.
type DeploymentsResponse struct {
	Deployments []*tandem.OnlineDeployment `json:"deployments"`
}

// RegenerateKeysRequest is the body of regenerateKeys (Azure's field).
type RegenerateKeysRequest struct {
	KeyType string `json:"keyType"` // Primary or Secondary
}

// LogsResponse is the body of a deployment's logs in one region.
type LogsResponse struct {
	Region string `json:"region"`
	Logs   string `json:"logs"`
}

// APIHandler serves the management API: mount it at APIPrefix (both the
// exact path and APIPrefix+"/"). PUT takes ?mode=create (refused when the
// object exists) or ?mode=update (refused when it does not); without mode
// it creates or replaces.
func (s *Service) APIHandler() http.Handler {
	mux := http.NewServeMux()
	handlers := map[string]func(*http.Request) (any, error){
		"GET ":                                               s.listEndpoints,
		"GET /{name}":                                        s.showEndpoint,
		"PUT /{name}":                                        s.putEndpoint,
		"DELETE /{name}":                                     s.deleteEndpoint,
		"POST /{name}/listKeys":                              s.listKeys,
		"POST /{name}/regenerateKeys":                        s.regenerateKeys,
		"GET /{name}/deployments":                            s.listDeployments,
		"GET /{name}/deployments/{deployment}":               s.showDeployment,
		"PUT /{name}/deployments/{deployment}":               s.putDeployment,
		"DELETE /{name}/deployments/{deployment}":            s.deleteDeployment,
		"GET /{name}/deployments/{deployment}/status":        s.deploymentStatus,
		"GET /{name}/deployments/{deployment}/logs":          s.deploymentLogs,
		"POST /{name}/deployments/{deployment}/request-logs": s.receiveLogs, // regions only (peer key)
	}
	for _, rt := range Routes() {
		mux.HandleFunc(rt.Method+" "+APIPrefix+rt.Path, s.handle(handlers[rt.Method+" "+rt.Path]))
	}
	mux.HandleFunc(APIPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, tandem.Errorf(tandem.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// Route is one operation of the management API, its path below
// APIPrefix; Internal ones are for regions only (the peer key) and left
// out of the API's OpenAPI document.
type Route struct {
	Method, Path, Summary string
	Internal              bool
}

// Routes lists the management API's operations (APIHandler serves each).
func Routes() []Route {
	return []Route{
		{Method: "GET", Path: "", Summary: "List the online endpoints"},
		{Method: "GET", Path: "/{name}", Summary: "Show an online endpoint (never its keys)"},
		{Method: "PUT", Path: "/{name}", Summary: "Create or replace an online endpoint (?mode=create|update)"},
		{Method: "DELETE", Path: "/{name}", Summary: "Delete an online endpoint and its deployments"},
		{Method: "POST", Path: "/{name}/listKeys", Summary: "The endpoint's two keys (get-credentials)"},
		{Method: "POST", Path: "/{name}/regenerateKeys", Summary: "Replace the endpoint's Primary or Secondary key"},
		{Method: "GET", Path: "/{name}/deployments", Summary: "List an endpoint's deployments"},
		{Method: "GET", Path: "/{name}/deployments/{deployment}", Summary: "Show a deployment"},
		{Method: "PUT", Path: "/{name}/deployments/{deployment}", Summary: "Create or replace a deployment (?mode=create|update)"},
		{Method: "DELETE", Path: "/{name}/deployments/{deployment}", Summary: "Delete a deployment"},
		{Method: "GET", Path: "/{name}/deployments/{deployment}/status", Summary: "A deployment's scoring processes in this region"},
		{Method: "GET", Path: "/{name}/deployments/{deployment}/logs", Summary: "A deployment's scoring logs in this region (?lines=)"},
		{Method: "POST", Path: "/{name}/deployments/{deployment}/request-logs", Summary: "Request log lines a secondary sends the primary", Internal: true},
	}
}

func (s *Service) handle(fn func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out, err := fn(r)
		if err != nil {
			if tandem.ErrorCode(err) == tandem.EINTERNAL {
				s.log.Error("online endpoints API", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeErr(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(out)
	}
}

// decode reads a JSON body strictly: one object, no unknown or repeated
// key, every value of its field's type.
func decode(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil {
		return tandem.Errorf(tandem.EINVALID, "could not read the request body")
	}
	if len(b) > 1<<20 {
		return tandem.Errorf(tandem.ELIMIT, "request body is larger than %d bytes", 1<<20)
	}
	err = strictjson.Decode(b, v, strictjson.Options{DisallowUnknown: true})
	var e *strictjson.Error
	if errors.As(err, &e) {
		return tandem.Errorf(tandem.EINVALID, "%s", e.Error())
	}
	return err
}

func putMode(r *http.Request) (tandem.PutMode, error) {
	switch m := r.URL.Query().Get("mode"); m {
	case "":
		return tandem.PutUpsert, nil
	case "create":
		return tandem.PutCreate, nil
	case "update":
		return tandem.PutUpdate, nil
	default:
		return "", tandem.Errorf(tandem.EINVALID, "mode %q: create, update or nothing", m)
	}
}

func (s *Service) response(ep *tandem.OnlineEndpoint) EndpointResponse {
	out := EndpointResponse{OnlineEndpoint: *ep}
	if s.cfg.URL != "" && ep.Serves(s.cfg.Region) {
		out.ScoringURI = strings.TrimSuffix(s.cfg.URL, "/") + "/endpoints/" + ep.Name + "/score"
	}
	return out
}

func (s *Service) listEndpoints(r *http.Request) (any, error) {
	eps, err := s.cfg.Store.ListEndpoints(r.Context())
	if err != nil {
		return nil, err
	}
	out := EndpointsResponse{Endpoints: []EndpointResponse{}}
	for _, ep := range eps {
		out.Endpoints = append(out.Endpoints, s.response(ep))
	}
	return out, nil
}

func (s *Service) showEndpoint(r *http.Request) (any, error) {
	ep, err := s.cfg.Store.GetEndpoint(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return s.response(ep), nil
}

func (s *Service) putEndpoint(r *http.Request) (any, error) {
	mode, err := putMode(r)
	if err != nil {
		return nil, err
	}
	var ep tandem.OnlineEndpoint
	if err := decode(r, &ep); err != nil {
		return nil, err
	}
	name := r.PathValue("name")
	if ep.Name == "" {
		ep.Name = name
	}
	if ep.Name != name {
		return nil, tandem.Errorf(tandem.EINVALID, "the body names endpoint %s, the path %s", ep.Name, name)
	}
	ep.CreatedMS, ep.UpdatedMS = 0, 0
	// Keys for a new endpoint; an existing one keeps its own.
	sealed, err := s.cfg.Vault.SealEndpointKeys(r.Context(), tandem.EndpointKeys{PrimaryKey: keyvault.NewEndpointKey(), SecondaryKey: keyvault.NewEndpointKey()})
	if err != nil {
		return nil, err
	}
	// A placement that adds regions starts the deployments there: the
	// quota is checked in the write's own transaction.
	checks, err := s.quotaChecks(r.Context(), "endpoint", name)
	if err != nil {
		return nil, err
	}
	out, err := s.cfg.Store.PutEndpoint(r.Context(), ep, sealed, mode, checks...)
	if err != nil {
		return nil, err
	}
	s.refreshView(r.Context())
	return s.response(out), nil
}

func (s *Service) deleteEndpoint(r *http.Request) (any, error) {
	if err := s.cfg.Store.DeleteEndpoint(r.Context(), r.PathValue("name")); err != nil {
		return nil, err
	}
	s.refreshView(r.Context())
	return map[string]any{}, nil
}

func (s *Service) listKeys(r *http.Request) (any, error) {
	name := r.PathValue("name")
	ep, err := s.cfg.Store.GetEndpoint(r.Context(), name)
	if err != nil {
		return nil, err
	}
	if ep.AuthMode != tandem.EndpointAuthKey {
		return nil, tandem.Errorf(tandem.EINVALID, "online endpoint %s uses auth_mode %s: score with a tandem token (tandem token print)", name, ep.AuthMode)
	}
	return s.endpointKeys(r.Context(), name)
}

func (s *Service) regenerateKeys(r *http.Request) (any, error) {
	var req RegenerateKeysRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	ctx := r.Context()
	name := r.PathValue("name")
	sealed, err := s.cfg.Store.EndpointKeysSealed(ctx, name)
	if err != nil {
		return nil, err
	}
	keys, err := s.cfg.Vault.OpenEndpointKeys(ctx, name, sealed)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(req.KeyType) {
	case "primary":
		keys.PrimaryKey = keyvault.NewEndpointKey()
	case "secondary":
		keys.SecondaryKey = keyvault.NewEndpointKey()
	default:
		return nil, tandem.Errorf(tandem.EINVALID, "keyType %q: Primary or Secondary", req.KeyType)
	}
	newSealed, err := s.cfg.Vault.SealEndpointKeys(ctx, keys)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Store.ReplaceEndpointKeys(ctx, name, sealed, newSealed); err != nil {
		return nil, err
	}
	return map[string]any{}, nil
}

func (s *Service) listDeployments(r *http.Request) (any, error) {
	ds, err := s.cfg.Store.ListDeployments(r.Context(), r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return DeploymentsResponse{Deployments: ds}, nil
}

func (s *Service) showDeployment(r *http.Request) (any, error) {
	return s.cfg.Store.GetDeployment(r.Context(), r.PathValue("name"), r.PathValue("deployment"))
}

func (s *Service) putDeployment(r *http.Request) (any, error) {
	mode, err := putMode(r)
	if err != nil {
		return nil, err
	}
	var d tandem.OnlineDeployment
	if err := decode(r, &d); err != nil {
		return nil, err
	}
	ep, name := r.PathValue("name"), r.PathValue("deployment")
	if d.Endpoint == "" {
		d.Endpoint = ep
	}
	if d.Name == "" {
		d.Name = name
	}
	if d.Endpoint != ep || d.Name != name {
		return nil, tandem.Errorf(tandem.EINVALID, "the body names deployment %s/%s, the path %s/%s", d.Endpoint, d.Name, ep, name)
	}
	d.CreatedMS, d.UpdatedMS, d.ModelName, d.ModelVersion = 0, 0, "", 0
	checks, err := s.quotaChecks(r.Context(), "deployment", ep+"/"+name)
	if err != nil {
		return nil, err
	}
	return s.cfg.Store.PutDeployment(r.Context(), d, mode, checks...)
}

func (s *Service) deleteDeployment(r *http.Request) (any, error) {
	return map[string]any{}, s.cfg.Store.DeleteDeployment(r.Context(), r.PathValue("name"), r.PathValue("deployment"))
}

func (s *Service) deploymentStatus(r *http.Request) (any, error) {
	if _, err := s.cfg.Store.GetDeployment(r.Context(), r.PathValue("name"), r.PathValue("deployment")); err != nil {
		return nil, err
	}
	return s.Status(r.PathValue("name"), r.PathValue("deployment"))
}

func (s *Service) deploymentLogs(r *http.Request) (any, error) {
	if _, err := s.cfg.Store.GetDeployment(r.Context(), r.PathValue("name"), r.PathValue("deployment")); err != nil {
		return nil, err
	}
	lines := 100
	if v := r.URL.Query().Get("lines"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return nil, tandem.Errorf(tandem.EINVALID, "lines %q: between 1 and 10000", v)
		}
		lines = n
	}
	logs, err := s.Logs(r.PathValue("name"), r.PathValue("deployment"), lines)
	if err != nil {
		return nil, err
	}
	return LogsResponse{Region: s.cfg.Region, Logs: logs}, nil
}

package auth

import (
	"context"
	"net/http"
	"strings"

	"github.com/tandemml/tandem"
)

// Class says how a route is guarded.
type Class int

const (
	// ClassAction: an authenticated principal whose roles allow Action at
	// the request's scope.
	ClassAction Class = iota
	// ClassPublic: anyone (/health, /version).
	ClassPublic
	// ClassPeer: region-to-region endpoints; their handlers require the
	// workspace peer key, so users' credentials are not consulted.
	ClassPeer
	// ClassAuthenticated: any authenticated principal (unknown paths under
	// the APIs, which answer NOT_IMPLEMENTED or not found).
	ClassAuthenticated
)

// Rule is how one route is guarded.
type Rule struct {
	Class  Class
	Action string
	// Scope finds the resources the request touches (nil: the workspace).
	Scope ScopeFunc
	// Filter: a list or search that a principal without the action at
	// workspace scope may still send; it sees only the experiments or
	// models where a role assignment allows the action
	// (tandem.VisibleScopes), as MLflow's auth app filters searches.
	Filter bool
	// RawBody: the body is a file's bytes, not JSON; it is neither read
	// nor consulted to find the scope (a file that happens to hold
	// {"run_id": ...} must not choose what is authorised).
	RawBody bool
}

func filtered(action string) Rule { return Rule{Class: ClassAction, Action: action, Filter: true} }

// ScopeFunc resolves the scopes of a request from its query, path values
// or JSON body (body is nil for GET). An empty result is the workspace.
type ScopeFunc func(ctx context.Context, r *http.Request, body map[string]any, res Resolver) []tandem.Scope

// Resolver looks up what a scope depends on: a run's experiment, a
// logged model's experiment. ENOTFOUND when unknown.
type Resolver interface {
	RunExperiment(ctx context.Context, runID string) (string, error)
}

func act(action string, scope ScopeFunc) Rule {
	return Rule{Class: ClassAction, Action: action, Scope: scope}
}

// param reads a request parameter from the query or the JSON body.
func param(r *http.Request, body map[string]any, name string) string {
	if v := r.URL.Query().Get(name); v != "" {
		return v
	}
	if s, ok := body[name].(string); ok {
		return s
	}
	return ""
}

func experimentParam(name string) ScopeFunc {
	return func(_ context.Context, r *http.Request, body map[string]any, _ Resolver) []tandem.Scope {
		if id := param(r, body, name); id != "" {
			return []tandem.Scope{tandem.ExperimentScope(id)}
		}
		return nil
	}
}

// experimentList: search requests name their experiments (all must be
// allowed).
func experimentList(_ context.Context, r *http.Request, body map[string]any, _ Resolver) []tandem.Scope {
	var out []tandem.Scope
	for _, id := range r.URL.Query()["experiment_ids"] {
		out = append(out, tandem.ExperimentScope(id))
	}
	if l, ok := body["experiment_ids"].([]any); ok {
		for _, v := range l {
			if s, ok := v.(string); ok {
				out = append(out, tandem.ExperimentScope(s))
			}
		}
	}
	return out
}

func runParam(ctx context.Context, r *http.Request, body map[string]any, res Resolver) []tandem.Scope {
	id := param(r, body, "run_id")
	if id == "" {
		id = param(r, body, "run_uuid")
	}
	if id == "" || res == nil {
		return nil
	}
	if exp, err := res.RunExperiment(ctx, id); err == nil {
		return []tandem.Scope{tandem.ExperimentScope(exp)}
	}
	return nil
}

// runUUIDQuery: the run named by run_uuid in the query string only (the
// UI's upload-artifact, whose body is the file).
func runUUIDQuery(ctx context.Context, r *http.Request, _ map[string]any, res Resolver) []tandem.Scope {
	id := r.URL.Query().Get("run_uuid")
	if id == "" || res == nil {
		return nil
	}
	if exp, err := res.RunExperiment(ctx, id); err == nil {
		return []tandem.Scope{tandem.ExperimentScope(exp)}
	}
	return nil
}

func modelParam(name string) ScopeFunc {
	return func(_ context.Context, r *http.Request, body map[string]any, _ Resolver) []tandem.Scope {
		if n := param(r, body, name); n != "" {
			return []tandem.Scope{tandem.ModelScope(n)}
		}
		return nil
	}
}

func modelPath(_ context.Context, r *http.Request, _ map[string]any, _ Resolver) []tandem.Scope {
	if n := r.PathValue("name"); n != "" {
		return []tandem.Scope{tandem.ModelScope(n)}
	}
	return nil
}

// artifactPath: mlflow-artifacts paths start with the experiment id
// (<experiment>/<run>/artifacts/...).
func artifactPath(_ context.Context, r *http.Request, _ map[string]any, _ Resolver) []tandem.Scope {
	p := r.PathValue("path")
	if p == "" {
		p = r.URL.Query().Get("path")
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
	if first != "" && strings.Trim(first, "0123456789") == "" {
		return []tandem.Scope{tandem.ExperimentScope(first)}
	}
	return nil
}

// MLflowRules guards the MLflow API, by route relative to /api/2.0/mlflow/
// ("METHOD name", as mlflowapi registers it).
func MLflowRules() map[string]Rule {
	exp, run := experimentParam("experiment_id"), runParam
	model := modelParam("name")
	return map[string]Rule{
		"POST experiments/create":                            act(tandem.ActionExperimentsWrite, nil),
		"GET experiments/get":                                act(tandem.ActionExperimentsRead, exp),
		"GET experiments/get-by-name":                        act(tandem.ActionExperimentsRead, nil),
		"POST experiments/search":                            filtered(tandem.ActionExperimentsRead),
		"GET experiments/search":                             filtered(tandem.ActionExperimentsRead),
		"POST experiments/update":                            act(tandem.ActionExperimentsWrite, exp),
		"POST experiments/delete":                            act(tandem.ActionExperimentsDelete, exp),
		"POST experiments/restore":                           act(tandem.ActionExperimentsWrite, exp),
		"POST experiments/set-experiment-tag":                act(tandem.ActionExperimentsWrite, exp),
		"POST experiments/delete-experiment-tag":             act(tandem.ActionExperimentsWrite, exp),
		"POST runs/create":                                   act(tandem.ActionRunsWrite, exp),
		"GET runs/get":                                       act(tandem.ActionRunsRead, run),
		"POST runs/update":                                   act(tandem.ActionRunsWrite, run),
		"POST runs/delete":                                   act(tandem.ActionRunsDelete, run),
		"POST runs/restore":                                  act(tandem.ActionRunsWrite, run),
		"POST runs/search":                                   act(tandem.ActionRunsRead, experimentList),
		"GET runs/search":                                    act(tandem.ActionRunsRead, experimentList),
		"POST runs/log-metric":                               act(tandem.ActionRunsWrite, run),
		"POST runs/log-parameter":                            act(tandem.ActionRunsWrite, run),
		"POST runs/set-tag":                                  act(tandem.ActionRunsWrite, run),
		"POST runs/delete-tag":                               act(tandem.ActionRunsWrite, run),
		"POST runs/log-batch":                                act(tandem.ActionRunsWrite, run),
		"POST runs/log-model":                                act(tandem.ActionRunsWrite, run),
		"POST runs/log-inputs":                               act(tandem.ActionRunsWrite, run),
		"POST runs/outputs":                                  act(tandem.ActionRunsWrite, run),
		"GET metrics/get-history":                            act(tandem.ActionRunsRead, run),
		"GET metrics/get-history-bulk-interval":              act(tandem.ActionRunsRead, nil),
		"GET metrics/get-history-bulk":                       act(tandem.ActionRunsRead, nil),
		"POST experiments/search-datasets":                   act(tandem.ActionRunsRead, experimentList),
		"GET artifacts/list":                                 act(tandem.ActionRunsRead, run),
		"POST logged-models":                                 act(tandem.ActionModelsWrite, exp),
		"POST logged-models/search":                          act(tandem.ActionModelsRead, experimentList),
		"GET logged-models/{model_id}":                       act(tandem.ActionModelsRead, nil),
		"PATCH logged-models/{model_id}":                     act(tandem.ActionModelsWrite, nil),
		"DELETE logged-models/{model_id}":                    act(tandem.ActionModelsDelete, nil),
		"PATCH logged-models/{model_id}/tags":                act(tandem.ActionModelsWrite, nil),
		"DELETE logged-models/{model_id}/tags/{tag_key...}":  act(tandem.ActionModelsWrite, nil),
		"POST logged-models/{model_id}/params":               act(tandem.ActionModelsWrite, nil),
		"GET logged-models/{model_id}/artifacts/directories": act(tandem.ActionModelsRead, nil),
		"GET logged-models/{model_id}/artifacts/files":       act(tandem.ActionModelsRead, nil),
		"POST upload-artifact":                               {Class: ClassAction, Action: tandem.ActionRunsWrite, Scope: runUUIDQuery, RawBody: true},
		"POST runs/create-promptlab-run":                     act(tandem.ActionRunsWrite, exp),
		// gateway-proxy answers an empty gateway (tandem has none): anyone
		// who may read (GET) or write (POST, an invocation) some runs.
		"GET gateway-proxy":                          filtered(tandem.ActionRunsRead),
		"POST gateway-proxy":                         {Class: ClassAction, Action: tandem.ActionRunsWrite, Filter: true},
		"GET users/current":                          filtered(tandem.ActionExperimentsRead),
		"POST registered-models/create":              act(tandem.ActionModelsWrite, model),
		"POST registered-models/rename":              act(tandem.ActionModelsWrite, model),
		"PATCH registered-models/update":             act(tandem.ActionModelsWrite, model),
		"DELETE registered-models/delete":            act(tandem.ActionModelsDelete, model),
		"GET registered-models/get":                  act(tandem.ActionModelsRead, model),
		"GET registered-models/search":               filtered(tandem.ActionModelsRead),
		"POST registered-models/get-latest-versions": act(tandem.ActionModelsRead, model),
		"GET registered-models/get-latest-versions":  act(tandem.ActionModelsRead, model),
		"POST registered-models/set-tag":             act(tandem.ActionModelsWrite, model),
		"DELETE registered-models/delete-tag":        act(tandem.ActionModelsWrite, model),
		"POST registered-models/alias":               act(tandem.ActionModelsWrite, model),
		"DELETE registered-models/alias":             act(tandem.ActionModelsWrite, model),
		"GET registered-models/alias":                act(tandem.ActionModelsRead, model),
		"POST model-versions/create":                 act(tandem.ActionModelsWrite, model),
		"PATCH model-versions/update":                act(tandem.ActionModelsWrite, model),
		"POST model-versions/transition-stage":       act(tandem.ActionModelsWrite, model),
		"DELETE model-versions/delete":               act(tandem.ActionModelsDelete, model),
		"GET model-versions/get":                     act(tandem.ActionModelsRead, model),
		"GET model-versions/search":                  filtered(tandem.ActionModelsRead),
		"GET model-versions/get-download-uri":        act(tandem.ActionModelsRead, model),
		"POST model-versions/set-tag":                act(tandem.ActionModelsWrite, model),
		"DELETE model-versions/delete-tag":           act(tandem.ActionModelsWrite, model),
	}
}

// ArtifactRules guards the artifact proxy, by route relative to
// /api/2.0/mlflow-artifacts/.
func ArtifactRules() map[string]Rule {
	return map[string]Rule{
		"GET artifacts":                           act(tandem.ActionRunsRead, artifactPath),
		"GET artifacts/{path...}":                 act(tandem.ActionRunsRead, artifactPath),
		"PUT artifacts/{path...}":                 act(tandem.ActionRunsWrite, artifactPath),
		"DELETE artifacts/{path...}":              act(tandem.ActionRunsDelete, artifactPath),
		"POST mpu/create/{path...}":               act(tandem.ActionRunsWrite, artifactPath),
		"POST mpu/complete/{path...}":             act(tandem.ActionRunsWrite, artifactPath),
		"POST mpu/abort/{path...}":                act(tandem.ActionRunsWrite, artifactPath),
		"PUT mpu/parts/{upload_id}/{part_number}": act(tandem.ActionRunsWrite, nil),
		"GET presigned/{path...}":                 act(tandem.ActionRunsRead, artifactPath),
	}
}

// TandemRules guards tandem's API and the region's own endpoints, by full
// route ("METHOD /path"). Asset routes are derived from the asset kinds as
// api registers them; models are the registry's (scope: the model).
func TandemRules() map[string]Rule {
	const p = "/api/tandem/v1"
	m := map[string]Rule{
		"GET /health":                {Class: ClassPublic},
		"GET /version":               {Class: ClassPublic},
		"GET " + p + "/version":      {Class: ClassPublic},
		"GET " + p + "/openapi.json": {Class: ClassPublic},
		"GET /metrics":               act(tandem.ActionStatusRead, nil),
		"POST " + p + "/export":      act(tandem.ActionExport, nil),
		"POST " + p + "/import":      act(tandem.ActionImport, nil),

		"GET " + p + "/replication/status":     act(tandem.ActionStatusRead, nil),
		"GET " + p + "/replication/checksum":   act(tandem.ActionStatusRead, nil),
		"GET " + p + "/replication/journal":    {Class: ClassPeer},
		"GET " + p + "/replication/deferred":   {Class: ClassPeer},
		"GET " + p + "/replication/blob":       {Class: ClassPeer},
		"GET " + p + "/replication/superseded": {Class: ClassPeer},
		"GET " + p + "/replication/snapshot":   {Class: ClassPeer},
		"GET " + p + "/failover/status":        act(tandem.ActionStatusRead, nil),
		"GET " + p + "/failover/positions":     act(tandem.ActionStatusRead, nil),
		"GET " + p + "/failover/history":       act(tandem.ActionStatusRead, nil),
		// Divergence reports (with their entries) and replay: the peer key
		// (the CLI) or a principal who manages the workspace (the
		// console); package leader serves them and asks this table.
		"GET " + p + "/failover/divergence":      act(tandem.ActionWorkspaceWrite, nil),
		"GET " + p + "/failover/divergence/{id}": act(tandem.ActionWorkspaceWrite, nil),
		"POST " + p + "/failover/replay":         act(tandem.ActionWorkspaceWrite, nil),
		"POST " + p + "/failover/switchover":     {Class: ClassPeer},
		"POST " + p + "/failover/poke":           {Class: ClassPeer},
		// Recorded drills: tandem drill records with the peer key or an
		// administrator's credentials; anyone who reads status lists them.
		"POST " + p + "/drills":                             act(tandem.ActionWorkspaceWrite, nil),
		"GET " + p + "/drills":                              act(tandem.ActionStatusRead, nil),
		"GET " + p + "/secrets":                             act(tandem.ActionSecretsRead, nil),
		"GET " + p + "/secrets/{name}/versions":             act(tandem.ActionSecretsRead, nil),
		"PUT " + p + "/secrets/{name}":                      act(tandem.ActionSecretsWrite, nil),
		"PATCH " + p + "/secrets/{name}/versions/{version}": act(tandem.ActionSecretsWrite, nil),
		"POST " + p + "/secrets/{name}/recover":             act(tandem.ActionSecretsWrite, nil),
		"DELETE " + p + "/secrets/{name}":                   act(tandem.ActionSecretsDelete, nil),
		"POST " + p + "/secrets/{name}/purge":               act(tandem.ActionSecretsDelete, nil),
		"POST " + p + "/datastores/{name}/check":            act(tandem.ActionDatastoreCheck, nil),
		// The MLflow UI: its page and static files (any signed-in
		// principal: they hold no workspace data) and its own downloads.
		"GET /{$}":                         {Class: ClassAuthenticated},
		"GET /static-files/{path...}":      {Class: ClassAuthenticated},
		"GET /get-artifact":                act(tandem.ActionRunsRead, runParam),
		"GET /model-versions/get-artifact": act(tandem.ActionModelsRead, modelParam("name")),
		// MLflow 3's server description and the UI's telemetry switch hold
		// no workspace data: anyone who may read some experiment.
		"GET /api/3.0/mlflow/server-info":                    filtered(tandem.ActionExperimentsRead),
		"GET /ajax-api/3.0/mlflow/server-info":               filtered(tandem.ActionExperimentsRead),
		"GET /ajax-api/3.0/mlflow/ui-telemetry":              filtered(tandem.ActionExperimentsRead),
		"POST /ajax-api/3.0/mlflow/ui-telemetry":             filtered(tandem.ActionExperimentsRead),
		"GET /ajax-api/3.0/mlflow/users/current/permissions": filtered(tandem.ActionExperimentsRead),
		"GET /ajax-api/3.0/mlflow/assistant/config":          filtered(tandem.ActionExperimentsRead),
		"GET /ajax-api/3.0/mlflow/assistant/providers":       filtered(tandem.ActionExperimentsRead),
		// GraphQL reads runs and experiments; each object is checked
		// against what the caller may read (mlflowapi/graphql.go).
		"POST /graphql":                               filtered(tandem.ActionExperimentsRead),
		"GET /graphql":                                filtered(tandem.ActionExperimentsRead),
		"GET " + p + "/desired/applied":               act(tandem.ActionStatusRead, nil),
		"PUT " + p + "/desired/applied":               act(tandem.ActionDesiredApply, nil),
		"GET " + p + "/desired/drift":                 act(tandem.ActionStatusRead, nil),
		"GET " + p + "/images":                        act(tandem.AssetAction(tandem.AssetEnvironment, "read"), nil),
		"POST " + p + "/images/sync":                  act(tandem.AssetAction(tandem.AssetEnvironment, "write"), nil),
		"POST " + p + "/jobs":                         act(tandem.ActionJobsWrite, nil),
		"GET " + p + "/jobs":                          act(tandem.ActionJobsRead, nil),
		"GET " + p + "/jobs/{name}":                   act(tandem.ActionJobsRead, nil),
		"POST " + p + "/jobs/{name}/cancel":           act(tandem.ActionJobsWrite, nil),
		"POST " + p + "/jobs/{name}/archive":          act(tandem.ActionJobsWrite, nil),
		"GET " + p + "/jobs/{name}/logs":              act(tandem.ActionJobsRead, nil),
		"GET " + p + "/jobs/{name}/outputs":           act(tandem.ActionJobsRead, nil),
		"GET " + p + "/jobs/{name}/outputs/{path...}": act(tandem.ActionJobsRead, nil),
		"GET " + p + "/compute":                       act(tandem.ActionComputeRead, nil),
		"GET " + p + "/compute/{name}":                act(tandem.ActionComputeRead, nil),
		"PUT " + p + "/compute/{name}":                act(tandem.ActionComputeWrite, nil),
		"DELETE " + p + "/compute/{name}":             act(tandem.ActionComputeDelete, nil),
		"GET " + p + "/settings/jobs":                 act(tandem.ActionStatusRead, nil),
		"PUT " + p + "/settings/jobs":                 act(tandem.ActionWorkspaceWrite, nil),
		"DELETE " + p + "/settings/jobs":              act(tandem.ActionWorkspaceWrite, nil),
		"GET " + p + "/settings/quotas":               act(tandem.ActionStatusRead, nil),
		"PUT " + p + "/settings/quotas":               act(tandem.ActionWorkspaceWrite, nil),
		"DELETE " + p + "/settings/quotas":            act(tandem.ActionWorkspaceWrite, nil),
		// The console (package console): its page and files hold no
		// workspace data, which it reads from the API with the user's own
		// credentials; its workspace view is a status read; its endpoints
		// view shows every region's deployment status (a deployment read),
		// which it reads in each region with the peer key from that
		// region's own part (a status read: /metrics has the same counts).
		"GET /console":                          {Class: ClassPublic},
		"GET /console/{path...}":                {Class: ClassPublic},
		"GET " + p + "/regions":                 act(tandem.ActionStatusRead, nil),
		"GET " + p + "/endpoint-traffic":        act(tandem.ActionDeploymentsRead, nil),
		"GET " + p + "/endpoint-traffic/region": act(tandem.ActionStatusRead, nil),
	}
	for _, k := range tandem.AssetKinds {
		base := "/" + k.Plural()
		var scope ScopeFunc
		read, write := tandem.AssetAction(k, "read"), tandem.AssetAction(k, "write")
		if k == tandem.AssetModel {
			scope, read, write = modelPath, tandem.ActionModelsRead, tandem.ActionModelsWrite
		}
		for route, action := range map[string]string{
			"GET " + base:                                                read,
			"POST " + base:                                               write,
			"GET " + base + "/{name}":                                    read,
			"POST " + base + "/{name}/archive":                           write,
			"POST " + base + "/{name}/restore":                           write,
			"GET " + base + "/{name}/resolve":                            read,
			"GET " + base + "/{name}/versions":                           read,
			"GET " + base + "/{name}/versions/{version}":                 read,
			"PATCH " + base + "/{name}/versions/{version}":               write,
			"POST " + base + "/{name}/versions/{version}/archive":        write,
			"POST " + base + "/{name}/versions/{version}/restore":        write,
			"GET " + base + "/{name}/versions/{version}/files/{path...}": read,
		} {
			method, path, _ := strings.Cut(route, " ")
			m[method+" "+p+path] = act(action, scope)
		}
	}
	for route, action := range IdentityRoutes() {
		if action == "" {
			m[route] = Rule{Class: ClassAuthenticated}
			continue
		}
		m[route] = act(action, nil)
	}
	addTestRoutes(m) // routes_tandemtest.go; nothing in a release build
	return m
}

// IdentityRoutes are the identity API's routes (identity.go) and the
// action each needs, at workspace scope.
func IdentityRoutes() map[string]string {
	const p = "/api/tandem/v1"
	return map[string]string{
		"GET " + p + "/principals":                 tandem.ActionPrincipalsRead,
		"POST " + p + "/principals":                tandem.ActionPrincipalsWrite,
		"GET " + p + "/principals/{name}":          tandem.ActionPrincipalsRead,
		"DELETE " + p + "/principals/{name}":       tandem.ActionPrincipalsDelete,
		"GET " + p + "/principals/{name}/tokens":   tandem.ActionPrincipalsRead,
		"POST " + p + "/principals/{name}/tokens":  tandem.ActionPrincipalsWrite,
		"DELETE " + p + "/tokens/{id}":             tandem.ActionPrincipalsWrite,
		"PUT " + p + "/principals/{name}/password": tandem.ActionPrincipalsWrite,
		"PUT " + p + "/whoami/password":            "", // the caller's own
		"GET " + p + "/roles":                      tandem.ActionRoleDefsRead,
		"GET " + p + "/roles/{name}":               tandem.ActionRoleDefsRead,
		"PUT " + p + "/roles/{name}":               tandem.ActionRoleDefsWrite,
		"DELETE " + p + "/roles/{name}":            tandem.ActionRoleDefsDelete,
		"GET " + p + "/role-assignments":           tandem.ActionAssignmentsRead,
		"POST " + p + "/role-assignments":          tandem.ActionAssignmentsWrite,
		"DELETE " + p + "/role-assignments/{id}":   tandem.ActionAssignmentsDelete,
		"GET " + p + "/audit":                      tandem.ActionAuditRead,
		"GET " + p + "/whoami":                     "",
	}
}

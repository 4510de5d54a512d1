package api

import (
	"reflect"
	"strings"

	"github.com/tandemml/tandem"
)

// DocRoute is an operation another package serves below Prefix (the
// online endpoints of package serving), for this API's OpenAPI document.
type DocRoute struct {
	Method, Path, Summary string // Path below Prefix
}

// The names of online endpoints and deployments, as
// tandem.ValidateEndpointName and ValidateDeploymentName check them.
const endpointNamePattern = `^[A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9]$`

// endpointOperation documents one online endpoint operation: its path
// names, ?mode on a PUT, and the endpoint or deployment body with the
// limits tandem.OnlineEndpoint.Normalize and OnlineDeployment.Normalize
// enforce.
func endpointOperation(r DocRoute) map[string]any {
	var params []any
	for _, m := range wildcardRE.FindAllStringSubmatch(r.Path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true,
			"schema": map[string]any{"type": "string", "pattern": endpointNamePattern}})
	}
	op := map[string]any{
		"summary":     r.Summary,
		"operationId": operationID(Route{Method: r.Method, Path: r.Path}),
		"tags":        []string{"online-endpoints"},
		"responses": map[string]any{
			"default": map[string]any{"description": "Error", "content": jsonContent(ref("Error"))},
			"200":     map[string]any{"description": "OK"},
		},
	}
	if r.Method == "PUT" {
		params = append(params, map[string]any{"name": "mode", "in": "query", "required": false,
			"description": "create: refused when it exists; update: refused when it does not; none: create or replace",
			"schema":      map[string]any{"type": "string", "enum": []any{"create", "update"}}})
		body := "OnlineEndpoint"
		if strings.Contains(r.Path, "{deployment}") {
			body = "OnlineDeployment"
		}
		// An endpoint's fields all have defaults: no body creates one
		// with them, as az ml online-endpoint create -n does.
		op["requestBody"] = map[string]any{"required": body == "OnlineDeployment", "content": jsonContent(ref(body))}
	}
	if r.Path == "/online-endpoints/{name}/regenerateKeys" {
		op["requestBody"] = map[string]any{"required": true, "content": jsonContent(closed(map[string]any{
			"keyType": map[string]any{"type": "string", "enum": []any{"Primary", "Secondary", "primary", "secondary"}}}, "keyType"))}
	}
	if params != nil {
		op["parameters"] = params
	}
	return op
}

// endpointSchemas are the bodies of an endpoint and a deployment.
func endpointSchemas() map[string]any {
	// In a body a name may be left empty: the path's is used.
	bodyName := `^([A-Za-z][A-Za-z0-9-]{1,30}[A-Za-z0-9])?$`
	name := map[string]any{"type": "string", "pattern": bodyName}
	percents := func(max int) map[string]any {
		// (null reads as 0, as in every JSON field of this API)
		return map[string]any{"type": "object", "additionalProperties": nullable(map[string]any{"type": "integer", "minimum": 0, "maximum": max})}
	}
	ep := schemaOf(reflect.TypeFor[tandem.OnlineEndpoint]())
	setProp(ep, "name", nullable(name))
	enum(ep, "auth_mode", "", tandem.EndpointAuthKey, tandem.EndpointAuthToken)
	setProp(ep, "traffic", nullable(percents(100)))
	mirror := percents(tandem.MaxMirrorPercent)
	mirror["maxProperties"] = 1
	setProp(ep, "mirror_traffic", nullable(mirror))

	d := schemaOf(reflect.TypeFor[tandem.OnlineDeployment]())
	setProp(d, "endpoint", nullable(map[string]any{"type": "string", "pattern": bodyName}))
	setProp(d, "name", nullable(map[string]any{"type": "string", "pattern": bodyName}))
	require(d, "model")
	setProp(d, "model", map[string]any{"type": "string", "minLength": 1})
	setProp(d, "instance_count", nullable(map[string]any{"type": "integer", "minimum": 0, "maximum": tandem.MaxInstanceCount}))
	setProp(d, "instance_counts", nullable(map[string]any{"type": "object",
		"additionalProperties": nullable(map[string]any{"type": "integer", "minimum": 0, "maximum": tandem.MaxInstanceCount})}))
	rs := prop(d, "request_settings")
	setProp(rs, "request_timeout_ms", nullable(map[string]any{"type": "integer", "minimum": 0, "maximum": tandem.MaxRequestTimeoutMS}))
	setProp(rs, "max_concurrent_requests_per_instance", nullable(map[string]any{"type": "integer", "minimum": 0, "maximum": tandem.MaxConcurrentRequests}))
	for _, probe := range []string{"liveness_probe", "readiness_probe"} {
		p := prop(d, probe)
		for f := range p["properties"].(map[string]any) {
			setProp(p, f, nullable(map[string]any{"type": "integer", "minimum": 0, "maximum": 3600}))
		}
	}
	return map[string]any{"OnlineEndpoint": ep, "OnlineDeployment": d}
}

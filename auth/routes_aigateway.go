package auth

import (
	"strings"

	"github.com/tandemml/tandem"
)

// AIGatewayRules guards MLflow's AI gateway configuration, by full pattern
// under the 3.0 prefixes where mlflowapi serves it. Gateway secrets hold
// provider credentials: they are key vault secrets (Key Vault's secret
// actions). Model definitions, endpoints, their tags and bindings decide
// where model calls go: they are endpoint objects (the online endpoint
// actions). Each needs its action at workspace scope.
func AIGatewayRules() map[string]Rule {
	sr, sw, sd := tandem.ActionSecretsRead, tandem.ActionSecretsWrite, tandem.ActionSecretsDelete
	er, ew, ed := tandem.ActionEndpointsRead, tandem.ActionEndpointsWrite, tandem.ActionEndpointsDelete
	rules := map[string]Rule{
		"POST secrets/create":              act(sw, nil),
		"GET secrets/get":                  act(sr, nil),
		"POST secrets/update":              act(sw, nil),
		"DELETE secrets/delete":            act(sd, nil),
		"GET secrets/list":                 act(sr, nil),
		"POST model-definitions/create":    act(ew, nil),
		"GET model-definitions/get":        act(er, nil),
		"GET model-definitions/list":       act(er, nil),
		"POST model-definitions/update":    act(ew, nil),
		"DELETE model-definitions/delete":  act(ed, nil),
		"POST endpoints/create":            act(ew, nil),
		"GET endpoints/get":                act(er, nil),
		"POST endpoints/update":            act(ew, nil),
		"DELETE endpoints/delete":          act(ed, nil),
		"GET endpoints/list":               act(er, nil),
		"POST endpoints/models/attach":     act(ew, nil),
		"POST endpoints/models/detach":     act(ew, nil),
		"POST endpoints/bindings/create":   act(ew, nil),
		"DELETE endpoints/bindings/delete": act(ew, nil),
		"GET endpoints/bindings/list":      act(er, nil),
		"POST endpoints/set-tag":           act(ew, nil),
		"DELETE endpoints/delete-tag":      act(ew, nil),
	}
	out := map[string]Rule{}
	for route, rule := range rules {
		method, name, _ := strings.Cut(route, " ")
		for _, p := range []string{"/api/3.0/mlflow/gateway/", "/ajax-api/3.0/mlflow/gateway/"} {
			out[method+" "+p+name] = rule
		}
	}
	// Whether secrets can be stored says nothing secret.
	out["GET /ajax-api/3.0/mlflow/gateway/secrets/config"] = act(sr, nil)
	return out
}

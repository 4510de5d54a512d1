package auth

import (
	"strings"

	"github.com/tandemml/tandem"
)

// WebhookRules guards MLflow's model-registry webhooks, by full pattern
// under both MLflow prefixes. A webhook sees the events of every model, so
// each route needs its models action at workspace scope: a role assigned
// on one model does not reach them. Changing or testing a webhook is a
// registry write (it makes the server send requests), deleting one a
// registry delete.
func WebhookRules() map[string]Rule {
	rules := map[string]Rule{
		"POST webhooks":                   act(tandem.ActionModelsWrite, nil),
		"GET webhooks":                    act(tandem.ActionModelsRead, nil),
		"GET webhooks/{webhook_id}":       act(tandem.ActionModelsRead, nil),
		"PATCH webhooks/{webhook_id}":     act(tandem.ActionModelsWrite, nil),
		"DELETE webhooks/{webhook_id}":    act(tandem.ActionModelsDelete, nil),
		"POST webhooks/{webhook_id}/test": act(tandem.ActionModelsWrite, nil),
	}
	out := map[string]Rule{}
	for route, rule := range rules {
		method, name, _ := strings.Cut(route, " ")
		for _, p := range []string{"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/"} {
			out[method+" "+p+name] = rule
		}
	}
	return out
}

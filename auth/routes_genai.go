package auth

import (
	"context"
	"net/http"
	"strings"

	"github.com/tandemml/tandem"
)

// MLflow 3's GenAI objects are guarded as experiments are. A scorer belongs
// to one experiment (its scope). An evaluation dataset may be linked to
// several experiments or none: creating one needs experiment write on every
// experiment it is linked to at creation, and the routes that name a
// dataset by id need the action at workspace scope (a role assigned on one
// experiment does not reach datasets shared with others).

// experimentOrList: the experiment_id parameter, else experiment_ids.
func experimentOrList(ctx context.Context, r *http.Request, body map[string]any, res Resolver) []tandem.Scope {
	if id := param(r, body, "experiment_id"); id != "" {
		return []tandem.Scope{tandem.ExperimentScope(id)}
	}
	return experimentList(ctx, r, body, res)
}

// GenAIRules guards the evaluation dataset, scorer and issue routes, by full
// pattern, under the 2.0 and 3.0 prefixes as mlflowapi registers them.
func GenAIRules() map[string]Rule {
	read, write, del := tandem.ActionExperimentsRead, tandem.ActionExperimentsWrite, tandem.ActionExperimentsDelete
	exp := experimentParam("experiment_id")
	rules := map[string]Rule{
		"POST datasets/create":                          act(write, experimentList),
		"POST datasets/search":                          act(read, experimentList),
		"GET datasets/{dataset_id}":                     act(read, nil),
		"DELETE datasets/{dataset_id}":                  act(del, nil),
		"PATCH datasets/{dataset_id}/tags":              act(write, nil),
		"DELETE datasets/{dataset_id}/tags/{key...}":    act(write, nil),
		"POST datasets/{dataset_id}/records":            act(write, nil),
		"GET datasets/{dataset_id}/records":             act(read, nil),
		"DELETE datasets/{dataset_id}/records":          act(write, nil),
		"GET datasets/{dataset_id}/experiment-ids":      act(read, nil),
		"POST datasets/{dataset_id}/add-experiments":    act(write, experimentList),
		"POST datasets/{dataset_id}/remove-experiments": act(write, experimentList),
		"POST scorers/register":                         act(write, exp),
		"GET scorers/list":                              act(read, experimentOrList),
		"GET scorers/versions":                          act(read, exp),
		"GET scorers/get":                               act(read, exp),
		"DELETE scorers/delete":                         act(write, exp),
		"GET scorers/online-configs":                    act(read, nil),
	}
	// Issues are served under the 3.0 prefixes only, as MLflow serves
	// them; one named by id needs the action at workspace scope, as a
	// dataset does.
	v3 := map[string]Rule{
		"POST issues":             act(write, exp),
		"POST issues/search":      act(read, exp),
		"GET issues/{issue_id}":   act(read, nil),
		"PATCH issues/{issue_id}": act(write, nil),
	}
	out := map[string]Rule{}
	for route, rule := range rules {
		method, name, _ := strings.Cut(route, " ")
		for _, p := range []string{"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/", "/api/3.0/mlflow/", "/ajax-api/3.0/mlflow/"} {
			out[method+" "+p+name] = rule
		}
	}
	for route, rule := range v3 {
		method, name, _ := strings.Cut(route, " ")
		for _, p := range []string{"/api/3.0/mlflow/", "/ajax-api/3.0/mlflow/"} {
			out[method+" "+p+name] = rule
		}
	}
	return out
}

package api

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

// TestOpenAPIEndpoints: the online endpoint operations served elsewhere
// are in the document, with their bodies, and the name pattern it states
// is the one the server checks.
func TestOpenAPIEndpoints(t *testing.T) {
	s := &Server{elsewhere: []DocRoute{{Method: "PUT", Path: "/online-endpoints/{name}", Summary: "put"},
		{Method: "PUT", Path: "/online-endpoints/{name}/deployments/{deployment}", Summary: "put d"}}}
	doc := s.OpenAPI()
	paths := doc["paths"].(map[string]map[string]any)
	ep := paths[Prefix+"/online-endpoints/{name}"]["put"].(map[string]any)
	if ep["requestBody"].(map[string]any)["required"] != false {
		t.Fatalf("an endpoint's body is optional: %v", ep["requestBody"])
	}
	d := paths[Prefix+"/online-endpoints/{name}/deployments/{deployment}"]["put"].(map[string]any)
	if d["requestBody"].(map[string]any)["required"] != true || len(d["parameters"].([]any)) != 3 {
		t.Fatalf("deployment put: %v", d)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	dep := schemas["OnlineDeployment"].(map[string]any)
	if req, _ := dep["required"].([]string); len(req) != 1 || req[0] != "model" {
		t.Fatalf("deployment schema: %v", dep["required"])
	}
	re := regexp.MustCompile(endpointNamePattern)
	for _, v := range []string{"", "ab", "abc", "a-b", "ab-", "1ab", "A" + strings.Repeat("b", 31), "A" + strings.Repeat("b", 32), "a_b", "é12"} {
		if got, want := re.MatchString(v), tandem.ValidateEndpointName(v) == nil; got != want {
			t.Errorf("endpoint name %q: pattern %v, server %v", v, got, want)
		}
		if got, want := re.MatchString(v), tandem.ValidateDeploymentName(v) == nil; got != want {
			t.Errorf("deployment name %q: pattern %v, server %v", v, got, want)
		}
	}
}

package api

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/tandemml/tandem"
)

var wildcardRE = regexp.MustCompile(`\{([a-z_]+)(\.\.\.)?\}`)

// OpenAPIPath turns a route path into its OpenAPI form ({path...} -> {path}).
func OpenAPIPath(p string) string { return Prefix + wildcardRE.ReplaceAllString(p, "{$1}") }

// OpenAPI builds the OpenAPI 3 document from the route table.
func (s *Server) OpenAPI() map[string]any {
	paths := map[string]map[string]any{}
	for _, r := range s.routes {
		p := OpenAPIPath(r.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		var params []any
		for _, m := range wildcardRE.FindAllStringSubmatch(r.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
		}
		op := map[string]any{
			"summary":     r.Summary,
			"operationId": strings.ToLower(r.Method) + strings.NewReplacer("/", "_", "{", "", "}", "", ".", "", ".json", "").Replace(r.Path),
			"responses": map[string]any{
				"200":     map[string]any{"description": "OK"},
				"default": map[string]any{"description": "Error", "content": map[string]any{"application/json": map[string]any{"schema": map[string]string{"$ref": "#/components/schemas/Error"}}}},
			},
		}
		if r.Kind != "" {
			op["tags"] = []string{r.Kind.Plural()}
		}
		if params != nil {
			op["parameters"] = params
		}
		if r.Method == "POST" && !strings.Contains(r.Path, "{") {
			op["requestBody"] = map[string]any{"required": true,
				"description": "JSON with files inline (base64), or multipart/form-data streaming: a part \"asset\" (the JSON, files listed with path and sha256 only) then one part \"file\" per file with its path in the Tandem-Path header",
				"content": map[string]any{
					"application/json":    map[string]any{"schema": map[string]string{"$ref": "#/components/schemas/CreateRequest"}},
					"multipart/form-data": map[string]any{"schema": map[string]any{"type": "object"}},
				}}
		}
		paths[p][strings.ToLower(r.Method)] = op
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": "tandem API", "version": tandem.Version},
		"paths":   paths,
		"components": map[string]any{"schemas": map[string]any{
			"Error": map[string]any{"type": "object", "required": []string{"error_code", "message"}, "properties": map[string]any{
				"error_code": map[string]any{"type": "string", "enum": []string{tandem.EINVALID, tandem.ENOTFOUND, tandem.EEXISTS, tandem.ECONFLICT,
					tandem.EINVALIDSTATE, tandem.ELIMIT, tandem.EUNAVAILABLE, tandem.ENOTIMPLEMENTED, tandem.EUNAUTHORIZED, tandem.EFORBIDDEN, tandem.EINTERNAL}},
				"message": map[string]any{"type": "string"},
			}},
			"CreateRequest": map[string]any{"type": "object", "required": []string{"asset"}, "properties": map[string]any{
				"asset": map[string]any{"type": "object", "description": "kind, name, version, description, tags, spec"},
				"files": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
					"path": map[string]string{"type": "string"}, "content": map[string]string{"type": "string", "format": "byte"}, "sha256": map[string]string{"type": "string"}}}},
			}},
		}},
	}
}

func (s *Server) openapi(*http.Request) (map[string]any, error) { return s.OpenAPI(), nil }

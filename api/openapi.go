package api

import (
	"net/http"
	"reflect"
	"regexp"
	"strings"

	"github.com/tandemml/tandem"
)

var wildcardRE = regexp.MustCompile(`\{([a-z_]+)(\.\.\.)?\}`)

// OpenAPIPath turns a route path into its OpenAPI form ({path...} -> {path}).
func OpenAPIPath(p string) string { return Prefix + wildcardRE.ReplaceAllString(p, "{$1}") }

// The constraints the server enforces, as the document states them (see
// tandem.ValidateName, ValidateVersion and the kinds' Validate methods;
// TestOpenAPIPatternsMatchValidation keeps them in step). Lengths are in
// bytes on the server, characters in JSON Schema: a schema-valid string is
// never longer than the server allows.
const (
	namePattern         = `^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$`
	versionPattern      = `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`
	modelVersionPattern = `^0*[1-9][0-9]{0,17}$`
	// modelReadVersion also accepts "latest" (reads only).
	modelReadVersion = `^(latest|0*[1-9][0-9]{0,17})$`
	maxDescription   = 5000
	maxTags          = 100
	maxTagValue      = 5000
)

// OpenAPI builds the OpenAPI 3 document from the route table: every
// operation with its path and query parameters, request body and response
// schemas, stating the constraints the server enforces.
func (s *Server) OpenAPI() map[string]any {
	paths := map[string]map[string]any{}
	schemas := map[string]any{
		"Error": obj(map[string]any{
			"error_code": map[string]any{"type": "string", "enum": []string{tandem.EINVALID, tandem.ENOTFOUND, tandem.EEXISTS, tandem.ECONFLICT,
				tandem.EINVALIDSTATE, tandem.ELIMIT, tandem.EUNAVAILABLE, tandem.ENOTIMPLEMENTED, tandem.EUNAUTHORIZED, tandem.EFORBIDDEN, tandem.EINTERNAL}},
			"message": str(),
			"details": map[string]any{"type": "object", "additionalProperties": str()},
		}, "error_code", "message"),
		"Asset": obj(map[string]any{
			"kind": str(), "name": str(), "version": str(), "description": str(),
			"tags":     map[string]any{"type": "object", "additionalProperties": str()},
			"archived": map[string]any{"type": "boolean"}, "created_ms": integer(), "updated_ms": integer(),
			"spec":  map[string]any{"type": "object"},
			"files": arr(ref("AssetFile")),
		}, "kind", "name", "archived", "created_ms", "updated_ms", "spec"),
		"AssetFile":    obj(map[string]any{"path": str(), "size": integer(), "sha256": str()}, "path", "size", "sha256"),
		"ListResponse": obj(map[string]any{"assets": arr(ref("Asset"))}, "assets"),
		"Empty":        map[string]any{"type": "object"},
		"UpdateRequest": closed(map[string]any{
			"description": nullable(maxLen(str(), maxDescription)),
			"tags":        nullable(tagsSchema()),
		}),
	}
	for _, k := range tandem.AssetKinds {
		schemas[createSchemaName(k)] = createSchema(k)
	}
	for _, r := range s.routes {
		p := OpenAPIPath(r.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		op := map[string]any{
			"summary":     r.Summary,
			"operationId": operationID(r),
			"responses":   responses(r),
		}
		if routeAction(r) == "POST " {
			op["responses"].(map[string]any)["201"].(map[string]any)["links"] = s.createLinks(r.Kind)
		}
		if r.Kind != "" {
			op["tags"] = []string{r.Kind.Plural()}
		}
		if params := parameters(r); params != nil {
			op["parameters"] = params
		}
		if body := requestBody(r); body != nil {
			op["requestBody"] = body
		}
		paths[p][strings.ToLower(r.Method)] = op
	}
	if len(s.elsewhere) > 0 {
		for n, sc := range endpointSchemas() {
			schemas[n] = sc
		}
	}
	for _, r := range s.elsewhere {
		p := OpenAPIPath(r.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(r.Method)] = endpointOperation(r)
	}
	return map[string]any{
		"openapi":    "3.0.3",
		"info":       map[string]any{"title": "tandem API", "version": tandem.Version},
		"paths":      paths,
		"components": map[string]any{"schemas": schemas},
	}
}

func operationID(r Route) string {
	return strings.ToLower(r.Method) + strings.NewReplacer("/", "_", "{", "", "}", "", ".", "", ".json", "").Replace(r.Path)
}

// createLinks links a create's response to the operations on what it
// created (name and version from the response), for stateful testing.
func (s *Server) createLinks(k tandem.AssetKind) map[string]any {
	links := map[string]any{}
	for _, r := range s.routes {
		if r.Kind != k || !strings.Contains(r.Path, "{name}") || strings.Contains(r.Path, "{path") {
			continue
		}
		params := map[string]any{"name": "$response.body#/name"}
		if strings.Contains(r.Path, "{version}") {
			params["version"] = "$response.body#/version"
		}
		links[operationID(r)] = map[string]any{"operationId": operationID(r), "parameters": params}
	}
	return links
}

func (s *Server) openapi(*http.Request) (map[string]any, error) { return s.OpenAPI(), nil }

// The shape of an operation follows from its route: asset routes are
// "/<kinds>[/{name}[/versions[/{version}[/<action>]]]]".
func routeAction(r Route) string {
	base := "/" + r.Kind.Plural()
	if r.Kind == "" || !strings.HasPrefix(r.Path, base) {
		return ""
	}
	rest := strings.TrimPrefix(r.Path, base)
	rest = strings.Replace(rest, "/{name}", "/N", 1)
	rest = strings.Replace(rest, "/versions/{version}", "/V", 1)
	return r.Method + " " + rest
}

func parameters(r Route) []any {
	var params []any
	for _, m := range wildcardRE.FindAllStringSubmatch(r.Path, -1) {
		schema := map[string]any{"type": "string", "minLength": 1}
		switch {
		case m[1] == "name" && r.Kind != tandem.AssetModel && r.Kind != "":
			schema["pattern"] = namePattern
		case m[1] == "version" && r.Kind == tandem.AssetModel:
			schema["pattern"] = modelReadVersion
		case m[1] == "version":
			schema["pattern"] = versionPattern
		}
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": schema})
	}
	query := func(name, desc string, schema map[string]any) {
		params = append(params, map[string]any{"name": name, "in": "query", "required": false, "description": desc, "schema": schema})
	}
	switch routeAction(r) {
	case "GET ":
		query("name", "list the versions of this name", str())
		query("include_archived", "list archived versions too", map[string]any{"type": "boolean"})
	case "GET /N/versions":
		query("include_archived", "list archived versions too", map[string]any{"type": "boolean"})
	case "GET /N/resolve":
		query("path", "a tandem://datastores/NAME/paths/... path or a path relative to the datastore", str())
	}
	return params
}

func requestBody(r Route) map[string]any {
	switch routeAction(r) {
	case "POST ":
		return map[string]any{"required": true,
			"description": "JSON with files inline (base64), or multipart/form-data streaming: a part \"asset\" (the JSON, files listed with path and sha256 only) then one part \"file\" per file with its path in the Tandem-Path header",
			"content": map[string]any{
				"application/json":    map[string]any{"schema": ref(createSchemaName(r.Kind))},
				"multipart/form-data": map[string]any{"schema": map[string]any{"type": "object"}},
			}}
	case "PATCH /V":
		return map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": ref("UpdateRequest")}}}
	}
	return nil
}

func responses(r Route) map[string]any {
	out := map[string]any{
		"default": map[string]any{"description": "Error", "content": jsonContent(ref("Error"))},
	}
	ok := func(status, desc string, schema map[string]any) {
		out[status] = map[string]any{"description": desc, "content": jsonContent(schema)}
	}
	switch routeAction(r) {
	case "GET ", "GET /N/versions":
		ok("200", "The assets", ref("ListResponse"))
	case "POST ":
		ok("201", "The new version", ref("Asset"))
	case "GET /N", "GET /V", "PATCH /V":
		ok("200", "The version", ref("Asset"))
	case "POST /N/archive", "POST /N/restore", "POST /V/archive", "POST /V/restore":
		ok("200", "Done", ref("Empty"))
	case "GET /N/resolve":
		ok("200", "The storage URL", obj(map[string]any{"url": str()}, "url"))
	case "GET /V/files/{path...}":
		out["200"] = map[string]any{"description": "The file's bytes", "content": map[string]any{
			"application/octet-stream": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}}
	default:
		out["200"] = map[string]any{"description": "OK"}
	}
	return out
}

func createSchemaName(k tandem.AssetKind) string {
	return "Create" + strings.ToUpper(string(k)[:1]) + string(k)[1:] + "Request"
}

// createSchema is the JSON body of a create of kind k.
func createSchema(k tandem.AssetKind) map[string]any {
	version := map[string]any{"type": "string", "pattern": versionPattern, "not": map[string]any{"enum": []string{"latest"}}}
	name := map[string]any{"type": "string", "pattern": namePattern}
	if k == tandem.AssetModel {
		version = map[string]any{"type": "string", "pattern": modelVersionPattern}
	}
	asset := closed(map[string]any{
		"kind":        map[string]any{"type": "string", "enum": []string{string(k)}},
		"name":        name,
		"version":     nullable(version),
		"description": nullable(maxLen(str(), maxDescription)),
		"tags":        nullable(tagsSchema()),
		"archived":    nullable(map[string]any{"type": "boolean"}),
		"created_ms":  nullable(integer()),
		"updated_ms":  nullable(integer()),
		"files":       nullable(arr(schemaOf(reflect.TypeFor[tandem.AssetFile]()))),
		"spec":        specSchema(k),
	}, "kind", "name", "spec")
	file := schemaOf(reflect.TypeFor[UploadFile]())
	file["required"] = []string{"path"}
	setProp(file, "path", map[string]any{"type": "string", "minLength": 1})
	setProp(file, "content", nullable(map[string]any{"type": "string", "format": "byte"}))
	return closed(map[string]any{"asset": asset, "files": nullable(arr(file))}, "asset")
}

// specSchema is the schema of kind k's spec: its Go type's fields, with
// the required fields, enums and ranges its Validate enforces.
func specSchema(k tandem.AssetKind) map[string]any {
	s := schemaOf(reflect.TypeOf(tandem.NewSpec(k)).Elem())
	switch k {
	case tandem.AssetData:
		require(s, "type", "path")
		enum(s, "type", tandem.DataURIFile, tandem.DataURIFolder, tandem.DataMLTable)
	case tandem.AssetDatastore:
		require(s, "type")
		enum(s, "type", tandem.DatastoreLocal, tandem.DatastoreS3, tandem.DatastoreAzureBlob, tandem.DatastoreGCS)
	case tandem.AssetModel:
		require(s, "path")
		enum(s, "type", "", "custom_model", "mlflow_model", "triton_model")
	case tandem.AssetEnvironment:
		enum(s, "os_type", "", "linux", "windows")
		ic := prop(s, "inference_config")
		for _, route := range []string{"liveness_route", "readiness_route", "scoring_route"} {
			port := prop(prop(ic, route), "port")
			port["minimum"], port["maximum"] = 1, 65535
		}
	case tandem.AssetComponent:
		require(s, "type", "command", "environment")
		enum(s, "type", "command")
	case tandem.AssetPipeline:
		require(s, "type", "jobs")
		enum(s, "type", "pipeline")
		jobs := prop(s, "jobs")
		jobs["minProperties"] = 1
		step := jobs["additionalProperties"].(map[string]any)
		require(step, "type", "component")
		enum(step, "type", "command")
	}
	return s
}

// schemaOf is the schema of the JSON a Go type is decoded from by
// decodeStrict: objects refuse unknown keys, and every property may be
// null, which the server reads as absent.
func schemaOf(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return str()
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return integer()
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return arr(schemaOf(t.Elem()))
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": nullable(schemaOf(t.Elem()))}
	case reflect.Struct:
		props := map[string]any{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = nullable(schemaOf(f.Type))
		}
		return closed(props)
	}
	return map[string]any{}
}

func tagsSchema() map[string]any {
	return map[string]any{"type": "object", "maxProperties": maxTags, "additionalProperties": maxLen(str(), maxTagValue)}
}

func str() map[string]any     { return map[string]any{"type": "string"} }
func integer() map[string]any { return map[string]any{"type": "integer"} }
func ref(name string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + name}
}
func arr(items map[string]any) map[string]any { return map[string]any{"type": "array", "items": items} }
func jsonContent(schema map[string]any) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": schema}}
}

func maxLen(s map[string]any, n int) map[string]any { s["maxLength"] = n; return s }

func nullable(s map[string]any) map[string]any { s["nullable"] = true; return s }

// obj is an object schema with properties and required keys.
func obj(props map[string]any, required ...string) map[string]any {
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// closed is obj refusing keys it does not list.
func closed(props map[string]any, required ...string) map[string]any {
	s := obj(props, required...)
	s["additionalProperties"] = false
	return s
}

func prop(s map[string]any, name string) map[string]any {
	return s["properties"].(map[string]any)[name].(map[string]any)
}

func setProp(s map[string]any, name string, v map[string]any) {
	s["properties"].(map[string]any)[name] = v
}

// require makes properties required: no longer null (the server reads
// null as absent).
func require(s map[string]any, names ...string) {
	s["required"] = names
	for _, n := range names {
		delete(prop(s, n), "nullable")
	}
}

// enum restricts a string property to values (and null where it may be
// null, as OpenAPI 3.0 wants null listed).
func enum(s map[string]any, name string, values ...string) {
	p := prop(s, name)
	vs := make([]any, 0, len(values)+1)
	for _, v := range values {
		vs = append(vs, v)
	}
	if p["nullable"] == true {
		vs = append(vs, nil)
	}
	p["enum"] = vs
}

//go:build tandemtest

package auth

// addTestRoutes guards the test ops endpoint of a test build
// (region/testops.go): any authenticated principal.
func addTestRoutes(m map[string]Rule) {
	const p = "/api/tandem/v1"
	m["PUT "+p+"/test/note"] = Rule{Class: ClassAuthenticated}
	m["GET "+p+"/test/note"] = Rule{Class: ClassAuthenticated}
}

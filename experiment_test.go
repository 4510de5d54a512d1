package tandem_test

import (
	"testing"

	"github.com/tandemml/tandem"
)

// The stock server (3.17.2, started in /srv) answers these locations so.
func TestResolveArtifactLocation(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "",
		"relative/path":       "/srv/relative/path",
		"./rel":               "/srv/rel",
		"../up":               "/srv/../up",
		"a//b/./c/":           "/srv/a/b/c",
		"/abs/path":           "/abs/path",
		"file:relative":       "file:///srv/relative",
		"file:rel?x=1":        "file:///srv/rel?x=1",
		"file:///abs":         "file:///abs",
		"file:/abs":           "file:/abs",
		"s3://b/k":            "s3://b/k",
		"mlflow-artifacts:/x": "mlflow-artifacts:/x",
		"c:/windows":          "c:/windows",
	} {
		if got := tandem.ResolveArtifactLocation(in, "/srv"); got != want {
			t.Errorf("ResolveArtifactLocation(%q) = %q, want %q", in, got, want)
		}
	}
}

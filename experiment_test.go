package tandem_test

import (
	"strings"
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

func TestCheckHostAddressed(t *testing.T) {
	for uri, scheme := range map[string]string{
		"http://evil:8080/x": "http", "HTTPS://h/x": "https", "ftp://h/x": "ftp", "sftp://h/x": "sftp", "hdfs://h/x": "hdfs",
		"viewfs://h/x": "viewfs", "mlflow-artifacts://h:9000/x": "mlflow-artifacts", "r2://b@acct.r2.cloudflarestorage.com/x": "r2",
		"b2://b@h/x": "b2", "abfss://fs@acct.dfs.core.windows.net/x": "abfss",
		"mlflow-artifacts:/models": "", "s3://b/x": "", "gs://b/x": "", "wasbs://c@a.blob.core.windows.net/x": "", "file:///tmp": "",
		"/tmp/x": "", "relative/x": "", "runs:/abc/model": "", "models:/m/1": "", "": "", "C:\\x": "", "1http://h": "",
	} {
		if got := tandem.HostAddressedScheme(uri); got != scheme {
			t.Errorf("tandem.HostAddressedScheme(%q) = %q, want %q", uri, got, scheme)
		}
		err := tandem.CheckHostAddressed(uri, "source", nil)
		if (err != nil) != (scheme != "") {
			t.Errorf("tandem.CheckHostAddressed(%q): %v", uri, err)
		}
		if scheme != "" {
			if tandem.ErrorCode(err) != tandem.EINVALID || tandem.ErrorMessage(err) != "'source' cannot use the '"+scheme+"' scheme: the '"+scheme+"' scheme addresses a host other than the tracking server's configured artifact storage, so the server would connect to the host named in the URI. Set the MLFLOW_ALLOWED_HOST_ADDRESSED_ARTIFACT_SCHEMES environment variable on the server to allow it." {
				t.Errorf("tandem.CheckHostAddressed(%q): %v", uri, err)
			}
			if err := tandem.CheckHostAddressed(uri, "source", []string{"x", " " + strings.ToUpper(scheme) + " "}); err != nil {
				t.Errorf("tandem.CheckHostAddressed(%q) with its scheme allowed: %v", uri, err)
			}
		}
	}
}

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
		"mlflow-artifacts:/models": "", "mlflow-artifacts:///models": "", "s3://b/x": "", "gs://b/x": "", "wasbs://c@a.blob.core.windows.net/x": "", "file:///tmp": "",
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

// Locations as the stock server (3.17.2) answers them: "" accepted, else
// the message.
func TestCheckLocationURL(t *testing.T) {
	const frag, query = "'artifact_location' URL can't include fragments or params.", "Invalid query string"
	for loc, want := range map[string]string{
		"s3://b/x?a=b": "", "s3://b/x?a=b&c=d": "", "s3://b/x;p": "", "/abs;p/x": "", "file:///x;p": "", "s3://b/../x": "",
		"s3://b/x#": "", "C:/x;p": "", "": "",
		"s3://b/x#f": frag, "/abs/x;p": frag, "rel/x;p": frag, "http://h/x;p": frag,
		"s3://b/x?a=..%2f": query, "s3://b/x?a=..%2f#": query, "s3://b/x?a=%252e%252e": query, "s3://b/x?..": query,
		"/abs/x?a=..": query, "s3://b/x?a=%2e%2e%zz": query,
	} {
		err := tandem.CheckLocationURL(loc, "artifact_location")
		if got := tandem.ErrorMessage(err); (err == nil) != (want == "") || err != nil && got != want {
			t.Errorf("CheckLocationURL(%q) = %v, want %q", loc, err, want)
		}
	}
}

// No location makes the checks panic; a location they accept has no
// non-empty fragment and no ".." left in its query after one decoding.
func FuzzCheckLocationURL(f *testing.F) {
	for _, s := range []string{"s3://b/x?a=..%2f#", "/abs/x;p", "http://h:1/x;p?q#f", "%", "s3://b/x?a=%2", "mlflow-artifacts://h/x", ":", "//", "a:b;c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, loc string) {
		err := tandem.CheckLocationURL(loc, "artifact_location")
		tandem.CheckHostAddressed(loc, "source", nil)
		if err == nil {
			if _, frag, ok := strings.Cut(loc, "#"); ok && frag != "" {
				t.Fatalf("accepted %q with a fragment", loc)
			}
		}
	})
}

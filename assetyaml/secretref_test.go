package assetyaml_test

import (
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/assetyaml"
)

// TestDatastoreSecretReferences: a credential may be ${{secrets.NAME}}; it
// loads as that reference (the server resolves it), a malformed one is an
// error, and the canonical YAML never carries credentials.
func TestDatastoreSecretReferences(t *testing.T) {
	a, err := assetyaml.Load("lake.yaml", []byte("name: lake\ntype: s3\nbucket: b\ncredentials:\n  access_key_id: ${{secrets.lake-id}}\n  secret_access_key: '${{ secrets.lake-secret }}'\n"), tandem.AssetDatastore)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	ds := a.Spec.(*tandem.Datastore)
	for k, want := range map[string]string{"access_key_id": "lake-id", "secret_access_key": "lake-secret"} {
		if name, ok, err := tandem.ParseSecretRef(ds.Credentials[k]); !ok || err != nil || name != want {
			t.Errorf("%s = %q: %q %v %v", k, ds.Credentials[k], name, ok, err)
		}
	}
	out, err := assetyaml.Marshal(a)
	if err != nil || strings.Contains(string(out), "secrets.") || strings.Contains(string(out), "credentials") {
		t.Fatalf("canonical YAML: %v\n%s", err, out)
	}
	bad, err := assetyaml.Load("bad.yaml", []byte("name: lake\ntype: s3\nbucket: b\ncredentials:\n  secret_access_key: ${{secret.typo}}\n"), tandem.AssetDatastore)
	if err == nil {
		err = bad.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), "secret reference") {
		t.Fatalf("malformed reference: %v", err)
	}
}

package tandem_test

import (
	"testing"

	"github.com/tandemml/tandem"
)

func TestParsers(t *testing.T) {
	for _, c := range []struct {
		in    string
		local bool
	}{{"./src", true}, {"src/a.py", true}, {"conda.yaml", true}, {"azureml:env:1", false}, {"tandem://datastores/x/paths/y", false},
		{"s3://b/k", false}, {"https://x/y", false}, {"runs:/abc/model", false}, {"", false}, {"my.dir/x:y", true}} {
		if got := tandem.IsLocalPath(c.in); got != c.local {
			t.Errorf("IsLocalPath(%q) = %v", c.in, got)
		}
	}
	for in, want := range map[string]tandem.AssetRef{
		"azureml:env:3":       {Name: "env", Version: "3"},
		"azureml:env@latest":  {Name: "env", Version: "latest"},
		"train:1.2":           {Name: "train", Version: "1.2"},
		"azureml:a.b-c_d:v-2": {Name: "a.b-c_d", Version: "v-2"},
	} {
		if got, err := tandem.ParseAssetRef(in); err != nil || got != want {
			t.Errorf("ParseAssetRef(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"azureml:env", "azureml::1", "azureml:env:", "azureml:env:latest", "env@newest", "azureml:e nv:1"} {
		if _, err := tandem.ParseAssetRef(bad); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("ParseAssetRef(%q) accepted", bad)
		}
	}
	for in, want := range map[string][2]string{
		"tandem://datastores/ds/paths/a/b.csv": {"ds", "a/b.csv"},
		"tandem://datastores/ds/paths/a/":      {"ds", "a/"},
		"tandem://datastores/ds/paths":         {"ds", ""},
	} {
		n, r, err := tandem.ParseDatastorePath(in)
		if err != nil || n != want[0] || r != want[1] {
			t.Errorf("ParseDatastorePath(%q) = %q %q %v", in, n, r, err)
		}
	}
	for _, bad := range []string{"tandem://datastores/ds", "tandem://datastores/ds/pathsx", "tandem://datastores/ds/paths/../x", "tandem://other/ds/paths/x", "tandem://datastores//paths/x"} {
		if _, _, err := tandem.ParseDatastorePath(bad); err == nil {
			t.Errorf("ParseDatastorePath(%q) accepted", bad)
		}
	}
	for in, want := range map[string]tandem.Binding{
		"${{parent.inputs.x}}":              {Scope: "inputs", Name: "x"},
		"${{ parent.outputs.model }}":       {Scope: "outputs", Name: "model"},
		"${{parent.jobs.prep-1.outputs.o}}": {Scope: "jobs", Name: "prep-1", Port: "o"},
	} {
		if b, ok, err := tandem.ParseBinding(in); err != nil || !ok || b != want {
			t.Errorf("ParseBinding(%q) = %+v %v %v", in, b, ok, err)
		}
	}
	if _, ok, err := tandem.ParseBinding("5"); ok || err != nil {
		t.Error("literal parsed as binding")
	}
	for _, bad := range []string{"${{parent.inputs}}", "${{inputs.x}}", "${{parent.jobs.a.inputs.x}}", "x ${{parent.inputs.x}}"} {
		if _, _, err := tandem.ParseBinding(bad); err == nil {
			t.Errorf("ParseBinding(%q) accepted", bad)
		}
	}
	if v := tandem.NextVersion([]string{"1", "10", "2", "beta"}); v != "11" {
		t.Errorf("NextVersion = %s", v)
	}
}

func TestDatastoreResolve(t *testing.T) {
	for _, c := range []struct {
		ds   tandem.Datastore
		want string
	}{
		{tandem.Datastore{Type: "local", Path: "/data"}, "file:///data/x/y.csv"},
		{tandem.Datastore{Type: "s3", Bucket: "b", Prefix: "/p/"}, "s3://b/p/x/y.csv"},
		{tandem.Datastore{Type: "gcs", Bucket: "b"}, "gs://b/x/y.csv"},
		{tandem.Datastore{Type: "azure_blob", AccountName: "acct", ContainerName: "c"}, "https://acct.blob.core.windows.net/c/x/y.csv"},
	} {
		if err := c.ds.Validate(); err != nil {
			t.Fatal(err)
		}
		if got := c.ds.Resolve("x/y.csv"); got != c.want {
			t.Errorf("%s: %s; want %s", c.ds.Type, got, c.want)
		}
	}
	if err := (&tandem.Datastore{Type: "local", Path: "rel"}).Validate(); err == nil {
		t.Error("relative local datastore accepted")
	}
	if err := (&tandem.Datastore{Type: "gcs"}).Validate(); err == nil {
		t.Error("gcs without bucket accepted")
	}
}

// FuzzReferenceParsers: the reference parsers never panic, and what they
// accept is well formed.
func FuzzReferenceParsers(f *testing.F) {
	for _, s := range []string{"azureml:env:1", "azureml:env@latest", "${{parent.inputs.x}}", "${{parent.jobs.a.outputs.b}}",
		"tandem://datastores/ds/paths/a/b", "./src", "../x", "s3://b/k", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := tandem.ParseAssetRef(s); err == nil {
			if tandem.ValidateName(r.Name) != nil || (r.Version != "latest" && tandem.ValidateVersion(r.Version) != nil) {
				t.Fatalf("ParseAssetRef(%q) = %+v", s, r)
			}
		}
		if n, rel, err := tandem.ParseDatastorePath(s); err == nil {
			if tandem.ValidateName(n) != nil {
				t.Fatalf("ParseDatastorePath(%q) name %q", s, n)
			}
			if rel != "" && tandem.ValidateRelPath(trimSlash(rel)) != nil {
				t.Fatalf("ParseDatastorePath(%q) rel %q", s, rel)
			}
		}
		tandem.ParseBinding(s)
		if tandem.IsLocalPath(s) {
			if c, err := tandem.CleanLocalPath(s); err == nil && tandem.ValidateRelPath(c) != nil {
				t.Fatalf("CleanLocalPath(%q) = %q", s, c)
			}
		}
	})
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

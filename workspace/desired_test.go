package workspace

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/desired"
)

func TestDesiredState(t *testing.T) {
	w, err := Load("testdata/desired/workspace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := w.Desired
	if err := st.LoadAssets(w.Dir()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range st.Objects {
		got = append(got, o.Ref().String())
	}
	want := "secret/blob-key role/Run Logger role_assignment/Run Logger|ci-bot|/ role_assignment/Reader|viewer|/ datastore/blob environment/sklearn:1 component/train:1 compute/cpu endpoint/iris deployment/iris/blue"
	if strings.Join(got, " ") != want {
		t.Fatalf("order:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	cpu := st.Find(desired.Ref{Kind: desired.KindCompute, Name: "cpu"})
	if cpu.SpecIn("westus")["max_instances"] != float64(2) || cpu.SpecIn("eastus")["max_instances"] != float64(4) {
		t.Fatalf("compute overrides: %v", cpu.Specs)
	}
	dep := st.Find(desired.Ref{Kind: desired.KindDeployment, Name: "iris/blue"})
	if ic := dep.Spec["instance_count"].(map[string]any); ic["westus"] != float64(1) || ic["eastus"] != float64(2) {
		t.Fatalf("deployment instance counts: %v", ic)
	}
	if w.Regions[1].Registry != "127.0.0.1:5501" || st.Registries["eastus"] != "127.0.0.1:5500" {
		t.Fatalf("registries: %+v %v", w.Regions, st.Registries)
	}
	ds := st.Find(desired.Ref{Kind: desired.KindDatastore, Name: "blob"})
	if _, has := ds.Spec["credentials"]; has || ds.Spec["has_credentials"] != true {
		t.Fatalf("datastore spec holds credentials or misses has_credentials: %v", ds.Spec)
	}
}

// TestDesiredErrors: each bad file is refused with the file, line and
// column of the fault.
func TestDesiredErrors(t *testing.T) {
	base, err := os.ReadFile("testdata/desired/workspace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	head := string(base[:strings.Index(string(base), "secrets:")])
	lines := strings.Count(head, "\n")
	for _, c := range []struct{ name, body, want string }{
		{"undeclared compute", "endpoints:\n  - name: e\n    deployments:\n      - {name: d, model: azureml:m:1, compute: gpu}\n", ":+4:9: deployment \"e/d\" refers to compute \"gpu\", which is not declared"},
		{"undeclared role", "role_assignments:\n  - {role: Nope, assignee: bob}\n", ":+2:5: role_assignment \"Nope|bob|/\" refers to role \"Nope\", which is not declared"},
		{"region twice", "compute:\n  - name: c\n    regions: [eastus, eastus]\n", ":+3:23: compute \"c\": region \"eastus\" is named twice"},
		{"unknown region", "compute:\n  - name: c\n    regions: {mars: {}}\n", ":+3:15: compute \"c\": region \"mars\" is not one of"},
		{"cycle", "roles:\n  - {name: A, actions: [a/read], depends_on: [role/B]}\n  - {name: B, actions: [a/read], depends_on: [role/A]}\n", ":+2:5: dependency cycle: role/A -> role/B -> role/A"},
		{"unknown field", "compute:\n  - name: c\n    sise: big\n", ":+3:5: unknown field \"sise\""},
		{"twice", "secrets: {names: [a, a]}\n", ":+1:22: secret \"a\" is declared twice (first at "},
		{"bad type", "compute:\n  - {name: c, type: quantum}\n", ":+2:5: compute \"c\": type \"quantum\""},
		{"compute not placed", "compute:\n  - {name: c, regions: [eastus]}\nendpoints:\n  - name: e\n    deployments: [{name: d, model: azureml:m:1, compute: c}]\n", ":+5:19: deployment \"e/d\" runs in westus, where compute \"c\" is not placed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseFile("ws.yaml", []byte(head+c.body))
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
			want := c.want
			if strings.HasPrefix(want, ":+") {
				rest := want[2:]
				i := strings.Index(rest, ":")
				dl, _ := strconv.Atoi(rest[:i])
				want = "ws.yaml:" + strconv.Itoa(lines+dl) + rest[i:]
			}
			if !strings.Contains(tandem.ErrorMessage(err), want) {
				t.Fatalf("message %q\nwant it to contain %q", tandem.ErrorMessage(err), want)
			}
		})
	}
}

// TestDesiredAssetErrors: a credential value instead of a reference, and a
// reference to an undeclared secret, are refused when the files are read.
func TestDesiredAssetErrors(t *testing.T) {
	dir := t.TempDir()
	ws := "workspace: d\nregions: [{name: a, url: http://127.0.0.1:1, metadata: sqlite:///x, artifacts: file:///x}]\nsecrets: {names: [k]}\ndatastores: [{file: ds.yaml}]\n"
	for _, c := range []struct{ ds, want string }{
		{"name: s\ntype: s3\nbucket: b\ncredentials: {access_key_id: AKIA123}\n", "credentials.access_key_id must be a secret reference"},
		{"name: s\ntype: s3\nbucket: b\ncredentials: {access_key_id: \"${{secrets.other}}\"}\n", "refers to secret \"other\", which is not declared"},
	} {
		os.WriteFile(filepath.Join(dir, "workspace.yaml"), []byte(ws), 0o600)
		os.WriteFile(filepath.Join(dir, "ds.yaml"), []byte(c.ds), 0o600)
		w, err := Load(filepath.Join(dir, "workspace.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		err = w.Desired.LoadAssets(w.Dir())
		if !strings.Contains(tandem.ErrorMessage(err), c.want) || !strings.Contains(tandem.ErrorMessage(err), "workspace.yaml:4:14") {
			t.Fatalf("err %v, want %q at workspace.yaml:4:14", err, c.want)
		}
		if strings.Contains(tandem.ErrorMessage(err), "AKIA123") {
			t.Fatal("the error quotes the credential value")
		}
	}
}

// FuzzParseDesired feeds the loader workspace files with the desired-state
// sections: it never panics, refuses with EINVALID only, and what it
// accepts is ordered (every object after what it depends on) and placed
// in declared regions only.
func FuzzParseDesired(f *testing.F) {
	b, err := os.ReadFile("testdata/desired/workspace.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	head := string(b[:strings.Index(string(b), "secrets:")])
	for _, s := range []string{
		"compute:\n  - {name: c, regions: {eastus: {max_instances: 1, min_instances: 2}}}\n",
		"roles:\n  - {name: A, actions: [a/read], depends_on: [role/A]}\n",
		"endpoints:\n  - {name: e, regions: [westus], deployments: [{name: d, model: azureml:m:1, regions: {eastus: {instance_count: 1}}}]}\n",
		"assets: {environments: [{file: x.yaml, depends_on: [compute/c]}]}\ncompute: [{name: c}]\n",
		"secrets: {names: [&a x, *a]}\n",
		"role_assignments: [{role: Reader, assignee: 'oidc:group:ml', scope: /models/m}]\n",
	} {
		f.Add([]byte(head + s))
	}
	// Registries: a path prefix, and one that is not host[:port][/path].
	f.Add([]byte(strings.Replace(string(b), "registry: 127.0.0.1:5500", "registry: 127.0.0.1:5500/tandem/images", 1)))
	f.Add([]byte(strings.Replace(string(b), "registry: 127.0.0.1:5500", "registry: 'https://x y'", 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := Parse(b)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("error is not EINVALID: %v", err)
			}
			return
		}
		seen := map[desired.Ref]bool{}
		for _, o := range w.Desired.Objects {
			for _, d := range o.DependsOn {
				if w.Desired.Find(d) != nil && !seen[d] {
					t.Fatalf("%s comes before its dependency %s", o.Ref(), d)
				}
			}
			for _, r := range o.Regions {
				if _, err := w.Region(r); err != nil {
					t.Fatalf("%s placed in %s: %v", o.Ref(), r, err)
				}
			}
			seen[o.Ref()] = true
		}
	})
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/serving"
	"github.com/tandemml/tandem/storetest"
)

// runEP runs the CLI with the endpoint verbs (added here until the root
// command wires them).
func runEP(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	found := false
	for _, c := range root.Commands() {
		found = found || c.Name() == "online-endpoint"
	}
	if !found {
		addEndpointCommands(root)
	}
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError(c, err) })
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

// TestEndpointVerbs: the online-endpoint and online-deployment verbs with
// Azure ML YAML files against a region (no scoring python: the store and
// API side only); refusals exit with their codes and name file:line:col.
func TestEndpointVerbs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := region.Open(ctx, region.Config{Name: "local", MetadataURL: storetest.SQLiteURL(t), ArtifactsURL: storetest.FileURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	svc := serving.New(serving.Config{Region: "local", Store: r.Store, Blobs: r.Blobs, Vault: r.Vault, CacheDir: t.TempDir()})
	go svc.Run(ctx)
	mux := http.NewServeMux()
	mux.Handle("/", r.Handler())
	mux.Handle(serving.APIPrefix, svc.APIHandler())
	mux.Handle(serving.APIPrefix+"/", svc.APIHandler())
	mux.Handle("/endpoints/", svc.ScoringHandler())
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	dir := t.TempDir()
	mustRun(t, "attach", "--workspace", "ep", "--endpoint", hs.URL, "--path", dir)
	cfg := filepath.Join(dir, ".tandem", "config.json")
	if _, err := r.Store.CreateRegisteredModel(ctx, "iris", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Store.CreateModelVersion(ctx, tandem.NewModelVersion{Name: "iris", Source: "s3://bucket/iris"}); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := runEP(t, append(args, "--config", cfg)...)
		if err != nil {
			t.Fatalf("tandem %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	fails := func(code int, want string, args ...string) {
		t.Helper()
		out, err := runEP(t, append(args, "--config", cfg)...)
		if err == nil || exitCode(err) != code || !strings.Contains(err.Error(), want) {
			t.Fatalf("tandem %s: %v (exit %d), want exit %d with %q\n%s", strings.Join(args, " "), err, exitCode(err), code, want, out)
		}
	}
	ep := write("endpoint.yml", "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\nname: iris-ep\nauth_mode: key\n")
	blue := write("blue.yml", "name: blue\nendpoint_name: iris-ep\nmodel: azureml:iris:1\ninstance_count: 2\ninstance_type: Standard_DS3_v2\n")
	missing := write("green.yml", "name: green\nendpoint_name: iris-ep\nmodel: azureml:iris:4\n")
	bad := write("bad.yml", "name: blue\nendpoint_name: iris-ep\nmodel: azureml:iris:1\nrequest_settings:\n  max_queue: 3\n")

	out := must("online-endpoint", "create", "-f", ep)
	if !strings.Contains(out, "iris-ep") || !strings.Contains(out, "key") {
		t.Fatalf("create: %s", out)
	}
	fails(4, "already exists", "online-endpoint", "create", "-f", ep)
	fails(2, "bad.yml:5:3: unknown field \"max_queue\" in request_settings", "online-deployment", "create", "-f", bad)
	fails(2, "version 4 of registered model iris does not exist", "online-deployment", "create", "-f", missing)
	must("online-deployment", "create", "-f", blue, "--all-traffic")
	var shown tandem.OnlineEndpoint
	if err := json.Unmarshal([]byte(must("online-endpoint", "show", "-n", "iris-ep", "-o", "json")), &shown); err != nil || shown.Traffic["blue"] != 100 {
		t.Fatalf("after --all-traffic: %+v %v", shown, err)
	}
	fails(2, "traffic sums to 90", "online-endpoint", "update", "-n", "iris-ep", "--traffic", "blue=90")
	if y := must("online-endpoint", "show", "-n", "iris-ep", "-o", "yaml"); !strings.Contains(y, "auth_mode: key") || !strings.Contains(y, "blue: 100") {
		t.Fatalf("yaml: %s", y)
	}
	if l := must("online-endpoint", "list"); !strings.Contains(l, "iris-ep") || !strings.Contains(l, "blue=100") {
		t.Fatalf("list: %s", l)
	}
	if l := must("online-deployment", "list", "-e", "iris-ep"); !strings.Contains(l, "blue") || !strings.Contains(l, "iris:1") {
		t.Fatalf("deployment list: %s", l)
	}
	must("online-deployment", "update", "-n", "blue", "-e", "iris-ep", "--instance-count", "3")
	var d tandem.OnlineDeployment
	if err := json.Unmarshal([]byte(must("online-deployment", "show", "-n", "blue", "-e", "iris-ep", "-o", "json")), &d); err != nil || d.InstanceCount != 3 || d.ModelVersion != 1 {
		t.Fatalf("deployment %+v %v", d, err)
	}
	creds := must("online-endpoint", "get-credentials", "-n", "iris-ep", "-o", "json")
	var keys tandem.EndpointKeys
	if err := json.Unmarshal([]byte(creds), &keys); err != nil || len(keys.PrimaryKey) < 40 || len(keys.SecondaryKey) < 40 {
		t.Fatalf("credentials: %s %v", creds, err)
	}
	// Keys appear nowhere else.
	for _, args := range [][]string{{"online-endpoint", "show", "-n", "iris-ep", "-o", "json"}, {"online-endpoint", "list", "-o", "yaml"}} {
		if o := must(args...); strings.Contains(o, keys.PrimaryKey) || strings.Contains(o, keys.SecondaryKey) {
			t.Fatalf("%v shows a key", args)
		}
	}
	req := write("sample.json", `{"dataframe_split": {"columns": ["a"], "data": [[1]]}}`)
	// No scoring python in this region: the answer is a clear 503.
	fails(5, "no ready scoring process", "online-endpoint", "invoke", "-n", "iris-ep", "--request-file", req)
	fails(3, "not found", "online-endpoint", "invoke", "-n", "nope-ep", "--request-file", req)
	fails(4, "still receives traffic", "online-deployment", "delete", "-n", "blue", "-e", "iris-ep")
	must("online-endpoint", "regenerate-keys", "-n", "iris-ep", "--key-type", "secondary")
	var keys2 tandem.EndpointKeys
	json.Unmarshal([]byte(must("online-endpoint", "get-credentials", "-n", "iris-ep", "-o", "json")), &keys2)
	if keys2.PrimaryKey != keys.PrimaryKey || keys2.SecondaryKey == keys.SecondaryKey {
		t.Fatalf("regenerate secondary: %+v -> %+v", keys, keys2)
	}
	must("online-endpoint", "delete", "-n", "iris-ep")
	fails(3, "not found", "online-endpoint", "show", "-n", "iris-ep")
}

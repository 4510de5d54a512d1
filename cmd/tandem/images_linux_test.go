package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem/registrytest"
)

// TestEnvironmentImagesInEveryRegion: a two-region workspace (tandem up)
// whose regions name their own registries (real CNCF distribution
// registries on loopback, plus the team's registry the image is pushed
// to). Creating an environment records the tag's digest and each region
// copies the image (a two-platform index) into its registry; tandem
// verify checks every digest in every registry; an image deleted by hand
// from one registry shows in verify and plan until the region copies it
// again; an image whose registry is down cannot be created.
func TestEnvironmentImagesInEveryRegion(t *testing.T) {
	origin, east, west := registrytest.Start(t), registrytest.Start(t), registrytest.Start(t)
	digest := registrytest.Push(t, origin.Host+"/ml/train:1", registrytest.Index(t, []string{"linux/amd64", "linux/arm64"}, 2, 256<<10))
	// Passes only when asked (the CLI asks after a create): what the test
	// deletes by hand stays deleted until it asks.
	t.Setenv("TANDEM_IMAGE_SYNC_INTERVAL", "1h")
	u := newUpWorkspace(t)
	u.start()
	u.stop()
	ws := filepath.Join(u.dir, "data", "workspace.yaml")
	b, err := os.ReadFile(ws)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(b), "  - name: east\n", "  - name: east\n    registry: "+east.Host+"/tandem\n", 1)
	body = strings.Replace(body, "  - name: west\n", "  - name: west\n    registry: "+west.Host+"\n", 1)
	if body == string(b) {
		t.Fatalf("no regions to give registries to in\n%s", b)
	}
	if err := os.WriteFile(ws, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	u.start()

	env := filepath.Join(u.dir, "train.yaml")
	os.WriteFile(env, []byte("name: train\nversion: \"1\"\nimage: "+origin.Host+"/ml/train:1\n"), 0o644)
	out := u.mustTandem("environment", "create", "-f", env)
	for _, want := range []string{"east: train:1: " + east.Host + "/tandem/ml/train@" + digest + " present",
		"west: train:1: " + west.Host + "/ml/train@" + digest + " present"} {
		if !strings.Contains(out, want) {
			t.Fatalf("environment create lacks %q:\n%s", want, out)
		}
	}
	if out := u.mustTandem("environment", "show", "-n", "train", "-v", "1", "-o", "json"); !strings.Contains(out, `"image_digest": "`+digest+`"`) {
		t.Fatalf("the version does not record the tag's digest %s:\n%s", digest, out)
	}
	// Each region reports its copy; each registry has it under the tag too.
	var rep struct {
		Registry string `json:"registry"`
		Images   []struct {
			State, Destination string
		} `json:"images"`
	}
	getJSON(t, u.regionURL("west")+"/api/tandem/v1/images", &rep)
	if rep.Registry != west.Host || len(rep.Images) != 1 || rep.Images[0].State != "present" {
		t.Fatalf("west's image report: %+v", rep)
	}
	out = u.mustTandem("verify", "--workspace", ws)
	if !strings.Contains(out, "images: every environment's image is in every region's registry (2 checked)") {
		t.Fatalf("verify:\n%s", out)
	}

	// By hand: the index deleted from west's registry.
	req, _ := http.NewRequest("DELETE", "http://"+west.Host+"/v2/ml/train/manifests/"+digest, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete from west's registry: %v %v", err, resp)
	}
	out, err = u.tandem("verify", "--workspace", ws)
	if exitOf(err) != 4 || !strings.Contains(out, "west's registry lacks "+west.Host+"/ml/train@"+digest+" (environment train:1)") {
		t.Fatalf("verify after the delete: exit %d\n%s", exitOf(err), out)
	}
	out, _ = u.tandem("plan", "-f", ws)
	if !strings.Contains(out, "west: its registry lacks image "+west.Host+"/ml/train@"+digest+" of environment train:1") {
		t.Fatalf("plan does not report what west lacks:\n%s", out)
	}
	// Asked for a pass, west copies it again (from the origin).
	resp, err = http.Post(u.regionURL("west")+"/api/tandem/v1/images/sync", "application/json", strings.NewReader("{}"))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("sync: %v %v", err, resp)
	}
	waitFor(t, "west copies the image again", func() (bool, string) {
		out, err := u.tandem("verify", "--workspace", ws)
		return err == nil, out
	})
	// The copy is counted once it returns, which may be a moment after its
	// manifest is in the registry for verify to see.
	waitFor(t, "west's metrics count the second copy", func() (bool, string) {
		m := regionMetrics(t, u.regionURL("west")+"/metrics")
		return strings.Contains(m, `tandem_images_missing{region="west"} 0`) &&
			strings.Contains(m, `tandem_image_copies_total{region="west",result="ok"} 2`), grepLines(m, "tandem_image")
	})

	// The team's registry down: a tag cannot be resolved, nothing is created.
	origin.Stop()
	os.WriteFile(env, []byte("name: train\nversion: \"2\"\nimage: "+origin.Host+"/ml/train:1\n"), 0o644)
	out, err = u.tandem("environment", "create", "-f", env)
	if err == nil || !strings.Contains(out, "cannot resolve image "+origin.Host+"/ml/train:1 to a digest") {
		t.Fatalf("create with the registry down: %v\n%s", err, out)
	}
	if out := u.mustTandem("environment", "list", "-o", "json"); strings.Contains(out, `"version": "2"`) {
		t.Fatalf("a version was created anyway:\n%s", out)
	}
	// West no longer needs the team's registry: its copy is its own.
	if out := u.mustTandem("verify", "--workspace", ws); !strings.Contains(out, "(2 checked)") {
		t.Fatalf("verify with the origin down:\n%s", out)
	}

	// Two more images declared in the workspace file: plan lists them,
	// apply creates them and follows their copies into both registries,
	// verify finds all three in both, a second plan has nothing to do.
	other := registrytest.Start(t)
	registrytest.Push(t, other.Host+"/serve:1", registrytest.Image(t, 2, 32<<10))
	registrytest.Push(t, other.Host+"/gpu/base:2", registrytest.Index(t, []string{"linux/amd64", "linux/arm64"}, 1, 32<<10))
	data := filepath.Dir(ws)
	os.WriteFile(filepath.Join(data, "serve.yaml"), []byte("name: serve\nversion: \"1\"\nimage: "+other.Host+"/serve:1\n"), 0o644)
	os.WriteFile(filepath.Join(data, "gpu.yaml"), []byte("name: gpu\nversion: \"1\"\nimage: "+other.Host+"/gpu/base:2\n"), 0o644)
	b, _ = os.ReadFile(ws)
	if err := os.WriteFile(ws, append(b, []byte("assets:\n  environments: [serve.yaml, gpu.yaml]\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = u.tandem("plan", "-f", ws)
	if exitOf(err) != 2 || !strings.Contains(out, `+ environment "serve:1"`) || !strings.Contains(out, `+ environment "gpu:1"`) {
		t.Fatalf("plan with two images declared: exit %d\n%s", exitOf(err), out)
	}
	out = u.mustTandem("apply", "-f", ws)
	for _, want := range []string{"Images: following 2 environment image(s) into every region's registry",
		"east: gpu:1: " + east.Host + "/tandem/gpu/base@", "west: gpu:1: " + west.Host + "/gpu/base@",
		"east: serve:1: " + east.Host + "/tandem/serve@", "west: serve:1: " + west.Host + "/serve@"} {
		if !strings.Contains(out, want) {
			t.Fatalf("apply lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Warning:") {
		t.Fatalf("apply warned:\n%s", out)
	}
	if out := u.mustTandem("verify", "--workspace", ws); !strings.Contains(out, "(6 checked)") {
		t.Fatalf("verify after apply:\n%s", out)
	}
	if out, err := u.tandem("plan", "-f", ws); exitOf(err) != 0 {
		t.Fatalf("plan after apply: exit %d\n%s", exitOf(err), out)
	}
}

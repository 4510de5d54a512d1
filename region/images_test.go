package region_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/imagecopy"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/regiontest"
	"github.com/tandemml/tandem/registrytest"
)

func envAsset(name, image string) *tandem.Asset {
	return &tandem.Asset{Kind: tandem.AssetEnvironment, Name: name, Version: "1", Spec: &tandem.Environment{Image: image}}
}

func regionClient(t *testing.T, url string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Workspace: "test", Endpoints: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitImage(t *testing.T, c *client.Client, what string, ok func(*tandem.ImagesReport) bool) *tandem.ImagesReport {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rep, err := c.Images(context.Background())
		if err == nil && ok(rep) {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v %v", what, rep, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestImagesFromAPeerWhenTheOriginIsDown: the primary copies a new
// environment's image at once; with the image's own registry down, the
// secondary copies it from the primary's registry instead.
func TestImagesFromAPeerWhenTheOriginIsDown(t *testing.T) {
	origin, east, west := registrytest.Start(t), registrytest.Start(t), registrytest.Start(t)
	digest := registrytest.Push(t, origin.Host+"/ml/serve:2", registrytest.Image(t, 2, 64<<10))
	w := regiontest.Start(t, regiontest.Options{
		Registries: map[string]string{"east": east.Host, "west": west.Host},
		Config: func(name string, cfg *region.Config) {
			cfg.ImageSyncInterval = time.Hour // passes only when asked: the test decides when west looks
		},
	})
	ec, wc := regionClient(t, w.URLs[0]), regionClient(t, w.URLs[1])
	ctx := context.Background()
	a, err := ec.CreateAsset(ctx, envAsset("serve", origin.Host+"/ml/serve:2"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Spec.(*tandem.Environment).ImageDigest; got != digest {
		t.Fatalf("recorded digest %q, want the tag's %s", got, digest)
	}
	waitImage(t, ec, "east copies at create", func(r *tandem.ImagesReport) bool {
		return len(r.Images) == 1 && r.Images[0].State == tandem.ImagePresent && r.Images[0].From == origin.Host+"/ml/serve@"+digest
	})
	origin.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if as, err := wc.ListAssets(ctx, tandem.AssetEnvironment, "serve", false); err == nil && len(as) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the environment did not reach west")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := wc.SyncImages(ctx); err != nil {
		t.Fatal(err)
	}
	rep := waitImage(t, wc, "west copies from east", func(r *tandem.ImagesReport) bool {
		return len(r.Images) == 1 && r.Images[0].State == tandem.ImagePresent
	})
	if st := rep.Images[0]; st.From != east.Host+"/ml/serve@"+digest || st.Destination != west.Host+"/ml/serve@"+digest || !rep.Copies {
		t.Fatalf("west's copy: %+v", rep)
	}
	if ok, err := imagecopy.New().Has(ctx, west.Host+"/ml/serve:2"); err != nil || !ok {
		t.Fatalf("west's registry lacks the tag: %v %v", ok, err)
	}
}

// TestImagesPolicyNone: under environments: none nothing is copied; each
// region reports what its registry lacks and Check (plan, verify) names
// both regions.
func TestImagesPolicyNone(t *testing.T) {
	origin, east, west := registrytest.Start(t), registrytest.Start(t), registrytest.Start(t)
	registrytest.Push(t, origin.Host+"/ml/raw:1", registrytest.Image(t, 1, 1024))
	regs := map[string]string{"east": east.Host, "west": west.Host}
	w := regiontest.Start(t, regiontest.Options{Registries: regs,
		Extra: "replication:\n  default: continuous\n  kinds:\n    environments: none\n"})
	ec := regionClient(t, w.URLs[0])
	ctx := context.Background()
	a, err := ec.CreateAsset(ctx, envAsset("raw", origin.Host+"/ml/raw:1"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ec.SyncImages(ctx)
	rep := waitImage(t, ec, "east reports the image missing", func(r *tandem.ImagesReport) bool {
		return len(r.Images) == 1 && r.Images[0].State == tandem.ImageMissing
	})
	if rep.Copies {
		t.Fatalf("east copies under environments: none: %+v", rep)
	}
	missing, err := imagecopy.New().Check(ctx, imagecopy.FromAssets([]*tandem.Asset{a}), regs)
	if err != nil || len(missing) != 2 || missing[0].Region != "east" || missing[1].Region != "west" {
		t.Fatalf("Check = %+v, %v; want both regions lacking it", missing, err)
	}
	if ok, _ := imagecopy.New().Has(ctx, east.Host+"/ml/raw@"+a.Spec.(*tandem.Environment).ImageDigest); ok {
		t.Fatal("the image was copied to east's registry")
	}
	// A tag the registry does not have: refused, nothing created.
	if _, err := ec.CreateAsset(ctx, envAsset("gone", origin.Host+"/ml/none:1"), t.TempDir()); tandem.ErrorCode(err) != tandem.ENOTFOUND ||
		!strings.Contains(tandem.ErrorMessage(err), "cannot resolve image") {
		t.Fatalf("create with an unknown tag: %v", err)
	}
	if as, _ := ec.ListAssets(ctx, tandem.AssetEnvironment, "gone", true); len(as) != 0 {
		t.Fatalf("created anyway: %+v", as)
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/desired"
	"github.com/tandemml/tandem/imagecopy"
)

// waitImages follows the copy of images into every region's registry
// (each region copies them itself: region/images.go), printing each
// region's progress to out, until every region with a registry holds them,
// or wait ends. A region without a registry, or that does not copy
// (environments: none), is reported and not waited for.
func waitImages(ctx context.Context, out io.Writer, regions []*client.Client, ims []imagecopy.Image, wait time.Duration) error {
	if len(ims) == 0 || wait <= 0 {
		return nil
	}
	for _, r := range regions {
		r.SyncImages(ctx) // a kick; the reports are read below
	}
	deadline := time.Now().Add(wait)
	last := map[string]string{}
	kicked := time.Now()
	for {
		var pending []string
		kick := time.Since(kicked) > time.Second
		for i, r := range regions {
			rep, err := r.Images(ctx)
			for _, im := range ims {
				line, done := imageLine(r.Config().Endpoints[0], rep, err, im)
				if kick && !done && strings.Contains(line, waitingReach) {
					r.SyncImages(ctx) // the environment may have arrived since the last pass
					kicked = time.Now()
				}
				key := fmt.Sprintf("%d/%s/%s", i, im.Environment, im.Version)
				if line != last[key] && line != "" {
					fmt.Fprintln(out, line)
					last[key] = line
				}
				if !done {
					pending = append(pending, line)
				}
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			sort.Strings(pending)
			return tandem.Errorf(tandem.EUNAVAILABLE, "images are not in every region's registry after %s: %s (the regions keep trying; tandem verify checks)",
				wait, strings.Join(pending, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// imageLine is one region's state of one image (from its report, or the
// error asking for it), and whether there is nothing more to wait for.
func imageLine(name string, rep *tandem.ImagesReport, err error, im imagecopy.Image) (string, bool) {
	if err != nil {
		if tandem.ErrorCode(err) == tandem.EUNAVAILABLE {
			return name + ": unreachable, not waited for", true
		}
		return name + ": " + tandem.ErrorMessage(err), false
	}
	name = rep.Region
	if rep.Registry == "" {
		return "", true
	}
	var st *tandem.ImageStatus
	for i := range rep.Images {
		if rep.Images[i].Environment == im.Environment && rep.Images[i].Version == im.Version {
			st = &rep.Images[i]
		}
	}
	env := im.Environment + ":" + im.Version
	switch {
	case st == nil && !rep.Copies:
		return fmt.Sprintf("%s: %s: not copied (replication policy environments: none); tandem plan reports what the region lacks", name, env), true
	case st == nil:
		return fmt.Sprintf("%s: %s: %s", name, env, waitingReach), false
	case st.State == tandem.ImagePresent:
		return fmt.Sprintf("%s: %s: %s present", name, env, st.Destination), true
	case st.State == tandem.ImageMissing:
		return fmt.Sprintf("%s: %s: %s missing (the region does not copy images)", name, env, st.Destination), true
	case st.State == tandem.ImageCopying:
		return fmt.Sprintf("%s: %s: copying %s of %s from %s", name, env, mib(st.BytesDone), mib(st.BytesTotal), st.From), false
	default:
		return fmt.Sprintf("%s: %s: copy failed, retrying: %s", name, env, st.Error), false
	}
}

const waitingReach = "waiting for the environment to reach the region"

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// waitAssetImage follows environment version a's image (create -f).
func waitAssetImage(ctx context.Context, out io.Writer, c *client.Client, a *tandem.Asset, wait time.Duration) error {
	ims := imagecopy.FromAssets([]*tandem.Asset{a})
	if len(ims) == 0 || wait <= 0 {
		return nil
	}
	regions, err := c.PerEndpoint()
	if err != nil {
		return err
	}
	return waitImages(ctx, out, regions, ims, wait)
}

// waitAppliedImages follows the images of the environments the desired
// state declares, after an apply; it only warns: the apply is done.
func waitAppliedImages(ctx context.Context, out io.Writer, pl *planned, wait time.Duration) {
	if len(workspaceRegistries(pl.ws)) == 0 || wait <= 0 {
		return
	}
	declared := map[string]bool{}
	for _, o := range pl.ws.Desired.Objects {
		if o.Kind == desired.KindEnvironment {
			declared[o.Name] = true // NAME:VERSION
		}
	}
	envs, err := pl.clients[pl.in.Primary].ListAssets(ctx, tandem.AssetEnvironment, "", false)
	if err != nil {
		fmt.Fprintf(out, "Warning: cannot list the environments to follow their images: %s\n", tandem.ErrorMessage(err))
		return
	}
	var mine []*tandem.Asset
	for _, a := range envs {
		if declared[a.Name+":"+a.Version] {
			mine = append(mine, a)
		}
	}
	ims := imagecopy.FromAssets(mine)
	if len(ims) == 0 {
		return
	}
	names := make([]string, 0, len(pl.clients))
	for n := range pl.clients {
		names = append(names, n)
	}
	sort.Strings(names)
	var regions []*client.Client
	for _, n := range names {
		regions = append(regions, pl.clients[n])
	}
	fmt.Fprintf(out, "\nImages: following %d environment image(s) into every region's registry\n", len(ims))
	if err := waitImages(ctx, out, regions, ims, wait); err != nil {
		fmt.Fprintf(out, "Warning: %s\n", tandem.ErrorMessage(err))
	}
}

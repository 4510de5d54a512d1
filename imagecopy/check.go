package imagecopy

import (
	"context"
	"sort"
	"time"

	"github.com/tandemml/tandem"
)

// Missing is one image a region's registry lacks (or could not be asked:
// Error says why).
type Missing struct {
	Region      string `json:"region"`
	Environment string `json:"environment"`
	Version     string `json:"version"`
	Destination string `json:"destination"`
	Error       string `json:"error,omitempty"`
}

// Check asks every region's registry for every image's digest (what
// `tandem verify` and `tandem plan` report), regions in name order.
func (c *Client) Check(ctx context.Context, images []Image, registries map[string]string) ([]Missing, error) {
	regions := make([]string, 0, len(registries))
	for r := range registries {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	out := []Missing{}
	for _, r := range regions {
		wants, err := Wants(images, r, registries)
		if err != nil {
			return nil, err
		}
		for _, w := range wants {
			hctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			ok, err := c.Has(hctx, w.Destination)
			cancel()
			if err == nil && ok {
				continue
			}
			m := Missing{Region: r, Environment: w.Environment, Version: w.Version, Destination: w.Destination}
			if err != nil {
				m.Error = tandem.ErrorMessage(err)
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// FromAssets lists the images of environment versions (those with an
// image and a recorded digest).
func FromAssets(as []*tandem.Asset) []Image {
	var out []Image
	for _, a := range as {
		if e, ok := a.Spec.(*tandem.Environment); ok && e.Image != "" && e.ImageDigest != "" {
			out = append(out, Image{Environment: a.Name, Version: a.Version, Source: e.Image, Digest: e.ImageDigest})
		}
	}
	return out
}

// Package imagecopy keeps the container images of environments in every
// region's registry, so a region never needs another region's registry
// during an outage (the source document's geo-replicated registry).
//
// decide.go is the pure part: where a region's copy of an image lives and
// where it may be copied from. registry.go is the I/O, through
// go-containerregistry: resolve a tag to a digest, check that a digest is
// present, copy an image or a whole multi-platform index registry to
// registry.
package imagecopy

import (
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/tandemml/tandem"
)

// Image is one environment version's image: the reference as written in
// the environment (its origin) and the digest tandem recorded for it.
type Image struct {
	Environment string
	Version     string
	Source      string // as written: host/repo:tag or host/repo@sha256:...
	Digest      string // sha256:...
}

// Want is one image a region must hold: Destination is the region's copy
// (repository@digest), Tag the source's tag to set on it (empty for a
// source given by digest), Sources the places it may be copied from, the
// origin first, then the other regions' copies.
type Want struct {
	Image
	Destination string
	Tag         string
	Sources     []string
}

// Repository is the repository a region's copy of src lives in: the
// region's registry (host[:port][/prefix]) followed by src's repository
// path. A source already inside that registry is its own copy.
func Repository(registry, src string) (string, error) {
	ref, err := name.ParseReference(src)
	if err != nil {
		return "", tandem.Errorf(tandem.EINVALID, "image %q: %v", src, err)
	}
	repo := ref.Context()
	reg := strings.TrimSuffix(registry, "/")
	if reg == "" {
		return "", tandem.Errorf(tandem.EINVALID, "no registry")
	}
	full := repo.RegistryStr() + "/" + repo.RepositoryStr()
	if full == reg || strings.HasPrefix(full, reg+"/") {
		return full, nil
	}
	return reg + "/" + repo.RepositoryStr(), nil
}

// Pinned is src at digest: its repository with @digest, the tag dropped.
func Pinned(src, digest string) (string, error) {
	ref, err := name.ParseReference(src)
	if err != nil {
		return "", tandem.Errorf(tandem.EINVALID, "image %q: %v", src, err)
	}
	c := ref.Context()
	return c.RegistryStr() + "/" + c.RepositoryStr() + "@" + digest, nil
}

// TagOf is src's tag, or "" when src names a digest.
func TagOf(src string) string {
	ref, err := name.ParseReference(src)
	if err != nil {
		return ""
	}
	if strings.Contains(src, "@") {
		return ""
	}
	if t, ok := ref.(name.Tag); ok {
		return t.TagStr()
	}
	return ""
}

// Wants lists what region self must hold: one Want per distinct digest and
// destination among images that have a digest (an image without one was
// never resolved and cannot be copied exactly). registries maps every
// region to its registry; a region without one holds nothing and serves
// as no source. The order is stable: by environment, then version.
func Wants(images []Image, self string, registries map[string]string) ([]Want, error) {
	own := registries[self]
	if own == "" {
		return nil, nil
	}
	others := make([]string, 0, len(registries))
	for r, reg := range registries {
		if r != self && reg != "" {
			others = append(others, r)
		}
	}
	sort.Strings(others)
	sorted := append([]Image(nil), images...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Environment != sorted[j].Environment {
			return sorted[i].Environment < sorted[j].Environment
		}
		return sorted[i].Version < sorted[j].Version
	})
	var out []Want
	seen := map[string]bool{}
	for _, im := range sorted {
		if im.Digest == "" || im.Source == "" {
			continue
		}
		repo, err := Repository(own, im.Source)
		if err != nil {
			return nil, err
		}
		w := Want{Image: im, Destination: repo + "@" + im.Digest, Tag: TagOf(im.Source)}
		if seen[w.Destination] {
			continue
		}
		seen[w.Destination] = true
		origin, err := Pinned(im.Source, im.Digest)
		if err != nil {
			return nil, err
		}
		add := func(s string) {
			if s == w.Destination {
				return
			}
			for _, x := range w.Sources {
				if x == s {
					return
				}
			}
			w.Sources = append(w.Sources, s)
		}
		add(origin)
		for _, r := range others {
			if rr, err := Repository(registries[r], im.Source); err == nil {
				add(rr + "@" + im.Digest)
			}
		}
		out = append(out, w)
	}
	return out, nil
}

package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"gocloud.dev/blob"
)

// dropFiles removes what a failed create wrote under the new version's
// prefix. The version did not exist (checked under the name lock before any
// byte was written), so nothing else lives there.
func (s *Server) dropFiles(ctx context.Context, a *tandem.Asset) {
	if !a.Kind.Versioned() || a.Version == "" {
		return
	}
	if err := s.blobs.DeletePrefix(context.WithoutCancel(ctx), a.StoragePrefix()); err != nil {
		s.log.Warn("asset create: removing the files of a failed upload", "prefix", a.StoragePrefix(), "err", err)
	}
}

// Leftovers of failed creates are swept at most hourly, on a create (only
// a primary creates, so a secondary never sweeps files whose entry it has
// not applied yet), once a week old, as MLflow multipart staging is.
const (
	sweepEvery = time.Hour
	sweepAge   = 7 * 24 * time.Hour
)

func (s *Server) maybeSweep(ctx context.Context) {
	now := time.Now()
	last := s.lastSweep.Load()
	if now.UnixMilli()-last < sweepEvery.Milliseconds() || !s.lastSweep.CompareAndSwap(last, now.UnixMilli()) {
		return
	}
	go func() {
		if n, err := s.SweepAssetUploads(context.WithoutCancel(ctx), now, sweepAge); err != nil {
			s.log.Warn("sweeping the files of failed asset creates", "err", err)
		} else if n > 0 {
			s.log.Info("swept the files of failed asset creates", "versions", n)
		}
	}()
}

// SweepAssetUploads removes files under assets/<kinds>/<name>/<version>/
// that no asset version records and whose every object is older than
// now-olderThan: the leftovers of creates that died between their upload
// and their commit (a crash, an internal error). Model files are the
// registry's and are not swept here. Callers: the region's housekeeping.
func (s *Server) SweepAssetUploads(ctx context.Context, now time.Time, olderThan time.Duration) (int, error) {
	cutoff := now.Add(-olderThan)
	n := 0
	for _, k := range []tandem.AssetKind{tandem.AssetData, tandem.AssetEnvironment, tandem.AssetComponent} {
		names, err := s.listDirs(ctx, "assets/"+k.Plural()+"/")
		if err != nil {
			return n, err
		}
		for _, nameDir := range names {
			versions, err := s.listDirs(ctx, nameDir)
			if err != nil {
				return n, err
			}
			for _, vDir := range versions {
				parts := strings.Split(strings.TrimSuffix(vDir, "/"), "/")
				name, version := parts[len(parts)-2], parts[len(parts)-1]
				if _, err := s.store.GetAsset(ctx, k, name, version); err == nil {
					continue
				} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
					return n, err
				}
				old, err := s.allOlder(ctx, vDir, cutoff)
				if err != nil {
					return n, err
				}
				if old {
					if err := s.blobs.DeletePrefix(ctx, vDir); err != nil {
						return n, err
					}
					n++
				}
			}
		}
	}
	return n, nil
}

func (s *Server) listDirs(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	it := s.blobs.Bucket().List(&blob.ListOptions{Prefix: prefix, Delimiter: "/"})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("sweep assets: %w", err)
		}
		if obj.IsDir {
			out = append(out, obj.Key)
		}
	}
}

func (s *Server) allOlder(ctx context.Context, prefix string, cutoff time.Time) (bool, error) {
	it := s.blobs.Bucket().List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return true, nil
		} else if err != nil {
			return false, fmt.Errorf("sweep assets: %w", err)
		}
		if !obj.IsDir && obj.ModTime.After(cutoff) {
			return false, nil
		}
	}
}

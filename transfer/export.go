package transfer

import (
	"context"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/bundle"
	"github.com/tandemml/tandem/sqlstore"
)

// Selection says what to export.
type Selection struct {
	Experiments []string `json:"experiments,omitempty"` // ids or names
	Models      []string `json:"models,omitempty"`      // registered model names
	Version     string   `json:"version,omitempty"`     // with one model: only this version
	All         bool     `json:"all,omitempty"`
}

// Validate refuses an empty or contradictory selection (EINVALID).
func (s Selection) Validate() error {
	if !s.All && len(s.Experiments) == 0 && len(s.Models) == 0 {
		return tandem.Errorf(tandem.EINVALID, "choose what to export: experiments, models, or all")
	}
	if s.Version != "" && len(s.Models) != 1 {
		return tandem.Errorf(tandem.EINVALID, "a version can only be chosen with exactly one model")
	}
	return nil
}

// ExportStats counts what an export wrote.
type ExportStats struct {
	Experiments int   `json:"experiments"`
	Runs        int   `json:"runs"`
	Metrics     int   `json:"metric_points"`
	Blobs       int   `json:"blobs"`
	BlobBytes   int64 `json:"blob_bytes"`
}

// Exporter reads one workspace region into bundles.
type Exporter struct {
	Store     *sqlstore.Store
	Blobs     *blobstore.Store
	Workspace string
	Region    string
}

// Meta returns the bundle metadata of an export starting now: the region
// and its journal head (objects committed after it may also be included).
func (ex *Exporter) Meta(ctx context.Context) (bundle.Meta, error) {
	head, err := ex.Store.Head(ctx)
	if err != nil {
		return bundle.Meta{}, fmt.Errorf("export: journal head: %w", err)
	}
	return bundle.Meta{Workspace: ex.Workspace, Region: ex.Region, Source: "tandem", Position: &head}, nil
}

// Export writes what sel selects to w: experiments, then each run with its
// artifact bytes (checked against their recorded SHA-256) and record. The
// caller closes (or aborts) w.
func (ex *Exporter) Export(ctx context.Context, w *bundle.Writer, sel Selection, progress func(ExportStats)) (ExportStats, error) {
	var st ExportStats
	if err := sel.Validate(); err != nil {
		return st, err
	}
	q := ex.Store.Reader()
	var expIDs []string
	if sel.All {
		ids, err := sqlstore.TransferExperimentIDs(ctx, q)
		if err != nil {
			return st, err
		}
		expIDs = ids
	}
	for _, want := range sel.Experiments {
		if _, ok, err := sqlstore.TransferExperiment(ctx, q, want); err != nil {
			return st, err
		} else if ok {
			expIDs = append(expIDs, want)
			continue
		}
		id, err := sqlstore.TransferExperimentID(ctx, q, want)
		if err != nil {
			return st, err
		}
		if id == "" {
			return st, tandem.Errorf(tandem.ENOTFOUND, "no experiment with id or name %q", want)
		}
		expIDs = append(expIDs, id)
	}
	for _, id := range expIDs {
		x, ok, err := sqlstore.TransferExperiment(ctx, q, id)
		if err != nil {
			return st, err
		}
		if !ok {
			continue // deleted for good since the listing
		}
		if _, err := w.AddObject(bundle.KindExperiment, x.ExperimentID, x); err != nil {
			return st, err
		}
		st.Experiments++
		runIDs, err := sqlstore.TransferRunIDs(ctx, q, id)
		if err != nil {
			return st, err
		}
		for _, rid := range runIDs {
			if err := ex.exportRun(ctx, w, q, rid, &st); err != nil {
				return st, fmt.Errorf("export run %s: %w", rid, err)
			}
			if progress != nil {
				progress(st)
			}
		}
	}
	if len(sel.Models) > 0 {
		return st, tandem.Errorf(tandem.ENOTIMPLEMENTED, "exporting registered models is not available in this build yet")
	}
	return st, nil
}

func (ex *Exporter) exportRun(ctx context.Context, w *bundle.Writer, q sqlstore.Querier, runID string, st *ExportStats) error {
	r, ok, err := sqlstore.TransferRun(ctx, q, runID)
	if err != nil || !ok {
		return err
	}
	prefix := sqlstore.RunArtifactPrefix(r.ExperimentID, r.RunID)
	for _, f := range r.Artifacts {
		key := prefix + f.Path
		rd, err := ex.Blobs.Open(ctx, key)
		if err != nil {
			return fmt.Errorf("artifact %s: %w", f.Path, err)
		}
		it, err := w.AddBlob("run/"+r.RunID, f.Path, key, rd)
		rd.Close()
		if err != nil {
			return fmt.Errorf("artifact %s: %w", f.Path, err)
		}
		if it.SHA256 != f.SHA256 || it.Size != f.Size {
			return tandem.Errorf(tandem.EINTERNAL, "artifact %s: stored bytes do not match their record (sha256 %s, recorded %s): storage damaged?",
				key, short(it.SHA256), short(f.SHA256))
		}
		st.Blobs++
		st.BlobBytes += it.Size
	}
	if _, err := w.AddObject(bundle.KindRun, r.RunID, r); err != nil {
		return err
	}
	st.Runs++
	st.Metrics += len(r.Metrics)
	return nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return strings.TrimSpace(s)
}

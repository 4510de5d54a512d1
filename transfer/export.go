package transfer

import (
	"context"
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/transfer/bundle"
)

// Selection says what to export.
type Selection struct {
	Experiments []string `json:"experiments,omitempty"` // ids or names
	Models      []string `json:"models,omitempty"`      // registered model names
	Version     string   `json:"version,omitempty"`     // with one model: only this version
	// Assets lists workspace assets (not models) to export; a data asset
	// brings the definition of the datastore it points into.
	Assets []AssetRef `json:"assets,omitempty"`
	All    bool       `json:"all,omitempty"` // every experiment, model and asset
}

// AssetRef names an asset to export: a version, or ("" or "latest") the
// newest version not archived. Datastores have no version.
type AssetRef struct {
	Kind    tandem.AssetKind `json:"kind"`
	Name    string           `json:"name"`
	Version string           `json:"version,omitempty"`
}

// Validate refuses an empty or contradictory selection (EINVALID).
func (s Selection) Validate() error {
	if !s.All && len(s.Experiments) == 0 && len(s.Models) == 0 && len(s.Assets) == 0 {
		return tandem.Errorf(tandem.EINVALID, "choose what to export: experiments, models, assets, or all")
	}
	for _, a := range s.Assets {
		if k, err := tandem.ParseAssetKind(string(a.Kind)); err != nil || k != a.Kind || k == tandem.AssetModel {
			return tandem.Errorf(tandem.EINVALID, "asset kind %q cannot be exported as an asset (models are exported as models)", a.Kind)
		}
		if err := tandem.ValidateName(a.Name); err != nil {
			return err
		}
	}
	if s.Version != "" && len(s.Models) != 1 {
		return tandem.Errorf(tandem.EINVALID, "a version can only be chosen with exactly one model")
	}
	return nil
}

// ExportStats counts what an export wrote.
type ExportStats struct {
	Experiments  int   `json:"experiments"`
	Runs         int   `json:"runs"`
	Metrics      int   `json:"metric_points"`
	Blobs        int   `json:"blobs"`
	BlobBytes    int64 `json:"blob_bytes"`
	LoggedModels int   `json:"logged_models"`
	Models       int   `json:"registered_models"`
	Versions     int   `json:"model_versions"`
	Assets       int   `json:"assets"`
	Traces       int   `json:"traces"`

	EvaluationDatasets int `json:"evaluation_datasets"`
	Scorers            int `json:"scorers"`
	Issues             int `json:"issues"`
	Webhooks           int `json:"webhooks"`
}

// Exporter reads one workspace region into bundles.
type Exporter struct {
	Store     Store
	Blobs     *blobstore.Store
	Workspace string
	Region    string
}

// Meta returns the bundle metadata of an export starting now: the
// workspace and region, and the journal head as a first guess of the
// position (Export replaces it with the position of its read snapshot).
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
//
// Everything is read in one read transaction, a snapshot of the database:
// writes committed while the export runs are not in the bundle, and the
// bundle's journal position (set on w) is the snapshot's, so the bundle is
// exactly the workspace as of that position. Artifact bytes are content
// addressed and checked against the digests the snapshot records.
func (ex *Exporter) Export(ctx context.Context, w *bundle.Writer, sel Selection, progress func(ExportStats)) (ExportStats, error) {
	var st ExportStats
	if err := sel.Validate(); err != nil {
		return st, err
	}
	err := ex.Store.ReadTx(ctx, func(tx *sqlstore.Tx) error {
		// The first read fixes the snapshot (SQLite WAL; PostgreSQL
		// REPEATABLE READ): the position and the objects come from it.
		pos, err := sqlstore.TransferHead(ctx, tx)
		if err != nil {
			return fmt.Errorf("export: journal position: %w", err)
		}
		w.SetPosition(pos)
		return ex.export(ctx, tx, w, sel, &st, progress)
	})
	return st, err
}

func (ex *Exporter) export(ctx context.Context, q sqlstore.Querier, w *bundle.Writer, sel Selection, stp *ExportStats, progress func(ExportStats)) error {
	var expIDs []string
	if sel.All {
		ids, err := sqlstore.TransferExperimentIDs(ctx, q)
		if err != nil {
			return err
		}
		expIDs = ids
	}
	for _, want := range sel.Experiments {
		if _, ok, err := sqlstore.TransferExperiment(ctx, q, want); err != nil {
			return err
		} else if ok {
			expIDs = append(expIDs, want)
			continue
		}
		id, err := sqlstore.TransferExperimentID(ctx, q, want)
		if err != nil {
			return err
		}
		if id == "" {
			return tandem.Errorf(tandem.ENOTFOUND, "no experiment with id or name %q", want)
		}
		expIDs = append(expIDs, id)
	}
	x := &exportState{w: w, q: q, st: stp, progress: progress, exps: map[string]bool{}, runs: map[string]bool{}, lms: map[string]bool{}, assets: map[string]bool{}}
	for _, id := range expIDs {
		if err := ex.exportExperiment(ctx, x, id, true); err != nil {
			return err
		}
	}
	var models []string
	if sel.All {
		names, err := sqlstore.TransferRegisteredModelNames(ctx, q)
		if err != nil {
			return err
		}
		models = names
	}
	models = append(models, sel.Models...)
	for _, name := range models {
		if err := ex.exportModel(ctx, x, name, sel.Version, !sel.All); err != nil {
			return fmt.Errorf("export registered model %q: %w", name, err)
		}
	}
	if err := ex.exportAssets(ctx, x, sel); err != nil {
		return err
	}
	if sel.All { // workspace objects: only with the whole workspace
		if err := ex.exportWebhooks(ctx, x); err != nil { // export_genai.go
			return err
		}
	}
	return ex.exportDatasets(ctx, x, sel.All) // export_genai.go
}

// exportState remembers what an export already wrote.
type exportState struct {
	w        *bundle.Writer
	q        sqlstore.Querier
	st       *ExportStats
	progress func(ExportStats)
	exps     map[string]bool
	runs     map[string]bool
	lms      map[string]bool
	assets   map[string]bool // by bundle.AssetID
}

// exportExperiment writes an experiment and, when whole, all its runs and
// logged models.
func (ex *Exporter) exportExperiment(ctx context.Context, x *exportState, id string, whole bool) error {
	if !x.exps[id] {
		e, ok, err := sqlstore.TransferExperiment(ctx, x.q, id)
		if err != nil {
			return err
		}
		if !ok {
			return tandem.Errorf(tandem.ENOTFOUND, "experiment %s does not exist", id)
		}
		if _, err := x.w.AddObject(bundle.KindExperiment, e.ExperimentID, e); err != nil {
			return err
		}
		x.exps[id] = true
		x.st.Experiments++
	}
	if !whole {
		return nil
	}
	runIDs, err := sqlstore.TransferRunIDs(ctx, x.q, id)
	if err != nil {
		return err
	}
	for _, rid := range runIDs {
		if err := ex.exportRun(ctx, x, rid); err != nil {
			return fmt.Errorf("export run %s: %w", rid, err)
		}
	}
	lmIDs, err := sqlstore.TransferLoggedModelIDs(ctx, x.q, id)
	if err != nil {
		return err
	}
	for _, mid := range lmIDs {
		if err := ex.exportLoggedModel(ctx, x, mid); err != nil {
			return fmt.Errorf("export logged model %s: %w", mid, err)
		}
	}
	if err := ex.exportScorers(ctx, x, id); err != nil { // export_genai.go
		return err
	}
	if err := ex.exportIssues(ctx, x, id); err != nil { // export_genai.go
		return err
	}
	return ex.exportTraces(ctx, x, id) // export_traces.go
}

// exportModel writes a registered model and its versions (or one version)
// and, with lineage, the runs and logged models the versions come from,
// with their experiments, so the bundle stands on its own.
func (ex *Exporter) exportModel(ctx context.Context, x *exportState, name, version string, lineage bool) error {
	m, versions, ok, err := sqlstore.TransferRegisteredModel(ctx, x.q, name)
	if err != nil {
		return err
	}
	if !ok {
		return tandem.Errorf(tandem.ENOTFOUND, "registered model %q does not exist", name)
	}
	if version != "" {
		var keep []bundle.ModelVersion
		for _, v := range versions {
			if v.Version == version && v.CurrentStage != "Deleted_Internal" {
				keep = append(keep, v)
			}
		}
		if len(keep) == 0 {
			return tandem.Errorf(tandem.ENOTFOUND, "registered model %q has no version %s", name, version)
		}
		versions = keep
		var aliases []bundle.Alias
		for _, a := range m.Aliases {
			if a.Version == version {
				aliases = append(aliases, a)
			}
		}
		m.Aliases = aliases
	}
	if lineage {
		for _, v := range versions {
			if v.ModelID != "" && !x.lms[v.ModelID] {
				lm, ok, err := sqlstore.TransferLoggedModel(ctx, x.q, v.ModelID)
				if err != nil {
					return err
				}
				if ok {
					if err := ex.exportExperiment(ctx, x, lm.ExperimentID, false); err != nil {
						return err
					}
					if err := ex.exportLoggedModel(ctx, x, v.ModelID); err != nil {
						return err
					}
				}
			}
			if v.RunID != "" && !x.runs[v.RunID] {
				r, ok, err := sqlstore.TransferRun(ctx, x.q, v.RunID)
				if err != nil {
					return err
				}
				if ok {
					if err := ex.exportExperiment(ctx, x, r.ExperimentID, false); err != nil {
						return err
					}
					if err := ex.exportRun(ctx, x, v.RunID); err != nil {
						return err
					}
				}
			}
		}
	}
	if _, err := x.w.AddObject(bundle.KindRegisteredModel, m.Name, m); err != nil {
		return err
	}
	for _, v := range versions {
		if _, err := x.w.AddObject(bundle.KindModelVersion, v.Name+"/"+v.Version, v); err != nil {
			return err
		}
	}
	x.st.Models++
	x.st.Versions += len(versions)
	return nil
}

func (ex *Exporter) exportLoggedModel(ctx context.Context, x *exportState, id string) error {
	if x.lms[id] {
		return nil
	}
	m, ok, err := sqlstore.TransferLoggedModel(ctx, x.q, id)
	if err != nil || !ok {
		return err
	}
	if err := ex.copyBlobs(ctx, x, "logged_model/"+id, sqlstore.LoggedModelArtifactPrefix(m.ExperimentID, id), m.Artifacts); err != nil {
		return err
	}
	if _, err := x.w.AddObject(bundle.KindLoggedModel, id, m); err != nil {
		return err
	}
	x.lms[id] = true
	x.st.LoggedModels++
	return nil
}

// copyBlobs writes an owner's artifact files, checking each against its
// recorded size and SHA-256.
func (ex *Exporter) copyBlobs(ctx context.Context, x *exportState, owner, prefix string, files []bundle.File) error {
	for _, f := range files {
		key := prefix + f.Path
		rd, err := ex.Blobs.Open(ctx, key)
		if err != nil {
			return fmt.Errorf("artifact %s: %w", f.Path, err)
		}
		it, err := x.w.AddBlob(owner, f.Path, key, rd)
		rd.Close()
		if err != nil {
			return fmt.Errorf("artifact %s: %w", f.Path, err)
		}
		if it.SHA256 != f.SHA256 || it.Size != f.Size {
			return tandem.Errorf(tandem.EINTERNAL, "artifact %s: stored bytes do not match their record (sha256 %s, recorded %s): storage damaged?",
				key, short(it.SHA256), short(f.SHA256))
		}
		x.st.Blobs++
		x.st.BlobBytes += it.Size
	}
	return nil
}

func (ex *Exporter) exportRun(ctx context.Context, x *exportState, runID string) error {
	if x.runs[runID] {
		return nil
	}
	r, ok, err := sqlstore.TransferRun(ctx, x.q, runID)
	if err != nil || !ok {
		return err
	}
	if err := ex.copyBlobs(ctx, x, "run/"+r.RunID, sqlstore.RunArtifactPrefix(r.ExperimentID, r.RunID), r.Artifacts); err != nil {
		return err
	}
	if _, err := x.w.AddObject(bundle.KindRun, r.RunID, r); err != nil {
		return err
	}
	x.runs[runID] = true
	x.st.Runs++
	x.st.Metrics += len(r.Metrics)
	if x.progress != nil {
		x.progress(*x.st)
	}
	return nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return strings.TrimSpace(s)
}

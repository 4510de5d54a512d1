// Package transfer moves whole objects between workspaces: it exports a
// workspace's experiments, runs (with every metric point and artifact) and
// models into a bundle, imports a bundle keeping ids and times, and serves
// both under /api/tandem/v1/export and /api/tandem/v1/import.
//
// An import first reads the whole bundle, checking every digest and
// planning every object against the workspace (new, already present,
// conflict, experiment id mapped); only a bundle that verifies is applied.
// Each object graph (an experiment; a run with its artifact records) is
// written in one transaction through the store's import ops, so an
// interrupted import leaves whole objects only, and running it again
// finishes the job: objects already there are reported "already present".
package transfer

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/blobstore"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/transfer/bundle"
)

// Status aliases the store's import statuses.
type Status = sqlstore.ImportStatus

// Outcome is what happened (or, in a dry run, would happen) to one object.
type Outcome struct {
	Kind     bundle.Kind `json:"kind"`
	ID       string      `json:"id"`
	Status   Status      `json:"status"`
	TargetID string      `json:"target_id,omitempty"`
	Reason   string      `json:"reason,omitempty"`
}

// Report sums up an import.
type Report struct {
	DryRun bool `json:"dry_run"`
	// Counts per kind and status ("run" -> "new" -> 12).
	Counts map[bundle.Kind]map[Status]int `json:"counts"`
	// Notes lists every object that was not simply created or found:
	// conflicts, skips, and experiments whose id was mapped.
	Notes         []Outcome `json:"notes,omitempty"`
	Blobs         int       `json:"blobs_written"`
	BlobBytes     int64     `json:"blob_bytes_written"`
	Source        string    `json:"source,omitempty"`
	SourceRegion  string    `json:"source_region,omitempty"`
	SourceJournal string    `json:"source_journal_position,omitempty"`
}

// Conflicts counts objects in conflict or skipped because of one.
func (r *Report) Conflicts() int {
	n := 0
	for _, byStatus := range r.Counts {
		n += byStatus[sqlstore.ImportConflict] + byStatus[sqlstore.ImportSkipped]
	}
	return n
}

func (r *Report) add(o Outcome) {
	if r.Counts == nil {
		r.Counts = map[bundle.Kind]map[Status]int{}
	}
	if r.Counts[o.Kind] == nil {
		r.Counts[o.Kind] = map[Status]int{}
	}
	r.Counts[o.Kind][o.Status]++
	if o.Status != sqlstore.ImportNew && o.Status != sqlstore.ImportPresent || o.TargetID != "" {
		r.Notes = append(r.Notes, o)
	}
}

// Progress is reported after each object.
type Progress struct {
	Phase string  `json:"phase"` // "verify" or "import"
	Done  int     `json:"done"`
	Total int     `json:"total"`
	Last  Outcome `json:"last"`
}

// ImportOptions tune an import.
type ImportOptions struct {
	DryRun   bool
	Progress func(Progress)
	Log      *slog.Logger
}

// Importer writes bundles into one workspace region.
type Importer struct {
	Store Store
	Blobs *blobstore.Store
}

// plan holds what the verify pass decided, by object.
type plan struct {
	expTarget map[string]string // bundle experiment id -> id here ("" when in conflict)
	expStatus map[string]sqlstore.ImportResult
	// Runs and logged models, by owner key "run/<id>" or "logged_model/<id>".
	status   map[string]sqlstore.ImportResult
	ownerExp map[string]string // owner -> its experiment id in the bundle
	// Registered models with their versions, in bundle order: one graph each.
	models     []*modelGraph
	modelIndex map[string]*modelGraph
	// Assets, by owner key "asset/<asset id>" (their status is in status).
	assets map[string]*tandem.Asset
}

type modelGraph struct {
	rec      bundle.RegisteredModel
	versions []bundle.ModelVersion
	res      sqlstore.ImportResult
}

// Import verifies the bundle (every digest, every object planned against
// this workspace) and, unless opts.DryRun, applies it. A bundle that fails
// verification imports nothing and returns an EINVALID error. Conflicts do
// not stop the import: they are reported, and the objects in conflict (and
// those that depend on them) are left untouched.
func (im *Importer) Import(ctx context.Context, r *bundle.Reader, opts ImportOptions) (*Report, error) {
	m := r.Manifest()
	rep := &Report{DryRun: opts.DryRun, Counts: map[bundle.Kind]map[Status]int{}, Source: m.Source, SourceRegion: m.Region}
	if m.Position != nil {
		rep.SourceJournal = m.Position.String()
	}
	total := 0
	for _, it := range m.Items {
		if it.Kind != bundle.KindBlob {
			total++
		}
	}
	p := &plan{expTarget: map[string]string{}, expStatus: map[string]sqlstore.ImportResult{},
		status: map[string]sqlstore.ImportResult{}, ownerExp: map[string]string{}, modelIndex: map[string]*modelGraph{},
		assets: map[string]*tandem.Asset{}}
	blobIndex := map[string]bundle.Item{}
	for _, it := range m.Items {
		if it.Kind == bundle.KindBlob {
			blobIndex[it.Owner+"\x00"+it.ID] = it
		}
	}
	reserved, err := im.Store.MaxExperimentNum(ctx) // numbers handed out by this plan
	if err != nil {
		return nil, err
	}
	claimed := map[string]bool{}
	done := 0
	q := im.Store.Reader()
	err = r.Walk(ctx, func(it bundle.Item, body io.Reader) error {
		var o Outcome
		switch it.Kind {
		case bundle.KindBlob:
			return nil
		case bundle.KindExperiment:
			var rec bundle.Experiment
			if err := bundle.Decode(body, &rec); err != nil {
				return fmt.Errorf("%s: %w", it.Path, err)
			}
			if err := sameID(it, rec.ExperimentID); err != nil {
				return err
			}
			res, err := sqlstore.PlanExperiment(ctx, q, rec)
			if err != nil {
				return err
			}
			if res.Status == sqlstore.ImportNew {
				// Experiments of one bundle must not be planned onto the same
				// id: the plan hands out numbers after those it already gave.
				want := rec.ExperimentID
				if res.TargetID != "" {
					want = res.TargetID
				}
				if n, ok := parseNum(want); claimed[want] || (res.TargetID != "" && ok && n <= reserved) {
					res.TargetID = fmt.Sprint(reserved + 1)
					res.Reason = fmt.Sprintf("experiment id %s is taken here: %q imported as experiment %s", rec.ExperimentID, rec.Name, res.TargetID)
				}
			}
			target := rec.ExperimentID
			if res.TargetID != "" {
				target = res.TargetID
			}
			claimed[target] = true
			if n, ok := parseNum(target); ok && n > reserved {
				reserved = n
			}
			if res.Status == sqlstore.ImportConflict {
				target = ""
			}
			p.expTarget[rec.ExperimentID] = target
			p.expStatus[rec.ExperimentID] = res
			o = outcome(it, res)
		case bundle.KindRun:
			var rec bundle.Run
			if err := bundle.Decode(body, &rec); err != nil {
				return fmt.Errorf("%s: %w", it.Path, err)
			}
			if err := sameID(it, rec.RunID); err != nil {
				return err
			}
			if err := checkFiles(it, rec.Artifacts); err != nil {
				return err
			}
			res, err := p.planOwned(ctx, q, "run/"+rec.RunID, rec.ExperimentID, func(target string) (sqlstore.ImportResult, error) {
				return sqlstore.PlanRun(ctx, q, sqlstore.TargetRun(rec, target))
			})
			if err != nil {
				return err
			}
			o = outcome(it, res)
		case bundle.KindLoggedModel:
			var rec bundle.LoggedModel
			if err := bundle.Decode(body, &rec); err != nil {
				return fmt.Errorf("%s: %w", it.Path, err)
			}
			if err := sameID(it, rec.ModelID); err != nil {
				return err
			}
			if err := checkFiles(it, rec.Artifacts); err != nil {
				return err
			}
			res, err := p.planOwned(ctx, q, "logged_model/"+rec.ModelID, rec.ExperimentID, func(target string) (sqlstore.ImportResult, error) {
				return sqlstore.PlanLoggedModel(ctx, q, sqlstore.TargetLoggedModel(rec, target))
			})
			if err != nil {
				return err
			}
			o = outcome(it, res)
		case bundle.KindRegisteredModel:
			var rec bundle.RegisteredModel
			if err := bundle.Decode(body, &rec); err != nil {
				return fmt.Errorf("%s: %w", it.Path, err)
			}
			g := &modelGraph{rec: rec}
			p.models = append(p.models, g)
			p.modelIndex[rec.Name] = g
			done++
			return nil // planned with its versions, below
		case bundle.KindModelVersion:
			var rec bundle.ModelVersion
			if err := bundle.Decode(body, &rec); err != nil {
				return fmt.Errorf("%s: %w", it.Path, err)
			}
			g := p.modelIndex[rec.Name]
			if g == nil {
				o = Outcome{Kind: it.Kind, ID: it.ID, Status: sqlstore.ImportSkipped,
					Reason: fmt.Sprintf("its registered model %q is not in the bundle", rec.Name)}
				break
			}
			g.versions = append(g.versions, rec)
			done++
			return nil
		case bundle.KindAsset:
			var rec bundle.Asset
			if err := bundle.Decode(body, &rec); err != nil {
				return fmt.Errorf("%s: %w", it.Path, err)
			}
			if err := sameID(it, rec.ID()); err != nil {
				return err
			}
			a, err := sqlstore.AssetFromRecord(rec)
			if err != nil {
				return fmt.Errorf("bundle: %s: %w", it.Path, err)
			}
			owner := "asset/" + it.ID
			for _, f := range rec.Files {
				b, ok := blobIndex[owner+"\x00"+f.Path]
				if !ok || b.SHA256 != f.SHA256 || b.Size != f.Size {
					return tandem.Errorf(tandem.EINVALID, "bundle: %s: file %s is missing or differs from its record", it.Path, f.Path)
				}
			}
			res, err := sqlstore.PlanAsset(ctx, q, a)
			if err != nil {
				return err
			}
			p.assets[owner] = a
			p.status[owner] = res
			o = outcome(it, res)
		case bundle.KindTrace: // import_traces.go
			var err error
			if o, err = p.planTrace(ctx, q, it, body); err != nil {
				return err
			}
		case bundle.KindEvaluationDataset, bundle.KindScorer: // import_genai.go
			var err error
			if o, err = p.planGenAI(ctx, q, it, body); err != nil {
				return err
			}
		case bundle.KindIssue:
			var err error
			if o, err = p.planIssue(ctx, q, it, body); err != nil {
				return err
			}
		case bundle.KindWebhook:
			var err error
			if o, err = p.planWebhook(ctx, q, it, body); err != nil {
				return err
			}
		default:
			o = Outcome{Kind: it.Kind, ID: it.ID, Status: sqlstore.ImportUnsupported,
				Reason: fmt.Sprintf("this tandem does not import %s objects yet", it.Kind)}
		}
		done++
		if opts.Progress != nil {
			opts.Progress(Progress{Phase: "verify", Done: done, Total: total, Last: o})
		}
		if opts.DryRun {
			rep.add(o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, g := range p.models {
		p.locateVersions(ctx, q, g)
		res, err := sqlstore.PlanRegisteredModel(ctx, q, g.rec, g.versions)
		if err != nil {
			return nil, fmt.Errorf("registered model %q: %w", g.rec.Name, err)
		}
		g.res = res
		if opts.DryRun {
			g.report(rep, res)
		}
	}
	if opts.DryRun {
		sortNotes(rep)
		return rep, nil
	}
	done = 0
	err = r.Walk(ctx, func(it bundle.Item, body io.Reader) error {
		var o Outcome
		switch it.Kind {
		case bundle.KindBlob:
			return im.putBlob(ctx, p, it, body, rep)
		case bundle.KindExperiment:
			var rec bundle.Experiment
			if err := bundle.Decode(body, &rec); err != nil {
				return err
			}
			planned := p.expStatus[rec.ExperimentID]
			res := planned
			if planned.Status == sqlstore.ImportNew {
				var err error
				if res, err = im.Store.ImportExperiment(ctx, rec); err != nil {
					return fmt.Errorf("import experiment %s: %w", rec.ExperimentID, err)
				}
			}
			target := rec.ExperimentID
			if res.TargetID != "" {
				target = res.TargetID
			}
			if res.Status == sqlstore.ImportConflict {
				target = ""
			}
			// Runs and blobs follow the experiment's actual id, which may
			// differ from the plan's when the workspace changed meanwhile.
			p.expTarget[rec.ExperimentID] = target
			o = outcome(it, res)
		case bundle.KindRun:
			var rec bundle.Run
			if err := bundle.Decode(body, &rec); err != nil {
				return err
			}
			res := p.status["run/"+rec.RunID]
			if res.Status == sqlstore.ImportNew {
				var err error
				if res, err = im.Store.ImportRun(ctx, sqlstore.TargetRun(rec, p.target("run/"+rec.RunID))); err != nil {
					return fmt.Errorf("import run %s: %w", rec.RunID, err)
				}
			}
			o = outcome(it, res)
		case bundle.KindLoggedModel:
			var rec bundle.LoggedModel
			if err := bundle.Decode(body, &rec); err != nil {
				return err
			}
			owner := "logged_model/" + rec.ModelID
			res := p.status[owner]
			if res.Status == sqlstore.ImportNew {
				var err error
				if res, err = im.Store.ImportLoggedModel(ctx, sqlstore.TargetLoggedModel(rec, p.target(owner))); err != nil {
					return fmt.Errorf("import logged model %s: %w", rec.ModelID, err)
				}
			}
			o = outcome(it, res)
		case bundle.KindRegisteredModel, bundle.KindModelVersion:
			return nil // whole graphs, after the walk
		case bundle.KindAsset:
			owner := "asset/" + it.ID
			res := p.status[owner]
			if a := p.assets[owner]; res.Status == sqlstore.ImportNew && a != nil {
				var err error
				if res, err = im.Store.ImportAsset(ctx, a); err != nil {
					return fmt.Errorf("import %s: %w", it.ID, err)
				}
			}
			o = outcome(it, res)
		case bundle.KindTrace:
			var err error
			if o, err = im.importTrace(ctx, p, it, body); err != nil {
				return err
			}
		case bundle.KindEvaluationDataset, bundle.KindScorer:
			var err error
			if o, err = im.importGenAI(ctx, p, it, body); err != nil {
				return err
			}
		case bundle.KindIssue:
			var err error
			if o, err = im.importIssue(ctx, p, it, body); err != nil {
				return err
			}
		case bundle.KindWebhook:
			var err error
			if o, err = im.importWebhook(ctx, p, it, body); err != nil {
				return err
			}
		default:
			o = Outcome{Kind: it.Kind, ID: it.ID, Status: sqlstore.ImportUnsupported,
				Reason: fmt.Sprintf("this tandem does not import %s objects yet", it.Kind)}
		}
		rep.add(o)
		done++
		if opts.Progress != nil {
			opts.Progress(Progress{Phase: "import", Done: done, Total: total, Last: o})
		}
		return nil
	})
	if err != nil {
		sortNotes(rep)
		return rep, err
	}
	for _, g := range p.models {
		res := g.res
		if res.Status == sqlstore.ImportNew {
			if res, err = im.Store.ImportRegisteredModel(ctx, g.rec, g.versions); err != nil {
				sortNotes(rep)
				return rep, fmt.Errorf("import registered model %q: %w", g.rec.Name, err)
			}
		}
		g.report(rep, res)
		done += 1 + len(g.versions)
		if opts.Progress != nil {
			opts.Progress(Progress{Phase: "import", Done: done, Total: total,
				Last: Outcome{Kind: bundle.KindRegisteredModel, ID: g.rec.Name, Status: res.Status}})
		}
	}
	sortNotes(rep)
	return rep, nil
}

// report adds the outcome of a model graph: one for the model, and the
// same status for each of its versions.
func (g *modelGraph) report(rep *Report, res sqlstore.ImportResult) {
	rep.add(Outcome{Kind: bundle.KindRegisteredModel, ID: g.rec.Name, Status: res.Status, Reason: res.Reason})
	vs := res.Status
	if vs == sqlstore.ImportConflict {
		vs = sqlstore.ImportSkipped
	}
	for _, v := range g.versions {
		if rep.Counts[bundle.KindModelVersion] == nil {
			rep.Counts[bundle.KindModelVersion] = map[Status]int{}
		}
		rep.Counts[bundle.KindModelVersion][vs]++
		_ = v
	}
}

// locateVersions fills the storage location of versions that a stock
// MLflow server did not give: a logged model's artifact location here, or
// the source itself. A models:/m-... source names its logged model.
func (p *plan) locateVersions(ctx context.Context, q sqlstore.Querier, g *modelGraph) {
	for i := range g.versions {
		v := &g.versions[i]
		if v.ModelID == "" && strings.HasPrefix(v.Source, "models:/m-") && !strings.Contains(v.Source[len("models:/"):], "/") {
			v.ModelID = v.Source[len("models:/"):]
		}
		if v.StorageLocation != "" || v.CurrentStage == "Deleted_Internal" {
			continue
		}
		v.StorageLocation = v.Source
		if v.ModelID == "" {
			continue
		}
		owner := "logged_model/" + v.ModelID
		if _, ok := p.ownerExp[owner]; ok {
			if t := p.target(owner); t != "" {
				v.StorageLocation = sqlstore.ArtifactRoot(t) + "/models/" + v.ModelID + "/artifacts"
			}
		} else if lm, ok, err := sqlstore.TransferLoggedModel(ctx, q, v.ModelID); err == nil && ok {
			v.StorageLocation = lm.ArtifactURI
		}
	}
}

// target is the experiment id here of a planned run or logged model.
func (p *plan) target(owner string) string {
	exp := p.ownerExp[owner]
	if t, ok := p.expTarget[exp]; ok {
		return t
	}
	return exp // not in the bundle: already here under its own id
}

// planOwned plans a run or logged model of experiment exp (a bundle id):
// skipped when its experiment is in conflict or nowhere, else compared
// with this workspace by compare, given the experiment's id here.
func (p *plan) planOwned(ctx context.Context, q sqlstore.Querier, owner, exp string, compare func(target string) (sqlstore.ImportResult, error)) (sqlstore.ImportResult, error) {
	p.ownerExp[owner] = exp
	res, err := p.planOwnedStatus(ctx, q, exp, compare)
	p.status[owner] = res
	return res, err
}

func (p *plan) planOwnedStatus(ctx context.Context, q sqlstore.Querier, exp string, compare func(target string) (sqlstore.ImportResult, error)) (sqlstore.ImportResult, error) {
	target, inBundle := p.expTarget[exp]
	if !inBundle {
		// The experiment is not in the bundle: it must be here already.
		_, ok, err := sqlstore.TransferExperiment(ctx, q, exp)
		if err != nil {
			return sqlstore.ImportResult{}, err
		}
		if !ok {
			return sqlstore.ImportResult{Status: sqlstore.ImportSkipped,
				Reason: fmt.Sprintf("its experiment %s is neither in the bundle nor in this workspace", exp)}, nil
		}
		target = exp
	}
	if target == "" {
		return sqlstore.ImportResult{Status: sqlstore.ImportSkipped,
			Reason: fmt.Sprintf("its experiment %s is in conflict", exp)}, nil
	}
	res, err := compare(target)
	if err != nil {
		return res, err
	}
	res.TargetID = "" // an experiment's mapping is reported once, on the experiment
	return res, nil
}

// putBlob stores one artifact file of a run that is going to be imported,
// at its readable key; the store refuses bytes whose digest differs.
func (im *Importer) putBlob(ctx context.Context, p *plan, it bundle.Item, body io.Reader, rep *Report) error {
	if p.status[it.Owner].Status != sqlstore.ImportNew {
		return nil
	}
	kind, id, _ := cutOwner(it.Owner)
	var key string
	switch kind {
	case bundle.KindRun:
		key = sqlstore.RunArtifactPrefix(p.target(it.Owner), id) + it.ID
	case bundle.KindLoggedModel:
		key = sqlstore.LoggedModelArtifactPrefix(p.target(it.Owner), id) + it.ID
	case bundle.KindAsset:
		a := p.assets[it.Owner]
		if a == nil {
			return nil
		}
		key = a.StoragePrefix() + it.ID
	default:
		return nil
	}
	ref, err := im.Blobs.Put(ctx, key, body, it.SHA256)
	if err != nil {
		return fmt.Errorf("store artifact %s of %s: %w", it.ID, it.Owner, err)
	}
	rep.Blobs++
	rep.BlobBytes += ref.Size
	return nil
}

// sameID refuses a record whose id is not the one its manifest item says.
func sameID(it bundle.Item, id string) error {
	if id != it.ID {
		return tandem.Errorf(tandem.EINVALID, "bundle: %s says id %q, its manifest item %q", it.Path, id, it.ID)
	}
	return nil
}

// checkFiles refuses artifact paths that could leave the owner's folder.
func checkFiles(it bundle.Item, files []bundle.File) error {
	for _, f := range files {
		if err := bundle.CheckPath(f.Path); err != nil {
			return tandem.Errorf(tandem.EINVALID, "bundle: %s: artifact %v", it.Path, err)
		}
	}
	return nil
}

func cutOwner(owner string) (bundle.Kind, string, bool) {
	for i := 0; i < len(owner); i++ {
		if owner[i] == '/' {
			return bundle.Kind(owner[:i]), owner[i+1:], true
		}
	}
	return "", "", false
}

func outcome(it bundle.Item, res sqlstore.ImportResult) Outcome {
	return Outcome{Kind: it.Kind, ID: it.ID, Status: res.Status, TargetID: res.TargetID, Reason: res.Reason}
}

func parseNum(s string) (int64, bool) {
	var n int64
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func sortNotes(r *Report) {
	sort.SliceStable(r.Notes, func(i, j int) bool { return r.Notes[i].Kind < r.Notes[j].Kind })
}

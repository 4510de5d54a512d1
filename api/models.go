package api

import (
	"context"
	"path"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
)

// Models are the MLflow model registry seen as assets: a "model" asset
// version is a registered model's version (the registered_models and
// model_versions tables), so a version registered with the mlflow client
// shows in `tandem model list` and one created with `tandem model create`
// loads with mlflow.pyfunc.load_model("models:/NAME/VERSION"). Fields of the
// YAML form that MLflow has no column for travel as version tags under
// "tandem.".
const (
	tagModelType = "tandem.model_type"
	tagModelPath = "tandem.path"
	tagPropertyP = "tandem.property."
)

// modelView is a model version as an asset, with the storage key of each
// of its files.
type modelView struct {
	asset *tandem.Asset
	keys  map[string]string // asset file path -> blob key
}

func (s *Server) modelView(ctx context.Context, mv tandem.ModelVersion) (*modelView, error) {
	spec := &tandem.Model{}
	a := &tandem.Asset{Kind: tandem.AssetModel, Name: mv.Name, Version: strconv.FormatInt(mv.Version, 10),
		Description: mv.Description, CreatedMS: mv.CreationTime, UpdatedMS: mv.LastUpdatedTime, Spec: spec,
		Archived: mv.CurrentStage == tandem.StageArchived}
	if mv.CurrentStage == tandem.StageStaging || mv.CurrentStage == tandem.StageProduction {
		spec.Stage = mv.CurrentStage
	}
	for _, t := range mv.Tags {
		switch {
		case t.Key == tagModelType:
			spec.Type = t.Value
		case t.Key == tagModelPath:
			spec.Path = t.Value
		case strings.HasPrefix(t.Key, tagPropertyP):
			if spec.Properties == nil {
				spec.Properties = map[string]string{}
			}
			spec.Properties[strings.TrimPrefix(t.Key, tagPropertyP)] = t.Value
		case strings.HasPrefix(t.Key, "tandem."):
		default:
			if a.Tags == nil {
				a.Tags = map[string]string{}
			}
			a.Tags[t.Key] = t.Value
		}
	}
	v := &modelView{asset: a, keys: map[string]string{}}
	loc := mv.StorageLocation
	if loc == "" {
		loc = mv.Source
	}
	if spec.Path != "" && !tandem.IsLocalPath(spec.Path) {
		return v, nil // registered from a URL: no files of its own here
	}
	root, files, ok, err := s.store.ModelFiles(ctx, loc)
	if err != nil {
		return nil, err
	}
	if !ok || len(files) == 0 {
		if spec.Path == "" {
			spec.Path = mv.Source
		}
		return v, nil
	}
	if spec.Path == "" { // registered through MLflow: offer its files as a folder
		spec.Path = "model"
		if len(files) == 1 && files[0].Path == root {
			spec.Path = path.Base(root)
		}
	}
	hasMLmodel := false
	for _, f := range files {
		p := spec.Path
		if f.Path != root {
			p = spec.Path + "/" + strings.TrimPrefix(f.Path, root+"/")
		}
		if tandem.ValidateRelPath(p) != nil {
			continue
		}
		hasMLmodel = hasMLmodel || p == spec.Path+"/MLmodel"
		a.Files = append(a.Files, tandem.AssetFile{Path: p, Size: f.Size, SHA256: f.SHA256})
		v.keys[p] = f.Path
	}
	if spec.Type == "" {
		spec.Type = "custom_model"
		if hasMLmodel {
			spec.Type = "mlflow_model"
		}
	}
	return v, nil
}

func parseModelVersion(version string) (int64, error) {
	v, err := strconv.ParseInt(version, 10, 64)
	if err != nil || v < 1 {
		return 0, tandem.Errorf(tandem.EINVALID, "model versions are positive integers, got %q", version)
	}
	return v, nil
}

func (s *Server) modelGet(ctx context.Context, name, version string) (*modelView, error) {
	var v int64
	if version == "" || version == "latest" {
		vs, err := s.store.ModelAssetVersions(ctx, name, false)
		if err != nil {
			return nil, err
		}
		if len(vs) == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "model %q not found", name)
		}
		v = vs[0]
	} else {
		var err error
		if v, err = parseModelVersion(version); err != nil {
			return nil, err
		}
	}
	mv, err := s.store.GetModelVersion(ctx, name, v)
	if err != nil {
		return nil, err
	}
	return s.modelView(ctx, mv)
}

func (s *Server) modelList(ctx context.Context, name string, includeArchived bool) ([]*tandem.Asset, error) {
	var pairs [][2]any
	if name != "" {
		vs, err := s.store.ModelAssetVersions(ctx, name, includeArchived)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			pairs = append(pairs, [2]any{name, v})
		}
	} else {
		latest, names, err := s.store.ModelAssetLatest(ctx, includeArchived)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			pairs = append(pairs, [2]any{n, latest[n]})
		}
	}
	out := []*tandem.Asset{}
	for _, p := range pairs {
		mv, err := s.store.GetModelVersion(ctx, p[0].(string), p[1].(int64))
		if err != nil {
			return nil, err
		}
		v, err := s.modelView(ctx, mv)
		if err != nil {
			return nil, err
		}
		out = append(out, v.asset)
	}
	return out, nil
}

// modelCreate registers a model version: files first (recorded as
// artifacts under assets/models/<name>/<version>/, so the MLflow artifact
// proxy serves them), then the registered model if new, then the version
// whose source points at the files, then its stage.
func (s *Server) modelCreate(ctx context.Context, a *tandem.Asset, put putFunc) (*tandem.Asset, error) {
	spec := a.Spec.(*tandem.Model)
	next, err := s.store.NextModelVersion(ctx, a.Name)
	if err != nil {
		return nil, err
	}
	if a.Version != "" {
		v, err := parseModelVersion(a.Version)
		if err != nil {
			return nil, err
		}
		if v < next {
			if _, err := s.store.GetModelVersion(ctx, a.Name, v); err == nil {
				return nil, tandem.Errorf(tandem.EEXISTS, "model %s version %d already exists; versions cannot be changed, create a new version", a.Name, v)
			}
		}
		if v != next {
			return nil, tandem.Errorf(tandem.EINVALID, "model versions are numbered by the registry: the next version of %s is %d, not %d", a.Name, next, v)
		}
	}
	a.Version = strconv.FormatInt(next, 10)
	source := spec.Path
	tags := []tandem.Tag{{Key: tagModelPath, Value: spec.Path}}
	if spec.Type != "" {
		tags = append(tags, tandem.Tag{Key: tagModelType, Value: spec.Type})
	}
	for _, k := range tandem.SortedKeys(spec.Properties) {
		tags = append(tags, tandem.Tag{Key: tagPropertyP + k, Value: spec.Properties[k]})
	}
	for _, k := range tandem.SortedKeys(a.Tags) {
		if strings.HasPrefix(k, "tandem.") {
			return nil, tandem.Errorf(tandem.EINVALID, "tag %q: the tandem. prefix is reserved", k)
		}
		tags = append(tags, tandem.Tag{Key: k, Value: a.Tags[k]})
	}
	if tandem.IsLocalPath(spec.Path) {
		refs, err := putAssetFiles(ctx, a, put)
		if err != nil {
			return nil, err
		}
		for _, ref := range refs {
			if _, err := s.store.PutArtifact(ctx, tandem.Artifact{Path: ref.Path, Size: ref.Size, SHA256: ref.SHA256}); err != nil {
				return nil, err
			}
		}
		source = "mlflow-artifacts:/" + a.StoragePrefix() + spec.Path
	}
	if _, err := s.store.GetRegisteredModel(ctx, a.Name); tandem.ErrorCode(err) == tandem.ENOTFOUND {
		if _, err := s.store.CreateRegisteredModel(ctx, a.Name, "", nil); err != nil && tandem.ErrorCode(err) != tandem.EEXISTS {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	var mv tandem.ModelVersion
	if tandem.IsLocalPath(spec.Path) {
		mv, err = s.store.CreateAssetModelVersion(ctx, a.Name, next, source, a.Description, tags)
	} else {
		// A URL path is checked as an MLflow client's source would be.
		mv, err = s.store.CreateModelVersion(ctx, tandem.NewModelVersion{Name: a.Name, Source: source, Description: a.Description, Tags: tags})
	}
	if err != nil {
		return nil, err
	}
	if spec.Stage != "" {
		if mv, err = s.store.TransitionModelVersionStage(ctx, a.Name, mv.Version, spec.Stage, false); err != nil {
			return nil, err
		}
	}
	v, err := s.modelView(ctx, mv)
	if err != nil {
		return nil, err
	}
	return v.asset, nil
}

func (s *Server) modelArchive(ctx context.Context, name, version string, archived bool) error {
	stage := tandem.StageNone
	if archived {
		stage = tandem.StageArchived
	}
	var vs []int64
	if version == "" {
		var err error
		if vs, err = s.store.ModelAssetVersions(ctx, name, true); err != nil {
			return err
		}
		if len(vs) == 0 {
			return tandem.Errorf(tandem.ENOTFOUND, "model %q not found", name)
		}
	} else {
		v, err := parseModelVersion(version)
		if err != nil {
			return err
		}
		vs = []int64{v}
	}
	for _, v := range vs {
		mv, err := s.store.GetModelVersion(ctx, name, v)
		if err != nil {
			return err
		}
		if !archived && mv.CurrentStage != tandem.StageArchived {
			continue // restore leaves Staging/Production versions where they are
		}
		if _, err := s.store.TransitionModelVersionStage(ctx, name, v, stage, false); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) modelUpdate(ctx context.Context, name, version string, description *string, tags map[string]string) (*tandem.Asset, error) {
	cur, err := s.modelGet(ctx, name, version)
	if err != nil {
		return nil, err
	}
	v, _ := parseModelVersion(cur.asset.Version)
	if err := tandem.ValidateTags(tags); err != nil {
		return nil, err
	}
	for k := range tags {
		if strings.HasPrefix(k, "tandem.") {
			return nil, tandem.Errorf(tandem.EINVALID, "tag %q: the tandem. prefix is reserved", k)
		}
	}
	if description != nil {
		if _, err := s.store.UpdateModelVersion(ctx, name, v, description); err != nil {
			return nil, err
		}
	}
	if tags != nil {
		for k := range cur.asset.Tags {
			if _, keep := tags[k]; !keep {
				if err := s.store.DeleteModelVersionTag(ctx, name, v, k); err != nil {
					return nil, err
				}
			}
		}
		for _, k := range tandem.SortedKeys(tags) {
			if err := s.store.SetModelVersionTag(ctx, name, v, k, tags[k]); err != nil {
				return nil, err
			}
		}
	}
	out, err := s.modelGet(ctx, name, cur.asset.Version)
	if err != nil {
		return nil, err
	}
	return out.asset, nil
}

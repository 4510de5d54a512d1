package mlflowapi

import (
	"net/http"
	"strconv"

	"github.com/tandemml/tandem"
)

// The model registry: registered models, model versions, tags, aliases and
// stages, in MLflow's JSON shapes (field order and which empty fields are
// written follow what MLflow's server returns).

func (s *Server) routesRegistry() {
	s.handle("POST", "registered-models/create", handleJSON(s, s.createRegisteredModel))
	s.handle("POST", "registered-models/rename", handleJSON(s, s.renameRegisteredModel))
	s.handle("PATCH", "registered-models/update", handleJSON(s, s.updateRegisteredModel))
	s.handle("DELETE", "registered-models/delete", handleJSON(s, s.deleteRegisteredModel))
	s.handle("GET", "registered-models/get", handleJSON(s, s.getRegisteredModel))
	s.handle("GET", "registered-models/search", handleJSON(s, s.searchRegisteredModels))
	s.handle("POST", "registered-models/get-latest-versions", handleJSON(s, s.getLatestVersions))
	s.handle("GET", "registered-models/get-latest-versions", handleJSON(s, s.getLatestVersions))
	s.handle("POST", "registered-models/set-tag", handleJSON(s, s.setRegisteredModelTag))
	s.handle("DELETE", "registered-models/delete-tag", handleJSON(s, s.deleteRegisteredModelTag))
	s.handle("POST", "registered-models/alias", handleJSON(s, s.setRegisteredModelAlias))
	s.handle("DELETE", "registered-models/alias", handleJSON(s, s.deleteRegisteredModelAlias))
	s.handle("GET", "registered-models/alias", handleJSON(s, s.getModelVersionByAlias))

	s.handle("POST", "model-versions/create", handleJSON(s, s.createModelVersion))
	s.handle("PATCH", "model-versions/update", handleJSON(s, s.updateModelVersion))
	s.handle("POST", "model-versions/transition-stage", handleJSON(s, s.transitionModelVersionStage))
	s.handle("DELETE", "model-versions/delete", handleJSON(s, s.deleteModelVersion))
	s.handle("GET", "model-versions/get", handleJSON(s, s.getModelVersion))
	s.handle("GET", "model-versions/search", handleJSON(s, s.searchModelVersions))
	s.handle("GET", "model-versions/get-download-uri", handleJSON(s, s.getModelVersionDownloadURI))
	s.handle("POST", "model-versions/set-tag", handleJSON(s, s.setModelVersionTag))
	s.handle("DELETE", "model-versions/delete-tag", handleJSON(s, s.deleteModelVersionTag))

	s.routesLoggedModels()
}

// JSON shapes.

type tagJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type aliasJSON struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

type modelVersionJSON struct {
	Name                 string    `json:"name"`
	Version              string    `json:"version"`
	CreationTimestamp    int64     `json:"creation_timestamp"`
	LastUpdatedTimestamp int64     `json:"last_updated_timestamp"`
	UserID               string    `json:"user_id,omitempty"`
	CurrentStage         string    `json:"current_stage"`
	Description          string    `json:"description"`
	Source               string    `json:"source"`
	RunID                string    `json:"run_id"`
	Status               string    `json:"status"`
	StatusMessage        string    `json:"status_message,omitempty"`
	Tags                 []tagJSON `json:"tags,omitempty"`
	RunLink              string    `json:"run_link"`
	Aliases              []string  `json:"aliases,omitempty"`
}

type registeredModelJSON struct {
	Name                 string             `json:"name"`
	CreationTimestamp    int64              `json:"creation_timestamp"`
	LastUpdatedTimestamp int64              `json:"last_updated_timestamp"`
	Description          string             `json:"description,omitempty"`
	LatestVersions       []modelVersionJSON `json:"latest_versions,omitempty"`
	Tags                 []tagJSON          `json:"tags,omitempty"`
	Aliases              []aliasJSON        `json:"aliases,omitempty"`
}

func tagsJSON(tags []tandem.Tag) []tagJSON {
	if len(tags) == 0 {
		return nil
	}
	out := make([]tagJSON, len(tags))
	for i, t := range tags {
		out[i] = tagJSON{Key: t.Key, Value: t.Value}
	}
	return out
}

func mvJSON(mv tandem.ModelVersion) modelVersionJSON {
	return modelVersionJSON{Name: mv.Name, Version: strconv.FormatInt(mv.Version, 10), CreationTimestamp: mv.CreationTime,
		LastUpdatedTimestamp: mv.LastUpdatedTime, UserID: mv.UserID, CurrentStage: mv.CurrentStage, Description: mv.Description,
		Source: mv.Source, RunID: mv.RunID, Status: mv.Status, StatusMessage: mv.StatusMessage, Tags: tagsJSON(mv.Tags),
		RunLink: mv.RunLink, Aliases: mv.Aliases}
}

func mvsJSON(mvs []tandem.ModelVersion) []modelVersionJSON {
	out := make([]modelVersionJSON, len(mvs))
	for i, mv := range mvs {
		out[i] = mvJSON(mv)
	}
	return out
}

func rmJSON(rm tandem.RegisteredModel) registeredModelJSON {
	j := registeredModelJSON{Name: rm.Name, CreationTimestamp: rm.CreationTime, LastUpdatedTimestamp: rm.LastUpdatedTime,
		Description: rm.Description, Tags: tagsJSON(rm.Tags)}
	if len(rm.LatestVersions) > 0 {
		j.LatestVersions = mvsJSON(rm.LatestVersions)
	}
	for _, a := range rm.Aliases {
		j.Aliases = append(j.Aliases, aliasJSON{Alias: a.Alias, Version: strconv.FormatInt(a.Version, 10)})
	}
	return j
}

func fromTagsJSON(tags []tagJSON) []tandem.Tag {
	out := make([]tandem.Tag, len(tags))
	for i, t := range tags {
		out[i] = tandem.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

// Requests. Fields that are strings in MLflow's protos but that clients
// may send as numbers (version) are read with versionStr; mlflow:"required"
// marks what MLflow's server requires.

// modelNameReq is a request that names a registered model only.
type modelNameReq struct {
	Name string `json:"name" mlflow:"required,typefirst"`
}

// aliasReq names an alias of a registered model.
type aliasReq struct {
	Name  string `json:"name" mlflow:"required,typefirst"`
	Alias string `json:"alias" mlflow:"required,typefirst"`
}

// searchRegistryReq is a search of registered models or model versions.
type searchRegistryReq struct {
	Filter     string   `json:"filter"`
	MaxResults Int64    `json:"max_results"`
	OrderBy    []string `json:"order_by"`
	PageToken  string   `json:"page_token"`
}

// The largest max_results MLflow's server takes for the registry searches.
const (
	maxSearchRegisteredModels = 1000
	maxSearchModelVersions    = 200_000
)

type createRegisteredModelReq struct {
	Name        string    `json:"name" mlflow:"required,typefirst"`
	Tags        []tagJSON `json:"tags"`
	Description string    `json:"description"`
}

func (s *Server) createRegisteredModel(r *http.Request, req *createRegisteredModelReq) (any, error) {
	rm, err := s.Store.CreateRegisteredModel(r.Context(), req.Name, req.Description, fromTagsJSON(req.Tags))
	if err != nil {
		return nil, err
	}
	s.eventRegisteredModelCreated(r, req) // webhooks_events.go
	return map[string]any{"registered_model": rmJSON(rm)}, nil
}

type renameRegisteredModelReq struct {
	Name    string `json:"name" mlflow:"required,typefirst"`
	NewName string `json:"new_name" mlflow:"required,typefirst"`
}

func (s *Server) renameRegisteredModel(r *http.Request, req *renameRegisteredModelReq) (any, error) {
	rm, err := s.Store.RenameRegisteredModel(r.Context(), req.Name, req.NewName)
	if err != nil {
		return nil, err
	}
	return map[string]any{"registered_model": rmJSON(rm)}, nil
}

type updateRegisteredModelReq struct {
	Name        string  `json:"name" mlflow:"required,typefirst"`
	Description *string `json:"description"`
}

func (s *Server) updateRegisteredModel(r *http.Request, req *updateRegisteredModelReq) (any, error) {
	rm, err := s.Store.UpdateRegisteredModel(r.Context(), req.Name, req.Description)
	if err != nil {
		return nil, err
	}
	return map[string]any{"registered_model": rmJSON(rm)}, nil
}

func (s *Server) deleteRegisteredModel(r *http.Request, req *modelNameReq) (any, error) {
	return empty{}, s.Store.DeleteRegisteredModel(r.Context(), req.Name)
}

func (s *Server) getRegisteredModel(r *http.Request, req *modelNameReq) (any, error) {
	rm, err := s.Store.GetRegisteredModel(r.Context(), req.Name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"registered_model": rmJSON(rm)}, nil
}

func (s *Server) searchRegisteredModels(r *http.Request, req *searchRegistryReq) (any, error) {
	if err := maxResultsAtMost(req.MaxResults, maxSearchRegisteredModels); err != nil {
		return nil, err
	}
	rms, next, err := visiblePages(r.Context(), int(req.MaxResults.V), req.PageToken, func(max int, token string) ([]tandem.RegisteredModel, string, error) {
		return s.Store.SearchRegisteredModels(r.Context(), req.Filter, int64(max), req.OrderBy, token)
	}, func(m tandem.RegisteredModel) tandem.Scope { return tandem.ModelScope(m.Name) })
	if err != nil {
		return nil, err
	}
	resp := struct {
		RegisteredModels []registeredModelJSON `json:"registered_models,omitempty"`
		NextPageToken    string                `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	for _, rm := range rms {
		resp.RegisteredModels = append(resp.RegisteredModels, rmJSON(rm))
	}
	return resp, nil
}

type getLatestVersionsReq struct {
	Name   string   `json:"name" mlflow:"required,typefirst"`
	Stages []string `json:"stages"`
}

func (s *Server) getLatestVersions(r *http.Request, req *getLatestVersionsReq) (any, error) {
	mvs, err := s.Store.GetLatestVersions(r.Context(), req.Name, req.Stages)
	if err != nil {
		return nil, err
	}
	resp := struct {
		ModelVersions []modelVersionJSON `json:"model_versions,omitempty"`
	}{}
	if len(mvs) > 0 {
		resp.ModelVersions = mvsJSON(mvs)
	}
	return resp, nil
}

type setRegisteredModelTagReq struct {
	Name  string `json:"name" mlflow:"required,typefirst"`
	Key   string `json:"key" mlflow:"required,typefirst"`
	Value string `json:"value"`
}

func (s *Server) setRegisteredModelTag(r *http.Request, req *setRegisteredModelTagReq) (any, error) {
	if err := s.Store.SetRegisteredModelTag(r.Context(), req.Name, req.Key, req.Value); err != nil {
		return nil, err
	}
	s.eventRegisteredModelTag(r, req.Name, req.Key, &req.Value) // webhooks_events.go
	return empty{}, nil
}

type deleteRegisteredModelTagReq struct {
	Name string `json:"name" mlflow:"required,typefirst"`
	Key  string `json:"key" mlflow:"required,typefirst"`
}

func (s *Server) deleteRegisteredModelTag(r *http.Request, req *deleteRegisteredModelTagReq) (any, error) {
	if err := s.Store.DeleteRegisteredModelTag(r.Context(), req.Name, req.Key); err != nil {
		return nil, err
	}
	s.eventRegisteredModelTag(r, req.Name, req.Key, nil) // webhooks_events.go
	return empty{}, nil
}

type setRegisteredModelAliasReq struct {
	aliasReq
	Version versionStr `json:"version" mlflow:"required,typefirst"`
}

func (s *Server) setRegisteredModelAlias(r *http.Request, req *setRegisteredModelAliasReq) (any, error) {
	if err := tandem.ValidateModelName(req.Name); err != nil {
		return nil, err
	}
	if err := tandem.ValidateAlias(req.Alias); err != nil {
		return nil, err
	}
	v, err := tandem.ParseVersion(string(req.Version))
	if err != nil {
		return nil, err
	}
	if err := s.Store.SetRegisteredModelAlias(r.Context(), req.Name, req.Alias, v); err != nil {
		return nil, err
	}
	s.eventAlias(r, req.Name, req.Alias, string(req.Version), false) // webhooks_events.go
	return empty{}, nil
}

func (s *Server) deleteRegisteredModelAlias(r *http.Request, req *aliasReq) (any, error) {
	if err := s.Store.DeleteRegisteredModelAlias(r.Context(), req.Name, req.Alias); err != nil {
		return nil, err
	}
	s.eventAlias(r, req.Name, req.Alias, "", true) // webhooks_events.go
	return empty{}, nil
}

func (s *Server) getModelVersionByAlias(r *http.Request, req *aliasReq) (any, error) {
	mv, err := s.Store.GetModelVersionByAlias(r.Context(), req.Name, req.Alias)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": mvJSON(mv)}, nil
}

// Model versions.

// nameVersion reads the name and version every model-version request has.
type nameVersion struct {
	Name    string     `json:"name" mlflow:"required,typefirst"`
	Version versionStr `json:"version" mlflow:"required,typefirst"`
}

func (nv nameVersion) parse() (string, int64, error) {
	if err := tandem.ValidateModelName(nv.Name); err != nil {
		return "", 0, err
	}
	v, err := tandem.ParseVersion(string(nv.Version))
	return nv.Name, v, err
}

type createModelVersionReq struct {
	Name        string    `json:"name" mlflow:"required,typefirst"`
	Source      string    `json:"source" mlflow:"required,typefirst"`
	RunID       string    `json:"run_id"`
	Tags        []tagJSON `json:"tags"`
	RunLink     string    `json:"run_link"`
	Description string    `json:"description"`
	ModelID     string    `json:"model_id"`
}

func (s *Server) createModelVersion(r *http.Request, req *createModelVersionReq) (any, error) {
	if err := tandem.CheckHostAddressed(req.Source, "source", s.hostSchemes); err != nil {
		return nil, err
	}
	mv, err := s.Store.CreateModelVersion(r.Context(), tandem.NewModelVersion{Name: req.Name, Source: req.Source,
		RunID: req.RunID, RunLink: req.RunLink, Description: req.Description, ModelID: req.ModelID, Tags: fromTagsJSON(req.Tags)})
	if err != nil {
		return nil, err
	}
	s.eventModelVersionCreated(r, req, mv) // webhooks_events.go
	return map[string]any{"model_version": mvJSON(mv)}, nil
}

type updateModelVersionReq struct {
	nameVersion
	Description *string `json:"description"`
}

func (s *Server) updateModelVersion(r *http.Request, req *updateModelVersionReq) (any, error) {
	name, v, err := req.parse()
	if err != nil {
		return nil, err
	}
	mv, err := s.Store.UpdateModelVersion(r.Context(), name, v, req.Description)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": mvJSON(mv)}, nil
}

type transitionModelVersionStageReq struct {
	nameVersion
	Stage   string `json:"stage" mlflow:"required,typefirst"`
	Archive Bool   `json:"archive_existing_versions"`
}

func (s *Server) transitionModelVersionStage(r *http.Request, req *transitionModelVersionStageReq) (any, error) {
	name, v, err := req.parse()
	if err != nil {
		return nil, err
	}
	mv, err := s.Store.TransitionModelVersionStage(r.Context(), name, v, req.Stage, req.Archive.V)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": mvJSON(mv)}, nil
}

func (s *Server) deleteModelVersion(r *http.Request, req *nameVersion) (any, error) {
	name, v, err := req.parse()
	if err != nil {
		return nil, err
	}
	return empty{}, s.Store.DeleteModelVersion(r.Context(), name, v)
}

func (s *Server) getModelVersion(r *http.Request, req *nameVersion) (any, error) {
	name, v, err := req.parse()
	if err != nil {
		return nil, err
	}
	mv, err := s.Store.GetModelVersion(r.Context(), name, v)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": mvJSON(mv)}, nil
}

func (s *Server) searchModelVersions(r *http.Request, req *searchRegistryReq) (any, error) {
	if err := maxResultsAtMost(req.MaxResults, maxSearchModelVersions); err != nil {
		return nil, err
	}
	mvs, next, err := visiblePages(r.Context(), int(req.MaxResults.V), req.PageToken, func(max int, token string) ([]tandem.ModelVersion, string, error) {
		return s.Store.SearchModelVersions(r.Context(), req.Filter, int64(max), req.OrderBy, token)
	}, func(v tandem.ModelVersion) tandem.Scope { return tandem.ModelScope(v.Name) })
	if err != nil {
		return nil, err
	}
	resp := struct {
		ModelVersions []modelVersionJSON `json:"model_versions,omitempty"`
		NextPageToken string             `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	if len(mvs) > 0 {
		resp.ModelVersions = mvsJSON(mvs)
	}
	return resp, nil
}

func (s *Server) getModelVersionDownloadURI(r *http.Request, req *nameVersion) (any, error) {
	name, v, err := req.parse()
	if err != nil {
		return nil, err
	}
	uri, err := s.Store.GetModelVersionDownloadURI(r.Context(), name, v)
	if err != nil {
		return nil, err
	}
	return map[string]string{"artifact_uri": uri}, nil
}

type setModelVersionTagReq struct {
	nameVersion
	Key   string `json:"key" mlflow:"required,typefirst"`
	Value string `json:"value"`
}

func (s *Server) setModelVersionTag(r *http.Request, req *setModelVersionTagReq) (any, error) {
	name, v, err := req.parse()
	if err != nil {
		return nil, err
	}
	if err := s.Store.SetModelVersionTag(r.Context(), name, v, req.Key, req.Value); err != nil {
		return nil, err
	}
	s.eventModelVersionTag(r, name, string(req.Version), req.Key, &req.Value) // webhooks_events.go
	return empty{}, nil
}

type deleteModelVersionTagReq struct {
	nameVersion
	Key string `json:"key" mlflow:"required,typefirst"`
}

func (s *Server) deleteModelVersionTag(r *http.Request, req *deleteModelVersionTagReq) (any, error) {
	name, v, err := req.parse()
	if err != nil {
		return nil, err
	}
	if err := s.Store.DeleteModelVersionTag(r.Context(), name, v, req.Key); err != nil {
		return nil, err
	}
	s.eventModelVersionTag(r, name, string(req.Version), req.Key, nil) // webhooks_events.go
	return empty{}, nil
}

package mlflowapi

import (
	"net/http"
	"strconv"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
)

// The model registry: registered models, model versions, tags, aliases and
// stages, in MLflow's JSON shapes (field order and which empty fields are
// written follow what MLflow's server returns).

func (s *Server) routesRegistry() {
	s.handle("POST", "registered-models/create", s.createRegisteredModel)
	s.handle("POST", "registered-models/rename", s.renameRegisteredModel)
	s.handle("PATCH", "registered-models/update", s.updateRegisteredModel)
	s.handle("DELETE", "registered-models/delete", s.deleteRegisteredModel)
	s.handle("GET", "registered-models/get", s.getRegisteredModel)
	s.handle("GET", "registered-models/search", s.searchRegisteredModels)
	s.handle("POST", "registered-models/get-latest-versions", s.getLatestVersions)
	s.handle("GET", "registered-models/get-latest-versions", s.getLatestVersions)
	s.handle("POST", "registered-models/set-tag", s.setRegisteredModelTag)
	s.handle("DELETE", "registered-models/delete-tag", s.deleteRegisteredModelTag)
	s.handle("POST", "registered-models/alias", s.setRegisteredModelAlias)
	s.handle("DELETE", "registered-models/alias", s.deleteRegisteredModelAlias)
	s.handle("GET", "registered-models/alias", s.getModelVersionByAlias)

	s.handle("POST", "model-versions/create", s.createModelVersion)
	s.handle("PATCH", "model-versions/update", s.updateModelVersion)
	s.handle("POST", "model-versions/transition-stage", s.transitionModelVersionStage)
	s.handle("DELETE", "model-versions/delete", s.deleteModelVersion)
	s.handle("GET", "model-versions/get", s.getModelVersion)
	s.handle("GET", "model-versions/search", s.searchModelVersions)
	s.handle("GET", "model-versions/get-download-uri", s.getModelVersionDownloadURI)
	s.handle("POST", "model-versions/set-tag", s.setModelVersionTag)
	s.handle("DELETE", "model-versions/delete-tag", s.deleteModelVersionTag)

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

// Request fields that are strings in MLflow's protos but that clients may
// send as numbers (version) are read with versionStr.

func (s *Server) createRegisteredModel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name        string    `json:"name"`
		Tags        []tagJSON `json:"tags"`
		Description string    `json:"description"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	rm, err := s.Store.CreateRegisteredModel(r.Context(), req.Name, req.Description, fromTagsJSON(req.Tags))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"registered_model": rmJSON(rm)})
}

func (s *Server) renameRegisteredModel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name    string `json:"name"`
		NewName string `json:"new_name"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	rm, err := s.Store.RenameRegisteredModel(r.Context(), req.Name, req.NewName)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"registered_model": rmJSON(rm)})
}

func (s *Server) updateRegisteredModel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name        string  `json:"name"`
		Description *string `json:"description"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	rm, err := s.Store.UpdateRegisteredModel(r.Context(), req.Name, req.Description)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"registered_model": rmJSON(rm)})
}

func (s *Server) deleteRegisteredModel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.DeleteRegisteredModel(r.Context(), req.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

func (s *Server) getRegisteredModel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	rm, err := s.Store.GetRegisteredModel(r.Context(), req.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"registered_model": rmJSON(rm)})
}

func (s *Server) searchRegisteredModels(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Filter     string   `json:"filter"`
		MaxResults Int64    `json:"max_results"`
		OrderBy    []string `json:"order_by"`
		PageToken  string   `json:"page_token"`
	}
	if err := decode(r, &req, "order_by"); err != nil {
		s.writeError(w, r, err)
		return
	}
	rms, next, err := s.Store.SearchRegisteredModels(r.Context(), req.Filter, req.MaxResults.V, req.OrderBy, req.PageToken)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := struct {
		RegisteredModels []registeredModelJSON `json:"registered_models,omitempty"`
		NextPageToken    string                `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	for _, rm := range rms {
		resp.RegisteredModels = append(resp.RegisteredModels, rmJSON(rm))
	}
	writeJSON(w, 200, resp)
}

func (s *Server) getLatestVersions(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name   string   `json:"name"`
		Stages []string `json:"stages"`
	}
	if err := decode(r, &req, "stages"); err != nil {
		s.writeError(w, r, err)
		return
	}
	mvs, err := s.Store.GetLatestVersions(r.Context(), req.Name, req.Stages)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := struct {
		ModelVersions []modelVersionJSON `json:"model_versions,omitempty"`
	}{}
	if len(mvs) > 0 {
		resp.ModelVersions = mvsJSON(mvs)
	}
	writeJSON(w, 200, resp)
}

func (s *Server) setRegisteredModelTag(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name  string `json:"name"`
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.SetRegisteredModelTag(r.Context(), req.Name, req.Key, req.Value); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

func (s *Server) deleteRegisteredModelTag(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.DeleteRegisteredModelTag(r.Context(), req.Name, req.Key); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

func (s *Server) setRegisteredModelAlias(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name    string     `json:"name"`
		Alias   string     `json:"alias"`
		Version versionStr `json:"version"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := tandem.ValidateModelName(req.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := tandem.ValidateAlias(req.Alias); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := tandem.ParseVersion(string(req.Version))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.SetRegisteredModelAlias(r.Context(), req.Name, req.Alias, v); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

func (s *Server) deleteRegisteredModelAlias(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name  string `json:"name"`
		Alias string `json:"alias"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.DeleteRegisteredModelAlias(r.Context(), req.Name, req.Alias); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

func (s *Server) getModelVersionByAlias(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name  string `json:"name"`
		Alias string `json:"alias"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	mv, err := s.Store.GetModelVersionByAlias(r.Context(), req.Name, req.Alias)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"model_version": mvJSON(mv)})
}

// Model versions.

// nameVersion reads the name and version every model-version request has.
type nameVersion struct {
	Name    string     `json:"name"`
	Version versionStr `json:"version"`
}

func (nv nameVersion) parse() (string, int64, error) {
	if err := tandem.ValidateModelName(nv.Name); err != nil {
		return "", 0, err
	}
	v, err := tandem.ParseVersion(string(nv.Version))
	return nv.Name, v, err
}

func (s *Server) createModelVersion(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name        string    `json:"name"`
		Source      string    `json:"source"`
		RunID       string    `json:"run_id"`
		Tags        []tagJSON `json:"tags"`
		RunLink     string    `json:"run_link"`
		Description string    `json:"description"`
		ModelID     string    `json:"model_id"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	mv, err := s.Store.CreateModelVersion(r.Context(), sqlstore.NewModelVersion{Name: req.Name, Source: req.Source,
		RunID: req.RunID, RunLink: req.RunLink, Description: req.Description, ModelID: req.ModelID, Tags: fromTagsJSON(req.Tags)})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"model_version": mvJSON(mv)})
}

func (s *Server) updateModelVersion(w http.ResponseWriter, r *http.Request) {
	var req struct {
		nameVersion
		Description *string `json:"description"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	name, v, err := req.parse()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	mv, err := s.Store.UpdateModelVersion(r.Context(), name, v, req.Description)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"model_version": mvJSON(mv)})
}

func (s *Server) transitionModelVersionStage(w http.ResponseWriter, r *http.Request) {
	var req struct {
		nameVersion
		Stage   string `json:"stage"`
		Archive Bool   `json:"archive_existing_versions"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	name, v, err := req.parse()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Stage == "" {
		s.writeError(w, r, tandem.Errorf(tandem.EINVALID, "Missing value for required parameter 'stage'. See the API docs for more information about request parameters."))
		return
	}
	mv, err := s.Store.TransitionModelVersionStage(r.Context(), name, v, req.Stage, req.Archive.V)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"model_version": mvJSON(mv)})
}

func (s *Server) deleteModelVersion(w http.ResponseWriter, r *http.Request) {
	var req nameVersion
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	name, v, err := req.parse()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.DeleteModelVersion(r.Context(), name, v); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

func (s *Server) getModelVersion(w http.ResponseWriter, r *http.Request) {
	var req nameVersion
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	name, v, err := req.parse()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	mv, err := s.Store.GetModelVersion(r.Context(), name, v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"model_version": mvJSON(mv)})
}

func (s *Server) searchModelVersions(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Filter     string   `json:"filter"`
		MaxResults Int64    `json:"max_results"`
		OrderBy    []string `json:"order_by"`
		PageToken  string   `json:"page_token"`
	}
	if err := decode(r, &req, "order_by"); err != nil {
		s.writeError(w, r, err)
		return
	}
	mvs, next, err := s.Store.SearchModelVersions(r.Context(), req.Filter, req.MaxResults.V, req.OrderBy, req.PageToken)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := struct {
		ModelVersions []modelVersionJSON `json:"model_versions,omitempty"`
		NextPageToken string             `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	if len(mvs) > 0 {
		resp.ModelVersions = mvsJSON(mvs)
	}
	writeJSON(w, 200, resp)
}

func (s *Server) getModelVersionDownloadURI(w http.ResponseWriter, r *http.Request) {
	var req nameVersion
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	name, v, err := req.parse()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	uri, err := s.Store.GetModelVersionDownloadURI(r.Context(), name, v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]string{"artifact_uri": uri})
}

func (s *Server) setModelVersionTag(w http.ResponseWriter, r *http.Request) {
	var req struct {
		nameVersion
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	name, v, err := req.parse()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.SetModelVersionTag(r.Context(), name, v, req.Key, req.Value); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

func (s *Server) deleteModelVersionTag(w http.ResponseWriter, r *http.Request) {
	var req struct {
		nameVersion
		Key string `json:"key"`
	}
	if err := decode(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	name, v, err := req.parse()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Store.DeleteModelVersionTag(r.Context(), name, v, req.Key); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, 200, struct{}{})
}

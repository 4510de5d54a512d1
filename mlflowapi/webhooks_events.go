package mlflowapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/webhook"
)

// The registry's webhook events, as MLflow's server raises them: after the
// write has committed (each is called once the store returned), with the
// request's values. A registered model tagged mlflow.prompt.is_prompt =
// true is a prompt: its events are the prompt ones.

const (
	tagPromptType = "_mlflow_prompt_type"
	tagPromptText = "mlflow.prompt.text"
)

func isPromptTags(tags []tagJSON) bool {
	v := "false"
	for _, t := range tags {
		if t.Key == "mlflow.prompt.is_prompt" {
			v = t.Value
		}
	}
	return strings.ToLower(v) == "true"
}

// isPrompt reports whether a registered model is a prompt (false when it
// cannot be read: it was just written, so that is a deleted model).
func (s *Server) isPrompt(r *http.Request, name string) bool {
	rm, err := s.Store.GetRegisteredModel(r.Context(), name)
	if err != nil {
		return false
	}
	tags := make([]tagJSON, len(rm.Tags))
	for i, t := range rm.Tags {
		tags[i] = tagJSON{Key: t.Key, Value: t.Value}
	}
	return isPromptTags(tags)
}

func (s *Server) notify(r *http.Request, entity, action string, data webhook.Object) {
	s.hooks.Notify(r.Context(), tandem.WebhookEvent{Entity: entity, Action: action}, data)
}

// tagsWithout is the request's tags as an object, without the keys drop.
func tagsWithout(tags []tagJSON, drop ...string) webhook.Object {
	var kept []tandem.Tag
	for _, t := range tags {
		skip := false
		for _, d := range drop {
			skip = skip || t.Key == d
		}
		if !skip {
			kept = append(kept, tandem.Tag{Key: t.Key, Value: t.Value})
		}
	}
	return webhook.Tags(kept)
}

func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) eventRegisteredModelCreated(r *http.Request, req *createRegisteredModelReq) {
	if isPromptTags(req.Tags) {
		s.notify(r, tandem.WebhookPrompt, tandem.WebhookCreated, webhook.Object{{Key: "name", Value: req.Name},
			{Key: "tags", Value: tagsWithout(req.Tags, "mlflow.prompt.is_prompt", tagPromptType)}, {Key: "description", Value: req.Description}})
		return
	}
	s.notify(r, tandem.WebhookRegisteredModel, tandem.WebhookCreated, webhook.Object{{Key: "name", Value: req.Name},
		{Key: "tags", Value: tagsWithout(req.Tags)}, {Key: "description", Value: req.Description}})
}

func (s *Server) eventModelVersionCreated(r *http.Request, req *createModelVersionReq, mv tandem.ModelVersion) {
	s.modelVersionCreated(r.Context(), req.Name, req.Tags, req.Description, mv)
}

// ModelVersionCreated raises the event of a model version this region
// registered itself (a job's mlflow_model output), as a REST create of
// it would.
func (s *Server) ModelVersionCreated(ctx context.Context, mv tandem.ModelVersion) {
	tags := make([]tagJSON, len(mv.Tags))
	for i, t := range mv.Tags {
		tags[i] = tagJSON{Key: t.Key, Value: t.Value}
	}
	s.modelVersionCreated(ctx, mv.Name, tags, mv.Description, mv)
}

func (s *Server) modelVersionCreated(ctx context.Context, name string, tags []tagJSON, description string, mv tandem.ModelVersion) {
	version := strconv.FormatInt(mv.Version, 10)
	notify := func(entity string, data webhook.Object) {
		s.hooks.Notify(ctx, tandem.WebhookEvent{Entity: entity, Action: tandem.WebhookCreated}, data)
	}
	if isPromptTags(tags) {
		var template any
		for _, t := range tags {
			if t.Key == tagPromptText {
				template = t.Value
			}
		}
		notify(tandem.WebhookPromptVersion, webhook.Object{{Key: "name", Value: name},
			{Key: "version", Value: version}, {Key: "template", Value: template},
			{Key: "tags", Value: tagsWithout(tags, tagPromptText, "mlflow.prompt.is_prompt", tagPromptType)},
			{Key: "description", Value: orNull(description)}})
		return
	}
	notify(tandem.WebhookModelVersion, webhook.Object{{Key: "name", Value: name},
		{Key: "version", Value: version}, {Key: "source", Value: mv.Source}, {Key: "run_id", Value: orNull(mv.RunID)},
		{Key: "tags", Value: tagsWithout(tags)}, {Key: "description", Value: orNull(description)}})
}

func (s *Server) eventRegisteredModelTag(r *http.Request, name, key string, value *string) {
	if !s.isPrompt(r, name) {
		return // MLflow raises no event for a registered model's tags
	}
	if value == nil {
		s.notify(r, tandem.WebhookPromptTag, tandem.WebhookDeleted, webhook.Object{{Key: "name", Value: name}, {Key: "key", Value: key}})
		return
	}
	s.notify(r, tandem.WebhookPromptTag, tandem.WebhookSet, webhook.Object{{Key: "name", Value: name}, {Key: "key", Value: key},
		{Key: "value", Value: *value}})
}

func (s *Server) eventModelVersionTag(r *http.Request, name, version, key string, value *string) {
	entity := tandem.WebhookModelVersionTag
	if s.isPrompt(r, name) {
		entity = tandem.WebhookPromptVersionTag
	}
	if value == nil {
		s.notify(r, entity, tandem.WebhookDeleted, webhook.Object{{Key: "name", Value: name}, {Key: "version", Value: version},
			{Key: "key", Value: key}})
		return
	}
	s.notify(r, entity, tandem.WebhookSet, webhook.Object{{Key: "name", Value: name}, {Key: "version", Value: version},
		{Key: "key", Value: key}, {Key: "value", Value: *value}})
}

func (s *Server) eventAlias(r *http.Request, name, alias, version string, deleted bool) {
	entity := tandem.WebhookModelVersionAlias
	if s.isPrompt(r, name) {
		entity = tandem.WebhookPromptAlias
	}
	if deleted {
		s.notify(r, entity, tandem.WebhookDeleted, webhook.Object{{Key: "name", Value: name}, {Key: "alias", Value: alias}})
		return
	}
	s.notify(r, entity, tandem.WebhookCreated, webhook.Object{{Key: "name", Value: name}, {Key: "alias", Value: alias},
		{Key: "version", Value: version}})
}

package mlflowapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/webhook"
)

// MLflow 3's model-registry webhooks API (MLflow's WebhookService):
// create, list, get, update, delete and test, in MLflow's JSON shapes. The
// secret is sealed with the workspace key before it is stored and is never
// answered; deliveries of the registry's events are webhooks_events.go's.

func (s *Server) routesWebhooks() {
	s.handle("POST", "webhooks", handleJSON(s, s.createWebhook))
	s.handle("GET", "webhooks", handleJSON(s, s.listWebhooks))
	s.handle("GET", "webhooks/{webhook_id}", handleCall(s, s.getWebhook))
	s.handle("PATCH", "webhooks/{webhook_id}", handleJSON(s, s.updateWebhook))
	s.handle("DELETE", "webhooks/{webhook_id}", handleCall(s, s.deleteWebhook))
	s.handle("POST", "webhooks/{webhook_id}/test", handleJSON(s, s.testWebhook))
}

// SetWebhooks makes w the service that checks webhook URLs, seals their
// secrets and delivers the registry's events (the region's, with its key
// vault; without one, New's default has no key and is never run).
func (s *Server) SetWebhooks(w *webhook.Service) { s.hooks = w }

// Webhooks is the webhook service (the region runs it).
func (s *Server) Webhooks() *webhook.Service { return s.hooks }

// protoEnum is an enum field of MLflow's protos: its name, or its number.
type protoEnum struct {
	name string
	num  int64
	set  bool
	str  bool // sent as a name
}

func (e *protoEnum) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	e.set = true
	if len(b) > 0 && b[0] == '"' {
		e.str = true
		return json.Unmarshal(b, &e.name)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return tandem.Errorf(tandem.EINVALID, "expected an enum name or number, got %s", b)
	}
	e.num = n
	return nil
}

func (e protoEnum) present() bool { return e.set }

// value resolves the enum against its names (index = number, "" for a
// number with no name), in lower case; what names the enum type for the
// error, worded as MLflow's request parsing words it.
func (e protoEnum) value(field, enumType string, names []string) (string, error) {
	if e.str {
		for _, n := range names {
			if n != "" && strings.ToUpper(n) == e.name {
				return n, nil
			}
		}
		return "", tandem.Errorf(tandem.EINVALID, "Invalid value for enum type %s: '%s' for field '%s'.", enumType, e.name, field)
	}
	if e.num >= 0 && e.num < int64(len(names)) && names[e.num] != "" {
		return names[e.num], nil
	}
	return "", tandem.Errorf(tandem.EINVALID, "Invalid value for enum type %s: %d for field '%s'.", enumType, e.num, field)
}

// The enums' names by number (0 is the unspecified value).
func entityNames() []string {
	return append([]string{"entity_unspecified"}, tandem.WebhookEntities()...)
}
func actionNames() []string {
	return append([]string{"action_unspecified"}, tandem.WebhookActions()...)
}
func statusNames() []string { return []string{"", tandem.WebhookActive, tandem.WebhookDisabled} }

type webhookEventJSON struct {
	Entity protoEnum `json:"entity"`
	Action protoEnum `json:"action"`
}

type webhookEventOut struct {
	Entity string `json:"entity"`
	Action string `json:"action"`
}

// events reads a request's events as MLflow does: each needs its entity
// and action, which must name an event MLflow has.
func readWebhookEvents(in []webhookEventJSON) ([]tandem.WebhookEvent, error) {
	out := make([]tandem.WebhookEvent, 0, len(in))
	for i, e := range in {
		if !e.Entity.set {
			return nil, missing("events[" + strconv.Itoa(i) + "].entity")
		}
		if !e.Action.set {
			return nil, missing("events[" + strconv.Itoa(i) + "].action")
		}
		ent, err := e.Entity.value("entity", "mlflow.WebhookEntity", entityNames())
		if err != nil {
			return nil, err
		}
		act, err := e.Action.value("action", "mlflow.WebhookAction", actionNames())
		if err != nil {
			return nil, err
		}
		if ent == "entity_unspecified" || act == "action_unspecified" {
			return nil, tandem.Errorf(tandem.EINVALID, "Invalid webhook event: entity and action must be specified.")
		}
		ev := tandem.WebhookEvent{Entity: ent, Action: act}
		if err := tandem.ValidateWebhookEvent(ev); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// readWebhookStatus reads a status; one MLflow's enum does not name is
// left unset, as MLflow's request parsing drops it.
func readWebhookStatus(e protoEnum) string {
	if !e.set {
		return ""
	}
	st, err := e.value("status", "mlflow.WebhookStatus", statusNames())
	if err != nil {
		return ""
	}
	return st
}

// webhookJSON is MLflow's Webhook message. The secret is not in it.
type webhookJSON struct {
	WebhookID            string            `json:"webhook_id"`
	Name                 string            `json:"name"`
	Description          string            `json:"description,omitempty"`
	URL                  string            `json:"url"`
	Events               []webhookEventOut `json:"events,omitempty"`
	Status               string            `json:"status"`
	CreationTimestamp    int64             `json:"creation_timestamp"`
	LastUpdatedTimestamp int64             `json:"last_updated_timestamp"`
}

func toWebhookJSON(w *tandem.Webhook) webhookJSON {
	j := webhookJSON{WebhookID: w.ID, Name: w.Name, Description: w.Description, URL: w.URL, Status: w.Status,
		CreationTimestamp: w.Created, LastUpdatedTimestamp: w.Updated}
	for _, e := range w.Events {
		j.Events = append(j.Events, webhookEventOut{Entity: strings.ToUpper(e.Entity), Action: strings.ToUpper(e.Action)})
	}
	return j
}

type createWebhookReq struct {
	Name        string             `json:"name" mlflow:"required,typefirst"`
	URL         string             `json:"url" mlflow:"required,typefirst"`
	Events      []webhookEventJSON `json:"events" mlflow:"required,typefirst"`
	Description string             `json:"description"`
	Secret      string             `json:"secret"`
	Status      protoEnum          `json:"status"`
}

func (s *Server) createWebhook(r *http.Request, req *createWebhookReq) (any, error) {
	events, err := readWebhookEvents(req.Events)
	if err != nil {
		return nil, err
	}
	status := readWebhookStatus(req.Status)
	if err := tandem.ValidateWebhookName(req.Name); err != nil {
		return nil, err
	}
	if err := s.hooks.CheckURL(r.Context(), req.URL); err != nil {
		return nil, err
	}
	if err := tandem.ValidateWebhookEvents(events); err != nil {
		return nil, err
	}
	sealed, err := s.hooks.Seal(r.Context(), req.Secret)
	if err != nil {
		return nil, err
	}
	w, err := s.Store.CreateWebhook(r.Context(), tandem.Webhook{Name: req.Name, Description: req.Description, URL: req.URL,
		Events: events, Status: status, SealedSecret: sealed})
	if err != nil {
		return nil, err
	}
	return map[string]any{"webhook": toWebhookJSON(w)}, nil
}

type listWebhooksReq struct {
	MaxResults Int64  `json:"max_results"`
	PageToken  string `json:"page_token"`
}

func (s *Server) listWebhooks(r *http.Request, req *listWebhooksReq) (any, error) {
	ws, next, err := s.Store.ListWebhooks(r.Context(), int(max(min(req.MaxResults.V, 1<<20), -1)), req.PageToken)
	if err != nil {
		return nil, err
	}
	resp := struct {
		Webhooks      []webhookJSON `json:"webhooks,omitempty"`
		NextPageToken string        `json:"next_page_token,omitempty"`
	}{NextPageToken: next}
	for i := range ws {
		resp.Webhooks = append(resp.Webhooks, toWebhookJSON(&ws[i]))
	}
	return resp, nil
}

func (s *Server) getWebhook(r *http.Request) (any, error) {
	w, err := s.Store.GetWebhook(r.Context(), r.PathValue("webhook_id"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"webhook": toWebhookJSON(w)}, nil
}

type updateWebhookReq struct {
	Name        string             `json:"name"`
	Description *string            `json:"description"`
	URL         string             `json:"url"`
	Events      []webhookEventJSON `json:"events"`
	Secret      *string            `json:"secret"`
	Status      protoEnum          `json:"status"`
}

func (s *Server) updateWebhook(r *http.Request, req *updateWebhookReq) (any, error) {
	id := r.PathValue("webhook_id")
	var u tandem.WebhookUpdate
	var err error
	if len(req.Events) > 0 {
		if u.Events, err = readWebhookEvents(req.Events); err != nil {
			return nil, err
		}
	}
	if st := readWebhookStatus(req.Status); st != "" {
		u.Status = &st
	}
	if _, err := s.Store.GetWebhook(r.Context(), id); err != nil {
		return nil, err
	}
	if req.Name != "" {
		if err := tandem.ValidateWebhookName(req.Name); err != nil {
			return nil, err
		}
		u.Name = &req.Name
	}
	if req.URL != "" {
		if err := s.hooks.CheckURL(r.Context(), req.URL); err != nil {
			return nil, err
		}
		u.URL = &req.URL
	}
	u.Description = req.Description
	if req.Secret != nil {
		sealed, err := s.hooks.Seal(r.Context(), *req.Secret)
		if err != nil {
			return nil, err
		}
		u.SealedSecret = &sealed
	}
	w, err := s.Store.UpdateWebhook(r.Context(), id, u)
	if err != nil {
		return nil, err
	}
	return map[string]any{"webhook": toWebhookJSON(w)}, nil
}

func (s *Server) deleteWebhook(r *http.Request) (any, error) {
	return empty{}, s.Store.DeleteWebhook(r.Context(), r.PathValue("webhook_id"))
}

type testWebhookReq struct {
	Event *webhookEventJSON `json:"event"`
}

// webhookTestResultJSON is MLflow's WebhookTestResult: success always,
// the rest when known.
type webhookTestResultJSON struct {
	Success        bool   `json:"success"`
	ResponseStatus int    `json:"response_status,omitempty"`
	ResponseBody   string `json:"response_body,omitempty"`
	ErrorMessage   string `json:"error_message,omitempty"`
}

func (s *Server) testWebhook(r *http.Request, req *testWebhookReq) (any, error) {
	var ev tandem.WebhookEvent
	if req.Event != nil {
		evs, err := readWebhookEvents([]webhookEventJSON{*req.Event})
		if err != nil {
			return nil, err
		}
		ev = evs[0]
	}
	w, err := s.Store.GetWebhook(r.Context(), r.PathValue("webhook_id"))
	if err != nil {
		return nil, err
	}
	res := s.hooks.Test(r.Context(), *w, ev)
	out := webhookTestResultJSON{Success: res.Err == nil && res.Status < 400, ResponseStatus: res.Status, ResponseBody: res.Body}
	if res.Err != nil {
		msg := res.Err.Error()
		if tandem.ErrorCode(res.Err) != tandem.EINTERNAL {
			msg = tandem.ErrorMessage(res.Err)
		}
		out = webhookTestResultJSON{ErrorMessage: "Failed to test webhook: " + msg}
	}
	return map[string]any{"result": out}, nil
}

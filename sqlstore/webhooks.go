package sqlstore

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer/bundle"
)

var _ tandem.WebhookStore = (*Store)(nil)

// Journal ops of MLflow 3 model-registry webhooks (kind webhooks). A
// create or update carries the whole webhook (tpWebhook), resolved in
// prepare; the secret travels and is kept only sealed.
const (
	OpWebhookCreate = "webhook.create"
	OpWebhookUpdate = "webhook.update"
	OpWebhookDelete = "webhook.delete"
)

func (s *Store) registerWebhooks() {
	k := tandem.KindWebhooks
	s.register(OpWebhookCreate, k, applyWebhook)
	s.register(OpWebhookUpdate, k, applyWebhook)
	s.register(OpWebhookDelete, k, applyWebhook)
}

// tpWebhook writes a webhook's row and events, or deletes them.
type tpWebhook struct {
	ID           string         `json:"webhook_id"`
	Name         string         `json:"name,omitempty"`
	Description  string         `json:"description,omitempty"`
	URL          string         `json:"url,omitempty"`
	Status       string         `json:"status,omitempty"`
	SealedSecret string         `json:"sealed_secret,omitempty"`
	Created      int64          `json:"creation_timestamp,omitempty"`
	Updated      int64          `json:"last_updated_timestamp,omitempty"`
	Events       []tpWebhookEvt `json:"events,omitempty"`
	Delete       bool           `json:"delete,omitempty"`
}

type tpWebhookEvt struct {
	Entity string `json:"entity"`
	Action string `json:"action"`
}

func webhookPayload(w *tandem.Webhook) *tpWebhook {
	p := &tpWebhook{ID: w.ID, Name: w.Name, Description: w.Description, URL: w.URL, Status: w.Status,
		SealedSecret: w.SealedSecret, Created: w.Created, Updated: w.Updated}
	for _, e := range w.Events {
		p.Events = append(p.Events, tpWebhookEvt{Entity: e.Entity, Action: e.Action})
	}
	return p
}

func applyWebhook(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tpWebhook
	if err := decodePayload(e, &p); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_events WHERE webhook_id = ?`, p.ID); err != nil {
		return fmt.Errorf("delete webhook events: %w", err)
	}
	if p.Delete {
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE webhook_id = ?`, p.ID); err != nil {
			return fmt.Errorf("delete webhook: %w", err)
		}
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhooks (webhook_id, name, description, url, status, sealed_secret,
		creation_timestamp, last_updated_timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (webhook_id) DO UPDATE SET name = excluded.name, description = excluded.description, url = excluded.url,
		status = excluded.status, sealed_secret = excluded.sealed_secret, creation_timestamp = excluded.creation_timestamp,
		last_updated_timestamp = excluded.last_updated_timestamp`,
		p.ID, p.Name, p.Description, p.URL, p.Status, p.SealedSecret, p.Created, p.Updated); err != nil {
		return fmt.Errorf("write webhook: %w", err)
	}
	for _, ev := range p.Events {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_events (webhook_id, entity, action) VALUES (?, ?, ?)
			ON CONFLICT (webhook_id, entity, action) DO NOTHING`, p.ID, ev.Entity, ev.Action); err != nil {
			return fmt.Errorf("write webhook event: %w", err)
		}
	}
	return nil
}

func notFoundWebhook(id string) error {
	return tandem.Errorf(tandem.ENOTFOUND, "Webhook with ID %s not found.", id)
}

const webhookCols = `webhook_id, name, description, url, status, sealed_secret, creation_timestamp, last_updated_timestamp`

// readWebhooks returns the webhooks a query of webhookCols selects, in its
// order, with their events (in MLflow's enum order).
func readWebhooks(ctx context.Context, q Querier, query string, args ...any) ([]tandem.Webhook, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read webhooks: %w", err)
	}
	var out []tandem.Webhook
	for rows.Next() {
		var w tandem.Webhook
		if err := rows.Scan(&w.ID, &w.Name, &w.Description, &w.URL, &w.Status, &w.SealedSecret, &w.Created, &w.Updated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read webhooks: %w", err)
		}
		out = append(out, w)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read webhooks: %w", err)
	}
	for i := range out {
		evs, err := q.QueryContext(ctx, `SELECT entity, action FROM webhook_events WHERE webhook_id = ?`, out[i].ID)
		if err != nil {
			return nil, fmt.Errorf("read webhook events: %w", err)
		}
		for evs.Next() {
			var e tandem.WebhookEvent
			if err := evs.Scan(&e.Entity, &e.Action); err != nil {
				evs.Close()
				return nil, fmt.Errorf("read webhook events: %w", err)
			}
			out[i].Events = append(out[i].Events, e)
		}
		evs.Close()
		if err := evs.Err(); err != nil {
			return nil, fmt.Errorf("read webhook events: %w", err)
		}
		out[i].Events = sortWebhookEvents(out[i].Events)
	}
	return out, nil
}

// sortWebhookEvents orders events by entity and action (as MLflow's
// server lists them, from its table's key) and drops repeats.
func sortWebhookEvents(evs []tandem.WebhookEvent) []tandem.WebhookEvent {
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].Entity != evs[j].Entity {
			return evs[i].Entity < evs[j].Entity
		}
		return evs[i].Action < evs[j].Action
	})
	out := evs[:0]
	for i, e := range evs {
		if i == 0 || e != evs[i-1] {
			out = append(out, e)
		}
	}
	return out
}

func getWebhook(ctx context.Context, q Querier, id string) (*tandem.Webhook, error) {
	ws, err := readWebhooks(ctx, q, `SELECT `+webhookCols+` FROM webhooks WHERE webhook_id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(ws) == 0 {
		return nil, notFoundWebhook(id)
	}
	return &ws[0], nil
}

// CreateWebhook stores a new webhook (its name, URL and events already
// checked by the caller, its secret already sealed) and returns it with
// its id and times.
func (s *Store) CreateWebhook(ctx context.Context, w tandem.Webhook) (*tandem.Webhook, error) {
	if err := tandem.ValidateWebhookName(w.Name); err != nil {
		return nil, err
	}
	if err := tandem.ValidateWebhookEvents(w.Events); err != nil {
		return nil, err
	}
	if w.Status == "" {
		w.Status = tandem.WebhookActive
	}
	w.Events = sortWebhookEvents(append([]tandem.WebhookEvent(nil), w.Events...))
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		h := newUUIDHex()
		w.ID = h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
		w.Created = nowMillis()
		w.Updated = w.Created
		return &Change{Op: OpWebhookCreate, Key: w.ID, Payload: webhookPayload(&w)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// GetWebhook returns one webhook (ENOTFOUND when there is none).
func (s *Store) GetWebhook(ctx context.Context, id string) (*tandem.Webhook, error) {
	return getWebhook(ctx, s.Reader(), id)
}

// ListWebhooks returns a page of webhooks, newest first, as MLflow pages
// them (max 1 to 1000, default 100; tokens are offsets).
func (s *Store) ListWebhooks(ctx context.Context, max int, token string) ([]tandem.Webhook, string, error) {
	if max == 0 {
		max = 100
	}
	if max < 1 || max > 1000 {
		return nil, "", tandem.Errorf(tandem.EINVALID, "max_results must be between 1 and 1000.")
	}
	offset, err := regDecodeToken(token)
	if err != nil {
		return nil, "", err
	}
	ws, err := readWebhooks(ctx, s.Reader(), `SELECT `+webhookCols+` FROM webhooks
		ORDER BY creation_timestamp DESC, webhook_id LIMIT ? OFFSET ?`, max+1, offset)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ws) > max {
		ws, next = ws[:max], regEncodeToken(offset+max)
	}
	return ws, next, nil
}

// WebhooksForEvent returns every webhook subscribed to an event, active or
// not, newest first.
func (s *Store) WebhooksForEvent(ctx context.Context, e tandem.WebhookEvent) ([]tandem.Webhook, error) {
	return readWebhooks(ctx, s.Reader(), `SELECT `+webhookCols+` FROM webhooks WHERE webhook_id IN
		(SELECT webhook_id FROM webhook_events WHERE entity = ? AND action = ?)
		ORDER BY creation_timestamp DESC, webhook_id`, e.Entity, e.Action)
}

// UpdateWebhook changes a webhook and returns it (ENOTFOUND when there is
// none). Its last update time is set even when nothing changed, as
// MLflow's is.
func (s *Store) UpdateWebhook(ctx context.Context, id string, u tandem.WebhookUpdate) (*tandem.Webhook, error) {
	if u.Name != nil {
		if err := tandem.ValidateWebhookName(*u.Name); err != nil {
			return nil, err
		}
	}
	if u.Events != nil {
		if err := tandem.ValidateWebhookEvents(u.Events); err != nil {
			return nil, err
		}
	}
	var out *tandem.Webhook
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		w, err := getWebhook(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&w.Name, u.Name)
		set(&w.Description, u.Description)
		set(&w.URL, u.URL)
		set(&w.SealedSecret, u.SealedSecret)
		set(&w.Status, u.Status)
		if u.Events != nil {
			w.Events = sortWebhookEvents(append([]tandem.WebhookEvent(nil), u.Events...))
		}
		w.Updated = max(nowMillis(), w.Created)
		out = w
		return &Change{Op: OpWebhookUpdate, Key: id, Payload: webhookPayload(w)}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteWebhook deletes a webhook (ENOTFOUND when there is none).
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := getWebhook(ctx, tx, id); err != nil {
			return nil, err
		}
		return &Change{Op: OpWebhookDelete, Key: id, Payload: &tpWebhook{ID: id, Delete: true}}, nil
	})
	return err
}

// TransferWebhooks reads every webhook as bundle records, by id, without
// their secrets.
func TransferWebhooks(ctx context.Context, q Querier) ([]bundle.Webhook, error) {
	hooks, err := readWebhooks(ctx, q, `SELECT `+webhookCols+` FROM webhooks ORDER BY webhook_id`)
	if err != nil {
		return nil, err
	}
	out := make([]bundle.Webhook, 0, len(hooks))
	for _, w := range hooks {
		out = append(out, webhookRecord(w))
	}
	return out, nil
}

func webhookRecord(w tandem.Webhook) bundle.Webhook {
	rec := bundle.Webhook{ID: w.ID, Name: w.Name, Description: w.Description, URL: w.URL, Status: w.Status,
		Created: w.Created, Updated: w.Updated, HasSecret: w.SealedSecret != "", Events: []string{}}
	for _, e := range w.Events {
		rec.Events = append(rec.Events, e.Entity+"."+e.Action)
	}
	return rec
}

// PlanWebhook compares a bundle's webhook with this workspace: new,
// present (the same webhook; a secret set here counts as the same), or
// conflict (the id holds another).
func PlanWebhook(ctx context.Context, q Querier, rec bundle.Webhook) (ImportResult, error) {
	cur, err := getWebhook(ctx, q, rec.ID)
	switch {
	case tandem.ErrorCode(err) == tandem.ENOTFOUND:
		res := ImportResult{Status: ImportNew}
		if rec.HasSecret && rec.Status == tandem.WebhookActive {
			res.Reason = "imported DISABLED: its secret is not in bundles; set it (update_webhook(secret=...)) and set the status ACTIVE"
		}
		return res, nil
	case err != nil:
		return ImportResult{}, err
	}
	got := webhookRecord(*cur)
	got.HasSecret, got.Status = rec.HasSecret, rec.Status // the secret, and the status an import chose, are this workspace's
	if reflect.DeepEqual(got, rec) {
		return ImportResult{Status: ImportPresent}, nil
	}
	return ImportResult{Status: ImportConflict, Reason: fmt.Sprintf("webhook %s exists with different content", rec.ID)}, nil
}

// ImportWebhook writes a bundle's webhook with its id and times kept and
// no secret; one that had a secret is written DISABLED (its receivers
// would refuse unsigned deliveries).
func (s *Store) ImportWebhook(ctx context.Context, rec bundle.Webhook) (ImportResult, error) {
	w := tandem.Webhook{ID: rec.ID, Name: rec.Name, Description: rec.Description, URL: rec.URL, Status: rec.Status,
		Created: rec.Created, Updated: rec.Updated}
	for _, e := range rec.Events {
		entity, action, ok := strings.Cut(e, ".")
		if !ok {
			return ImportResult{}, tandem.Errorf(tandem.EINVALID, "import webhook %s: event %q is not entity.action", rec.ID, e)
		}
		w.Events = append(w.Events, tandem.WebhookEvent{Entity: entity, Action: action})
	}
	if rec.ID == "" || rec.URL == "" || len(w.Events) == 0 || (w.Status != tandem.WebhookActive && w.Status != tandem.WebhookDisabled) {
		return ImportResult{}, tandem.Errorf(tandem.EINVALID, "import webhook %q: an id, a URL, events and a status are required", rec.ID)
	}
	if err := tandem.CheckText("name", w.Name); err != nil {
		return ImportResult{}, err
	}
	if rec.HasSecret {
		w.Status = tandem.WebhookDisabled
	}
	var res ImportResult
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var err error
		if res, err = PlanWebhook(ctx, tx, rec); err != nil {
			return nil, err
		}
		if res.Status != ImportNew {
			return nil, errImportNoop
		}
		return &Change{Op: OpWebhookCreate, Key: w.ID, Payload: webhookPayload(&w)}, nil
	})
	if err == errImportNoop {
		return res, nil
	}
	return res, err
}

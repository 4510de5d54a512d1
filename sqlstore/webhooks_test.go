package sqlstore_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

// TestWebhooks: create, page, update, find by event and delete webhooks;
// a refused write leaves no journal entry; a replica that applies the
// journal (kind webhooks) holds the same webhooks, sealed secret included.
func TestWebhooks(t *testing.T) {
	mv := tandem.WebhookEvent{Entity: tandem.WebhookModelVersion, Action: tandem.WebhookCreated}
	alias := tandem.WebhookEvent{Entity: tandem.WebhookModelVersionAlias, Action: tandem.WebhookDeleted}
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			head := func() tandem.Position { p, _ := s.Head(ctx); return p }
			before := head()
			_, err := s.CreateWebhook(ctx, tandem.Webhook{Name: "-bad", URL: "https://h", Events: []tandem.WebhookEvent{mv}})
			wantCode(t, err, tandem.EINVALID)
			_, err = s.CreateWebhook(ctx, tandem.Webhook{Name: "ok", URL: "https://h",
				Events: []tandem.WebhookEvent{{Entity: tandem.WebhookRegisteredModel, Action: tandem.WebhookDeleted}}})
			wantCode(t, err, tandem.EINVALID)
			_, err = s.UpdateWebhook(ctx, "nope", tandem.WebhookUpdate{})
			wantCode(t, err, tandem.ENOTFOUND)
			wantCode(t, s.DeleteWebhook(ctx, "nope"), tandem.ENOTFOUND)
			if head() != before {
				t.Fatalf("refused writes journalled: %v -> %v", before, head())
			}

			a, err := s.CreateWebhook(ctx, tandem.Webhook{Name: "a", URL: "https://h/a", SealedSecret: "sealed-a",
				Events: []tandem.WebhookEvent{mv, alias, mv}})
			must(t, err)
			if a.Status != tandem.WebhookActive || len(a.Events) != 2 || a.Events[0] != mv || a.Created == 0 || a.Updated != a.Created {
				t.Fatalf("created %+v", a)
			}
			b, err := s.CreateWebhook(ctx, tandem.Webhook{Name: "b", URL: "https://h/b", Status: tandem.WebhookDisabled,
				Events: []tandem.WebhookEvent{alias}})
			must(t, err)
			got, err := s.GetWebhook(ctx, a.ID)
			must(t, err)
			if !reflect.DeepEqual(got, a) {
				t.Fatalf("get %+v, want %+v", got, a)
			}

			// Pages of one, newest first, then no token.
			p1, tok, err := s.ListWebhooks(ctx, 1, "")
			must(t, err)
			p2, tok2, err := s.ListWebhooks(ctx, 1, tok)
			must(t, err)
			if len(p1) != 1 || len(p2) != 1 || tok == "" || tok2 != "" || p1[0].ID == p2[0].ID {
				t.Fatalf("pages %v %q %v %q", p1, tok, p2, tok2)
			}
			_, _, err = s.ListWebhooks(ctx, 1001, "")
			if tandem.ErrorMessage(err) != "max_results must be between 1 and 1000." {
				t.Fatalf("max_results 1001: %v", err)
			}

			desc, url := "new", "https://h/a2"
			u, err := s.UpdateWebhook(ctx, a.ID, tandem.WebhookUpdate{Description: &desc, URL: &url, Events: []tandem.WebhookEvent{alias}})
			must(t, err)
			if u.Description != "new" || u.URL != url || u.Name != "a" || u.SealedSecret != "sealed-a" || len(u.Events) != 1 || u.Events[0] != alias {
				t.Fatalf("updated %+v", u)
			}
			for ev, want := range map[tandem.WebhookEvent]int{mv: 0, alias: 2} {
				ws, err := s.WebhooksForEvent(ctx, ev)
				must(t, err)
				if len(ws) != want {
					t.Fatalf("%s: %d webhooks, want %d", ev, len(ws), want)
				}
			}

			replica, kinds := replayed(t, s, tandem.KindWebhooks)
			if kinds != 3 {
				t.Fatalf("%d entries of kind webhooks, want 3", kinds)
			}
			have, err := replica.GetWebhook(ctx, a.ID)
			must(t, err)
			if !reflect.DeepEqual(have, u) {
				t.Fatalf("replica %+v, want %+v", have, u)
			}

			must(t, s.DeleteWebhook(ctx, b.ID))
			_, err = s.GetWebhook(ctx, b.ID)
			if tandem.ErrorMessage(err) != "Webhook with ID "+b.ID+" not found." {
				t.Fatalf("get deleted: %v", err)
			}
			if ws, _ := s.WebhooksForEvent(ctx, alias); len(ws) != 1 {
				t.Fatalf("deleted webhook still subscribed: %v", ws)
			}
		})
	}
}

// replayed returns a fresh SQLite store that has applied s's whole
// journal, and how many of its entries were of kind.
func replayed(t *testing.T, s *sqlstore.Store, kind tandem.Kind) (*sqlstore.Store, int) {
	t.Helper()
	ctx := context.Background()
	replica, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
	must(t, err)
	t.Cleanup(func() { replica.Close() })
	es, err := s.ReadJournal(ctx, 0, 10000)
	must(t, err)
	n := 0
	for _, e := range es {
		if e.Kind == kind {
			n++
		}
		if _, err := replica.Apply(ctx, e); err != nil {
			t.Fatalf("apply %s: %v", e.Op, err)
		}
	}
	return replica, n
}

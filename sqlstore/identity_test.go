package sqlstore_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
)

// TestIdentity walks the identity service step by step on every backend,
// then replays its journal into a fresh store: same principals, tokens,
// roles and assignments, and the generation moved on both.
func TestIdentity(t *testing.T) {
	for name, s := range openStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			id := sqlstore.NewIdentity(s)
			g0 := id.Generation()
			alice, err := id.CreatePrincipal(ctx, &tandem.Principal{Name: "alice", Kind: tandem.PrincipalUser}, []byte("$2a$10$fakehashfakehash"))
			must(t, err)
			if id.Generation() == g0 {
				t.Fatal("generation did not change")
			}
			_, err = id.CreatePrincipal(ctx, &tandem.Principal{Name: "alice", Kind: tandem.PrincipalUser}, nil)
			wantCode(t, err, tandem.EEXISTS)
			_, err = id.CreatePrincipal(ctx, &tandem.Principal{Name: "bad:name", Kind: tandem.PrincipalUser}, nil)
			wantCode(t, err, tandem.EINVALID)
			bot, err := id.CreatePrincipal(ctx, &tandem.Principal{Name: "ci-bot", Kind: tandem.PrincipalService}, nil)
			must(t, err)
			h, p, err := id.PasswordHash(ctx, "alice")
			must(t, err)
			if string(h) != "$2a$10$fakehashfakehash" || p.ID != alice.ID {
				t.Fatalf("password hash %q %+v", h, p)
			}
			tok := &tandem.Token{ID: "t1", PrincipalID: bot.ID, Salt: []byte{1, 2}, Hash: []byte{3, 4}, ExpiresMS: 99}
			must(t, id.CreateToken(ctx, tok))
			wantCode(t, id.CreateToken(ctx, &tandem.Token{ID: "t2", PrincipalID: "nobody", Salt: []byte{1}, Hash: []byte{1}}), tandem.ENOTFOUND)
			got, err := id.Token(ctx, "t1")
			must(t, err)
			if !reflect.DeepEqual(got.Hash, []byte{3, 4}) || got.RevokedMS != 0 {
				t.Fatalf("token %+v", got)
			}
			must(t, id.PutRole(ctx, &tandem.RoleDefinition{Name: "Run Logger", Actions: []string{"*/runs/*"}}))
			wantCode(t, id.PutRole(ctx, &tandem.RoleDefinition{Name: "owner", Actions: []string{"*"}}), tandem.EINVALID)
			a, err := id.CreateAssignment(ctx, &tandem.RoleAssignment{Role: "reader", Assignee: "alice"})
			must(t, err)
			if a.Role != tandem.RoleReader || a.Scope != tandem.ScopeWorkspace {
				t.Fatalf("assignment %+v", a)
			}
			_, err = id.CreateAssignment(ctx, &tandem.RoleAssignment{Role: "Reader", Assignee: "alice", Scope: "/"})
			wantCode(t, err, tandem.EEXISTS)
			_, err = id.CreateAssignment(ctx, &tandem.RoleAssignment{Role: "Nope", Assignee: "alice"})
			wantCode(t, err, tandem.ENOTFOUND)
			_, err = id.CreateAssignment(ctx, &tandem.RoleAssignment{Role: "Reader", Assignee: "bob"})
			wantCode(t, err, tandem.ENOTFOUND)
			_, err = id.CreateAssignment(ctx, &tandem.RoleAssignment{Role: "Reader", Assignee: "alice", Scope: "/runs/1"})
			wantCode(t, err, tandem.EINVALID)
			_, err = id.CreateAssignment(ctx, &tandem.RoleAssignment{Role: "Run Logger", Assignee: "ci-bot", Scope: tandem.ExperimentScope("7")})
			must(t, err)
			_, err = id.CreateAssignment(ctx, &tandem.RoleAssignment{Role: "Owner", Assignee: "oidc:group:admins"})
			must(t, err)
			wantCode(t, id.DeleteRole(ctx, "Run Logger"), tandem.EINVALIDSTATE)
			must(t, id.RevokeToken(ctx, "t1"))
			wantCode(t, id.RevokeToken(ctx, "t1"), tandem.EINVALIDSTATE)

			replica, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
			must(t, err)
			defer replica.Close()
			rid := sqlstore.NewIdentity(replica)
			rg := rid.Generation()
			es, err := s.ReadJournal(ctx, 0, 1000)
			must(t, err)
			for _, e := range es {
				if strings.HasPrefix(e.Op, "identity.") && (strings.Contains(string(e.Payload), "secret") || e.Kind != tandem.KindWorkspace) {
					t.Fatalf("entry %s: %s", e.Op, e.Payload)
				}
				if _, err := replica.Apply(ctx, e); err != nil {
					t.Fatalf("apply %s: %v", e.Op, err)
				}
			}
			if rid.Generation() == rg {
				t.Fatal("replica generation did not change")
			}
			rt, err := rid.Token(ctx, "t1")
			must(t, err)
			if rt.RevokedMS == 0 || rt.Usable(time.UnixMilli(0)) {
				t.Fatalf("replica token not revoked: %+v", rt)
			}
			for _, f := range []func(tandem.Identity) (any, error){
				func(i tandem.Identity) (any, error) { return i.Principals(ctx) },
				func(i tandem.Identity) (any, error) { return i.Roles(ctx) },
				func(i tandem.Identity) (any, error) { return i.Assignments(ctx) },
				func(i tandem.Identity) (any, error) { return i.Tokens(ctx, bot.ID) },
			} {
				x, err := f(id)
				must(t, err)
				y, err := f(rid)
				must(t, err)
				if !reflect.DeepEqual(x, y) {
					t.Fatalf("replica differs: %+v vs %+v", x, y)
				}
			}
			// Deleting a principal removes its tokens and assignments.
			must(t, id.DeletePrincipal(ctx, "ci-bot"))
			ts, err := id.Tokens(ctx, bot.ID)
			must(t, err)
			as, err := id.Assignments(ctx)
			must(t, err)
			if len(ts) != 0 || len(as) != 2 {
				t.Fatalf("after delete: %d tokens, %d assignments", len(ts), len(as))
			}
			must(t, id.DeleteAssignment(ctx, a.ID))
			wantCode(t, id.DeleteAssignment(ctx, a.ID), tandem.ENOTFOUND)
			must(t, id.DeleteRole(ctx, "Run Logger"))
			wantCode(t, id.DeleteRole(ctx, "Reader"), tandem.EINVALID)
			wantCode(t, id.DeletePrincipal(ctx, "ci-bot"), tandem.ENOTFOUND)
		})
	}
}

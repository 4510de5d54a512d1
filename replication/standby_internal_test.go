package replication

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/workspace"
)

type recordStandby struct {
	v        failover.SyncView
	proposed []string
}

func (r *recordStandby) SyncView() failover.SyncView { return r.v }
func (r *recordStandby) ProposeSync(region string) bool {
	r.proposed = append(r.proposed, region)
	return true
}

// A sync standby that went silent is replaced by a caught-up secondary
// even when no write waits: only the standby may take the lease over, so
// a dead one left named would block every automatic failover.
func TestSilentStandbyReplacedWhenIdle(t *testing.T) {
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ws := &workspace.Workspace{Name: "w", Primary: "east",
		Regions: []workspace.Region{{Name: "east"}, {Name: "west"}, {Name: "north"}}}
	s := New(Config{Region: "east", Workspace: ws, Store: st.Replica(), StandbySilent: 100 * time.Millisecond,
		Roles: tandem.NewRoleBox(tandem.RoleState{Role: tandem.RolePrimary, Epoch: 1, Primary: "east"})})
	sb := &recordStandby{v: failover.SyncView{Enabled: true, Primary: true, Self: "east", Confirmed: "west", Standbys: []string{"west"}}}
	s.SetSyncStandby(sb)
	s.sawFollower("west", tandem.Position{}, 1)
	s.sawFollower("north", tandem.Position{}, 1)
	if len(sb.proposed) != 0 {
		t.Fatalf("a live standby was replaced: %v", sb.proposed)
	}
	time.Sleep(150 * time.Millisecond)
	s.sawFollower("north", tandem.Position{}, 1)
	if !slices.Equal(sb.proposed, []string{"north"}) {
		t.Fatalf("silent standby not replaced: %v", sb.proposed)
	}
}

package failover_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/witness"
)

// TestGateOnRealStore installs Nodes as the write gates of two SQLite
// stores: writes commit only on the primary, every journal entry carries
// the epoch the Node granted, and after a switchover the old primary's
// store refuses writes while the new one writes in the next epoch.
func TestGateOnRealStore(t *testing.T) {
	ctx := context.Background()
	w := witness.NewMemory(nil)
	names := []string{"a", "b"}
	stores := map[string]*sqlstore.Store{}
	nodes := map[string]*failover.Node{}
	var wg sync.WaitGroup
	runCtx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()
	for _, name := range names {
		st, err := sqlstore.Open(ctx, storetest.SQLiteURL(t), sqlstore.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores[name] = st
		head, err := st.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var n *failover.Node
		h := failover.HandlerFunc(func(ctx context.Context, a failover.Action) {
			if a.Kind == failover.CatchUp {
				go n.CaughtUp(a.Target) // the test copies nothing: b just takes over
			}
		})
		cfg := failover.Config{Self: name, Regions: names, LeaseTTL: 500 * time.Millisecond, MaxLagOnFailover: -1}
		n, err = failover.NewNode(cfg, head.Epoch, head, w, h, failover.NodeOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		st.SetGate(n)
		st.OnCommit(func(e tandem.Entry) { n.Local(e.Position) })
		nodes[name] = n
		wg.Add(1)
		go func() { defer wg.Done(); n.Run(runCtx) }()
	}
	create := func(region, exp string) error {
		_, err := stores[region].CreateExperiment(ctx, exp, "", nil)
		return err
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("a to accept writes", func() bool { return create("a", "first") == nil })
	if err := create("b", "nope"); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("write on the secondary: %v", err)
	}
	for i := range 5 {
		if err := create("a", fmt.Sprint("e1-", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nodes["a"].Switchover("b", false); err != nil {
		t.Fatal(err)
	}
	if err := create("a", "during"); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("write on the primary during its switchover: %v", err)
	}
	nodes["b"].Poke()
	waitFor("b to accept writes", func() bool { return create("b", "second") == nil })
	if err := create("a", "late"); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("write on the old primary: %v", err)
	}
	for region, want := range map[string]int64{"a": 1, "b": 2} {
		es, err := stores[region].ReadJournal(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Epoch != want && e.Op == "experiment.create" {
				t.Fatalf("%s wrote %s in epoch %d, want %d", region, e.Position, e.Epoch, want)
			}
		}
	}
}

package failover_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/witness"
	"github.com/tandemml/tandem/witness/witnesstest"
)

// cuttable wraps a witness so a test can cut one region off from it.
type cuttable struct {
	tandem.Witness
	cut atomic.Bool
}

func (c *cuttable) Get(ctx context.Context) (tandem.Lease, error) {
	if c.cut.Load() {
		return tandem.Lease{}, tandem.Errorf(tandem.EUNAVAILABLE, "cut off")
	}
	return c.Witness.Get(ctx)
}

func (c *cuttable) CompareAndSwap(ctx context.Context, prev, next tandem.Lease) (tandem.Lease, error) {
	if c.cut.Load() {
		return tandem.Lease{}, tandem.Errorf(tandem.EUNAVAILABLE, "cut off")
	}
	return c.Witness.CompareAndSwap(ctx, prev, next)
}

// TestStack runs three Nodes against each real witness backend: bootstrap,
// planned switchover, the primary cut off from the witness (it must stop
// writing before anyone else starts), then the primary killed.
func TestStack(t *testing.T) {
	for name, open := range map[string]func(t *testing.T, region string) (tandem.Witness, time.Duration){
		"http": func() func(*testing.T, string) (tandem.Witness, time.Duration) {
			var url, key string
			return func(t *testing.T, region string) (tandem.Witness, time.Duration) {
				if url == "" {
					url, key = witnesstest.HTTP(t)
				}
				w, err := witness.Open(context.Background(), url, witness.Options{Name: "ws", Key: key})
				if err != nil {
					t.Fatal(err)
				}
				return w, 600 * time.Millisecond
			}
		}(),
		"etcd": func() func(*testing.T, string) (tandem.Witness, time.Duration) {
			var ep string
			return func(t *testing.T, region string) (tandem.Witness, time.Duration) {
				if ep == "" {
					ep = witnesstest.Etcd(t)
				}
				w, err := witness.Open(context.Background(), "etcd://"+ep+"/stack", witness.Options{Name: "ws"})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { w.Close() })
				return w, 2 * time.Second // etcd leases count whole seconds
			}
		}(),
	} {
		t.Run(name, func(t *testing.T) { stack(t, open) })
	}
}

func stack(t *testing.T, open func(*testing.T, string) (tandem.Witness, time.Duration)) {
	names := []string{"a", "b", "c"}
	nodes := map[string]*failover.Node{}
	wits := map[string]*cuttable{}
	cancels := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	var ttl time.Duration
	for _, name := range names {
		w, d := open(t, name)
		ttl = d
		wits[name] = &cuttable{Witness: w}
		cfg := failover.Config{Self: name, Regions: names, LeaseTTL: ttl, MaxLagOnFailover: -1}
		var n *failover.Node
		h := failover.HandlerFunc(func(ctx context.Context, a failover.Action) {
			if a.Kind == failover.CatchUp {
				go n.CaughtUp(a.Target)
			}
		})
		n, err := failover.NewNode(cfg, 0, tandem.Position{}, wits[name], h, failover.NodeOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		nodes[name] = n
		ctx, cancel := context.WithCancel(context.Background())
		cancels[name] = cancel
		wg.Add(1)
		go func() { defer wg.Done(); n.Run(ctx) }()
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	}()
	// A watcher checks, all along, that no two regions pass their gates
	// at the same time.
	stop := make(chan struct{})
	var watchErr atomic.Value
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if ws := writersOf(nodes); len(ws) > 1 {
				watchErr.Store(ws)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	defer func() {
		close(stop)
		if v := watchErr.Load(); v != nil {
			t.Fatalf("two writers at once: %v", v)
		}
	}()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(6 * ttl)
		for time.Now().Before(deadline) {
			if cond() {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s", what)
	}
	only := func(name string) func() bool {
		return func() bool { ws := writersOf(nodes); return len(ws) == 1 && ws[0] == name }
	}
	wait("a to bootstrap", only("a"))
	wait("b to learn the primary", func() bool { return nodes["b"].Status().Primary == "a" })

	// Planned switchover a -> b.
	if err := nodes["a"].Switchover("b", false); err != nil {
		t.Fatal(err)
	}
	nodes["b"].Poke()
	start := time.Now()
	wait("b to take over", only("b"))
	t.Logf("planned switchover: writes unavailable for %s", time.Since(start))

	// b is cut off from the witness: its gate closes before its lease can
	// expire, then another region takes over (the watcher checks overlap).
	wits["b"].cut.Store(true)
	wait("another primary", func() bool { ws := writersOf(nodes); return len(ws) == 1 && ws[0] != "b" })
	wits["b"].cut.Store(false)
	wait("b to follow", func() bool {
		st := nodes["b"].Status()
		return st.Role == tandem.RoleSecondary && st.Epoch >= 3 && st.Primary != "" && st.Primary != "b"
	})

	// Kill the current primary.
	p := writersOf(nodes)[0]
	cancels[p]()
	start = time.Now()
	wait("a new primary after the kill", func() bool { ws := writersOf(nodes); return len(ws) == 1 && ws[0] != p })
	t.Logf("kill of %s: writes resumed after %s (lease %s)", p, time.Since(start), ttl)
}

func writersOf(nodes map[string]*failover.Node) []string {
	var out []string
	for name, n := range nodes {
		if _, err := n.WriteEpoch(context.Background()); err == nil {
			out = append(out, name)
		}
	}
	return out
}

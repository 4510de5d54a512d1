package failover

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/witness"
)

var _ tandem.Gate = (*Node)(nil)

// recorder is a Handler that keeps actions and completes catch-ups at once.
type recorder struct {
	mu   sync.Mutex
	acts []Action
	node *Node
}

func (r *recorder) Act(ctx context.Context, a Action) {
	r.mu.Lock()
	r.acts = append(r.acts, a)
	r.mu.Unlock()
	if a.Kind == CatchUp {
		go r.node.CaughtUp(a.Target)
	}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func writers(nodes map[string]*Node) []string {
	var out []string
	for name, n := range nodes {
		if _, err := n.WriteEpoch(context.Background()); err == nil {
			out = append(out, name)
		}
	}
	return out
}

// TestNodesFailOverInRealTime runs three Nodes against an in-process
// witness with a 400ms lease: bootstrap, a planned switchover, then the
// primary stops (killed) and another takes over.
func TestNodesFailOverInRealTime(t *testing.T) {
	w := witness.NewMemory(nil)
	names := []string{"a", "b", "c"}
	nodes := map[string]*Node{}
	cancels := map[string]context.CancelFunc{}
	recs := map[string]*recorder{}
	var wg sync.WaitGroup
	for _, name := range names {
		cfg := Config{Self: name, Regions: names, LeaseTTL: 400 * time.Millisecond, MaxLagOnFailover: -1}
		rec := &recorder{}
		n, err := NewNode(cfg, 0, tandem.Position{}, w, rec, NodeOptions{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		rec.node = n
		nodes[name], recs[name] = n, rec
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
	waitFor(t, "a to become primary", 2*time.Second, func() bool {
		ws := writers(nodes)
		return len(ws) == 1 && ws[0] == "a"
	})
	waitFor(t, "b to learn the primary", 2*time.Second, func() bool { return nodes["b"].Status().Primary == "a" })
	if _, err := nodes["b"].WriteEpoch(context.Background()); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Fatalf("secondary gate: %v", err)
	} else if e := err.(*tandem.Error); e.Detail["primary"] != "a" {
		t.Fatalf("gate detail %v", e.Detail)
	}

	// Planned switchover a -> b.
	if err := nodes["a"].Switchover("b", false); err != nil {
		t.Fatal(err)
	}
	nodes["b"].Poke()
	waitFor(t, "b to become primary", 3*time.Second, func() bool {
		ws := writers(nodes)
		return len(ws) == 1 && ws[0] == "b"
	})
	if st := nodes["b"].Status(); st.Epoch != 2 || st.Role != tandem.RolePrimary {
		t.Fatalf("b status %+v", st)
	}

	// Kill b: it stops renewing; c or a takes over with epoch 3.
	cancels["b"]()
	waitFor(t, "a new primary after b died", 5*time.Second, func() bool {
		ws := writers(map[string]*Node{"a": nodes["a"], "c": nodes["c"]})
		return len(ws) == 1
	})
	if _, err := nodes["b"].WriteEpoch(context.Background()); err == nil {
		t.Fatal("dead b still passes its gate")
	}
	l, _ := w.Get(context.Background())
	if l.Epoch != 3 {
		t.Fatalf("lease %s, want epoch 3", l)
	}
}

// TestNodeWitnessUnreachable: the primary loses the witness, its gate
// closes before the lease can expire, and reopens when the witness returns.
func TestNodeWitnessUnreachable(t *testing.T) {
	w := witness.NewMemory(nil)
	cfg := Config{Self: "a", Regions: []string{"a"}, LeaseTTL: 300 * time.Millisecond}
	rec := &recorder{}
	n, err := NewNode(cfg, 0, tandem.Position{}, w, rec, NodeOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rec.node = n
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "primary", time.Second, func() bool { _, err := n.WriteEpoch(ctx); return err == nil })
	w.SetDown(true)
	cut := time.Now()
	waitFor(t, "gate to close", time.Second, func() bool { _, err := n.WriteEpoch(ctx); return err != nil })
	if el := time.Since(cut); el > 300*time.Millisecond {
		t.Fatalf("gate closed %s after the witness went away, later than the lease", el)
	}
	w.SetDown(false)
	waitFor(t, "gate to reopen", 2*time.Second, func() bool { _, err := n.WriteEpoch(ctx); return err == nil })
}

// TestGateOpensAfterStartWritesHandled: the handler stops the applier in
// StartWrites; no write may pass the gate, nor the status say writes are
// allowed, before it returns.
func TestGateOpensAfterStartWritesHandled(t *testing.T) {
	w := witness.NewMemory(nil)
	release := make(chan struct{})
	entered := make(chan Action, 1)
	h := HandlerFunc(func(ctx context.Context, a Action) {
		if a.Kind == StartWrites {
			entered <- a
			<-release
		}
	})
	cfg := Config{Self: "a", Regions: []string{"a"}, LeaseTTL: time.Second}
	n, err := NewNode(cfg, 0, tandem.Position{}, w, h, NodeOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	a := <-entered
	if a.Epoch != 1 {
		t.Fatalf("StartWrites %v", a)
	}
	// The status says what the gate does: primary, but no writes yet
	// (a client reading it must not be invited to write and refused).
	if st := n.Status(); st.Role != tandem.RolePrimary || st.WritesAllowed {
		close(release)
		t.Fatalf("while StartWrites is handled: status %+v, want primary without writes allowed", st)
	}
	if _, err := n.WriteEpoch(ctx); err == nil {
		close(release)
		t.Fatal("gate open while StartWrites is still being handled")
	}
	close(release)
	waitFor(t, "gate to open", time.Second, func() bool { _, err := n.WriteEpoch(ctx); return err == nil && n.Status().WritesAllowed })
}

package failover

import (
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// A rewound region no longer counts the entries it dropped: it is behind,
// and its own position (not the old one) is what ranks it.
func TestRewoundHeadGoesBack(t *testing.T) {
	cfg := Config{Self: "a", Regions: []string{"a", "b"}, LeaseTTL: time.Second}
	m := New(cfg, 1, tandem.Position{Epoch: 1, Seq: 20})
	m.Peer(0, PeerStatus{Name: "b", Healthy: true, Epoch: 2, Position: tandem.Position{Epoch: 2, Seq: 15}})
	if rd := m.Ready(); rd.Behind != 0 {
		t.Fatalf("behind %d before the rewind, want 0", rd.Behind)
	}
	m.Rewound(time.Millisecond, tandem.Position{})
	if rd := m.Ready(); rd.Behind != 15 {
		t.Fatalf("behind %d after the rewind, want 15", rd.Behind)
	}
	m.Local(2*time.Millisecond, tandem.Position{Epoch: 2, Seq: 15})
	if rd := m.Ready(); rd.Behind != 0 {
		t.Fatalf("behind %d after catching up, want 0", rd.Behind)
	}
}

package failover

import (
	"time"

	"github.com/tandemml/tandem"
)

// Rewound records that this region's journal was cut back to pos (a
// rejoining region moved its divergent tail into a report and rewound, or
// is re-bootstrapping from the new primary): unlike Local, the head may go
// backwards, so the machine stops ranking this region by entries it no
// longer holds when it chooses who should be promoted.
func (m *Machine) Rewound(now time.Duration, pos tandem.Position) {
	m.clock(now)
	m.self = pos
	m.after()
}

// Rewound records a rewind of the local journal (see Machine.Rewound).
func (n *Node) Rewound(pos tandem.Position) {
	n.event(func(now time.Duration) { n.m.Rewound(now, pos) })
}

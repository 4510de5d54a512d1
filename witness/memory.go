package witness

import (
	"context"
	"sync"
	"time"

	"github.com/tandemml/tandem"
)

// Memory is an in-process witness: one lease, measured on Clock. Tests and
// a single-machine `tandem up` use it; it does not survive a restart.
type Memory struct {
	mu    sync.Mutex
	reg   Register
	clock func() time.Duration
	down  bool
}

// NewMemory returns an empty in-process witness. clock returns a monotonic
// reading; nil uses the process's monotonic clock.
func NewMemory(clock func() time.Duration) *Memory {
	if clock == nil {
		clock = monotonic()
	}
	return &Memory{clock: clock}
}

// monotonic returns a clock that reads time since its creation on Go's
// monotonic clock (immune to wall-clock jumps).
func monotonic() func() time.Duration {
	start := time.Now()
	return func() time.Duration { return time.Since(start) }
}

// SetDown makes the witness unreachable (EUNAVAILABLE) or reachable again:
// tests use it to simulate a partition from the witness.
func (m *Memory) SetDown(down bool) { m.mu.Lock(); m.down = down; m.mu.Unlock() }

// Get implements tandem.Witness.
func (m *Memory) Get(ctx context.Context) (tandem.Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return tandem.Lease{}, tandem.Errorf(tandem.EUNAVAILABLE, "witness: unreachable")
	}
	return m.reg.Lease(m.clock()), ctx.Err()
}

// CompareAndSwap implements tandem.Witness.
func (m *Memory) CompareAndSwap(ctx context.Context, prev, next tandem.Lease) (tandem.Lease, error) {
	if err := ctx.Err(); err != nil {
		return tandem.Lease{}, tandem.Errorf(tandem.EUNAVAILABLE, "witness: %v", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return tandem.Lease{}, tandem.Errorf(tandem.EUNAVAILABLE, "witness: unreachable")
	}
	return m.reg.CompareAndSwap(m.clock(), prev, next)
}

// Close implements tandem.Witness.
func (m *Memory) Close() error { return nil }

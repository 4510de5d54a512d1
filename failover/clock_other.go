//go:build !linux

package failover

import "time"

func bootClock() func() time.Duration { return goClock() }

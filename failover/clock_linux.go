package failover

import (
	"time"

	"golang.org/x/sys/unix"
)

// bootClock reads CLOCK_BOOTTIME: monotonic like Go's clock, and it keeps
// counting while the machine is suspended, so a region frozen past its lease
// cannot believe on waking that less time has passed than really has.
func bootClock() func() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return goClock()
	}
	return func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
			return 0 // never happens once it worked; 0 reads as a backward jump: writes stop
		}
		return time.Duration(ts.Nano())
	}
}

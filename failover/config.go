package failover

import (
	"fmt"
	"slices"
	"time"

	"github.com/tandemml/tandem"
)

// Mode says whether a secondary may promote itself.
type Mode string

const (
	// Automatic: when the lease expires, the best secondary takes it.
	Automatic Mode = "automatic"
	// Manual: only an operator's switchover (or --force) changes the primary.
	Manual Mode = "manual"
)

// Config is one region's failover settings. Zero durations take defaults
// derived from LeaseTTL (see withDefaults).
type Config struct {
	Self    string   // this region's name
	Regions []string // every region of the workspace, in priority order (promotion ties go to the earlier one)
	// Initial is the region that takes the very first lease, when the
	// witness has never held one. Empty: the first of Regions.
	Initial string
	Mode    Mode // Automatic (default) or Manual
	// NoWitness: there is no witness. Only forced promotion changes the
	// primary, and a primary's writes are not time-limited.
	NoWitness bool

	LeaseTTL      time.Duration // lease length asked of the witness; default 10s
	RenewEvery    time.Duration // primary renews this often; default LeaseTTL/4
	Margin        time.Duration // stop writes this long before the lease could expire; default LeaseTTL/5
	ObserveEvery  time.Duration // secondaries read the lease this often; default LeaseTTL/10
	PeerTimeout   time.Duration // a peer status older than this is not trusted; default LeaseTTL
	ElectionGrace time.Duration // how long a lower-ranked candidate waits for the best one; default LeaseTTL/2
	// RequestTimeout: a witness request without a reply after this long is
	// forgotten (its late reply ignored). Default LeaseTTL/2.
	RequestTimeout time.Duration
	// MaxLagOnFailover: a secondary more than this many journal entries
	// behind the most advanced known position is never promoted
	// automatically. Negative: no limit.
	MaxLagOnFailover int64
	// Cooldown: no automatic promotion within this long of the last change
	// of epoch this region observed.
	Cooldown time.Duration
	// Sync: the workspace's durability is sync. The lease then names a
	// sync standby (tandem.Lease.Sync), the one region besides the
	// primary that holds every acknowledged write; the primary chooses it
	// (ProposeSync) and only that region may take an expired lease
	// automatically. A lease that names none (async before, or degraded
	// with on_no_ack: degrade) is elected as in async mode.
	Sync bool
	// SwitchoverTimeout: a planned switchover whose target has not caught
	// up after this long is aborted and the primary resumes writes; a
	// forced promotion that has not won the lease by then is abandoned.
	// Default 3*LeaseTTL.
	SwitchoverTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Mode == "" {
		c.Mode = Automatic
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 10 * time.Second
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.RenewEvery, c.LeaseTTL/4)
	def(&c.Margin, c.LeaseTTL/5)
	def(&c.ObserveEvery, c.LeaseTTL/10)
	def(&c.PeerTimeout, c.LeaseTTL)
	def(&c.ElectionGrace, c.LeaseTTL/2)
	def(&c.RequestTimeout, c.LeaseTTL/2)
	def(&c.SwitchoverTimeout, 3*c.LeaseTTL)
	if c.Initial == "" && len(c.Regions) > 0 {
		c.Initial = c.Regions[0]
	}
	return c
}

// Validate checks the settings a workspace file gave; EINVALID on error.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Self == "":
		return tandem.Errorf(tandem.EINVALID, "failover: region name is empty")
	case !slices.Contains(c.Regions, c.Self):
		return tandem.Errorf(tandem.EINVALID, "failover: region %q is not in the region list %v", c.Self, c.Regions)
	case c.Mode != Automatic && c.Mode != Manual:
		return tandem.Errorf(tandem.EINVALID, "failover: mode must be automatic or manual, not %q", c.Mode)
	case c.Mode == Automatic && c.NoWitness:
		return tandem.Errorf(tandem.EINVALID, "failover: automatic failover needs a witness")
	case c.Margin >= c.LeaseTTL-c.RenewEvery:
		return tandem.Errorf(tandem.EINVALID, "failover: margin %s leaves no time to renew a %s lease every %s", c.Margin, c.LeaseTTL, c.RenewEvery)
	case c.Cooldown < 0:
		return tandem.Errorf(tandem.EINVALID, "failover: cooldown is negative")
	}
	seen := map[string]bool{}
	for _, r := range c.Regions {
		if r == "" || seen[r] {
			return tandem.Errorf(tandem.EINVALID, "failover: region list %v has an empty or repeated name", c.Regions)
		}
		if r == FenceHolder {
			return tandem.Errorf(tandem.EINVALID, "failover: %q is reserved, not a region name", r)
		}
		seen[r] = true
	}
	if !seen[c.Initial] {
		return tandem.Errorf(tandem.EINVALID, "failover: initial primary %q is not a region", c.Initial)
	}
	return nil
}

// PeerStatus is what a region last learned about another region (from its
// status endpoint or replication traffic). Healthy means it answered
// recently and reports itself able to serve.
type PeerStatus struct {
	Name     string          `json:"name"`
	Healthy  bool            `json:"healthy"`
	Role     tandem.Role     `json:"role"`
	Epoch    int64           `json:"epoch"`
	Position tandem.Position `json:"position"` // last journal entry it holds
}

func (p PeerStatus) String() string {
	return fmt.Sprintf("%s(%s e%d %s healthy=%v)", p.Name, p.Role, p.Epoch, p.Position, p.Healthy)
}

package tandem

import (
	"context"
	"fmt"
	"sync"
)

// Role is what a region does in its workspace right now.
type Role string

const (
	RolePrimary   Role = "primary"   // accepts writes, ships its journal
	RoleSecondary Role = "secondary" // applies the primary's journal, serves reads
	// RoleCandidate: the failover machine asked the witness for the lease
	// and has no answer yet. A region's Roles never report it (a candidate
	// serves as a secondary); failover status documents do.
	RoleCandidate Role = "candidate"
)

func (r Role) String() string { return string(r) }

// RoleState is a region's role, the epoch it knows, and where the primary is.
type RoleState struct {
	Role       Role   `json:"role"`
	Epoch      int64  `json:"epoch"`
	Primary    string `json:"primary"`     // the primary region's name ("" if unknown)
	PrimaryURL string `json:"primary_url"` // the primary region's advertised URL
}

// Roles is the one place a region's role and epoch come from. The static
// implementation reads them from the workspace file; the failover machinery
// drives its own. Replication, write forwarding and the write gate all ask
// it, so a role change takes effect everywhere at once.
type Roles interface {
	// Current returns the region's role now.
	Current() RoleState
	// Changed returns a channel closed at the next role change.
	Changed() <-chan struct{}
}

// RoleBox is a Roles whose state is set by its owner (the static workspace
// configuration, tests, or the failover machinery). Safe for concurrent use.
type RoleBox struct {
	mu    sync.Mutex
	state RoleState
	ch    chan struct{}
}

// NewRoleBox returns a RoleBox holding s.
func NewRoleBox(s RoleState) *RoleBox { return &RoleBox{state: s, ch: make(chan struct{})} }

// Current returns the state.
func (b *RoleBox) Current() RoleState { b.mu.Lock(); defer b.mu.Unlock(); return b.state }

// Changed returns a channel closed at the next Set.
func (b *RoleBox) Changed() <-chan struct{} { b.mu.Lock(); defer b.mu.Unlock(); return b.ch }

// Set replaces the state and wakes watchers.
func (b *RoleBox) Set(s RoleState) {
	b.mu.Lock()
	b.state = s
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}

// RoleGate is the write Gate of a region whose role comes from Roles: it
// admits writes in the current epoch only while the region is primary, and
// otherwise answers EUNAVAILABLE with the primary's URL in Detail.
type RoleGate struct{ Roles Roles }

// WriteEpoch implements Gate.
func (g RoleGate) WriteEpoch(context.Context) (int64, error) {
	s := g.Roles.Current()
	if s.Role == RolePrimary {
		return s.Epoch, nil
	}
	e := Errorf(EUNAVAILABLE, "this region is a %s; writes go to the primary region %s", s.Role, s.Primary)
	if s.PrimaryURL != "" {
		e.Message = fmt.Sprintf("%s at %s", e.Message, s.PrimaryURL)
		e.Detail = map[string]string{"primary_url": s.PrimaryURL, "primary": s.Primary}
	}
	return 0, e
}

package leader

import (
	"testing"

	"github.com/tandemml/tandem"
)

// TestFollowNeedsCheck: step by step, the moments a region is told to
// follow a primary.
func TestFollowNeedsCheck(t *testing.T) {
	head := tandem.Position{Epoch: 1, Seq: 220}
	var followed followMark // a fresh runner, or a primary that just stopped writing
	for i, s := range []struct {
		head   tandem.Position
		target string
		epoch  int64
		want   bool
		then   followMark // what the runner records once the Follow is done
	}{
		{tandem.Position{}, "r1", 1, false, followMark{"r1", 1}}, // an empty journal cannot diverge
		{head, "r1", 1, false, followMark{"r1", 1}},              // the same primary and epoch again
		{head, "r3", 2, true, followMark{"r3", 2}},               // a new primary: compare first
		{head, "r3", 2, false, followMark{"r3", 2}},              // told again
		{head, "r3", 3, true, followMark{"r3", 3}},               // a newer epoch of the same primary
		// This region became primary (followed cleared), wrote, lost its
		// lease, and was told to stop writing by a node that already knows
		// r2 holds epoch 4: its last writes may be missing from r2.
		{head, "r2", 4, true, followMark{"r2", 4}},
	} {
		if i == 5 {
			followed = followMark{}
		}
		if got := followNeedsCheck(s.head, followed, s.target, s.epoch); got != s.want {
			t.Fatalf("step %d: followNeedsCheck(%v, %+v, %s, %d) = %v, want %v", i, s.head, followed, s.target, s.epoch, got, s.want)
		}
		followed = s.then
	}
}

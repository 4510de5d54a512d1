package schedule

import (
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func load(name string, max, inUse, queued int) ComputeLoad {
	return ComputeLoad{Target: tandem.ComputeTarget{Name: name, MaxInstances: max}, InUse: inUse, Queued: queued}
}

func TestAbsorbWarnings(t *testing.T) {
	loads := map[string][]ComputeLoad{
		"east":  {load("local", 8, 4, 2), load("gpu", 2, 1, 0), load("idle", 4, 0, 0)},
		"west":  {load("local", 4, 0, 0)},
		"north": {load("local", 6, 0, 0), load("gpu", 2, 0, 0)},
	}
	got := AbsorbWarnings("east", loads)
	if len(got) != 2 {
		t.Fatalf("warnings %q", got)
	}
	if !strings.Contains(got[0], `west's compute "local" allows 4 instances; east runs and queues 6 on it: after a failover 2 would wait`) {
		t.Errorf("quota warning %q", got[0])
	}
	if !strings.Contains(got[1], `west has no compute "gpu"`) {
		t.Errorf("missing compute warning %q", got[1])
	}
	// Enough everywhere, or an unreadable primary: nothing.
	loads["west"] = []ComputeLoad{load("local", 6, 0, 0), load("gpu", 1, 0, 0)}
	if got := AbsorbWarnings("east", loads); len(got) != 0 {
		t.Fatalf("no warning expected, got %q", got)
	}
	if got := AbsorbWarnings("south", loads); got != nil {
		t.Fatalf("unknown primary: %q", got)
	}
}

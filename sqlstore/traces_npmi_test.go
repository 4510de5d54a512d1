package sqlstore

import (
	"math"
	"testing"
)

func TestNPMI(t *testing.T) {
	for _, tc := range []struct {
		joint, n1, n2, total int
		raw                  float64
	}{
		{2, 2, 2, 4, 1},          // always together (n00 > 0 still: half the traces have neither)
		{0, 2, 2, 4, -1},         // never together
		{5, 5, 5, 5, 1},          // every trace has both
		{1, 2, 2, 4, 0},          // independent: p12 = p1 p2
		{0, 0, 3, 4, math.NaN()}, // an event never occurs
		{3, 2, 2, 4, math.NaN()}, // inconsistent counts
		{0, 1, 1, 0, math.NaN()}, // no population
	} {
		raw, sm := NPMI(tc.joint, tc.n1, tc.n2, tc.total)
		if math.IsNaN(tc.raw) {
			if !math.IsNaN(raw) || !math.IsNaN(sm) {
				t.Errorf("NPMI%v = %v, %v; want NaN", tc, raw, sm)
			}
			continue
		}
		if math.Abs(raw-tc.raw) > 1e-9 || sm < -1 || sm > 1 || math.IsNaN(sm) {
			t.Errorf("NPMI%v = %v, %v; want %v", tc, raw, sm, tc.raw)
		}
	}
}

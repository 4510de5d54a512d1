//go:build tandemtest

package leader_test

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/tandemml/tandem"
)

// The chaos checker itself, on made-up histories: it must flag what the
// invariants forbid and accept what they allow.

func TestEpochOrderChecker(t *testing.T) {
	w := func(region string, epoch, call, ret int64) opRec {
		return opRec{put: true, acked: true, key: "k", region: region, pos: tandem.Position{Epoch: epoch}, call: call, ret: ret}
	}
	ok := []opRec{w("a", 1, 0, 10), w("a", 1, 20, 30), w("b", 2, 25, 40), w("b", 2, 50, 60)}
	if p := epochOrderProblems(ok); len(p) != 0 {
		t.Errorf("overlapping calls across a failover flagged: %v", p)
	}
	// a (epoch 1) was sent a write after b (epoch 2) had acknowledged one.
	bad := append(ok, w("a", 1, 70, 80))
	if p := epochOrderProblems(bad); len(p) != 1 {
		t.Errorf("an old-epoch write committed after a newer epoch's write: got %v, want one problem", p)
	}
	// Unacknowledged writes say nothing.
	late := w("a", 1, 70, 80)
	late.acked = false
	if p := epochOrderProblems(append(ok, late)); len(p) != 0 {
		t.Errorf("an unacknowledged write flagged: %v", p)
	}
}

func TestRegisterHistoryChecker(t *testing.T) {
	ms := int64(time.Millisecond)
	put := func(v string, call, ret int64) opRec {
		return opRec{put: true, register: true, acked: true, key: "reg-0", value: v, call: call * ms, ret: ret * ms}
	}
	get := func(v string, call, ret int64) opRec {
		return opRec{client: 9, register: true, key: "reg-0", value: v, call: call * ms, ret: ret * ms}
	}
	unknown := func(o opRec) opRec { o.acked, o.unknown = false, true; return o }
	refused := func(o opRec) opRec { o.acked, o.unknown = false, false; return o }
	for _, tc := range []struct {
		name    string
		ops     []opRec
		div     map[string]map[string]bool
		want    porcupine.CheckResult
		sync    bool
		settled []int64
	}{
		{"read the last write", []opRec{put("a", 0, 10), put("b", 11, 20), get("b", 30, 40)}, nil, porcupine.Ok, false, nil},
		{"lost acknowledged write", []opRec{put("a", 0, 10), put("b", 11, 20), get("a", 30, 40)}, nil, porcupine.Illegal, false, nil},
		{"lost write kept in a divergence report", []opRec{put("a", 0, 10), put("b", 11, 20), get("a", 30, 40)},
			map[string]map[string]bool{"reg-0": {"b": true}}, porcupine.Ok, false, nil},
		{"sync: acknowledged write in a divergence report", []opRec{put("a", 0, 10), put("b", 11, 20), get("a", 30, 40)},
			map[string]map[string]bool{"reg-0": {"b": true}}, porcupine.Illegal, true, nil},
		{"sync: unacknowledged write in a divergence report", []opRec{put("a", 0, 10), unknown(put("b", 11, 20)), get("a", 30, 40), get("a", 50, 60)},
			map[string]map[string]bool{"reg-0": {"b": true}}, porcupine.Ok, true, nil},
		{"unknown outcome, applied", []opRec{put("a", 0, 10), unknown(put("b", 11, 20)), get("b", 30, 40)}, nil, porcupine.Ok, false, nil},
		{"unknown outcome, not applied", []opRec{put("a", 0, 10), unknown(put("b", 11, 20)), get("a", 30, 40)}, nil, porcupine.Ok, false, nil},
		{"unknown outcome, applied late", []opRec{put("a", 0, 10), unknown(put("b", 11, 20)), get("a", 30, 40), get("b", 50, 60)}, nil, porcupine.Ok, false, nil},
		{"flip-flop", []opRec{put("a", 0, 10), unknown(put("b", 11, 20)), get("b", 30, 40), get("a", 50, 60)}, nil, porcupine.Illegal, false, nil},
		{"unknown outcome applied after it settled", []opRec{put("a", 0, 10), unknown(put("b", 11, 20)), get("a", 80, 85), get("b", 90, 95)},
			nil, porcupine.Illegal, false, []int64{45 * ms, 70 * ms}},
		{"unknown outcome applied late, unsettled", []opRec{put("a", 0, 10), unknown(put("b", 11, 20)), get("a", 80, 85), get("b", 90, 95)},
			nil, porcupine.Ok, false, nil},
		{"unknown outcome applied before it settled", []opRec{put("a", 0, 10), unknown(put("b", 11, 20)), get("a", 30, 40), get("b", 50, 60)},
			nil, porcupine.Ok, false, []int64{45 * ms, 70 * ms}},
		{"refused write seen", []opRec{put("a", 0, 10), refused(put("b", 11, 20)), get("b", 30, 40)}, nil, porcupine.Illegal, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(registerModel, registerHistory(tc.ops, tc.div, tc.sync, tc.settled)); (got && tc.want != porcupine.Ok) || (!got && tc.want == porcupine.Ok) {
				t.Errorf("linearizable = %v, want %v", got, tc.want)
			}
		})
	}
}

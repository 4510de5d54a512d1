package failover

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

// hist builds entries from epochs: hist(3, 1,1,2) is seqs 3,4,5 in epochs 1,1,2.
func hist(start int64, epochs ...int64) []tandem.Entry {
	out := make([]tandem.Entry, len(epochs))
	for i, e := range epochs {
		out[i] = tandem.Entry{Position: tandem.Position{Epoch: e, Seq: start + int64(i)},
			Kind: tandem.KindRuns, Op: "run.create", Payload: json.RawMessage(`{"i":1}`)}
	}
	return out
}

func positions(es []tandem.Entry) []tandem.Position {
	out := make([]tandem.Position, len(es))
	for i, e := range es {
		out[i] = e.Position
	}
	return out
}

func TestFindDivergence(t *testing.T) {
	for _, tc := range []struct {
		name     string
		local    []tandem.Entry
		remote   []tandem.Entry
		epoch    int64
		fork     tandem.Position
		tailFrom int64 // first divergent seq, 0: none
		code     string
	}{
		{name: "identical", local: hist(1, 1, 1, 1), remote: hist(1, 1, 1, 1), epoch: 2, fork: tandem.Position{Epoch: 1, Seq: 3}},
		{name: "secondary behind", local: hist(1, 1, 1), remote: hist(1, 1, 1, 1, 2), epoch: 2, fork: tandem.Position{Epoch: 1, Seq: 2}},
		{name: "old primary wrote after the new one took over", local: hist(1, 1, 1, 1, 1), remote: hist(1, 1, 1, 2, 2), epoch: 2,
			fork: tandem.Position{Epoch: 1, Seq: 2}, tailFrom: 3},
		{name: "tail beyond the new primary's head", local: hist(1, 1, 1, 1, 1), remote: hist(1, 1, 1), epoch: 2,
			fork: tandem.Position{Epoch: 1, Seq: 2}, tailFrom: 3},
		{name: "same epoch, primary window shorter", local: hist(1, 2, 2, 2), remote: hist(1, 2), epoch: 2,
			fork: tandem.Position{Epoch: 2, Seq: 1}},
		{name: "same seq different epoch", local: hist(5, 1, 3, 3), remote: hist(5, 1, 4), epoch: 4,
			fork: tandem.Position{Epoch: 1, Seq: 5}, tailFrom: 6},
		{name: "everything diverged from seq 1", local: hist(1, 1, 1), remote: hist(1, 2), epoch: 2, tailFrom: 1},
		{name: "empty local", local: nil, remote: hist(1, 1), epoch: 2},
		{name: "window starts after the fork", local: hist(5, 1, 1), remote: hist(5, 2, 2), epoch: 2, code: tandem.EINVALIDSTATE},
		{name: "local newer than primary", local: hist(1, 1, 3), remote: hist(1, 1, 2), epoch: 2, code: tandem.EINVALIDSTATE},
		{name: "local newer beyond primary head", local: hist(1, 1, 3), remote: hist(1, 1), epoch: 2, code: tandem.EINVALIDSTATE},
		{name: "gap in local", local: append(hist(1, 1), hist(3, 1)...), remote: hist(1, 1), epoch: 2, code: tandem.EINVALID},
		{name: "misaligned remote", local: hist(1, 1, 1), remote: hist(2, 1), epoch: 2, code: tandem.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := FindDivergence(tc.local, positions(tc.remote), tc.epoch)
			if tc.code != "" {
				if tandem.ErrorCode(err) != tc.code {
					t.Fatalf("err %v, want %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Fork != tc.fork {
				t.Fatalf("fork %s, want %s", d.Fork, tc.fork)
			}
			switch {
			case tc.tailFrom == 0 && len(d.Tail) != 0:
				t.Fatalf("unexpected tail %v", positions(d.Tail))
			case tc.tailFrom != 0 && (len(d.Tail) == 0 || d.Tail[0].Seq != tc.tailFrom || d.Tail[len(d.Tail)-1].Seq != tc.local[len(tc.local)-1].Seq):
				t.Fatalf("tail %v, want from seq %d to the end", positions(d.Tail), tc.tailFrom)
			}
		})
	}
}

func TestReportRoundTrip(t *testing.T) {
	local := hist(1, 1, 1, 1, 1)
	local[3].Kind = tandem.KindModels
	d, err := FindDivergence(local, positions(hist(1, 1, 1, 2)), 2)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReport("eastus", "westus", 2, d, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if r.ID != "eastus-e1-s3" || r.Count != 2 || r.Kinds[tandem.KindRuns] != 1 || r.Kinds[tandem.KindModels] != 1 {
		t.Fatalf("report %+v", r)
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseReport(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Entries[0].Position, back.Entries[0].Position) || back.Summary() != r.Summary() {
		t.Fatalf("round trip changed the report:\n%s\n%s", r.Summary(), back.Summary())
	}
	// Tampering is detected.
	var m map[string]any
	json.Unmarshal(b, &m)
	m["count"] = 3
	bad, _ := json.Marshal(m)
	if _, err := ParseReport(bad); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("tampered count: %v", err)
	}
}

func FuzzParseReport(f *testing.F) {
	d, _ := FindDivergence(hist(1, 1, 1, 1), positions(hist(1, 1, 2)), 2)
	good, _ := NewReport("r1", "r2", 2, d, time.Unix(0, 0)).Marshal()
	f.Add(string(good))
	f.Add(`{}`)
	f.Add(`{"id":"r-e1-s1","count":1,"entries":[{"epoch":1,"seq":1,"op":"x","payload":{}}],"new_epoch":2}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReport([]byte(s))
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("code %s", tandem.ErrorCode(err))
			}
			return
		}
		// Whatever parses is consistent and survives a round trip.
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseReport(b); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

// TestFindDivergenceRandom builds histories that share a prefix, then split:
// the old primary keeps writing in its epoch, the new primary writes in a
// newer one. The fork and the tail must come out exactly.
func TestFindDivergenceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		k := rng.IntN(8) // shared entries
		var epochs []int64
		e := int64(1)
		for range k {
			if rng.IntN(3) == 0 {
				e++
			}
			epochs = append(epochs, e)
		}
		oldE := e + int64(rng.IntN(2)) // the old primary's epoch at the split
		newE := oldE + 1 + int64(rng.IntN(2))
		n, m := rng.IntN(5), rng.IntN(5)
		local := append([]int64(nil), epochs...)
		for range n {
			local = append(local, oldE)
		}
		remote := append([]int64(nil), epochs...)
		for range m {
			remote = append(remote, newE)
		}
		start := 1 + rng.IntN(max(k, 1)) // a window starting at or before the fork
		if k == 0 {
			start = 1
		}
		lw := hist(int64(start), local[start-1:]...)
		rw := positions(hist(int64(start), remote[min(start-1, len(remote)):]...))
		d, err := FindDivergence(lw, rw, newE)
		if err != nil {
			t.Fatalf("k=%d n=%d m=%d start=%d: %v", k, n, m, start, err)
		}
		if d.Fork.Seq != int64(k) || len(d.Tail) != n {
			t.Fatalf("local %v remote %v start %d: fork %s tail %d, want fork seq %d tail %d", local, remote, start, d.Fork, len(d.Tail), k, n)
		}
	}
}

// TestSameTailOneReport: in sync mode the old primary (r1) and a secondary
// that had received part of its unacknowledged tail (r3) both keep it when
// they rejoin the new primary (r2). The two reports name the same tail,
// Distinct keeps the longer one and says where else it is kept, and a
// report of another tail stays apart.
func TestSameTailOneReport(t *testing.T) {
	now := time.Unix(100, 0)
	primaryHist := positions(hist(1, 1, 1, 2))
	oldPrimary, err := FindDivergence(hist(1, 1, 1, 1, 1, 1), primaryHist, 2)
	if err != nil {
		t.Fatal(err)
	}
	secondary, err := FindDivergence(hist(1, 1, 1, 1), primaryHist, 2)
	if err != nil {
		t.Fatal(err)
	}
	r1 := NewReport("r1", "r2", 2, oldPrimary, now)
	r3 := NewReport("r3", "r2", 2, secondary, now)
	if r1.ID == r3.ID || r1.Tail == "" || r1.Tail != r3.Tail {
		t.Fatalf("the same tail is not named the same: %s %q, %s %q", r1.ID, r1.Tail, r3.ID, r3.Tail)
	}
	other := hist(1, 1, 1, 1)
	other[2].Payload = json.RawMessage(`{"i":2}`) // same position, other content: another workspace's report
	od, _ := FindDivergence(other, primaryHist, 2)
	ro := NewReport("r1", "r2", 2, od, now)
	if ro.Tail == r1.Tail {
		t.Fatal("a tail with other content has the same name")
	}
	got := Distinct([]Report{r3, ro, r1})
	if len(got) != 2 || got[0].ID != r1.ID || got[0].Count != 3 || !reflect.DeepEqual(got[0].AlsoOn, []string{"r3"}) || got[1].ID != ro.ID || got[1].AlsoOn != nil {
		t.Fatalf("distinct: %+v", got)
	}
	if r3.AlsoOn != nil || r1.AlsoOn != nil {
		t.Fatal("Distinct changed its input")
	}
	// The name survives storage, is filled in for reports stored without
	// one, and must match the entries.
	b, _ := r1.Marshal()
	back, err := ParseReport(b)
	if err != nil || back.Tail != r1.Tail {
		t.Fatalf("round trip: %v %q", err, back.Tail)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	delete(m, "tail")
	old, _ := json.Marshal(m)
	if back, err := ParseReport(old); err != nil || back.Tail != r1.Tail {
		t.Fatalf("report without a tail name: %v %q", err, back.Tail)
	}
	m["tail"] = ro.Tail
	bad, _ := json.Marshal(m)
	if _, err := ParseReport(bad); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatalf("wrong tail name accepted: %v", err)
	}
}

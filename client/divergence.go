package client

import (
	"context"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/failover"
)

// RegionReports is one region's divergence reports, or why they could not
// be read.
type RegionReports struct {
	Region
	Reports []failover.Report
	Error   error
}

// DivergenceReports reads the divergence reports of every region.
func (r *Regions) DivergenceReports(ctx context.Context) []RegionReports {
	out := make([]RegionReports, len(r.List))
	for i, reg := range r.List {
		var doc struct {
			Reports []failover.Report `json:"reports"`
		}
		out[i].Region = reg
		if err := r.call(ctx, reg, "GET", "divergence", nil, &doc); err != nil {
			out[i].Error = err
			continue
		}
		out[i].Reports = doc.Reports
	}
	return out
}

// DivergenceReport reads report id from the region that kept it (a
// report's id starts with its region's name).
func (r *Regions) DivergenceReport(ctx context.Context, id string) (failover.Report, error) {
	var lastErr error = tandem.Errorf(tandem.ENOTFOUND, "no divergence report %q in any reachable region", id)
	for _, reg := range r.List {
		if !strings.HasPrefix(id, reg.Name+"-") {
			continue
		}
		var rep failover.Report
		if err := r.call(ctx, reg, "GET", "divergence/"+id, nil, &rep); err != nil {
			lastErr = err
			continue
		}
		return rep, nil
	}
	return failover.Report{}, lastErr
}

// Replayed is what became of one replayed entry.
type Replayed struct {
	Seq      int64           `json:"seq"`
	Op       string          `json:"op"`
	Position tandem.Position `json:"position"`
	Again    bool            `json:"already_replayed"` // replayed before: Position is where
	Error    string          `json:"error"`
}

// Replay commits entries again on the current primary, each as a new write
// of its recorded op and payload, and returns the primary's name and what
// became of each entry (an entry that conflicts is reported, not
// committed).
func (r *Regions) Replay(ctx context.Context, entries []tandem.Entry) (string, []Replayed, error) {
	p := PrimaryOf(r.FailoverStatuses(ctx))
	if p == nil {
		return "", nil, tandem.Errorf(tandem.EUNAVAILABLE, "no reachable primary")
	}
	var res struct {
		Results []Replayed `json:"results"`
	}
	if err := r.call(ctx, p.Region, "POST", "replay", map[string]any{"entries": entries}, &res); err != nil {
		return p.Name, nil, err
	}
	return p.Name, res.Results, nil
}

// SelectEntries is the entries of rep whose sequence numbers are in seqs;
// all of them when seqs is empty.
func SelectEntries(rep failover.Report, seqs []int64) []tandem.Entry {
	want := map[int64]bool{}
	for _, s := range seqs {
		want[s] = true
	}
	var out []tandem.Entry
	for _, e := range rep.Entries {
		if len(want) == 0 || want[e.Seq] {
			out = append(out, e)
		}
	}
	return out
}

package drill

import (
	"context"
	"slices"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/workspace"
)

// LiveFaults are the faults a live workspace may be drilled with: only a
// planned switchover, which loses nothing and leaves every region
// running. Killing, pausing or cutting off a region is for a throwaway
// workspace (Run, tandem drill --local).
var LiveFaults = []string{"switchover"}

// RunLive drills the live workspace of the file at path: the drill's
// clients (o.Token, when set, authenticates their writes) create
// experiments on its primary while a planned switchover moves the primary
// to o.To (or the most caught-up secondary) o.Rounds times; it measures
// RTO and RPO as Run does, fails back to the first primary unless
// o.NoFailback, and runs tandem verify (o.Exe) on the file. The clients'
// experiments stay in the workspace, named drill-N-M-TIME. Faults other
// than LiveFaults are refused (EINVALID) before anything is touched.
func RunLive(ctx context.Context, o Options, path string) (*Report, error) {
	if o.Fault == "" {
		o.Fault = "switchover"
	}
	if !isLiveFault(o.Fault) {
		return nil, tandem.Errorf(tandem.EINVALID,
			"--fault %s is not drilled on a live workspace (it would stop or cut off a region that serves real clients): run it on a throwaway workspace with --local; a live drill is --fault switchover", o.Fault)
	}
	ws, err := workspace.Load(path)
	if err != nil {
		return nil, err
	}
	if len(ws.Regions) < 2 {
		return nil, tandem.Errorf(tandem.EINVALID, "workspace %s has one region: a switchover drill needs two", ws.Name)
	}
	if o.To != "" {
		if _, err := ws.Region(o.To); err != nil {
			return nil, err
		}
	}
	o.Durability, o.Lease = ws.Durability.Mode, ws.LeaseTTL
	if o.Durability == "" {
		o.Durability = workspace.Async
	}
	if o.Lease == 0 {
		o.Lease = 10 * time.Second
	}
	if err := o.defaults(); err != nil {
		return nil, err
	}
	peers, err := client.RegionsFromWorkspace(ws)
	if err != nil {
		return nil, err
	}
	d := &drill{o: o, config: path, live: true, rs: &regions{urls: map[string]string{}, hosts: map[string]string{}, peers: peers}}
	for _, r := range peers.List {
		d.rs.add(r.Name, r.URL)
	}
	return d.run(ctx)
}

func isLiveFault(f string) bool { return slices.Contains(LiveFaults, f) }

// Record records rec in the workspace rs names, on its primary, with the
// workspace peer key, and returns it as stored.
func Record(ctx context.Context, rs *client.Regions, rec tandem.DrillRecord) (*tandem.DrillRecord, error) {
	p := client.PrimaryOf(rs.FailoverStatuses(ctx))
	if p == nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "no reachable primary to record the drill on")
	}
	var out tandem.DrillRecord
	if err := rs.Call(ctx, "POST", p.URL+"/api/tandem/v1/drills", rec, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

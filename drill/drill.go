package drill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/gateway"
	"github.com/tandemml/tandem/leader"
	"github.com/tandemml/tandem/workspace"
)

// Options configure a local drill. Zero values take defaults.
type Options struct {
	Exe        string        // the tandem binary that runs the witness and the regions (required)
	Fault      string        // one of Faults; default kill
	Durability string        // sync (default) or async
	Load       time.Duration // client load before each fault; default 2s
	Lease      time.Duration // the workspace's lease_ttl; default 10s
	// Rounds: how many times the fault is injected, each time on the
	// primary the round before elected (so primaries alternate between
	// the three regions); default 1.
	Rounds int
	// Gateway puts an in-process gateway (package gateway) in front of the
	// regions; more clients write through it, beside the direct ones.
	Gateway bool
	Keep    bool      // keep the workspace directory
	Log     io.Writer // progress lines; default io.Discard
	// To is the switchover target ("" : the next region, or on a live
	// workspace the most caught-up secondary).
	To string
	// NoFailback leaves the new primary in place (a live drill only).
	NoFailback bool
	// Token is sent as a bearer token with the clients' writes (a live
	// workspace with authentication on; "" : none).
	Token string
}

func (o *Options) defaults() error {
	if o.Exe == "" {
		return tandem.Errorf(tandem.EINVALID, "drill: no tandem binary")
	}
	if o.Fault == "" {
		o.Fault = "kill"
	}
	if !ValidFault(o.Fault) {
		return tandem.Errorf(tandem.EINVALID, "--fault must be one of %s", strings.Join(Faults, ", "))
	}
	if o.Durability == "" {
		o.Durability = "sync"
	}
	if o.Durability != "sync" && o.Durability != "async" {
		return tandem.Errorf(tandem.EINVALID, "--durability must be sync or async")
	}
	if o.Load == 0 {
		o.Load = 2 * time.Second
	}
	if o.Lease == 0 {
		o.Lease = 10 * time.Second
	}
	if o.Lease < time.Second {
		return tandem.Errorf(tandem.EINVALID, "--lease-ttl must be at least 1s")
	}
	if o.Rounds == 0 {
		o.Rounds = 1
	}
	if o.Rounds < 1 || o.Rounds > 20 {
		return tandem.Errorf(tandem.EINVALID, "--rounds must be between 1 and 20")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return nil
}

// gatewayRetryFor is how long the drill's gateway holds one request
// across a failover (the gateway's default).
const gatewayRetryFor = 30 * time.Second

// drill is one local drill while it runs.
type drill struct {
	o       Options
	dir     string
	config  string            // the operator's workspace file (real addresses)
	configs map[string]string // each region's own file
	procs   *procs
	rs      *regions
	net     *network // partition drills only
	links   []link
	w       *writers
	live    bool // a live workspace (RunLive): no processes of its own
}

// Run starts a throwaway workspace (a witness and three regions, each a
// process of o.Exe, SQLite and folders in a temporary directory), lets
// clients write, injects the fault o.Rounds times, measures RTO and RPO,
// waits for every old primary to rejoin, fails back to the first primary,
// runs tandem verify, and removes the directory (unless o.Keep). The
// report's Failure says which invariant the outcome broke; an error means
// the drill could not run to the end. On either, the tails of the
// processes' logs are written to o.Log.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tandem-drill-")
	if err != nil {
		return nil, err
	}
	d := &drill{o: o, dir: dir, procs: newProcs(o.Exe, dir)}
	defer func() {
		d.procs.killAll()
		if err != nil || (rep != nil && rep.Failure != "") {
			writeTails(o.Log, dir, 40)
		}
		if !o.Keep {
			os.RemoveAll(dir)
		}
	}()
	if err := d.setUp(ctx); err != nil {
		return nil, err
	}
	if d.net != nil {
		defer d.net.close()
	}
	return d.run(ctx)
}

func (d *drill) say(format string, args ...any) { fmt.Fprintf(d.o.Log, "drill: "+format+"\n", args...) }

func loopbackPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// setUp writes the keys and workspace files and starts the witness and
// the regions.
func (d *drill) setUp(ctx context.Context) error {
	key, wkey := make([]byte, 32), make([]byte, 32)
	rand.Read(key)
	rand.Read(wkey)
	if err := os.WriteFile(filepath.Join(d.dir, "peer.key"), []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d.dir, "witness.key"), []byte(hex.EncodeToString(wkey)+"\n"), 0o600); err != nil {
		return err
	}
	wAddr, err := loopbackPort()
	if err != nil {
		return err
	}
	d.rs = &regions{urls: map[string]string{}, hosts: map[string]string{}}
	var regs []region
	for _, n := range []string{"r1", "r2", "r3"} {
		addr, err := loopbackPort()
		if err != nil {
			return err
		}
		d.rs.add(n, "http://"+addr)
		regs = append(regs, region{Name: n, URL: d.rs.urls[n],
			Metadata: "sqlite://" + filepath.Join(d.dir, n, "tandem.db"), Artifacts: "file://" + filepath.Join(d.dir, n, "artifacts")})
	}
	// The operator's file (verify) has the real addresses; each region has
	// its own file, which for a partition drill points it at proxies in
	// front of the other regions and the witness.
	d.config = filepath.Join(d.dir, "workspace.yaml")
	if err := os.WriteFile(d.config, []byte(workspaceFile(d.o.Durability, d.o.Lease, "http://"+wAddr, regs, "", nil)), 0o600); err != nil {
		return err
	}
	// The peer key as the regions read it from the file.
	ws, err := workspace.Load(d.config)
	if err != nil {
		return err
	}
	if d.rs.peers, err = client.RegionsFromWorkspace(ws); err != nil {
		return err
	}
	d.links = allLinks(d.rs.names)
	if d.o.Fault == "partition" {
		d.net = newNetwork()
	}
	d.configs = map[string]string{}
	for _, n := range d.rs.names {
		via := map[string]string{}
		if d.net != nil {
			for _, l := range d.links {
				if l.From != n {
					continue
				}
				up := wAddr
				if l.To != "witness" {
					up = strings.TrimPrefix(d.rs.urls[l.To], "http://")
				}
				if via[l.To], err = d.net.add(l, up); err != nil {
					return err
				}
			}
		}
		d.configs[n] = filepath.Join(d.dir, "workspace-"+n+".yaml")
		if err := os.WriteFile(d.configs[n], []byte(workspaceFile(d.o.Durability, d.o.Lease, "http://"+wAddr, regs, n, via)), 0o600); err != nil {
			return err
		}
	}
	if err := d.procs.start("witness", "witness", "--listen", wAddr, "--data", filepath.Join(d.dir, "witness"), "--key-file", filepath.Join(d.dir, "witness.key")); err != nil {
		return err
	}
	for _, n := range d.rs.names {
		if err := d.startRegion(n); err != nil {
			return err
		}
	}
	return nil
}

func (d *drill) startRegion(n string) error {
	return d.procs.start(n, "server", "--config", d.configs[n], "--region", n)
}

// startGateway serves an in-process gateway in front of the regions on a
// loopback port until ctx ends, logging to gateway.log, and returns its
// URL.
func (d *drill) startGateway(ctx context.Context) (string, error) {
	lf, err := os.OpenFile(filepath.Join(d.dir, "gateway.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return "", err
	}
	context.AfterFunc(ctx, func() { lf.Close() })
	cfg := gateway.Config{RetryFor: gatewayRetryFor, Logger: slog.New(slog.NewTextHandler(lf, nil))}
	for _, n := range d.rs.names {
		cfg.Regions = append(cfg.Regions, gateway.Region{Name: n, URL: d.rs.urls[n]})
	}
	g, err := gateway.New(cfg)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	go g.Run(ctx)
	go srv.Serve(ln)
	context.AfterFunc(ctx, func() { srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

func (d *drill) run(ctx context.Context) (*Report, error) {
	o := d.o
	if d.live {
		d.say("live workspace %s: regions %s (lease %s)", d.config, d.rs, o.Lease)
	} else {
		d.say("workspace in %s: witness and regions %s starting (lease %s)", d.dir, d.rs, o.Lease)
	}
	if err := waitUntil(ctx, 30*time.Second+2*o.Lease, "a primary that every region follows", d.dir, func() bool { return d.rs.settled(ctx) }); err != nil {
		return nil, err
	}
	first, firstE := d.rs.primary(ctx)
	rep := &Report{Fault: o.Fault, DurabilityMode: o.Durability, LeaseTTLSeconds: o.Lease.Seconds(), Gateway: o.Gateway}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.w = newWriters(cctx, gatewayRetryFor)
	d.w.token, d.w.regionAt = o.Token, d.rs.regionAt
	defer d.w.halt()
	for i := range 3 {
		d.w.direct(i, d.rs)
	}
	if o.Gateway {
		gw, err := d.startGateway(cctx)
		if err != nil {
			return nil, err
		}
		for i := range 3 {
			d.w.throughGateway(i, gw)
		}
		d.say("gateway at %s; clients write through it too", gw)
	}
	d.say("primary %s in epoch %d; clients writing for %s", first, firstE, o.Load)
	// A fault injected while no client can write would wait out every
	// timeout for nothing (a live workspace that refuses the token).
	if err := waitUntil(ctx, 15*time.Second, "a first acknowledged write", d.dir, func() bool { acks, _ := d.w.snapshot(""); return len(acks) > 0 }); err != nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "drill: the clients could not write to %s (last answer: %s); with authentication on, TANDEM_TOKEN must hold a token that may create experiments",
			first, d.w.lastFailure())
	}
	cur, curE := first, firstE
	for i := range o.Rounds {
		r, err := d.round(ctx, cur, curE)
		if err != nil {
			return nil, err
		}
		rep.Rounds = append(rep.Rounds, r)
		if i == 0 {
			rep.OldPrimary, rep.OldEpoch, rep.NewPrimary, rep.NewEpoch = r.OldPrimary, r.OldEpoch, r.NewPrimary, r.NewEpoch
			rep.RTOSeconds, rep.GatewayRTOSeconds, rep.FaultSeconds = r.RTOSeconds, r.GatewayRTOSeconds, r.FaultSeconds
		}
		cur, curE = r.NewPrimary, r.NewEpoch
	}
	d.w.halt()
	d.measureRPO(ctx, rep, cur)
	d.timeline(ctx, rep, cur)
	rep.DetectionSeconds, rep.ResumedSeconds = rep.Rounds[0].DetectionSeconds, rep.Rounds[0].ResumedSeconds
	if o.NoFailback {
		d.say("not failing back (--no-failback): %s stays the primary", cur)
		rep.FailedBack = true
	} else {
		rep.FailedBack = d.failBack(ctx, first, cur)
	}
	rep.VerifyOK, rep.VerifyOutput = d.verify(ctx)
	if o.Keep {
		rep.WorkspaceDir = d.dir
	}
	rep.Failure = failure(rep)
	return rep, nil
}

// round injects the fault into primary old (in epoch oldE), measures the
// RTO, ends the fault and waits for old to rejoin as a secondary.
func (d *drill) round(ctx context.Context, old string, oldE int64) (Round, error) {
	o := d.o
	// The fault hits a random point of the primary's renewal cycle (it
	// renews every quarter lease): how long its lease still runs after the
	// fault is part of what a drill measures.
	if err := sleep(ctx, o.Load+faultJitter(o.Lease)); err != nil {
		return Round{}, err
	}
	r := Round{OldPrimary: old, OldEpoch: oldE}
	hold := faultHold(o.Fault, o.Lease)
	faultAt := time.Now()
	switch o.Fault {
	case "kill":
		d.say("SIGKILL %s", old)
		d.procs.signal(old, syscall.SIGKILL)
	case "pause":
		d.say("SIGSTOP %s for %s", old, hold)
		d.procs.signal(old, syscall.SIGSTOP)
	case "partition":
		d.say("cutting %s off from the witness and the other regions for %s", old, hold)
		if err := d.net.partition(partitionCuts(d.links, old)); err != nil {
			return r, err
		}
	case "switchover":
		to := d.o.To
		if to == "" || to == old {
			to = d.rs.names[(slices.Index(d.rs.names, old)+1)%len(d.rs.names)]
			if d.live {
				if to = bestSecondary(d.rs.names, d.rs.statuses(ctx), old); to == "" {
					return r, tandem.Errorf(tandem.EUNAVAILABLE, "drill: no secondary of %s is reachable and following it", old)
				}
			}
		}
		d.say("planned switchover %s -> %s", old, to)
		if err := d.rs.call(ctx, "POST", d.rs.urls[old]+leader.Prefix+"switchover", map[string]any{"target": to}, nil); err != nil {
			return r, err
		}
	}
	var firstNew ack
	if err := waitUntil(ctx, 60*time.Second+3*o.Lease, "writes in a new epoch", d.dir, func() bool {
		acks, _ := d.w.snapshot(viaDirect)
		var ok bool
		firstNew, r.lastOld, ok = measureRTO(acks, old, oldE)
		return ok
	}); err != nil {
		return r, err
	}
	r.NewPrimary, r.NewEpoch = firstNew.region, firstNew.pos.Epoch
	r.RTOSeconds = firstNew.at.Sub(r.lastOld).Seconds()
	d.say("%s accepts writes in epoch %d (RTO %.2fs)", r.NewPrimary, r.NewEpoch, r.RTOSeconds)
	if hold > 0 {
		if err := sleep(ctx, time.Until(faultAt.Add(hold))); err != nil {
			return r, err
		}
		r.FaultSeconds = time.Since(faultAt).Seconds()
		switch o.Fault {
		case "pause":
			d.say("SIGCONT %s after %.1fs", old, r.FaultSeconds)
			d.procs.signal(old, syscall.SIGCONT)
		case "partition":
			d.say("healing the partition of %s after %.1fs", old, r.FaultSeconds)
			if err := d.net.heal(ctx); err != nil {
				return r, err
			}
		}
	}
	// Late acknowledgements from the old primary (a paused process
	// answering a request it had taken before the pause) count too.
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return r, err
	}
	if o.Fault == "kill" {
		d.say("restarting %s", old)
		if err := d.startRegion(old); err != nil {
			return r, err
		}
	}
	j := &rejoin{old: old, primary: r.NewPrimary}
	if err := waitUntil(ctx, 60*time.Second+3*o.Lease, old+" to rejoin as a secondary", d.dir, func() bool {
		return d.rs.rejoined(ctx, j)
	}); err != nil {
		return r, tandem.Errorf(tandem.ErrorCode(err), "%s; last seen: %s", tandem.ErrorMessage(err), j.seen)
	}
	d.say("%s rejoined as a secondary of %s", old, r.NewPrimary)
	if o.Gateway {
		// The gateway's clients may still be held by the gateway: give
		// them as long as the gateway holds a request.
		if err := waitUntil(ctx, gatewayRetryFor+o.Lease, "a write through the gateway in epoch "+fmt.Sprint(r.NewEpoch), d.dir, func() bool {
			acks, _ := d.w.snapshot(viaGateway)
			first, last, ok := measureRTO(acks, old, oldE)
			if ok {
				r.GatewayRTOSeconds = first.at.Sub(last).Seconds()
			}
			return ok
		}); err != nil {
			return r, err
		}
		d.say("through the gateway: RTO %.2fs", r.GatewayRTOSeconds)
	}
	return r, nil
}

// measureRPO checks every acknowledged write against primary's history
// and the divergence reports of every region.
func (d *drill) measureRPO(ctx context.Context, rep *Report, primary string) {
	divergent := map[string]bool{}
	// Every region's reports: a secondary may keep the same tail as an old
	// primary, counted once.
	for _, r := range failover.Distinct(d.rs.divergentReports(ctx, d.rs.names)) {
		rep.InDivergence += r.Count
		for _, e := range r.Entries {
			var p struct {
				Name string `json:"name"`
			}
			json.Unmarshal(e.Payload, &p)
			if p.Name != "" {
				divergent[p.Name] = true
			}
		}
	}
	acks, dups := d.w.snapshot("")
	gw, _ := d.w.snapshot(viaGateway)
	rep.Acknowledged, rep.GatewayAcknowledged, rep.Duplicates = len(acks), len(gw), dups
	hc := &http.Client{Timeout: 5 * time.Second}
	rpo := classifyRPO(acks, func(name string) bool {
		resp, err := hc.Get(d.rs.urls[primary] + "/api/2.0/mlflow/experiments/get-by-name?" + url.Values{"experiment_name": {name}}.Encode())
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, func(name string) bool { return divergent[name] })
	rep.MissingAfter, rep.MissingInReport, rep.Lost = rpo.Missing, rpo.InDivergence, rpo.Lost
}

// timeline fills each round's detection and resume times from primary's
// epoch history (tandem history); a switchover has none.
func (d *drill) timeline(ctx context.Context, rep *Report, primary string) {
	if d.o.Fault == "switchover" {
		return
	}
	var hist struct {
		Epochs []tandem.EpochRecord `json:"epochs"`
	}
	if d.rs.call(ctx, "GET", d.rs.urls[primary]+leader.Prefix+"history", nil, &hist) != nil {
		return
	}
	for i := range rep.Rounds {
		r := &rep.Rounds[i]
		for _, e := range hist.Epochs {
			if e.Epoch == r.NewEpoch && e.DetectedMS > 0 {
				r.DetectionSeconds = time.UnixMilli(e.DetectedMS).Sub(r.lastOld).Seconds()
				r.ResumedSeconds = time.UnixMilli(e.ResumedMS).Sub(r.lastOld).Seconds()
			}
		}
	}
}

// failBack makes first the primary again with planned switchovers from
// cur, and says whether it is.
func (d *drill) failBack(ctx context.Context, first, cur string) bool {
	d.say("failing back to %s (planned switchover)", first)
	return waitUntil(ctx, 30*time.Second+3*d.o.Lease, "fail back", d.dir, func() bool {
		if st := d.rs.status(ctx, first); st != nil && st.Role == tandem.RolePrimary && st.WritesAllowed {
			return true
		}
		if p, _ := d.rs.primary(ctx); p != "" {
			cur = p
		}
		if err := d.rs.call(ctx, "POST", d.rs.urls[cur]+leader.Prefix+"switchover", map[string]any{"target": first}, nil); err != nil {
			d.say("switchover %s -> %s: %s", cur, first, tandem.ErrorMessage(err))
		}
		time.Sleep(500 * time.Millisecond)
		return false
	}) == nil
}

// verify runs tandem verify until it passes (replication may still be
// catching up), for at most 40 tries.
func (d *drill) verify(ctx context.Context) (bool, string) {
	var out []byte
	var err error
	for range 40 {
		out, err = exec.CommandContext(ctx, d.o.Exe, "verify", "--workspace", d.config).CombinedOutput()
		if err == nil {
			return true, ""
		}
		time.Sleep(250 * time.Millisecond)
	}
	return false, strings.TrimSpace(string(out))
}

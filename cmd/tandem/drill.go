package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/leader"
	"github.com/tandemml/tandem/sqlstore"
)

// drillReport is what `tandem drill` prints.
type drillReport struct {
	Fault           string  `json:"fault"`
	OldPrimary      string  `json:"old_primary"`
	NewPrimary      string  `json:"new_primary"`
	OldEpoch        int64   `json:"old_epoch"`
	NewEpoch        int64   `json:"new_epoch"`
	LeaseTTLSeconds float64 `json:"lease_ttl_seconds"`
	RTOSeconds      float64 `json:"rto_seconds"` // last ack on the old primary -> first ack on the new one
	// DetectionSeconds: last ack on the old primary -> the new primary's
	// record of when it saw the old lease expired (tandem history); the
	// rest of the RTO is the election and the clients finding the new
	// primary. 0 when unknown (switchover).
	DetectionSeconds float64 `json:"detection_seconds,omitempty"`
	// ResumedSeconds: last ack on the old primary -> the new primary's
	// record of when its writes resumed.
	ResumedSeconds  float64 `json:"resumed_seconds,omitempty"`
	FaultSeconds    float64 `json:"fault_seconds,omitempty"` // how long the pause or partition lasted
	Acknowledged    int     `json:"acknowledged_writes"`
	MissingAfter    int     `json:"rpo_missing_writes"`        // acknowledged, not in the new primary's history
	MissingInReport int     `json:"rpo_missing_in_divergence"` // of those, kept in a divergence report
	Lost            int     `json:"rpo_lost_writes"`           // of those, in no divergence report
	InDivergence    int     `json:"rpo_divergent_writes"`      // entries the old primary kept in divergence reports
	FailedBack      bool    `json:"failed_back"`
	VerifyOK        bool    `json:"verify_ok"`
	VerifyOutput    string  `json:"verify_output,omitempty"`
	WorkspaceDir    string  `json:"workspace_dir,omitempty"`
	DurabilityMode  string  `json:"durability"`
	Failure         string  `json:"failure,omitempty"`
}

func newDrillCmd() *cobra.Command {
	var local, asJSON, keep bool
	var fault, mode string
	var load, lease time.Duration
	cmd := &cobra.Command{
		Use:   "drill --local",
		Short: "Run a failover drill on a throwaway local workspace and print RTO and RPO",
		Long: `Run a failover drill. With --local (the only target for now) it starts a throwaway workspace on
this machine: a built-in witness and three regions, each its own process, with SQLite and local
folders in a temporary directory. Clients create experiments through the MLflow API while the drill
injects the fault:

  kill        SIGKILL the primary (it is restarted after the failover)
  pause       SIGSTOP the primary for longer than the lease, then SIGCONT: it must come back demoted
  partition   cut the primary off from the witness and the other regions for longer than the lease,
              then heal (the regions reach each other and the witness through toxiproxy proxies run
              inside the drill process; nothing to install)
  switchover  a planned switchover

It measures the RTO as the clients saw it (last acknowledged write on the old primary to the first on
the new one) and the RPO (acknowledged writes missing from the new primary's history; those kept in
a divergence report are counted apart), waits for the old primary to rejoin as a secondary, fails
back with a planned switchover, runs tandem verify, and cleans up. It exits non-zero when verify
fails, when sync mode lost an acknowledged write, or when a missing write is in no divergence report.`,
		Example: `  tandem drill --local
  tandem drill --local --fault partition --durability async --json
  tandem drill --local --fault pause --lease-ttl 2s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !local {
				return tandem.Errorf(tandem.EINVALID, "only --local drills exist for now")
			}
			if !validFault(fault) {
				return tandem.Errorf(tandem.EINVALID, "--fault must be one of %s", strings.Join(drillFaults, ", "))
			}
			if mode != "sync" && mode != "async" {
				return tandem.Errorf(tandem.EINVALID, "--durability must be sync or async")
			}
			if lease < time.Second {
				return tandem.Errorf(tandem.EINVALID, "--lease-ttl must be at least 1s")
			}
			rep, err := runLocalDrill(cmd.Context(), cmd.ErrOrStderr(), drillOptions{fault: fault, mode: mode, load: load, lease: lease, keep: keep})
			if err != nil {
				return err
			}
			rep.Failure = drillFailed(rep)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(out, "drill: fault %s, durability %s, lease %s\n", rep.Fault, rep.DurabilityMode, lease)
				fmt.Fprintf(out, "  primary        %s (epoch %d) -> %s (epoch %d)\n", rep.OldPrimary, rep.OldEpoch, rep.NewPrimary, rep.NewEpoch)
				fmt.Fprintf(out, "  RTO            %.2fs (last write acknowledged by %s -> first by %s)\n", rep.RTOSeconds, rep.OldPrimary, rep.NewPrimary)
				if rep.DetectionSeconds > 0 {
					fmt.Fprintf(out, "                 detected after %.2fs, writes open after %.2fs\n", rep.DetectionSeconds, rep.ResumedSeconds)
				}
				fmt.Fprintf(out, "  RPO            %d of %d acknowledged writes missing (%d in divergence reports, %d lost); %d entries in divergence reports\n",
					rep.MissingAfter, rep.Acknowledged, rep.MissingInReport, rep.Lost, rep.InDivergence)
				fmt.Fprintf(out, "  failed back    %v\n", rep.FailedBack)
				fmt.Fprintf(out, "  verify         %v\n", rep.VerifyOK)
				if rep.WorkspaceDir != "" {
					fmt.Fprintf(out, "  workspace kept in %s\n", rep.WorkspaceDir)
				}
			}
			if rep.Failure != "" {
				return tandem.Errorf(tandem.ECONFLICT, "drill failed: %s", rep.Failure)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&local, "local", false, "drill a throwaway local workspace (three regions and a witness)")
	f.StringVar(&fault, "fault", "kill", "fault to inject: kill, pause, partition or switchover")
	f.StringVar(&mode, "durability", "sync", "durability mode of the drill workspace: sync or async")
	f.DurationVar(&load, "load", 2*time.Second, "client load before the fault")
	f.DurationVar(&lease, "lease-ttl", 10*time.Second, "lease_ttl of the drill workspace (the default setting is 10s)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&keep, "keep", false, "keep the workspace directory")
	return cmd
}

func loopbackPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

type drillOptions struct {
	fault, mode string
	load, lease time.Duration
	keep        bool
}

func runLocalDrill(ctx context.Context, logw io.Writer, o drillOptions) (*drillReport, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tandem-drill-")
	if err != nil {
		return nil, err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	key := make([]byte, 32)
	rand.Read(key)
	wkey := make([]byte, 32)
	rand.Read(wkey)
	if err := os.WriteFile(filepath.Join(dir, "peer.key"), []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "witness.key"), []byte(hex.EncodeToString(wkey)+"\n"), 0o600); err != nil {
		return nil, err
	}
	env := os.Environ()
	wAddr, err := loopbackPort()
	if err != nil {
		return nil, err
	}
	names := []string{"r1", "r2", "r3"}
	urls := map[string]string{}
	var regions []drillRegion
	for _, n := range names {
		addr, err := loopbackPort()
		if err != nil {
			return nil, err
		}
		urls[n] = "http://" + addr
		regions = append(regions, drillRegion{Name: n, URL: urls[n],
			Metadata: "sqlite://" + filepath.Join(dir, n, "tandem.db"), Artifacts: "file://" + filepath.Join(dir, n, "artifacts")})
	}
	// The operator's file (CLI, verify, the drill's clients) has the real
	// addresses; each region has its own file, which for a partition drill
	// points it at proxies in front of the other regions and the witness.
	config := filepath.Join(dir, "workspace.yaml")
	if err := os.WriteFile(config, []byte(drillWorkspace(o.mode, o.lease, "http://"+wAddr, regions, "", nil)), 0o600); err != nil {
		return nil, err
	}
	configs := map[string]string{}
	var dnet *drillNet
	links := drillLinks(names)
	if o.fault == "partition" {
		dnet = newDrillNet()
		defer dnet.close()
	}
	for _, n := range names {
		via := map[string]string{}
		if dnet != nil {
			for _, l := range links {
				if l.From != n {
					continue
				}
				up := wAddr
				if l.To != "witness" {
					up = strings.TrimPrefix(urls[l.To], "http://")
				}
				if via[l.To], err = dnet.add(l, up); err != nil {
					return nil, err
				}
			}
		}
		configs[n] = filepath.Join(dir, "workspace-"+n+".yaml")
		if err := os.WriteFile(configs[n], []byte(drillWorkspace(o.mode, o.lease, "http://"+wAddr, regions, n, via)), 0o600); err != nil {
			return nil, err
		}
	}
	var mu sync.Mutex
	procs := map[string]*exec.Cmd{}
	start := func(name string, args ...string) error {
		lf, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		c := exec.Command(exe, args...)
		c.Env, c.Stdout, c.Stderr = env, lf, lf
		c.SysProcAttr = childAttr()
		if err := c.Start(); err != nil {
			lf.Close()
			return err
		}
		go func() { c.Wait(); lf.Close() }()
		mu.Lock()
		procs[name] = c
		mu.Unlock()
		return nil
	}
	signal := func(name string, sig syscall.Signal) {
		mu.Lock()
		c := procs[name]
		if sig == syscall.SIGKILL {
			delete(procs, name)
		}
		mu.Unlock()
		if c != nil {
			c.Process.Signal(sig)
		}
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range procs {
			c.Process.Signal(syscall.SIGKILL)
		}
	}()
	say := func(format string, args ...any) { fmt.Fprintf(logw, "drill: "+format+"\n", args...) }
	if err := start("witness", "witness", "--listen", wAddr, "--data", filepath.Join(dir, "witness"), "--key-file", filepath.Join(dir, "witness.key")); err != nil {
		return nil, err
	}
	startRegion := func(n string) error { return start(n, "server", "--config", configs[n], "--region", n) }
	for _, n := range names {
		if err := startRegion(n); err != nil {
			return nil, err
		}
	}
	fc, err := newFailoverClient(config)
	if err != nil {
		return nil, err
	}
	waitUntil := func(d time.Duration, what string, cond func() bool) error {
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			if cond() {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		return tandem.Errorf(tandem.EUNAVAILABLE, "drill: timed out waiting for %s (logs in %s)", what, dir)
	}
	// statuses asks every region at once, each for at most a second: a
	// paused or cut-off region must not hold the clients up.
	statuses := func() map[string]*leader.StatusDoc {
		out := map[string]*leader.StatusDoc{}
		var smu sync.Mutex
		var wg sync.WaitGroup
		for _, n := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				var st leader.StatusDoc
				if fc.call(cctx, "GET", urls[n]+leader.Prefix+"status", nil, &st) == nil {
					smu.Lock()
					out[n] = &st
					smu.Unlock()
				}
			}()
		}
		wg.Wait()
		return out
	}
	// primary is the region that says it accepts writes, in the newest
	// epoch among the answers; it returns as soon as one region says so
	// (the clients must not wait for a paused region's timeout: a stale
	// answer only costs a refused write).
	primary := func() (string, int64) {
		type answer struct {
			name string
			st   *leader.StatusDoc
		}
		ch := make(chan answer, len(names))
		for _, n := range names {
			go func() {
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				var st leader.StatusDoc
				if fc.call(cctx, "GET", urls[n]+leader.Prefix+"status", nil, &st) != nil {
					ch <- answer{n, nil}
					return
				}
				ch <- answer{n, &st}
			}()
		}
		for range names {
			a := <-ch
			if a.st != nil && a.st.Role == failover.Primary && a.st.WritesAllowed {
				return a.name, a.st.Epoch
			}
		}
		return "", 0
	}
	say("workspace in %s: witness and regions %v starting (lease %s)", dir, names, o.lease)
	if err := waitUntil(30*time.Second+2*o.lease, "a primary", func() bool {
		p, _ := primary()
		if p == "" {
			return false
		}
		sts := statuses()
		for _, n := range names {
			if s := sts[n]; s == nil || (n != p && s.Primary != p) {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, err
	}
	oldP, oldE := primary()
	say("primary %s in epoch %d; clients writing for %s", oldP, oldE, o.load)

	// Clients: create experiments on whichever region is primary.
	hc := &http.Client{Timeout: 5 * time.Second}
	var amu sync.Mutex
	var acks []drillAck
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			target := ""
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				if target == "" {
					if target, _ = primary(); target == "" {
						time.Sleep(50 * time.Millisecond)
						continue
					}
				}
				name := fmt.Sprintf("drill-%d-%d-%d", i, j, time.Now().UnixNano())
				body := strings.NewReader(fmt.Sprintf(`{"name": %q}`, name))
				resp, err := hc.Post(urls[target]+"/api/2.0/mlflow/experiments/create", "application/json", body)
				if err != nil {
					target = ""
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					target = ""
					time.Sleep(20 * time.Millisecond)
					continue
				}
				var pos tandem.Position
				fmt.Sscanf(resp.Header.Get("X-Tandem-Position"), "%d/%d", &pos.Epoch, &pos.Seq)
				amu.Lock()
				acks = append(acks, drillAck{region: target, name: name, pos: pos, at: time.Now()})
				amu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}(i)
	}
	halt := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}
	defer halt()
	// The fault hits a random point of the primary's renewal cycle (it
	// renews every quarter lease): how long its lease still runs after the
	// fault is part of what a drill measures.
	time.Sleep(o.load + faultJitter(o.lease))
	rep := &drillReport{Fault: o.fault, OldPrimary: oldP, OldEpoch: oldE, DurabilityMode: o.mode, LeaseTTLSeconds: o.lease.Seconds()}
	others := []string{}
	for _, n := range names {
		if n != oldP {
			others = append(others, n)
		}
	}
	faultAt := time.Now()
	switch o.fault {
	case "kill":
		say("SIGKILL %s", oldP)
		signal(oldP, syscall.SIGKILL)
	case "pause":
		say("SIGSTOP %s for %s", oldP, faultHold(o.fault, o.lease))
		signal(oldP, syscall.SIGSTOP)
	case "partition":
		say("cutting %s off from the witness and the other regions for %s", oldP, faultHold(o.fault, o.lease))
		if err := dnet.partition(partitionCuts(links, oldP)); err != nil {
			return nil, err
		}
	case "switchover":
		say("planned switchover %s -> %s", oldP, others[0])
		if err := fc.call(ctx, "POST", urls[oldP]+leader.Prefix+"switchover", map[string]any{"target": others[0]}, nil); err != nil {
			return nil, err
		}
	}
	var first drillAck
	var lastOld time.Time
	if err := waitUntil(60*time.Second+3*o.lease, "writes in a new epoch", func() bool {
		amu.Lock()
		defer amu.Unlock()
		var ok bool
		first, lastOld, ok = measureRTO(acks, oldP, oldE)
		return ok
	}); err != nil {
		return nil, err
	}
	rep.NewPrimary, rep.NewEpoch = first.region, first.pos.Epoch
	rep.RTOSeconds = first.at.Sub(lastOld).Seconds()
	say("%s accepts writes in epoch %d (RTO %.2fs)", rep.NewPrimary, rep.NewEpoch, rep.RTOSeconds)
	if hold := faultHold(o.fault, o.lease); hold > 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Until(faultAt.Add(hold))):
		}
		rep.FaultSeconds = time.Since(faultAt).Seconds()
		switch o.fault {
		case "pause":
			say("SIGCONT %s after %.1fs", oldP, rep.FaultSeconds)
			signal(oldP, syscall.SIGCONT)
		case "partition":
			say("healing the partition of %s after %.1fs", oldP, rep.FaultSeconds)
			if err := dnet.heal(ctx); err != nil {
				return nil, err
			}
		}
	}
	// Late acknowledgements from the old primary (a paused process
	// answering a request it had taken before the pause) count too.
	time.Sleep(500 * time.Millisecond)
	if o.fault == "kill" {
		say("restarting %s", oldP)
		if err := startRegion(oldP); err != nil {
			return nil, err
		}
	}
	if err := waitUntil(60*time.Second+3*o.lease, oldP+" to rejoin as a secondary", func() bool {
		var st, pst leader.StatusDoc
		if fc.call(ctx, "GET", urls[oldP]+leader.Prefix+"status", nil, &st) != nil ||
			fc.call(ctx, "GET", urls[rep.NewPrimary]+leader.Prefix+"status", nil, &pst) != nil {
			return false
		}
		return st.Role == failover.Secondary && st.Primary == rep.NewPrimary && st.Head.Seq >= pst.Head.Seq-5
	}); err != nil {
		return nil, err
	}
	halt()
	say("%s rejoined as a secondary of %s", oldP, rep.NewPrimary)

	// RPO: every acknowledged write must be in the new primary's history
	// or in a divergence report.
	divergent := map[string]bool{}
	var div struct {
		Reports []failover.Report `json:"reports"`
	}
	if err := fc.call(ctx, "GET", urls[oldP]+leader.Prefix+"divergence", nil, &div); err == nil {
		for _, r := range div.Reports {
			rep.InDivergence += r.Count
			var full failover.Report
			if fc.call(ctx, "GET", urls[oldP]+leader.Prefix+"divergence/"+r.ID, nil, &full) != nil {
				continue
			}
			for _, e := range full.Entries {
				var p struct {
					Name string `json:"name"`
				}
				json.Unmarshal(e.Payload, &p)
				if p.Name != "" {
					divergent[p.Name] = true
				}
			}
		}
	}
	amu.Lock()
	rep.Acknowledged = len(acks)
	rpo := classifyRPO(acks, func(name string) bool {
		resp, err := hc.Get(urls[rep.NewPrimary] + "/api/2.0/mlflow/experiments/get-by-name?" + url.Values{"experiment_name": {name}}.Encode())
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, func(name string) bool { return divergent[name] })
	amu.Unlock()
	rep.MissingAfter, rep.MissingInReport, rep.Lost = rpo.Missing, rpo.InDivergence, rpo.Lost
	if o.fault != "switchover" {
		var hist struct {
			Epochs []sqlstore.EpochRecord `json:"epochs"`
		}
		if fc.call(ctx, "GET", urls[rep.NewPrimary]+leader.Prefix+"history", nil, &hist) == nil {
			for _, e := range hist.Epochs {
				if e.Epoch == rep.NewEpoch && e.DetectedMS > 0 {
					rep.DetectionSeconds = time.UnixMilli(e.DetectedMS).Sub(lastOld).Seconds()
					rep.ResumedSeconds = time.UnixMilli(e.ResumedMS).Sub(lastOld).Seconds()
				}
			}
		}
	}
	say("failing back to %s (planned switchover)", oldP)
	if err := waitUntil(30*time.Second+3*o.lease, "fail back", func() bool {
		var st leader.StatusDoc
		if fc.call(ctx, "GET", urls[oldP]+leader.Prefix+"status", nil, &st) == nil && st.Role == failover.Primary && st.WritesAllowed {
			return true
		}
		fc.call(ctx, "POST", urls[rep.NewPrimary]+leader.Prefix+"switchover", map[string]any{"target": oldP}, nil)
		time.Sleep(500 * time.Millisecond)
		return false
	}); err == nil {
		rep.FailedBack = true
	}
	for i := 0; i < 40 && !rep.VerifyOK; i++ {
		out, err := exec.CommandContext(ctx, exe, "verify", "--workspace", config).CombinedOutput()
		rep.VerifyOK, rep.VerifyOutput = err == nil, strings.TrimSpace(string(out))
		if !rep.VerifyOK {
			time.Sleep(250 * time.Millisecond)
		}
	}
	if rep.VerifyOK {
		rep.VerifyOutput = ""
	}
	if o.keep {
		rep.WorkspaceDir = dir
	}
	return rep, nil
}

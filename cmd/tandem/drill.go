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
)

// drillReport is what `tandem drill` prints.
type drillReport struct {
	Fault          string  `json:"fault"`
	OldPrimary     string  `json:"old_primary"`
	NewPrimary     string  `json:"new_primary"`
	OldEpoch       int64   `json:"old_epoch"`
	NewEpoch       int64   `json:"new_epoch"`
	RTOSeconds     float64 `json:"rto_seconds"` // last ack on the old primary -> first ack on the new one
	Acknowledged   int     `json:"acknowledged_writes"`
	MissingAfter   int     `json:"rpo_missing_writes"`   // acknowledged, not in the new primary's history
	InDivergence   int     `json:"rpo_divergent_writes"` // entries the old primary kept in divergence reports
	FailedBack     bool    `json:"failed_back"`
	VerifyOK       bool    `json:"verify_ok"`
	VerifyOutput   string  `json:"verify_output,omitempty"`
	WorkspaceDir   string  `json:"workspace_dir,omitempty"`
	DurabilityMode string  `json:"durability"`
}

func newDrillCmd() *cobra.Command {
	var local, asJSON, keep bool
	var fault, mode string
	var load time.Duration
	cmd := &cobra.Command{
		Use:   "drill --local",
		Short: "Run a failover drill on a throwaway local workspace and print RTO and RPO",
		Long: `Run a failover drill. With --local (the only target for now) it starts a throwaway workspace on
this machine: a built-in witness and three regions, each its own process, with SQLite and local
folders in a temporary directory. Clients create experiments through the MLflow API while the drill
injects the fault (--fault kill: SIGKILL the primary; switchover: a planned switchover), then it
measures the RTO as the clients saw it (last acknowledged write on the old primary to the first on
the new one) and the RPO (acknowledged writes missing from the new primary's history, and entries
kept in divergence reports), restarts the old primary, fails back with a planned switchover,
runs tandem verify, and cleans up.`,
		Example: `  tandem drill --local
  tandem drill --local --fault switchover --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !local {
				return tandem.Errorf(tandem.EINVALID, "only --local drills exist for now")
			}
			if fault != "kill" && fault != "switchover" {
				return tandem.Errorf(tandem.EINVALID, "--fault must be kill or switchover")
			}
			if mode != "sync" && mode != "async" {
				return tandem.Errorf(tandem.EINVALID, "--durability must be sync or async")
			}
			rep, err := runLocalDrill(cmd.Context(), cmd.ErrOrStderr(), fault, mode, load, keep)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(out, "drill: fault %s, durability %s\n", rep.Fault, rep.DurabilityMode)
			fmt.Fprintf(out, "  primary        %s (epoch %d) -> %s (epoch %d)\n", rep.OldPrimary, rep.OldEpoch, rep.NewPrimary, rep.NewEpoch)
			fmt.Fprintf(out, "  RTO            %.2fs (last write acknowledged by %s -> first by %s)\n", rep.RTOSeconds, rep.OldPrimary, rep.NewPrimary)
			fmt.Fprintf(out, "  RPO            %d of %d acknowledged writes missing; %d entries in divergence reports\n", rep.MissingAfter, rep.Acknowledged, rep.InDivergence)
			fmt.Fprintf(out, "  failed back    %v\n", rep.FailedBack)
			fmt.Fprintf(out, "  verify         %v\n", rep.VerifyOK)
			if rep.WorkspaceDir != "" {
				fmt.Fprintf(out, "  workspace kept in %s\n", rep.WorkspaceDir)
			}
			if !rep.VerifyOK || rep.MissingAfter > 0 && mode == "sync" {
				return tandem.Errorf(tandem.ECONFLICT, "drill failed: verify %v, %d acknowledged writes missing", rep.VerifyOK, rep.MissingAfter)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&local, "local", false, "drill a throwaway local workspace (three regions and a witness)")
	f.StringVar(&fault, "fault", "kill", "fault to inject: kill or switchover")
	f.StringVar(&mode, "durability", "sync", "durability mode of the drill workspace: sync or async")
	f.DurationVar(&load, "load", 2*time.Second, "client load before the fault")
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

type drillAck struct {
	region string
	name   string
	pos    tandem.Position
	at     time.Time
}

func runLocalDrill(ctx context.Context, logw io.Writer, fault, mode string, load time.Duration, keep bool) (*drillReport, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "tandem-drill-")
	if err != nil {
		return nil, err
	}
	if !keep {
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
	var b strings.Builder
	fmt.Fprintf(&b, "workspace: drill\nprimary: r1\npeer_key: {file: peer.key}\nwitness_key: {file: witness.key}\nforward_writes: false\n")
	fmt.Fprintf(&b, "durability: {mode: %s, timeout: 3s, on_no_ack: fail}\nwitness: http://%s\nfailover: automatic\nlease_ttl: 2s\ncooldown: 1s\nregions:\n", mode, wAddr)
	for _, n := range names {
		addr, err := loopbackPort()
		if err != nil {
			return nil, err
		}
		urls[n] = "http://" + addr
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n    metadata: %q\n    artifacts: %q\n", n, urls[n],
			"sqlite://"+filepath.Join(dir, n, "tandem.db"), "file://"+filepath.Join(dir, n, "artifacts"))
	}
	config := filepath.Join(dir, "workspace.yaml")
	if err := os.WriteFile(config, []byte(b.String()), 0o600); err != nil {
		return nil, err
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
	kill := func(name string) {
		mu.Lock()
		c := procs[name]
		delete(procs, name)
		mu.Unlock()
		if c != nil {
			c.Process.Signal(syscall.SIGKILL)
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
	startRegion := func(n string) error { return start(n, "server", "--config", config, "--region", n) }
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
	primary := func() (string, int64) {
		p := primaryOf(fc.statuses(ctx))
		if p == nil || !p.Status.WritesAllowed {
			return "", 0
		}
		return p.Name, p.Status.Epoch
	}
	say("workspace in %s: witness and regions %v starting", dir, names)
	if err := waitUntil(30*time.Second, "a primary", func() bool {
		p, _ := primary()
		if p == "" {
			return false
		}
		for _, s := range fc.statuses(ctx) {
			if s.Status == nil || (s.Name != p && s.Status.Primary != p) {
				return false
			}
		}
		return true
	}); err != nil {
		return nil, err
	}
	oldP, oldE := primary()
	say("primary %s in epoch %d; clients writing for %s", oldP, oldE, load)

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
	time.Sleep(load)
	rep := &drillReport{Fault: fault, OldPrimary: oldP, OldEpoch: oldE, DurabilityMode: mode}
	others := []string{}
	for _, n := range names {
		if n != oldP {
			others = append(others, n)
		}
	}
	switch fault {
	case "kill":
		say("SIGKILL %s", oldP)
		kill(oldP)
	case "switchover":
		say("planned switchover %s -> %s", oldP, others[0])
		if err := fc.call(ctx, "POST", urls[oldP]+leader.Prefix+"switchover", map[string]any{"target": others[0]}, nil); err != nil {
			return nil, err
		}
	}
	var first drillAck
	if err := waitUntil(60*time.Second, "writes in a new epoch", func() bool {
		amu.Lock()
		defer amu.Unlock()
		for _, a := range acks {
			if a.pos.Epoch > oldE {
				first = a
				return true
			}
		}
		return false
	}); err != nil {
		return nil, err
	}
	amu.Lock()
	var lastOld time.Time
	for _, a := range acks {
		if a.region == oldP && a.pos.Epoch == oldE && a.at.After(lastOld) {
			lastOld = a.at
		}
	}
	amu.Unlock()
	rep.NewPrimary, rep.NewEpoch = first.region, first.pos.Epoch
	rep.RTOSeconds = first.at.Sub(lastOld).Seconds()
	say("%s accepts writes in epoch %d (RTO %.2fs)", rep.NewPrimary, rep.NewEpoch, rep.RTOSeconds)
	time.Sleep(500 * time.Millisecond)

	if fault == "kill" {
		say("restarting %s", oldP)
		if err := startRegion(oldP); err != nil {
			return nil, err
		}
	}
	if err := waitUntil(60*time.Second, oldP+" to rejoin", func() bool {
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
	amu.Lock()
	rep.Acknowledged = len(acks)
	for _, a := range acks {
		resp, err := hc.Get(urls[rep.NewPrimary] + "/api/2.0/mlflow/experiments/get-by-name?" + url.Values{"experiment_name": {a.name}}.Encode())
		if err == nil {
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != 200 {
			rep.MissingAfter++
		}
	}
	amu.Unlock()
	var div struct {
		Reports []failover.Report `json:"reports"`
	}
	if err := fc.call(ctx, "GET", urls[oldP]+leader.Prefix+"divergence", nil, &div); err == nil {
		for _, r := range div.Reports {
			rep.InDivergence += r.Count
		}
	}
	say("failing back to %s (planned switchover)", oldP)
	if err := waitUntil(30*time.Second, "fail back", func() bool {
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
	if keep {
		rep.WorkspaceDir = dir
	}
	return rep, nil
}

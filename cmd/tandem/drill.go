package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/drill"
	"github.com/tandemml/tandem/workspace"
)

func newDrillCmd() *cobra.Command {
	var local, asJSON bool
	var wsFile, record string
	var o drill.Options
	cmd := &cobra.Command{
		Use:   "drill --local | --workspace FILE",
		Short: "Run a failover drill (on a throwaway local workspace, or a switchover on a live one) and print RTO and RPO",
		Long: `Run a failover drill.

With --local it starts a throwaway workspace on this machine: a built-in witness and three regions,
each its own process, with SQLite and local folders in a temporary directory. Clients create
experiments through the MLflow API while the drill injects the fault:

  kill        SIGKILL the primary (it is restarted after the failover)
  pause       SIGSTOP the primary for longer than the lease, then SIGCONT: it must come back demoted
  partition   cut the primary off from the witness and the other regions for longer than the lease,
              then heal (the regions reach each other and the witness through toxiproxy proxies run
              inside the drill process; nothing to install)
  switchover  a planned switchover

With --workspace FILE it drills the live workspace of that file, with a planned switchover only
(--fault switchover, the default there; kill, pause and partition are refused: they are for
--local): the drill's clients create experiments on the primary (named drill-N-M-TIME; they stay),
authenticated with TANDEM_TOKEN or your stored credentials when the workspace needs it, while the
primary is switched over to --to (default: the most caught-up secondary); then it fails back to
the first primary unless --no-failback, runs tandem verify, and records the report in the
workspace (POST /api/tandem/v1/drills with the workspace peer key), where tandem's console lists it.

Both measure the RTO as the clients saw it (last acknowledged write on the old primary to the first
on the new one) and the RPO (acknowledged writes missing from the new primary's history; those kept
in a divergence report are counted apart). A local drill waits for the old primary to rejoin as a
secondary, fails back with a planned switchover, runs tandem verify, and cleans up; --record URL or
--record workspace.yaml records its report in that workspace too (labelled local). The command exits
non-zero when verify fails, when sync mode lost an acknowledged write, or when a missing write is in
no divergence report.

--rounds N repeats the fault N times, each time on the primary the round before elected, so that
the primary moves between the regions. --gateway (local) puts a gateway (as tandem gateway runs it)
in front of the regions, and more clients write through it: the report adds the RTO they saw and the
duplicates they met (writes answered as failed although they were applied).`,
		Example: `  tandem drill --local
  tandem drill --local --fault partition --durability async --json
  tandem drill --local --fault pause --lease-ttl 2s --record https://eastus.example.com
  tandem drill --local --fault pause --gateway --rounds 3
  tandem drill --workspace workspace.yaml --fault switchover
  tandem drill --workspace workspace.yaml --to westus --no-failback`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			if local == (wsFile != "") {
				return tandem.Errorf(tandem.EINVALID, "say where to drill: --local (a throwaway workspace) or --workspace FILE (a switchover on a live workspace)")
			}
			if local && (o.To != "" || o.NoFailback) {
				return tandem.Errorf(tandem.EINVALID, "--to and --no-failback are for --workspace drills")
			}
			if !local {
				for _, name := range []string{"durability", "lease-ttl", "gateway", "keep", "record"} {
					if f.Changed(name) {
						return tandem.Errorf(tandem.EINVALID, "--%s is for --local drills (a live drill uses the workspace's own settings and records its report there)", name)
					}
				}
				if !f.Changed("fault") {
					o.Fault = "switchover"
				}
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			o.Exe, o.Log = exe, cmd.ErrOrStderr()
			ctx := cmd.Context()
			started := time.Now()
			var rep *drill.Report
			if local {
				rep, err = drill.Run(ctx, o)
			} else {
				var ws *workspace.Workspace
				if ws, err = workspace.Load(wsFile); err != nil {
					return err
				}
				o.Token = client.Token(ws.Name)
				rep, err = drill.RunLive(ctx, o, wsFile)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				rep.Print(out)
			}
			target, dest := tandem.DrillTargetLocal, record
			if !local {
				target, dest = tandem.DrillTargetWorkspace, wsFile
			}
			if dest != "" {
				stored, err := recordDrill(ctx, dest, rep.Record(target, started, time.Now()))
				if err != nil {
					return fmt.Errorf("the drill ran but its report could not be recorded in %s: %w", dest, err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "drill: report recorded as %s in %s\n", stored.ID, dest)
			}
			if rep.Failure != "" {
				return tandem.Errorf(tandem.ECONFLICT, "drill failed: %s", rep.Failure)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&local, "local", false, "drill a throwaway local workspace (three regions and a witness)")
	f.StringVar(&wsFile, "workspace", "", "drill the live workspace of this workspace.yaml (a planned switchover) and record the report there")
	f.StringVar(&o.Fault, "fault", "kill", "fault to inject: kill, pause, partition or switchover (a live workspace: switchover only, the default there)")
	f.StringVar(&o.Durability, "durability", "sync", "durability mode of the drill workspace: sync or async (--local)")
	f.DurationVar(&o.Load, "load", 2*time.Second, "client load before each fault")
	f.DurationVar(&o.Lease, "lease-ttl", 10*time.Second, "lease_ttl of the drill workspace (the default setting is 10s; --local)")
	f.IntVar(&o.Rounds, "rounds", 1, "how many times to inject the fault, each time into the primary the round before elected")
	f.BoolVar(&o.Gateway, "gateway", false, "put a gateway in front of the regions and write through it too (--local)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&o.Keep, "keep", false, "keep the workspace directory (--local)")
	f.StringVar(&o.To, "to", "", "switchover target of a live drill (default: the most caught-up secondary)")
	f.BoolVar(&o.NoFailback, "no-failback", false, "leave the new primary in place after a live drill")
	f.StringVar(&record, "record", "", "also record a local drill's report in a workspace: a region's URL (your credentials) or a workspace.yaml (its peer key)")
	return cmd
}

// recordDrill records rec in the workspace dest names: a region URL (the
// client config's credentials, or TANDEM_TOKEN) or a workspace file (its
// peer key, on the primary).
func recordDrill(ctx context.Context, dest string, rec tandem.DrillRecord) (*tandem.DrillRecord, error) {
	if strings.HasPrefix(dest, "http://") || strings.HasPrefix(dest, "https://") {
		cfg := client.Config{Workspace: "default", Endpoints: []string{dest}}
		if p, err := client.FindConfig(client.DefaultLookup("")); err == nil {
			if c, err := client.LoadConfig(p); err == nil {
				cfg.Workspace, cfg.Auth, cfg.CAFile, cfg.Path = c.Workspace, c.Auth, c.CAFile, c.Path
			}
		}
		c, err := client.New(cfg)
		if err != nil {
			return nil, err
		}
		return c.RecordDrill(ctx, rec)
	}
	ws, err := workspace.Load(dest)
	if err != nil {
		return nil, err
	}
	rs, err := client.RegionsFromWorkspace(ws)
	if err != nil {
		return nil, err
	}
	return drill.Record(ctx, rs, rec)
}

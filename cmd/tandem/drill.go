package main

import (
	"encoding/json"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/drill"
)

func newDrillCmd() *cobra.Command {
	var local, asJSON bool
	var o drill.Options
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
fails, when sync mode lost an acknowledged write, or when a missing write is in no divergence report.

--rounds N repeats the fault N times, each time on the primary the round before elected, so that
the primary moves between the regions. --gateway puts a gateway (as tandem gateway runs it) in front
of the regions, and more clients write through it: the report adds the RTO they saw and the
duplicates they met (writes answered as failed although they were applied).`,
		Example: `  tandem drill --local
  tandem drill --local --fault partition --durability async --json
  tandem drill --local --fault pause --lease-ttl 2s
  tandem drill --local --fault pause --gateway --rounds 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !local {
				return tandem.Errorf(tandem.EINVALID, "only --local drills exist for now")
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			o.Exe, o.Log = exe, cmd.ErrOrStderr()
			rep, err := drill.Run(cmd.Context(), o)
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
			if rep.Failure != "" {
				return tandem.Errorf(tandem.ECONFLICT, "drill failed: %s", rep.Failure)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&local, "local", false, "drill a throwaway local workspace (three regions and a witness)")
	f.StringVar(&o.Fault, "fault", "kill", "fault to inject: kill, pause, partition or switchover")
	f.StringVar(&o.Durability, "durability", "sync", "durability mode of the drill workspace: sync or async")
	f.DurationVar(&o.Load, "load", 2*time.Second, "client load before each fault")
	f.DurationVar(&o.Lease, "lease-ttl", 10*time.Second, "lease_ttl of the drill workspace (the default setting is 10s)")
	f.IntVar(&o.Rounds, "rounds", 1, "how many times to inject the fault, each time into the primary the round before elected")
	f.BoolVar(&o.Gateway, "gateway", false, "put a gateway in front of the regions and write through it too")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&o.Keep, "keep", false, "keep the workspace directory")
	return cmd
}

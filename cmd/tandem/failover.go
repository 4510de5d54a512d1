package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/failover"
	"github.com/tandemml/tandem/leader"
)

// workspaceHelp is the help of --workspace: when not given, the workspace
// file is found as client.FindWorkspace finds it.
const workspaceHelp = "workspace file, workspace.yaml (default: TANDEM_WORKSPACE, the one tandem up recorded in .tandem/config.json here or above)"

func newFailoverCmd() *cobra.Command {
	var config, to string
	var force, yes bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "failover --to REGION",
		Short: "Make REGION the primary: a planned switchover with zero loss, or --force when the primary is lost",
		Long: `Make REGION the primary region.

Without --force this is a planned switchover: the primary stops accepting writes, REGION catches up
to the primary's last entry, then the lease moves to REGION, which starts accepting writes in the
next epoch. Nothing acknowledged is lost. If REGION does not catch up in time, the primary resumes.

With --force (the primary is unreachable or must be abandoned) REGION takes the lease as soon as
the witness lets it, even if it is behind: the command prints how many entries may be lost (they
will be kept in a divergence report on the old primary when it rejoins) and asks for confirmation
unless --yes.

Without a witness (failover is then manual only) --force promotes REGION at once in the next
epoch, whether or not the old primary is reachable; the other regions follow it as soon as they see
the newer epoch, and the old primary, when it comes back, keeps its divergent tail in a report.`,
		Example: `  tandem failover --to westus --workspace workspace.yaml
  tandem failover --to westus --force --yes --workspace workspace.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client.WorkspaceRegions(config)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			o := client.FailoverOptions{To: to, Force: force, Wait: wait,
				Say: func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }}
			if !yes {
				o.Confirm = func(int64) bool {
					fmt.Fprint(out, "type yes to continue: ")
					line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
					return strings.TrimSpace(line) == "yes"
				}
			}
			res, err := c.Failover(cmd.Context(), o)
			switch {
			case err != nil:
				return err
			case res.Already:
				fmt.Fprintf(out, "%s is already the primary (epoch %d)\n", to, res.Epoch)
			default:
				fmt.Fprintf(out, "%s is the primary in epoch %d (head %s), %.2fs after the request\n", to, res.Epoch, res.Head, res.Took.Seconds())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "workspace", "", workspaceHelp)
	f.StringVar(&to, "to", "", "the region to make primary")
	f.BoolVar(&force, "force", false, "promote even if the primary is unreachable or the target is behind (may lose writes)")
	f.BoolVar(&yes, "yes", false, "do not ask for confirmation with --force")
	f.DurationVar(&wait, "wait", time.Minute, "how long to wait for the target to accept writes")
	cmd.MarkFlagRequired("to")
	return cmd
}

func newHistoryCmd() *cobra.Command {
	var config string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List every change of primary: when the fault was detected, when writes resumed, what was at risk",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client.WorkspaceRegions(config)
			if err != nil {
				return err
			}
			doc, err := c.History(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(doc)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "EPOCH\tPRIMARY\tPREVIOUS\tREASON\tDETECTED\tWRITES RESUMED\tDETECTION->RESUMED\tAT RISK (entries)")
			for _, e := range doc.Epochs {
				det, took := "-", "-"
				if e.DetectedMS > 0 {
					det = time.UnixMilli(e.DetectedMS).UTC().Format("2006-01-02 15:04:05.000")
					took = fmt.Sprintf("%.2fs", float64(e.ResumedMS-e.DetectedMS)/1000)
				}
				prev := e.Previous
				if prev == "" {
					prev = "-"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", e.Epoch, e.Primary, prev, e.Reason, det,
					time.UnixMilli(e.ResumedMS).UTC().Format("2006-01-02 15:04:05.000"), took, e.AtRisk)
			}
			tw.Flush()
			fmt.Fprintf(out, "(from region %s; divergent entries: tandem divergence list)\n", doc.Region)
			return nil
		},
	}
	cmd.Flags().StringVar(&config, "workspace", "", workspaceHelp)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newDivergenceCmd() *cobra.Command {
	var config string
	root := &cobra.Command{
		Use:   "divergence",
		Short: "Entries a region held that the new primary never received (kept when it rejoined)",
	}
	root.PersistentFlags().StringVar(&config, "workspace", "", workspaceHelp)
	// load finds one report for a verb that needs nothing else.
	load := func(ctx context.Context, id string) (failover.Report, error) {
		c, err := client.WorkspaceRegions(config)
		if err != nil {
			return failover.Report{}, err
		}
		return c.DivergenceReport(ctx, id)
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the divergence reports of every reachable region",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client.WorkspaceRegions(config)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var all []failover.Report
			for _, r := range c.DivergenceReports(cmd.Context()) {
				if r.Error != nil {
					fmt.Fprintf(out, "%s: unreachable: %s\n", r.Name, tandem.ErrorMessage(r.Error))
					continue
				}
				all = append(all, r.Reports...)
			}
			all = failover.Distinct(all) // one line per divergent tail, however many regions keep it
			for _, rep := range all {
				fmt.Fprintln(out, rep.Summary())
			}
			if len(all) == 0 {
				fmt.Fprintln(out, "no divergence reports")
			}
			return nil
		},
	}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Print one report's entries",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := load(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, rep.Summary())
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POSITION\tTIME\tKIND\tOP\tKEY\tBLOBS")
			for _, e := range rep.Entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", e.Position, e.Time.UTC().Format(time.RFC3339Nano), e.Kind, e.Op, e.Key, len(e.Blobs))
			}
			return tw.Flush()
		},
	}
	var output string
	export := &cobra.Command{
		Use:   "export ID",
		Short: "Write one report as JSON (to --output or stdout)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := load(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			b, err := rep.Marshal()
			if err != nil {
				return err
			}
			b = append(b, '\n')
			if output == "" || output == "-" {
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			return os.WriteFile(output, b, 0o600)
		},
	}
	export.Flags().StringVarP(&output, "output", "o", "", "file to write")
	var seqs []string
	var fromFile string
	replay := &cobra.Command{
		Use:   "replay ID",
		Short: "Commit chosen divergent entries again on the current primary",
		Long: `Commit divergent entries again on the current primary, each as a new write of its recorded op
and payload (--seq picks entries; default all). An entry that conflicts with the primary's current
state is reported and skipped. Entries that reference artifact bytes are not replayed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := client.WorkspaceRegions(config)
			if err != nil {
				return err
			}
			var rep failover.Report
			if fromFile != "" {
				b, err := os.ReadFile(fromFile)
				if err != nil {
					return tandem.Errorf(tandem.EINVALID, "%v", err)
				}
				if rep, err = failover.ParseReport(b); err != nil {
					return err
				}
			} else if rep, err = c.DivergenceReport(ctx, args[0]); err != nil {
				return err
			}
			var want []int64
			for _, s := range seqs {
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return tandem.Errorf(tandem.EINVALID, "--seq %q is not a number", s)
				}
				want = append(want, n)
			}
			primary, res, err := c.Replay(ctx, client.SelectEntries(rep, want))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			failed := 0
			for _, r := range res {
				if r.Error != "" {
					failed++
					fmt.Fprintf(out, "seq %d %s: not replayed: %s\n", r.Seq, r.Op, r.Error)
				} else if r.Again {
					fmt.Fprintf(out, "seq %d %s: already replayed on %s at %s\n", r.Seq, r.Op, primary, r.Position)
				} else {
					fmt.Fprintf(out, "seq %d %s: committed on %s at %s\n", r.Seq, r.Op, primary, r.Position)
				}
			}
			if failed > 0 {
				return tandem.Errorf(tandem.ECONFLICT, "%d of %d entries not replayed", failed, len(res))
			}
			return nil
		},
	}
	replay.Flags().StringSliceVar(&seqs, "seq", nil, "sequence numbers to replay (default: all)")
	replay.Flags().StringVar(&fromFile, "file", "", "replay from an exported report file instead")
	root.AddCommand(list, show, export, replay)
	return root
}

// failoverDocs is the failover status of every region that runs
// failover (role, epoch, lease holder and expiry, write permission), for
// `tandem status --json`.
func failoverDocs(sts []client.RegionStatus) []leader.StatusDoc {
	out := []leader.StatusDoc{}
	for _, r := range sts {
		if r.Failover != nil {
			out = append(out, *r.Failover)
		}
	}
	return out
}

// printFailoverStatus adds the failover view (role, epoch, lease holder and
// expiry, write permission) to `tandem status` for regions that run
// failover.
func printFailoverStatus(out io.Writer, sts []client.RegionStatus) {
	type row struct {
		name string
		st   leader.StatusDoc
	}
	var rows []row
	for _, r := range sts {
		if r.Failover != nil {
			rows = append(rows, row{r.Name, *r.Failover})
		}
	}
	if len(rows) == 0 {
		return
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].st.Region < rows[j].st.Region })
	fmt.Fprintln(out, "\nfailover:")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tROLE\tEPOCH\tWRITES\tLEASE HOLDER\tLEASE EXPIRES\tMODE\tSYNC STANDBY\tNOTE")
	for _, r := range rows {
		st := r.st
		exp := "expired"
		if st.LeaseExpires != nil {
			exp = fmt.Sprintf("%s (in %.1fs)", st.LeaseExpires.Local().Format("15:04:05.000"), time.Until(*st.LeaseExpires).Seconds())
		}
		holder := st.Lease.Holder
		if holder == "" {
			holder = "-"
		}
		// The sync standby named in the lease (durability: sync): the
		// region whose apply every acknowledged write waits for, and the
		// only one that may take the lease over automatically.
		standby := st.Lease.Sync
		if standby == "" {
			standby = "-"
		}
		note := ""
		if !st.Witness {
			note = "no witness: only manual failover"
		}
		if sw := st.Switchover; sw != nil {
			note += fmt.Sprintf(" switchover to %s: %s %s", sw.Target, sw.Phase, sw.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%v\t%s@%d\t%s\t%s\t%s\t%s\n", st.Region, st.Role, st.Epoch, st.WritesAllowed, holder, st.Lease.Epoch, exp, st.Mode, standby, strings.TrimSpace(note))
	}
	tw.Flush()
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/workspace"
)

// regionFlags are how status and verify find the regions: --url, the
// workspace file (--workspace, TANDEM_WORKSPACE or the one `tandem up`
// recorded: client.FindWorkspace), or the client config
// (.tandem/config.json, found the way every tandem client finds it;
// --config names it).
type regionFlags struct {
	config    string
	workspace string
	urls      []string
}

func (rf *regionFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&rf.config, "config", "", "client config file (default: TANDEM_CONFIG, .tandem/config.json here or above)")
	cmd.Flags().StringVar(&rf.workspace, "workspace", "", "workspace file (workspace.yaml) listing the regions (default: TANDEM_WORKSPACE, the one tandem up recorded in .tandem/config.json)")
	cmd.Flags().StringSliceVar(&rf.urls, "url", nil, "a region's URL (repeatable)")
}

func (rf *regionFlags) regions() (*client.Regions, error) {
	if len(rf.urls) > 0 {
		return client.RegionsFromURLs(rf.urls), nil
	}
	if rf.config == "" {
		p, err := client.FindWorkspace(client.DefaultWorkspaceLookup(rf.workspace))
		if err == nil {
			ws, err := workspace.Load(p)
			if err != nil {
				return nil, err
			}
			return client.RegionsFromWorkspace(ws)
		}
		if rf.workspace != "" || os.Getenv("TANDEM_WORKSPACE") != "" {
			return nil, err
		}
	}
	p, err := client.FindConfig(client.DefaultLookup(rf.config))
	if err != nil {
		return nil, err
	}
	c, err := client.LoadConfig(p)
	if err != nil {
		return nil, err
	}
	return client.RegionsFromConfig(c)
}

func newStatusCmd() *cobra.Command {
	var rf regionFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every region: role, epoch, journal head and replication lag",
		Example: `  tandem status
  tandem status --json
  tandem status --workspace workspace.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			regions, err := rf.regions()
			if err != nil {
				return err
			}
			sts := regions.Statuses(cmd.Context())
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"regions": sts, "failover": failoverDocs(sts)}) // integration: failover.go
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REGION\tROLE\tEPOCH\tHEAD\tLAG ENTRIES\tLAG SECONDS\tLAST APPLY\tURL\tNOTE")
			for _, r := range sts {
				if r.Replication == nil {
					fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t%s\tunreachable: %s\n", r.Name, r.URL, r.Error)
					continue
				}
				st := r.Replication
				lagE, lagS, last, note := "-", "-", "-", ""
				if s := st.Self; s != nil {
					lagE, lagS = fmt.Sprint(s.LagEntries), fmt.Sprintf("%.1f", s.LagSeconds)
					if s.LastApply != nil {
						last = s.LastApply.Local().Format(time.TimeOnly)
					}
					if b := s.Bootstrap; b != nil && b.Phase != "done" {
						note = fmt.Sprintf("bootstrap %s: %d/%d artifacts", b.Phase, b.BlobsDone, b.BlobsTotal)
					}
					if len(s.Lacking) > 0 {
						note += fmt.Sprintf(" lacks %v (policy none)", s.Lacking)
					}
					if len(s.Deferred) > 0 {
						note += fmt.Sprintf(" waiting for snapshot %v", s.Deferred)
					}
					if s.LastError != "" && s.LastErrorAt != nil && time.Since(*s.LastErrorAt) < time.Minute {
						note += " last error: " + s.LastError
					}
				}
				if st.Degraded {
					note += " sync durability degraded to async"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", st.Region, st.Role.Role, st.Role.Epoch, st.Head, lagE, lagS, last, r.URL, strings.TrimSpace(note))
			}
			tw.Flush()
			for _, r := range sts {
				if r.Replication == nil || len(r.Replication.Followers) == 0 {
					continue
				}
				fmt.Fprintf(out, "\nas seen by the primary %s:\n", r.Replication.Region)
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SECONDARY\tAPPLIED\tLAG ENTRIES\tLAG BYTES\tLAG SECONDS\tLAST SEEN")
				for _, f := range r.Replication.Followers {
					seen := "never"
					if f.LastSeen != nil {
						seen = fmt.Sprintf("%.1fs ago", time.Since(*f.LastSeen).Seconds())
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%s\n", f.Region, f.Applied, f.LagEntries, f.LagBytes, f.LagSeconds, seen)
				}
				tw.Flush()
			}
			printFailoverStatus(out, sts)                   // integration: failover.go
			printDrift(cmd.Context(), out, regions)         // plan.go: desired state drift
			printCapacity(cmd.Context(), out, regions, sts) // jobs.go: can a secondary absorb the primary's jobs
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

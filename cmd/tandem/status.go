package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/workspace"
)

// regionFlags are how status and verify find the regions: --url, a
// workspace file (--workspace), or the client config (.tandem/config.json,
// found the way every tandem client finds it; --config names it).
type regionFlags struct {
	config    string
	workspace string
	urls      []string
	hc        *http.Client // set by regions: trusts the workspace's CA (tls.go)
}

// LocalRegion is one region to ask: its name (or URL when unknown) and URL.
type LocalRegion struct {
	Name string
	URL  string
}

func (rf *regionFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&rf.config, "config", "", "client config file (default: TANDEM_CONFIG, .tandem/config.json here or above)")
	cmd.Flags().StringVar(&rf.workspace, "workspace", os.Getenv("TANDEM_WORKSPACE"), "workspace file (workspace.yaml) listing the regions (TANDEM_WORKSPACE)")
	cmd.Flags().StringSliceVar(&rf.urls, "url", nil, "a region's URL (repeatable)")
}

func (rf *regionFlags) regions() ([]LocalRegion, error) {
	var out []LocalRegion
	switch {
	case len(rf.urls) > 0:
		for _, u := range rf.urls {
			out = append(out, LocalRegion{Name: u, URL: strings.TrimRight(u, "/")})
		}
	case rf.workspace != "":
		ws, err := workspace.Load(rf.workspace)
		if err != nil {
			return nil, err
		}
		if rf.hc, err = workspaceHTTPClient(ws); err != nil {
			return nil, err
		}
		for _, r := range ws.Regions {
			out = append(out, LocalRegion{Name: r.Name, URL: r.URL})
		}
	default:
		p, err := client.FindConfig(client.DefaultLookup(rf.config))
		if err != nil {
			return nil, err
		}
		c, err := client.LoadConfig(p)
		if err != nil {
			return nil, err
		}
		if rf.hc, err = configHTTPClient(c); err != nil {
			return nil, err
		}
		for _, e := range c.Endpoints {
			out = append(out, LocalRegion{Name: e, URL: strings.TrimRight(e, "/")})
		}
	}
	return out, nil
}

func fetchRegionJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := httpClientOf(ctx).Do(req)
	if err != nil {
		return tandem.Errorf(tandem.EUNAVAILABLE, "%v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return tandem.Errorf(tandem.EUNAVAILABLE, "%s answered %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// regionStatus is one region's status or why it could not be read.
type regionStatus struct {
	Name   string              `json:"name"`
	URL    string              `json:"url"`
	Error  string              `json:"error,omitempty"`
	Status *replication.Status `json:"status,omitempty"`
}

func fetchStatuses(ctx context.Context, regions []LocalRegion) []regionStatus {
	out := make([]regionStatus, len(regions))
	for i, r := range regions {
		out[i] = regionStatus{Name: r.Name, URL: r.URL}
		var st replication.Status
		if err := fetchRegionJSON(ctx, r.URL+replication.Prefix+"status", &st); err != nil {
			out[i].Error = tandem.ErrorMessage(err)
			continue
		}
		out[i].Status = &st
		out[i].Name = st.Region
	}
	return out
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
			cmd.SetContext(withHTTPClient(cmd.Context(), rf.hc))
			sts := fetchStatuses(cmd.Context(), regions)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"regions": sts, "failover": failoverStatuses(cmd.Context(), regions)}) // integration: failover.go
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REGION\tROLE\tEPOCH\tHEAD\tLAG ENTRIES\tLAG SECONDS\tLAST APPLY\tURL\tNOTE")
			for _, r := range sts {
				if r.Status == nil {
					fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t%s\tunreachable: %s\n", r.Name, r.URL, r.Error)
					continue
				}
				st := r.Status
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
				if r.Status == nil || len(r.Status.Followers) == 0 {
					continue
				}
				fmt.Fprintf(out, "\nas seen by the primary %s:\n", r.Status.Region)
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SECONDARY\tAPPLIED\tLAG ENTRIES\tLAG BYTES\tLAG SECONDS\tLAST SEEN")
				for _, f := range r.Status.Followers {
					seen := "never"
					if f.LastSeen != nil {
						seen = fmt.Sprintf("%.1fs ago", time.Since(*f.LastSeen).Seconds())
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%s\n", f.Region, f.Applied, f.LagEntries, f.LagBytes, f.LagSeconds, seen)
				}
				tw.Flush()
			}
			printFailoverStatus(cmd.Context(), out, regions) // integration: failover.go
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/replication"
)

// verifyReport is what `tandem verify --json` prints.
type verifyReport struct {
	Primary     string       `json:"primary"`
	Secondaries []verifyPair `json:"secondaries"`
	OK          bool         `json:"ok"`
}

type verifyPair struct {
	Region         string                   `json:"region"`
	UpTo           int64                    `json:"upto"`
	TablesCompared bool                     `json:"tables_compared"`
	Differences    []replication.Difference `json:"differences"`
}

func newVerifyCmd() *cobra.Command {
	var rf regionFlags
	var asJSON, artifacts bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Compare regions: metadata checksums per kind up to a common position, and artifact digests",
		Long: `Compare every secondary with the primary: per-kind checksums of the journal up to the newest
position both have, table checksums when both are at the same position, and the SHA-256 of every
artifact the journal references (re-read from each region's storage). Prints the first difference.
Exits 4 when the regions differ.`,
		Example: `  tandem verify
  tandem verify --json --workspace workspace.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			regions, err := rf.regions()
			if err != nil {
				return err
			}
			ctx := withHTTPClient(cmd.Context(), rf.hc)
			sts := fetchStatuses(ctx, regions)
			var primary *regionStatus
			for i := range sts {
				if sts[i].Status != nil && sts[i].Status.Role.Role == tandem.RolePrimary {
					primary = &sts[i]
				}
			}
			if primary == nil {
				return tandem.Errorf(tandem.EUNAVAILABLE, "no reachable primary among %d regions", len(regions))
			}
			rep := verifyReport{Primary: primary.Name, OK: true}
			for _, s := range sts {
				if s.URL == primary.URL {
					continue
				}
				pair := verifyPair{Region: s.Name}
				if s.Status == nil {
					pair.Differences = []replication.Difference{{What: "region", Name: s.Name, Detail: "unreachable: " + s.Error}}
					rep.OK = false
					rep.Secondaries = append(rep.Secondaries, pair)
					continue
				}
				a, b, err := checksumsAtCommon(ctx, primary.URL, s.URL, artifacts, wait)
				if err != nil {
					return err
				}
				pair.UpTo = a.UpTo
				pair.TablesCompared = a.Head == b.Head
				pair.Differences = replication.Compare(a, b, primary.Status.Policies)
				if len(pair.Differences) > 0 {
					rep.OK = false
					// Ask again with entry detail to name the first differing entry.
					if ad, err := checksum(ctx, primary.URL, a.UpTo, false, true); err == nil {
						if bd, err := checksum(ctx, s.URL, a.UpTo, false, true); err == nil {
							ad.Artifacts, bd.Artifacts = a.Artifacts, b.Artifacts
							ad.ArtifactErrors, bd.ArtifactErrors = a.ArtifactErrors, b.ArtifactErrors
							pair.Differences = replication.Compare(ad, bd, primary.Status.Policies)
						}
					}
				}
				rep.Secondaries = append(rep.Secondaries, pair)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.Encode(rep)
			} else {
				for _, p := range rep.Secondaries {
					if len(p.Differences) == 0 {
						tables := "tables compared"
						if !p.TablesCompared {
							tables = "tables not compared (regions kept moving)"
						}
						fmt.Fprintf(out, "%s = %s up to seq %d (%s)\n", p.Region, rep.Primary, p.UpTo, tables)
						continue
					}
					d := p.Differences[0]
					fmt.Fprintf(out, "%s differs from %s up to seq %d: first difference: %s %s: %s", p.Region, rep.Primary, p.UpTo, d.What, d.Name, d.Detail)
					if len(p.Differences) > 1 {
						fmt.Fprintf(out, " (and %d more)", len(p.Differences)-1)
					}
					fmt.Fprintln(out)
				}
			}
			if !rep.OK {
				return tandem.Errorf(tandem.ECONFLICT, "regions differ")
			}
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&artifacts, "artifacts", true, "also re-read and compare artifact digests")
	cmd.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for both regions to reach the same position")
	return cmd
}

func checksum(ctx context.Context, base string, upto int64, artifacts, detail bool) (replication.Checksums, error) {
	q := url.Values{"upto": {fmt.Sprint(upto)}}
	if artifacts {
		q.Set("artifacts", "1")
	}
	if detail {
		q.Set("detail", "1")
	}
	var c replication.Checksums
	err := fetchRegionJSON(ctx, base+replication.Prefix+"checksum?"+q.Encode(), &c)
	return c, err
}

// checksumsAtCommon reads both regions' checksums up to the lower of their
// heads, retrying until both were read at the same head (so tables compare)
// or wait passes.
func checksumsAtCommon(ctx context.Context, a, b string, artifacts bool, wait time.Duration) (replication.Checksums, replication.Checksums, error) {
	deadline := time.Now().Add(wait)
	for {
		ha, err := checksum(ctx, a, 0, false, false)
		if err != nil {
			return ha, ha, err
		}
		hb, err := checksum(ctx, b, 0, false, false)
		if err != nil {
			return ha, hb, err
		}
		upto := min(ha.Head.Seq, hb.Head.Seq)
		if ha.Head == hb.Head || time.Now().After(deadline) {
			ca, err := checksum(ctx, a, upto, artifacts, false)
			if err != nil {
				return ca, ca, err
			}
			cb, err := checksum(ctx, b, upto, artifacts, false)
			return ca, cb, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

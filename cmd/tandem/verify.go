package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/imagecopy"
	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/workspace"
)

// verifyReport is what `tandem verify --json` prints.
type verifyReport struct {
	Primary     string       `json:"primary"`
	Secondaries []verifyPair `json:"secondaries"`
	// Images lists the environments' images a region's registry lacks
	// (absent when the workspace names no registries).
	Images *verifyImages `json:"images,omitempty"`
	OK     bool          `json:"ok"`
}

type verifyImages struct {
	Checked int                 `json:"checked"` // images x regions asked
	Missing []imagecopy.Missing `json:"missing"`
}

// missingImages asks every region's registry for the digest of every
// environment version the primary (c) has: what is missing, and how many
// image x region pairs were asked. Nothing when the workspace names no
// registries.
func missingImages(ctx context.Context, ws *workspace.Workspace, c *client.Client) ([]imagecopy.Missing, int, error) {
	regs := workspaceRegistries(ws)
	if len(regs) == 0 {
		return nil, 0, nil
	}
	envs, err := c.ListAssets(ctx, tandem.AssetEnvironment, "", false)
	if err != nil {
		return nil, 0, err
	}
	ims := imagecopy.FromAssets(envs)
	missing, err := imagecopy.New().Check(ctx, ims, regs)
	if err != nil {
		return nil, 0, err
	}
	n := 0
	for r := range regs {
		if ws, err := imagecopy.Wants(ims, r, regs); err == nil {
			n += len(ws)
		}
	}
	return missing, n, nil
}

// workspaceRegistries is each region's registry in the workspace file.
func workspaceRegistries(ws *workspace.Workspace) map[string]string {
	regs := map[string]string{}
	if ws == nil {
		return regs
	}
	for _, r := range ws.Regions {
		if r.Registry != "" {
			regs[r.Name] = r.Registry
		}
	}
	return regs
}

// checkImages asks every region's registry for the digest of every
// environment version the primary has.
func checkImages(ctx context.Context, ws *workspace.Workspace, primary string) (*verifyImages, error) {
	regs := workspaceRegistries(ws)
	if len(regs) == 0 {
		return nil, nil
	}
	cs, err := client.RegionClients(ws)
	if err != nil {
		return nil, err
	}
	c := cs[primary]
	if c == nil {
		return nil, tandem.Errorf(tandem.EINVALID, "the primary %s is not a region of the workspace file", primary)
	}
	missing, n, err := missingImages(ctx, ws, c)
	if err != nil {
		return nil, err
	}
	return &verifyImages{Checked: n, Missing: missing}, nil
}

type verifyPair struct {
	Region         string                   `json:"region"`
	UpTo           int64                    `json:"upto"`
	TablesCompared bool                     `json:"tables_compared"`
	TablesReason   string                   `json:"tables_reason,omitempty"` // why they were not compared
	Differences    []replication.Difference `json:"differences"`
}

func newVerifyCmd() *cobra.Command {
	var rf regionFlags
	var asJSON, artifacts, images bool
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Compare regions: metadata checksums per kind up to a common position, and artifact digests",
		Long: `Compare every secondary with the primary: per-kind checksums of the journal up to the newest
position both have, table checksums when both are at the same position, and the SHA-256 of every
artifact the journal references (re-read from each region's storage), and, when the workspace names
container registries, that every environment's image digest is in every region's registry. Prints the
first difference.
Exits 4 when the regions differ.`,
		Example: `  tandem verify
  tandem verify --json --workspace workspace.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			regions, err := rf.regions()
			if err != nil {
				return err
			}
			sts := regions.Statuses(ctx)
			var primary *client.RegionStatus
			for i := range sts {
				if sts[i].Replication != nil && sts[i].Replication.Role.Role == tandem.RolePrimary {
					primary = &sts[i]
				}
			}
			if primary == nil {
				return tandem.Errorf(tandem.EUNAVAILABLE, "no reachable primary among %d regions", len(sts))
			}
			rep := verifyReport{Primary: primary.Name, OK: true}
			for _, s := range sts {
				if s.URL == primary.URL {
					continue
				}
				pair := verifyPair{Region: s.Name}
				if s.Replication == nil {
					pair.Differences = []replication.Difference{{What: "region", Name: s.Name, Detail: "unreachable: " + s.Error}}
					rep.OK = false
					rep.Secondaries = append(rep.Secondaries, pair)
					continue
				}
				a, b, err := regions.ChecksumsAtCommon(ctx, primary.URL, s.URL, artifacts, wait)
				if err != nil {
					return err
				}
				pair.UpTo = a.UpTo
				pair.TablesCompared = replication.TablesComparable(a, b, primary.Replication.Policies)
				switch {
				case pair.TablesCompared:
				case a.Head != b.Head:
					pair.TablesReason = "regions kept moving"
				default:
					pair.TablesReason = "not every kind replicates continuously"
				}
				pair.Differences = replication.Compare(a, b, primary.Replication.Policies)
				if len(pair.Differences) > 0 {
					rep.OK = false
					// Ask again with entry detail to name the first differing entry.
					if ad, err := regions.Checksum(ctx, primary.URL, a.UpTo, false, true); err == nil {
						if bd, err := regions.Checksum(ctx, s.URL, a.UpTo, false, true); err == nil {
							ad.Artifacts, bd.Artifacts = a.Artifacts, b.Artifacts
							ad.ArtifactErrors, bd.ArtifactErrors = a.ArtifactErrors, b.ArtifactErrors
							pair.Differences = replication.Compare(ad, bd, primary.Replication.Policies)
						}
					}
				}
				rep.Secondaries = append(rep.Secondaries, pair)
			}
			if images {
				if rep.Images, err = checkImages(ctx, regions.Workspace, primary.Name); err != nil {
					return err
				}
				if rep.Images != nil && len(rep.Images.Missing) > 0 {
					rep.OK = false
				}
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
							tables = "tables not compared: " + p.TablesReason
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
				if im := rep.Images; im != nil {
					if len(im.Missing) == 0 {
						fmt.Fprintf(out, "images: every environment's image is in every region's registry (%d checked)\n", im.Checked)
					}
					for _, m := range im.Missing {
						why := "lacks"
						if m.Error != "" {
							why = "cannot be asked for"
						}
						fmt.Fprintf(out, "%s's registry %s %s (environment %s:%s)", m.Region, why, m.Destination, m.Environment, m.Version)
						if m.Error != "" {
							fmt.Fprintf(out, ": %s", m.Error)
						}
						fmt.Fprintln(out)
					}
				}
			}
			if !rep.OK {
				if rep.Images != nil && len(rep.Images.Missing) > 0 {
					return tandem.Errorf(tandem.ECONFLICT, "regions differ: %d environment images missing from a region's registry", len(rep.Images.Missing))
				}
				return tandem.Errorf(tandem.ECONFLICT, "regions differ")
			}
			return nil
		},
	}
	rf.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&artifacts, "artifacts", true, "also re-read and compare artifact digests")
	cmd.Flags().BoolVar(&images, "images", true, "also check that every environment's image digest is in every region's registry (regions[].registry)")
	cmd.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for both regions to reach the same position")
	return cmd
}

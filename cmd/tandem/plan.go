package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/converge"
	"github.com/tandemml/tandem/plan"
	"github.com/tandemml/tandem/workspace"
)

// exitError ends the command with code and no message (plan's exit 2:
// there are changes).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// planned is a plan with what it was computed from.
type planned struct {
	ws      *workspace.Workspace
	file    string
	clients map[string]*client.Client
	in      plan.Input
	plan    *plan.Plan
}

// makePlan loads the workspace file and its asset files, lists every
// region's actual state and the last applied desired state through the
// primary, and computes the plan.
func makePlan(ctx context.Context, file string) (*planned, error) {
	p, err := client.FindWorkspace(client.DefaultWorkspaceLookup(file))
	if err != nil {
		return nil, err
	}
	ws, err := workspace.Load(p)
	if err != nil {
		return nil, err
	}
	if err := ws.Desired.LoadAssets(ws.Dir()); err != nil {
		return nil, err
	}
	clients, err := client.RegionClients(ws)
	if err != nil {
		return nil, err
	}
	regions, err := client.RegionsFromWorkspace(ws)
	if err != nil {
		return nil, err
	}
	primary := regions.Primary(ctx)
	if primary == "" {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "no primary region is reachable: plan needs the primary's state")
	}
	in := plan.Input{Desired: ws.Desired, Primary: primary, Actual: map[string]*plan.Actual{}, EndpointQuota: ws.EndpointQuota()}
	for _, r := range ws.Regions {
		in.Regions = append(in.Regions, r.Name)
	}
	doc, err := clients[primary].DesiredApplied(ctx)
	switch {
	case tandem.ErrorCode(err) == tandem.ENOTFOUND:
	case err != nil:
		return nil, fmt.Errorf("%s: the last applied desired state: %w", primary, err)
	default:
		var ap plan.Applied
		if err := json.Unmarshal(doc, &ap); err != nil {
			return nil, tandem.Errorf(tandem.EINTERNAL, "%s: the last applied desired state is not readable: %v", primary, err)
		}
		in.Applied = &ap
	}
	names := converge.Names(ws.Desired, in.Applied)
	for _, r := range ws.Regions {
		a, err := converge.List(ctx, r.Name, clients[r.Name], converge.Providers(in.Regions), names)
		if err != nil {
			if r.Name == primary {
				return nil, err
			}
			continue // reported by the plan as not compared
		}
		in.Actual[r.Name] = a
	}
	if in.ImageGaps, err = imageGaps(ctx, ws, clients[primary]); err != nil {
		return nil, err
	}
	return &planned{ws: ws, file: p, clients: clients, in: in, plan: plan.Compute(in)}, nil
}

// imageGaps asks every region's registry for the images of the
// environments the primary has (the check tandem verify makes).
func imageGaps(ctx context.Context, ws *workspace.Workspace, primary *client.Client) ([]plan.ImageGap, error) {
	missing, _, err := missingImages(ctx, ws, primary)
	if err != nil {
		return nil, err
	}
	var out []plan.ImageGap
	for _, m := range missing {
		out = append(out, plan.ImageGap{Region: m.Region, Environment: m.Environment, Version: m.Version, Destination: m.Destination, Error: m.Error})
	}
	return out, nil
}

func newPlanCmd() *cobra.Command {
	var file, out string
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change in every region to match workspace.yaml (exit 2: changes)",
		Long: `Compare the desired state in workspace.yaml (compute, datastores, roles, role assignments, endpoints,
secrets, assets) with what every region actually has, and print per region what would be created,
changed or destroyed, then a summary line. Objects changed by hand since the last apply are shown as
drift. Exit code: 0 no changes, 2 changes, 1 error (a missing secret is an error).`,
		Example: `  tandem plan
  tandem plan -f workspace.yaml --out plan.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pl, err := makePlan(cmd.Context(), file)
			if err != nil {
				return planError(err)
			}
			if err := pl.plan.Text(cmd.OutOrStdout()); err != nil {
				return err
			}
			if out != "" {
				if err := writeSaved(out, pl); err != nil {
					return planError(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "\nSaved the plan to %s: apply it with tandem apply %s\n", out, out)
			}
			if len(pl.plan.Problems) > 0 {
				return tandem.Errorf(tandem.EINTERNAL, "the plan has errors: fix them before apply")
			}
			if pl.plan.Changed() {
				return exitError{2}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "workspace file (default: TANDEM_WORKSPACE, the one tandem up recorded)")
	cmd.Flags().StringVar(&out, "out", "", "write the plan as JSON to this file, for tandem apply")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return planError(usageError(c, err)) })
	return cmd
}

// planError makes every failure of plan exit 1 (2 means changes).
func planError(err error) error {
	return &tandem.Error{Code: tandem.EINTERNAL, Message: tandem.ErrorMessage(err)}
}

func writeSaved(path string, pl *planned) error {
	abs, _ := filepath.Abs(pl.file)
	s := &plan.Saved{Format: 1, Workspace: pl.ws.Name, File: abs, Plan: pl.plan}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := s.JSON(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func newApplyCmd() *cobra.Command {
	var file string
	var imagesWait time.Duration
	cmd := &cobra.Command{
		Use:   "apply [plan.json]",
		Short: "Change every region to match workspace.yaml (or perform a saved plan)",
		Long: `Perform the plan: replicated kinds (roles, assignments, datastores, assets) through the primary,
region-local ones (compute) through each region, in dependency order, one action at a time. Apply stops
at the first error and says what was done and what was not; running it again resumes (it plans again
from what the regions have, so nothing is done twice). A saved plan is refused when the regions' state
moved since it was made. When every action is done the desired state is recorded (replicated): each
region then reports drift from it.`,
		Example: `  tandem apply
  tandem plan --out plan.json && tandem apply plan.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			var saved *plan.Saved
			if len(args) == 1 {
				b, err := os.ReadFile(args[0])
				if err != nil {
					return tandem.Errorf(tandem.EINVALID, "read %s: %v", args[0], err)
				}
				saved = &plan.Saved{}
				if err := json.Unmarshal(b, saved); err != nil || saved.Format != 1 || saved.Plan == nil {
					return tandem.Errorf(tandem.EINVALID, "%s is not a plan written by tandem plan --out", args[0])
				}
				if file == "" {
					file = saved.File
				}
			}
			pl, err := makePlan(ctx, file)
			if err != nil {
				return err
			}
			p := pl.plan
			if saved != nil {
				if saved.Workspace != pl.ws.Name {
					return tandem.Errorf(tandem.EINVALID, "%s is a plan of workspace %s, not %s", args[0], saved.Workspace, pl.ws.Name)
				}
				if saved.Plan.Fingerprint != p.Fingerprint {
					return tandem.Errorf(tandem.ECONFLICT, "the regions' state changed since %s was made (%s, now %s): run tandem plan again", args[0], short(saved.Plan.Fingerprint), short(p.Fingerprint))
				}
				p = saved.Plan
			} else if err := p.Text(out); err != nil {
				return err
			}
			if len(p.Problems) > 0 {
				return tandem.Errorf(tandem.EINVALID, "the plan has errors; nothing was applied:\n  %s", strings.Join(p.Problems, "\n  "))
			}
			targets := map[string]converge.Writer{}
			for name, c := range pl.clients {
				targets[name] = c
			}
			fmt.Fprintln(out)
			done, err := converge.Apply(ctx, p, pl.ws.Desired, converge.Providers(pl.in.Regions), targets, out)
			if err != nil {
				acts := p.Actions()
				fmt.Fprintf(out, "\nApply stopped: %d of %d actions done.\n", done, len(acts))
				if len(acts) > done+1 {
					fmt.Fprintln(out, "Not done:")
					for _, a := range acts[done+1:] {
						fmt.Fprintf(out, "  %s: %s %s %q\n", a.Region, a.Op, a.Kind, a.Name)
					}
				}
				fmt.Fprintln(out, "Fix the error and run tandem apply again: it resumes from what the regions have.")
				return err
			}
			if err := recordApplied(ctx, pl, out); err != nil {
				return err
			}
			fmt.Fprintf(out, "\nApply complete! %d added, %d changed, %d destroyed.\n", p.Total.Add, p.Total.Change, p.Total.Destroy)
			waitAppliedImages(ctx, out, pl, imagesWait)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "workspace file (default: the saved plan's, TANDEM_WORKSPACE, the one tandem up recorded)")
	cmd.Flags().DurationVar(&imagesWait, "images-wait", 10*time.Minute, "with regions[].registry, how long to follow the declared environments' images into every region's registry after the apply (0: do not wait)")
	cmd.SetFlagErrorFunc(usageError)
	return cmd
}

// recordApplied stores the desired state just applied, through the
// primary: what tandem owns from now on, and what drift is measured from.
func recordApplied(ctx context.Context, pl *planned, out io.Writer) error {
	doc, err := json.Marshal(plan.AppliedFrom(pl.ws.Desired, pl.in))
	if err != nil {
		return err
	}
	if err := pl.clients[pl.in.Primary].PutDesiredApplied(ctx, doc); err != nil {
		return fmt.Errorf("every action is done, but recording the applied state failed (run tandem apply again): %w", err)
	}
	fmt.Fprintf(out, "Recorded the applied desired state in %s (replicated to every region).\n", pl.in.Primary)
	return nil
}

func short(fp string) string {
	if len(fp) > 19 {
		return fp[:19]
	}
	return fp
}

// envDuration is the environment variable's duration, or def.
func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// printDrift adds the regions' last drift checks to tandem status: the
// objects of the last applied desired state that differ in each region.
func printDrift(ctx context.Context, out io.Writer, regions *client.Regions) {
	var lines []string
	for _, reg := range regions.List {
		var d struct {
			CheckedMS int64        `json:"checked_ms"`
			Applied   bool         `json:"applied"`
			Drift     []plan.Drift `json:"drift"`
			Error     string       `json:"error"`
		}
		if err := regions.Call(ctx, "GET", reg.URL+"/api/tandem/v1/desired/drift", nil, &d); err != nil || !d.Applied {
			continue
		}
		switch {
		case d.Error != "":
			lines = append(lines, fmt.Sprintf("  %s: drift check failed: %s", reg.Name, d.Error))
		case len(d.Drift) == 0:
			lines = append(lines, fmt.Sprintf("  %s: no drift", reg.Name))
		default:
			var objs []string
			for _, x := range d.Drift {
				what := "changed"
				if x.Missing {
					what = "missing"
				}
				objs = append(objs, fmt.Sprintf("%s %q %s", x.Kind, x.Name, what))
			}
			lines = append(lines, fmt.Sprintf("  %s: %d drifted: %s", reg.Name, len(d.Drift), strings.Join(objs, ", ")))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintf(out, "\ndesired state (since the last tandem apply; tandem plan explains):\n%s\n", strings.Join(lines, "\n"))
	}
}

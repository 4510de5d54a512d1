package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/transfer/mlflowsource"
)

// sourceClient is the client of the stock MLflow server an import reads:
// MLFLOW_TRACKING_TOKEN (bearer) or MLFLOW_TRACKING_USERNAME and
// MLFLOW_TRACKING_PASSWORD (basic, MLflow's basic-auth app), as the stock
// client takes them.
func sourceClient(src string) (*mlflowsource.Client, error) {
	c, err := mlflowsource.New(src, nil)
	if err != nil {
		return nil, err
	}
	if tok := os.Getenv("MLFLOW_TRACKING_TOKEN"); tok != "" {
		c.SetToken(tok)
	} else if u := os.Getenv("MLFLOW_TRACKING_USERNAME"); u != "" {
		c.SetBasicAuth(u, os.Getenv("MLFLOW_TRACKING_PASSWORD"))
	}
	return c, nil
}

// importMLflowUsers carries the users and per-resource permissions of the
// source's basic-auth app over after its data was imported: each user
// becomes a tandem user without a password and gets a reset token (valid
// 72 h, printed once: passwords cannot be read from MLflow), and each
// grant a role assignment (mlflowsource.PlanAssignments). Idempotent: what
// exists already is kept.
func importMLflowUsers(ctx context.Context, cmd *cobra.Command, src *mlflowsource.Client) error {
	c, err := workspaceClient(cmd)
	if err != nil {
		return err
	}
	users, ok, err := src.ReadUsers(ctx)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if !ok {
		fmt.Fprintln(w, "users: the source runs without MLflow's basic-auth app; no users to import")
		return nil
	}
	// Source experiment ids -> tandem ids, through the experiment's name.
	ids := map[string]string{}
	for _, u := range users {
		for _, g := range u.Grants {
			if g.ResourceType != "experiment" || g.Resource == "*" {
				continue
			}
			if _, done := ids[g.Resource]; done {
				continue
			}
			ids[g.Resource] = ""
			name, err := src.ExperimentName(ctx, g.Resource)
			if err != nil {
				continue // deleted at the source: reported as not imported
			}
			var got struct {
				Experiment struct {
					ID string `json:"experiment_id"`
				} `json:"experiment"`
			}
			if c.Call(ctx, "GET", "/api/2.0/mlflow/experiments/get-by-name?experiment_name="+url.QueryEscape(name), nil, &got) == nil {
				ids[g.Resource] = got.Experiment.ID
			}
		}
	}
	plan, skipped := mlflowsource.PlanAssignments(users, func(s string) (string, bool) { id := ids[s]; return id, id != "" })

	const p = "/api/tandem/v1"
	for _, a := range plan {
		if a.Role == mlflowsource.EditorRoleName {
			if err := c.Call(ctx, "PUT", p+"/roles/"+url.PathEscape(a.Role), mlflowsource.EditorRole(), nil); err != nil {
				return fmt.Errorf("role %q: %w", a.Role, err)
			}
			break
		}
	}
	var existing struct {
		RoleAssignments []struct{ Role, Assignee, Scope string } `json:"role_assignments"`
	}
	if err := c.Call(ctx, "GET", p+"/role-assignments", nil, &existing); err != nil {
		return err
	}
	have := map[string]bool{}
	for _, a := range existing.RoleAssignments {
		have[a.Role+"\x00"+a.Assignee+"\x00"+a.Scope] = true
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tSTATUS\tRESET TOKEN (shown once, valid 72h)")
	for _, u := range users {
		if c.Call(ctx, "GET", p+"/principals/"+url.PathEscape(u.Name), nil, nil) == nil {
			fmt.Fprintf(tw, "%s\talready present\t-\n", u.Name)
			continue
		}
		if err := c.Call(ctx, "POST", p+"/principals", map[string]any{"name": u.Name, "kind": tandem.PrincipalUser}, nil); err != nil {
			return fmt.Errorf("user %q: %w", u.Name, err)
		}
		var tok struct {
			Token string `json:"token"`
		}
		if err := c.Call(ctx, "POST", p+"/principals/"+url.PathEscape(u.Name)+"/tokens",
			map[string]any{"description": "reset token from the MLflow import: set a password with tandem user set-password", "expires_in": "72h"}, &tok); err != nil {
			return fmt.Errorf("reset token of %q: %w", u.Name, err)
		}
		fmt.Fprintf(tw, "%s\tcreated\t%s\n", u.Name, tok.Token)
	}
	tw.Flush()
	made := 0
	for _, a := range plan {
		if have[a.Role+"\x00"+a.Assignee+"\x00"+string(a.Scope)] {
			continue
		}
		if err := c.Call(ctx, "POST", p+"/role-assignments",
			map[string]any{"role": a.Role, "assignee": a.Assignee, "scope": a.Scope}, nil); err != nil {
			return fmt.Errorf("assignment %s to %s at %s (from %s): %w", a.Role, a.Assignee, a.Scope, a.From, err)
		}
		made++
	}
	fmt.Fprintf(w, "role assignments: %d made, %d already present\n", made, len(plan)-made)
	for _, s := range skipped {
		fmt.Fprintf(w, "not imported: %s: %s (%s)\n", s.User, s.Grant, s.Reason)
	}
	if len(skipped) > 0 {
		fmt.Fprintln(w, strings.TrimSpace(`
MLflow's default_permission (basic_auth.ini) is not visible through its API: grant it here with
tandem role assignment create --role Reader --assignee NAME when every user should read.`))
	}
	return nil
}

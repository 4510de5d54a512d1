package mlflowsource

import (
	"context"
	"fmt"
	"net/url"
	"sort"

	"github.com/tandemml/tandem"
)

// SourceUser is a user of the MLflow basic-auth app with the grants it
// holds (directly or through the app's roles, flattened). Passwords
// cannot be read from MLflow: only their hashes exist there, and the API
// never returns them.
type SourceUser struct {
	Name   string
	Admin  bool
	Grants []Grant
}

// Grant is one permission of a user on a resource of the basic-auth app:
// ResourceType "experiment", "registered_model", "workspace", ...;
// Resource an id, a name or "*"; Permission READ, USE, EDIT, MANAGE, DENY
// or NO_PERMISSIONS.
type Grant struct {
	ResourceType string
	Resource     string
	Permission   string
}

// ReadUsers reads the users and permissions of the MLflow basic-auth app
// (MLflow 3: users/list and users/permissions/list). ok is false when the
// source runs without the auth app (the routes are not served).
func (c *Client) ReadUsers(ctx context.Context) (users []SourceUser, ok bool, err error) {
	var list struct {
		Users []struct {
			Username string `json:"username"`
			IsAdmin  bool   `json:"is_admin"`
		} `json:"users"`
	}
	if err := c.do(ctx, "GET", "/api/2.0/mlflow/users/list", nil, nil, &list); err != nil {
		if notServed(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("MLflow users: %w", err)
	}
	for _, u := range list.Users {
		var perms struct {
			Permissions []struct {
				ResourceType    string `json:"resource_type"`
				ResourcePattern string `json:"resource_pattern"`
				Permission      string `json:"permission"`
			} `json:"permissions"`
		}
		if err := c.do(ctx, "GET", "/api/3.0/mlflow/users/permissions/list", url.Values{"username": {u.Username}}, nil, &perms); err != nil {
			return nil, true, fmt.Errorf("MLflow permissions of %q: %w", u.Username, err)
		}
		su := SourceUser{Name: u.Username, Admin: u.IsAdmin}
		for _, p := range perms.Permissions {
			su.Grants = append(su.Grants, Grant{ResourceType: p.ResourceType, Resource: p.ResourcePattern, Permission: p.Permission})
		}
		users = append(users, su)
	}
	return users, true, nil
}

// notServed: the source answers 404 (a server without the auth app has
// no such route).
func notServed(err error) bool { return tandem.ErrorCode(err) == tandem.ENOTFOUND }

// EditorRole is the custom role an import creates for MLflow's EDIT: read
// and write experiments, runs and registered models, delete nothing (none
// of the built-in roles is exactly that: Contributor may delete).
func EditorRole() tandem.RoleDefinition {
	return tandem.RoleDefinition{
		Name:        EditorRoleName,
		Description: "MLflow's EDIT permission, imported from a stock MLflow server: read and write, never delete",
		Actions: []string{
			tandem.ActionExperimentsRead, tandem.ActionExperimentsWrite,
			tandem.ActionRunsRead, tandem.ActionRunsWrite,
			tandem.ActionModelsRead, tandem.ActionModelsWrite,
		},
	}
}

// EditorRoleName names EditorRole.
const EditorRoleName = "MLflow Editor"

// PlannedAssignment is a role assignment an import makes.
type PlannedAssignment struct {
	Assignee string
	Role     string
	Scope    tandem.Scope
	From     string // the MLflow grant it comes from, for the report
}

// Skipped is a grant an import does not carry over, and why.
type Skipped struct {
	User, Grant, Reason string
}

// PlanAssignments maps the basic-auth app's users and grants onto
// tandem's roles (pure): an admin is Owner of the workspace; READ and USE
// are Reader, EDIT is EditorRole, MANAGE is Owner, each at the scope of
// the experiment (through experimentID, which maps a source experiment id
// to the id it has in tandem, false when it was not imported) or the
// registered model, or the workspace for "*" and workspace grants.
// NO_PERMISSIONS grants nothing; DENY, and grants on kinds tandem has no
// scope for, are skipped with the reason (tandem has no deny assignments:
// a user with DENY on one experiment and READ on "*" can read it here).
func PlanAssignments(users []SourceUser, experimentID func(src string) (string, bool)) ([]PlannedAssignment, []Skipped) {
	var out []PlannedAssignment
	var skipped []Skipped
	seen := map[PlannedAssignment]bool{}
	add := func(a PlannedAssignment) {
		k := a
		k.From = ""
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	for _, u := range users {
		if u.Admin {
			add(PlannedAssignment{Assignee: u.Name, Role: tandem.RoleOwner, Scope: tandem.ScopeWorkspace, From: "is_admin"})
		}
		for _, g := range u.Grants {
			from := g.ResourceType + " " + g.Resource + " " + g.Permission
			var role string
			switch g.Permission {
			case "READ", "USE":
				role = tandem.RoleReader
			case "EDIT":
				role = EditorRoleName
			case "MANAGE":
				role = tandem.RoleOwner
			case "NO_PERMISSIONS":
				continue
			case "DENY":
				skipped = append(skipped, Skipped{u.Name, from, "tandem has no deny assignments"})
				continue
			default:
				skipped = append(skipped, Skipped{u.Name, from, "unknown permission"})
				continue
			}
			var scope tandem.Scope
			switch {
			case g.ResourceType == "workspace" || g.Resource == "*":
				scope = tandem.ScopeWorkspace
			case g.ResourceType == "experiment":
				id, ok := experimentID(g.Resource)
				if !ok {
					skipped = append(skipped, Skipped{u.Name, from, "the experiment was not imported"})
					continue
				}
				scope = tandem.ExperimentScope(id)
			case g.ResourceType == "registered_model":
				scope = tandem.ModelScope(g.Resource)
			default:
				skipped = append(skipped, Skipped{u.Name, from, "tandem has no scope for " + g.ResourceType})
				continue
			}
			if g.ResourceType != "workspace" && g.Resource == "*" && role == tandem.RoleOwner {
				role = EditorRoleName // MANAGE on every experiment is not ownership of the workspace
			}
			add(PlannedAssignment{Assignee: u.Name, Role: role, Scope: scope, From: from})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Assignee < out[j].Assignee })
	return out, skipped
}

// ExperimentName returns the name of the source's experiment id.
func (c *Client) ExperimentName(ctx context.Context, id string) (string, error) {
	var out struct {
		Experiment struct {
			Name string `json:"name"`
		} `json:"experiment"`
	}
	if err := c.do(ctx, "GET", "/api/2.0/mlflow/experiments/get", url.Values{"experiment_id": {id}}, nil, &out); err != nil {
		return "", err
	}
	return out.Experiment.Name, nil
}

package main

import (
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/authz"
	"go.yaml.in/yaml/v3"
)

// addIdentityCommands: tandem user, sp, role (and role assignment), token.
func addIdentityCommands(root *cobra.Command) {
	root.AddCommand(newPrincipalCmd("user", tandem.PrincipalUser), newPrincipalCmd("sp", tandem.PrincipalService), newRoleCmd())
}

// call runs one identity API call and prints its answer.
func identityCall(cmd *cobra.Command, method, path string, in any, table func(v map[string]any) [][]string) error {
	c, err := clientFor(cmd)
	if err != nil {
		return err
	}
	var out map[string]any
	if err := c.Identity(cmd.Context(), method, path, in, &out); err != nil {
		return err
	}
	o, err := outputFormat(cmd)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	switch o {
	case "json":
		return writeIndentedJSON(w, out)
	case "yaml":
		return yaml.NewEncoder(w).Encode(out)
	}
	if table == nil {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, row := range table(out) {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func identityFlags(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.String("config", "", "workspace config file (default: --config, TANDEM_CONFIG, .tandem/config.json here or above, ~/.tandem/config.json)")
	pf.StringP("output", "o", "table", "output format: table, json or yaml")
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return fmt.Sprint(int64(x))
	}
	return fmt.Sprint(v)
}

func rows(list any, header []string, cols ...string) [][]string {
	out := [][]string{header}
	l, _ := list.([]any)
	for _, it := range l {
		m, _ := it.(map[string]any)
		var row []string
		for _, c := range cols {
			row = append(row, str(m[c]))
		}
		out = append(out, row)
	}
	return out
}

func newPrincipalCmd(use string, kind tandem.PrincipalKind) *cobra.Command {
	what := map[tandem.PrincipalKind]string{tandem.PrincipalUser: "users (password: HTTP basic)", tandem.PrincipalService: "service principals (tokens)"}[kind]
	cmd := &cobra.Command{Use: use, Short: "Manage " + what}
	identityFlags(cmd)
	create := &cobra.Command{Use: "create NAME", Short: "Create one (a service principal's token is printed once)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := map[string]any{"name": args[0], "kind": kind}
			if kind == tandem.PrincipalUser {
				pw := os.Getenv("TANDEM_NEW_PASSWORD")
				if pw == "" {
					return tandem.Errorf(tandem.EINVALID, "set the new user's password in TANDEM_NEW_PASSWORD (never on the command line)")
				}
				in["password"] = pw
			}
			return identityCall(cmd, "POST", "/principals", in, func(v map[string]any) [][]string {
				p, _ := v["principal"].(map[string]any)
				out := [][]string{{"NAME", "KIND", "ID"}, {str(p["name"]), str(p["kind"]), str(p["id"])}}
				if t := str(v["token"]); t != "" {
					out = append(out, []string{""}, []string{"TOKEN (shown once):", t})
				}
				return out
			})
		}}
	list := &cobra.Command{Use: "list", Short: "List principals", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, args []string) error {
		return identityCall(cmd, "GET", "/principals", nil, func(v map[string]any) [][]string {
			return rows(v["principals"], []string{"NAME", "KIND", "ID"}, "name", "kind", "id")
		})
	}}
	del := &cobra.Command{Use: "delete NAME", Short: "Delete one, with its tokens and role assignments", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return identityCall(cmd, "DELETE", "/principals/"+url.PathEscape(args[0]), nil, nil)
		}}
	var expires, desc string
	tokCreate := &cobra.Command{Use: "create NAME", Short: "Issue a token (printed once)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return identityCall(cmd, "POST", "/principals/"+url.PathEscape(args[0])+"/tokens", map[string]any{"expires_in": expires, "description": desc},
				func(v map[string]any) [][]string {
					ti, _ := v["token_info"].(map[string]any)
					return [][]string{{"ID", "EXPIRES"}, {str(ti["id"]), expiry(ti["expires_ms"])}, {""}, {"TOKEN (shown once):", str(v["token"])}}
				})
		}}
	tokCreate.Flags().StringVar(&expires, "expires-in", "", "lifetime, e.g. 720h (default: no expiry)")
	tokCreate.Flags().StringVar(&desc, "description", "", "what the token is for")
	tokList := &cobra.Command{Use: "list NAME", Short: "List a principal's tokens (never their secrets)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return identityCall(cmd, "GET", "/principals/"+url.PathEscape(args[0])+"/tokens", nil, func(v map[string]any) [][]string {
				return rows(v["tokens"], []string{"ID", "DESCRIPTION", "EXPIRES_MS", "REVOKED_MS"}, "id", "description", "expires_ms", "revoked_ms")
			})
		}}
	tokRevoke := &cobra.Command{Use: "revoke TOKEN_ID", Short: "Revoke a token in every region", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return identityCall(cmd, "DELETE", "/tokens/"+url.PathEscape(args[0]), nil, nil)
		}}
	tok := &cobra.Command{Use: "token", Short: "Issue, list and revoke tokens"}
	tok.AddCommand(tokCreate, tokList, tokRevoke)
	cmd.AddCommand(create, list, del, tok)
	if kind == tandem.PrincipalUser {
		setpw := &cobra.Command{Use: "set-password [NAME]", Short: "Set a user's password from TANDEM_NEW_PASSWORD (without NAME: your own)", Args: cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				pw := os.Getenv("TANDEM_NEW_PASSWORD")
				if pw == "" {
					return tandem.Errorf(tandem.EINVALID, "set the new password in TANDEM_NEW_PASSWORD (never on the command line)")
				}
				path := "/whoami/password"
				if len(args) == 1 {
					path = "/principals/" + url.PathEscape(args[0]) + "/password"
				}
				return identityCall(cmd, "PUT", path, map[string]any{"password": pw}, nil)
			}}
		cmd.AddCommand(setpw)
	}
	return cmd
}

func expiry(v any) string {
	ms, _ := v.(float64)
	if ms == 0 {
		return "never"
	}
	return time.UnixMilli(int64(ms)).UTC().Format(time.RFC3339)
}

func newRoleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "role", Short: "Roles (built-in and custom) and role assignments"}
	identityFlags(cmd)
	roleRows := func(v map[string]any) [][]string {
		return rows(v["roles"], []string{"NAME", "BUILT_IN", "DESCRIPTION"}, "name", "built_in", "description")
	}
	list := &cobra.Command{Use: "list", Short: "List roles", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, args []string) error {
		return identityCall(cmd, "GET", "/roles", nil, roleRows)
	}}
	show := &cobra.Command{Use: "show NAME", Short: "Show a role's actions", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return identityCall(cmd, "GET", "/roles/"+url.PathEscape(args[0]), nil, func(v map[string]any) [][]string {
			out := [][]string{{"NAME", str(v["name"])}, {"DESCRIPTION", str(v["description"])}}
			for _, k := range []string{"actions", "not_actions"} {
				l, _ := v[k].([]any)
				for _, a := range l {
					out = append(out, []string{strings.ToUpper(k), str(a)})
				}
			}
			return out
		})
	}}
	var file string
	create := &cobra.Command{Use: "create -f role.yml", Short: "Create or replace a custom role from YAML (name, description, actions, not_actions)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(file)
			if err != nil {
				return tandem.Errorf(tandem.EINVALID, "%v", err)
			}
			rd, err := authz.LoadRole(file, b)
			if err != nil {
				return err
			}
			return identityCall(cmd, "PUT", "/roles/"+url.PathEscape(rd.Name), rd, nil)
		}}
	create.Flags().StringVarP(&file, "file", "f", "", "role definition (YAML)")
	create.MarkFlagRequired("file")
	del := &cobra.Command{Use: "delete NAME", Short: "Delete a custom role (not while assigned)", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return identityCall(cmd, "DELETE", "/roles/"+url.PathEscape(args[0]), nil, nil)
	}}
	cmd.AddCommand(list, show, create, del, newAssignmentCmd())
	return cmd
}

func newAssignmentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "assignment", Short: "Grant roles at workspace, experiment or model scope"}
	var role, assignee, scope string
	create := &cobra.Command{Use: "create --role ROLE --assignee NAME [--scope /experiments/ID|/models/NAME]", Short: "Grant a role", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return identityCall(cmd, "POST", "/role-assignments", map[string]any{"role": role, "assignee": assignee, "scope": scope},
				func(v map[string]any) [][]string {
					return [][]string{{"ID", "ROLE", "ASSIGNEE", "SCOPE"}, {str(v["id"]), str(v["role"]), str(v["assignee"]), str(v["scope"])}}
				})
		}}
	create.Flags().StringVar(&role, "role", "", "role name (Owner, Contributor, Reader, \"AzureML Data Scientist\", ... or a custom role)")
	create.Flags().StringVar(&assignee, "assignee", "", "principal name, or oidc:sub:SUBJECT / oidc:group:GROUP")
	create.Flags().StringVar(&scope, "scope", "/", "/ (the workspace), /experiments/ID or /models/NAME")
	create.MarkFlagRequired("role")
	create.MarkFlagRequired("assignee")
	list := &cobra.Command{Use: "list", Short: "List role assignments", Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, args []string) error {
		return identityCall(cmd, "GET", "/role-assignments", nil, func(v map[string]any) [][]string {
			r := rows(v["role_assignments"], []string{"ID", "ROLE", "ASSIGNEE", "SCOPE"}, "id", "role", "assignee", "scope")
			sort.SliceStable(r[1:], func(i, j int) bool { return r[i+1][2] < r[j+1][2] })
			return r
		})
	}}
	del := &cobra.Command{Use: "delete ID", Short: "Remove a role assignment", Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
		return identityCall(cmd, "DELETE", "/role-assignments/"+url.PathEscape(args[0]), nil, nil)
	}}
	cmd.AddCommand(create, list, del)
	return cmd
}

package authz

import (
	"strings"
	"testing"

	"github.com/tandemml/tandem"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, action string
		want            bool
	}{
		{"*", "Microsoft.MachineLearningServices/workspaces/experiments/read", true},
		{"*/read", "Microsoft.MachineLearningServices/workspaces/experiments/read", true},
		{"*/read", "Microsoft.MachineLearningServices/workspaces/experiments/write", false},
		{"Microsoft.MachineLearningServices/workspaces/*/read", "Microsoft.MachineLearningServices/workspaces/experiments/runs/read", true},
		{"Microsoft.MachineLearningServices/workspaces/*/read", "Microsoft.MachineLearningServices/workspaces/read", false},
		{"microsoft.machinelearningservices/WORKSPACES/experiments/read", "Microsoft.MachineLearningServices/workspaces/experiments/read", true},
		{"Microsoft.Authorization/*/write", "Microsoft.Authorization/roleAssignments/write", true},
		{"Microsoft.Authorization/*/write", "Microsoft.MachineLearningServices/workspaces/experiments/write", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"", "", true},
		{"", "x", false},
	} {
		if got := Match(c.pattern, c.action); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.action, got, c.want)
		}
	}
}

func TestBuiltInRoles(t *testing.T) {
	roles := map[string]*tandem.RoleDefinition{}
	for _, r := range tandem.BuiltInRoles() {
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		roles[r.Name] = r
	}
	type want map[string]bool // role -> allowed
	for _, c := range []struct {
		action string
		want   want
	}{
		{tandem.ActionRunsWrite, want{"Owner": true, "Contributor": true, "Reader": false, "AzureML Data Scientist": true, "AzureML Compute Operator": false}},
		{tandem.ActionRunsRead, want{"Owner": true, "Contributor": true, "Reader": true, "AzureML Data Scientist": true, "AzureML Compute Operator": false}},
		{tandem.ActionModelsDelete, want{"Owner": true, "Contributor": true, "Reader": false, "AzureML Data Scientist": true, "AzureML Compute Operator": false}},
		{tandem.ActionAssignmentsWrite, want{"Owner": true, "Contributor": false, "Reader": false, "AzureML Data Scientist": false, "AzureML Compute Operator": false}},
		{tandem.ActionAssignmentsRead, want{"Owner": true, "Contributor": true, "Reader": true, "AzureML Data Scientist": false, "AzureML Compute Operator": false}},
		{tandem.ActionPrincipalsDelete, want{"Owner": true, "Contributor": false, "Reader": false, "AzureML Data Scientist": false, "AzureML Compute Operator": false}},
		{"Microsoft.MachineLearningServices/workspaces/computes/start/action", want{"Owner": true, "Contributor": true, "Reader": false, "AzureML Data Scientist": true, "AzureML Compute Operator": true}},
		{"Microsoft.MachineLearningServices/workspaces/computes/x/write", want{"Owner": true, "Contributor": true, "Reader": false, "AzureML Data Scientist": false, "AzureML Compute Operator": true}},
		{"Microsoft.MachineLearningServices/workspaces/write", want{"Owner": true, "Contributor": true, "Reader": false, "AzureML Data Scientist": false, "AzureML Compute Operator": false}},
	} {
		for name, w := range c.want {
			if got, _ := RoleAllows(roles[name], c.action); got != w {
				t.Errorf("%s allows %s = %v, want %v", name, c.action, got, w)
			}
		}
	}
}

func TestDecide(t *testing.T) {
	custom := &tandem.RoleDefinition{Name: "Run Logger",
		Actions:    []string{"Microsoft.MachineLearningServices/workspaces/experiments/*"},
		NotActions: []string{"Microsoft.MachineLearningServices/workspaces/experiments/delete"}}
	roles := append(tandem.BuiltInRoles(), custom)
	as := []*tandem.RoleAssignment{
		{ID: "1", Role: "Reader", Assignee: "rita", Scope: tandem.ScopeWorkspace},
		{ID: "2", Role: "Contributor", Assignee: "eve", Scope: tandem.ExperimentScope("7")},
		{ID: "3", Role: "run logger", Assignee: "lou", Scope: tandem.ScopeWorkspace},
		{ID: "4", Role: "Owner", Assignee: "oidc:group:admins", Scope: tandem.ScopeWorkspace},
		{ID: "5", Role: "Gone", Assignee: "ghost", Scope: tandem.ScopeWorkspace},
		{ID: "6", Role: "AzureML Data Scientist", Assignee: "mo", Scope: tandem.ModelScope("fraud")},
	}
	p := NewPolicy(roles, as)
	for _, c := range []struct {
		name      string
		assignees []string
		action    string
		scope     tandem.Scope
		allowed   bool
		reason    string
	}{
		{"reader reads an experiment", []string{"rita"}, tandem.ActionRunsRead, tandem.ExperimentScope("1"), true, `role "Reader" assigned to rita at scope /`},
		{"reader cannot write", []string{"rita"}, tandem.ActionRunsWrite, tandem.ExperimentScope("1"), false, "no role assignment allows"},
		{"experiment scope covers its runs", []string{"eve"}, tandem.ActionRunsWrite, tandem.ExperimentScope("7"), true, "at scope /experiments/7"},
		{"experiment scope not another experiment", []string{"eve"}, tandem.ActionRunsWrite, tandem.ExperimentScope("8"), false, ""},
		{"experiment scope not the workspace", []string{"eve"}, tandem.ActionExperimentsWrite, tandem.ScopeWorkspace, false, ""},
		{"custom role allows by wildcard", []string{"lou"}, tandem.ActionExperimentsWrite, tandem.ScopeWorkspace, true, `"Run Logger"`},
		{"custom role denied action wins", []string{"lou"}, tandem.ActionExperimentsDelete, tandem.ScopeWorkspace, false, "not_actions Microsoft.MachineLearningServices/workspaces/experiments/delete"},
		{"custom role covers runs", []string{"lou"}, tandem.ActionRunsDelete, tandem.ExperimentScope("3"), true, ""},
		{"group assignment", []string{"someone", "oidc:sub:x", "oidc:group:admins"}, tandem.ActionAssignmentsWrite, tandem.ScopeWorkspace, true, "oidc:group:admins"},
		{"unknown role grants nothing", []string{"ghost"}, tandem.ActionRunsRead, tandem.ScopeWorkspace, false, ""},
		{"nobody", nil, tandem.ActionRunsRead, tandem.ScopeWorkspace, false, ""},
		{"model scope", []string{"mo"}, tandem.ActionModelsWrite, tandem.ModelScope("fraud"), true, ""},
		{"model scope not other model", []string{"mo"}, tandem.ActionModelsWrite, tandem.ModelScope("churn"), false, ""},
		{"two assignments: one allows", []string{"rita", "eve"}, tandem.ActionRunsWrite, tandem.ExperimentScope("7"), true, "Contributor"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := p.Decide(c.assignees, c.action, c.scope)
			if d.Allowed != c.allowed || !strings.Contains(d.Reason, c.reason) {
				t.Errorf("Decide = %+v, want allowed=%v with reason containing %q", d, c.allowed, c.reason)
			}
		})
	}
}

func TestLoadRole(t *testing.T) {
	r, err := LoadRole("r.yml", []byte("name: Run Logger\ndescription: logs\nactions:\n  - Microsoft.MachineLearningServices/workspaces/experiments/*\nnot_actions: [\"*/delete\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "Run Logger" || len(r.Actions) != 1 || r.NotActions[0] != "*/delete" {
		t.Fatalf("%+v", r)
	}
	for _, c := range []struct{ in, want string }{
		{"", "r.yml: empty file"},
		{"name: a\nactions: [x]\nextra: 1\n", `r.yml:3:1: unknown field "extra"`},
		{"name: a\nname: b\nactions: [x]\n", `r.yml:2:1: field "name" is repeated`},
		{"name: a\nactions: x\n", "r.yml:2:10: actions must be a list"},
		{"name: a\nactions: [[x]]\n", "r.yml:2:11: expected a string"},
		{"name: a\n", "actions must list at least one action"},
		{"name: a\nactions: ['a b']\n", `action "a b"`},
		{"name: &x a\nactions: [*x]\n", "anchors and aliases"},
		{"name: a\nactions: [x]\n---\nname: b\n", "r.yml:3:1: one role per file"},
		{"- a\n", "r.yml:1:1: a role must be a mapping"},
		{"name: [\n", "r.yml:"},
		{"name: 'bad/name'\nactions: [x]\n", "role name"},
	} {
		_, err := LoadRole("r.yml", []byte(c.in))
		if err == nil || tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("LoadRole(%q) = %v, want EINVALID containing %q", c.in, err, c.want)
		}
	}
}

// FuzzLoadRole: the loader never panics, and whatever it accepts is a
// valid role definition.
func FuzzLoadRole(f *testing.F) {
	for _, s := range []string{
		"name: a\nactions: [x]\n",
		"name: Run Logger\nactions:\n  - Microsoft.MachineLearningServices/workspaces/experiments/*\nnot_actions: ['*/delete']\n",
		"name: &x a\nactions: [*x]\n",
		"{name: a, actions: [b], description: c}",
		"name: a\nactions: [x]\n---\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := LoadRole("f.yml", b)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EINVALID {
				t.Fatalf("non-EINVALID error %v", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted an invalid role: %v", err)
		}
	})
}

// FuzzMatch: Match never panics and '*' matches everything.
func FuzzMatch(f *testing.F) {
	f.Add("a*b", "aXb")
	f.Fuzz(func(t *testing.T, p, s string) {
		Match(p, s)
		if !Match("*", s) || !Match(s, s) {
			t.Fatalf("Match basics fail for %q", s)
		}
	})
}

func TestGrantsAllow(t *testing.T) {
	const ws = "Microsoft.MachineLearningServices/workspaces/"
	grants := []tandem.TokenGrant{
		{Actions: []string{ws + "*/read"}, Scope: tandem.ScopeWorkspace},
		{Actions: []string{ws + "experiments/runs/*"}, Scope: tandem.ExperimentScope("7")},
	}
	exp7, exp8 := tandem.ExperimentScope("7"), tandem.ExperimentScope("8")
	for _, c := range []struct {
		name   string
		grants []tandem.TokenGrant
		action string
		scopes []tandem.Scope
		want   bool
	}{
		{"no grants leave the roles alone", nil, ws + "experiments/delete", nil, true},
		{"read anywhere", grants, ws + "experiments/runs/read", []tandem.Scope{exp8}, true},
		{"read at the workspace", grants, ws + "models/read", nil, true},
		{"write in the granted experiment", grants, ws + "experiments/runs/write", []tandem.Scope{exp7}, true},
		{"write in another experiment", grants, ws + "experiments/runs/write", []tandem.Scope{exp8}, false},
		{"write at the workspace (no scope) is not the experiment's", grants, ws + "experiments/runs/write", nil, false},
		{"every scope of the request must be covered", grants, ws + "experiments/runs/write", []tandem.Scope{exp7, exp8}, false},
		{"an action no grant names", grants, ws + "experiments/write", []tandem.Scope{exp7}, false},
		{"identity is never granted", grants, "Microsoft.Authorization/roleAssignments/write", nil, false},
	} {
		if got := GrantsAllow(c.grants, c.action, c.scopes); got != c.want {
			t.Errorf("%s: GrantsAllow(%s, %v) = %v, want %v", c.name, c.action, c.scopes, got, c.want)
		}
	}
	if !GrantsAtWorkspace(grants, ws+"jobs/read") || GrantsAtWorkspace(grants, ws+"experiments/runs/write") {
		t.Error("GrantsAtWorkspace: reads are granted workspace-wide, run writes only in experiment 7")
	}
	if !GrantsAtWorkspace(nil, ws+"experiments/runs/write") {
		t.Error("GrantsAtWorkspace: a token without grants is limited by its roles only")
	}
}

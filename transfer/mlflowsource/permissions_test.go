package mlflowsource

import (
	"reflect"
	"testing"

	"github.com/tandemml/tandem"
)

func TestPlanAssignments(t *testing.T) {
	ids := map[string]string{"1": "7"} // source experiment 1 is 7 in tandem; 2 was not imported
	users := []SourceUser{
		{Name: "root", Admin: true},
		{Name: "bob", Grants: []Grant{
			{"experiment", "1", "EDIT"}, {"experiment", "1", "EDIT"}, // twice through two roles: one assignment
			{"registered_model", "churn", "READ"}, {"experiment", "2", "MANAGE"},
			{"experiment", "1", "NO_PERMISSIONS"},
		}},
		{Name: "carol", Grants: []Grant{
			{"experiment", "*", "MANAGE"}, {"experiment", "1", "DENY"}, {"workspace", "default", "USE"},
			{"scorer", "x", "READ"}, {"experiment", "1", "OWN"},
		}},
	}
	got, skipped := PlanAssignments(users, func(s string) (string, bool) { id, ok := ids[s]; return id, ok })
	for i := range got {
		got[i].From = ""
	}
	want := []PlannedAssignment{
		{Assignee: "bob", Role: EditorRoleName, Scope: tandem.ExperimentScope("7")},
		{Assignee: "bob", Role: tandem.RoleReader, Scope: tandem.ModelScope("churn")},
		{Assignee: "carol", Role: EditorRoleName, Scope: tandem.ScopeWorkspace},
		{Assignee: "carol", Role: tandem.RoleReader, Scope: tandem.ScopeWorkspace},
		{Assignee: "root", Role: tandem.RoleOwner, Scope: tandem.ScopeWorkspace},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("assignments:\n got %+v\nwant %+v", got, want)
	}
	wantSkipped := []Skipped{
		{"bob", "experiment 2 MANAGE", "the experiment was not imported"},
		{"carol", "experiment 1 DENY", "tandem has no deny assignments"},
		{"carol", "scorer x READ", "tandem has no scope for scorer"},
		{"carol", "experiment 1 OWN", "unknown permission"},
	}
	if !reflect.DeepEqual(skipped, wantSkipped) {
		t.Fatalf("skipped:\n got %+v\nwant %+v", skipped, wantSkipped)
	}
	for _, a := range EditorRole().Actions {
		if a == tandem.ActionExperimentsDelete || a == tandem.ActionRunsDelete || a == tandem.ActionModelsDelete {
			t.Fatalf("the MLflow Editor role may delete: %s", a)
		}
	}
}

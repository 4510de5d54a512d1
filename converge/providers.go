package converge

import (
	"context"
	"sort"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/desired"
	"github.com/tandemml/tandem/plan"
)

// secrets: listed only (the file names secrets, never values; plan reports
// a missing one and apply never writes one).
type secrets struct{}

func (secrets) Kind() desired.Kind { return desired.KindSecret }

func (secrets) List(ctx context.Context, r Reader, _ []string) ([]plan.Object, error) {
	ss, err := r.ListSecrets(ctx, false)
	if err != nil {
		return nil, err
	}
	out := make([]plan.Object, 0, len(ss))
	for _, s := range ss {
		out = append(out, plan.Object{Kind: desired.KindSecret, Name: s.Name, Spec: map[string]any{}})
	}
	return out, nil
}

func (secrets) Apply(context.Context, Writer, plan.Action, *desired.Object) error {
	return tandem.Errorf(tandem.EINVALID, "secrets are set with tandem secret set, never by apply")
}

type roles struct{}

func (roles) Kind() desired.Kind { return desired.KindRole }

func (roles) List(ctx context.Context, r Reader, _ []string) ([]plan.Object, error) {
	rs, err := r.Roles(ctx)
	if err != nil {
		return nil, err
	}
	out := []plan.Object{}
	for _, rd := range rs {
		if rd.BuiltIn {
			continue
		}
		out = append(out, plan.Object{Kind: desired.KindRole, Name: rd.Name, Spec: desired.RoleSpec(rd)})
	}
	return out, nil
}

func (roles) Apply(ctx context.Context, w Writer, a plan.Action, o *desired.Object) error {
	if a.Op == plan.Delete {
		err := w.DeleteRole(ctx, a.Name)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil
		}
		return err
	}
	rd := &tandem.RoleDefinition{Name: o.Name}
	rd.Description, _ = o.Spec["description"].(string)
	rd.Actions = strs(o.Spec["actions"])
	rd.NotActions = strs(o.Spec["not_actions"])
	return w.PutRole(ctx, rd) // create or replace: idempotent
}

func strs(v any) []string {
	var out []string
	switch l := v.(type) {
	case []any:
		for _, x := range l {
			s, _ := x.(string)
			out = append(out, s)
		}
	case []string:
		out = append(out, l...)
	}
	return out
}

type assignments struct{}

func (assignments) Kind() desired.Kind { return desired.KindRoleAssignment }

func (assignments) List(ctx context.Context, r Reader, _ []string) ([]plan.Object, error) {
	as, err := r.Assignments(ctx)
	if err != nil {
		return nil, err
	}
	out := []plan.Object{}
	for _, ra := range as {
		out = append(out, plan.Object{Kind: desired.KindRoleAssignment, Name: desired.AssignmentName(ra.Role, ra.Assignee, ra.Scope), ID: ra.ID,
			Spec: map[string]any{"role": ra.Role, "assignee": ra.Assignee, "scope": string(ra.Scope)}})
	}
	return out, nil
}

func (assignments) Apply(ctx context.Context, w Writer, a plan.Action, o *desired.Object) error {
	if a.Op == plan.Delete {
		err := w.DeleteAssignment(ctx, a.ID)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil
		}
		return err
	}
	role, _ := o.Spec["role"].(string)
	assignee, _ := o.Spec["assignee"].(string)
	scope, _ := o.Spec["scope"].(string)
	_, err := w.CreateAssignment(ctx, &tandem.RoleAssignment{Role: role, Assignee: assignee, Scope: tandem.Scope(scope)})
	if tandem.ErrorCode(err) == tandem.EEXISTS {
		return nil // made by an apply that was interrupted before it recorded the state
	}
	return err
}

// assets: datastores (create replaces the definition) and versioned
// assets kept present (create a version, restore an archived one; a
// delete archives: versions are never removed).
type assets struct{ k tandem.AssetKind }

func (p assets) Kind() desired.Kind { return desired.Kind(p.k) }

func (p assets) List(ctx context.Context, r Reader, names []string) ([]plan.Object, error) {
	out := []plan.Object{}
	if !p.k.Versioned() {
		as, err := r.ListAssets(ctx, p.k, "", true)
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			out = append(out, plan.Object{Kind: p.Kind(), Name: a.Name, Spec: desired.AssetSpec(a)})
		}
		return out, nil
	}
	// Versions of the names the states mention (NAME:VERSION), each name once.
	seen := map[string]bool{}
	sort.Strings(names)
	for _, n := range names {
		name, _, _ := strings.Cut(n, ":")
		if seen[name] {
			continue
		}
		seen[name] = true
		as, err := r.ListAssets(ctx, p.k, name, true)
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, a := range as {
			out = append(out, plan.Object{Kind: p.Kind(), Name: desired.AssetName(a.Kind, a.Name, a.Version), Spec: desired.AssetSpec(a)})
		}
	}
	return out, nil
}

func (p assets) Apply(ctx context.Context, w Writer, a plan.Action, o *desired.Object) error {
	name, version, _ := strings.Cut(a.Name, ":")
	switch {
	case a.Op == plan.Delete && p.k.Versioned():
		return w.ArchiveAsset(ctx, p.k, name, version, true)
	case a.Op == plan.Delete:
		return tandem.Errorf(tandem.ENOTIMPLEMENTED, "datastores are never deleted by apply")
	case a.Op == plan.Update && p.k.Versioned():
		return w.ArchiveAsset(ctx, p.k, name, version, false)
	}
	if o == nil || o.Asset == nil {
		return tandem.Errorf(tandem.EINVALID, "%s %q: its file was not read", a.Kind, a.Name)
	}
	cp := *o.Asset
	_, err := w.CreateAsset(ctx, &cp, o.AssetDir)
	if tandem.ErrorCode(err) == tandem.EEXISTS && p.k.Versioned() {
		return nil // the version is there (an interrupted apply made it)
	}
	return err
}

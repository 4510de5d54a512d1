// Package authz decides whether a principal may perform an action on a
// resource, from its role assignments and the role definitions. It is
// pure: no I/O, no clock; package auth gathers the inputs and enforces the
// answer.
//
// The rules (Azure RBAC's): a role allows an action when the action
// matches one of the role's Actions and none of its NotActions (within a
// role, a denied action wins over an allowed one). An assignment applies
// when its scope covers the resource's scope (the workspace scope covers
// every experiment and model). The principal may act when at least one
// applying assignment's role allows the action. Nothing allows by default.
package authz

import (
	"fmt"
	"strings"

	"github.com/tandemml/tandem"
)

// Decision is the answer and why.
type Decision struct {
	Allowed bool
	Reason  string
}

// Policy is a snapshot of role definitions and assignments, indexed for
// decisions. Build one per identity generation; it is safe for concurrent
// use (read only).
type Policy struct {
	roles map[string]*tandem.RoleDefinition   // lower-cased name -> definition
	by    map[string][]*tandem.RoleAssignment // assignee -> assignments
}

// NewPolicy indexes roles (built-in and custom) and assignments. An
// assignment naming an unknown role grants nothing.
func NewPolicy(roles []*tandem.RoleDefinition, assignments []*tandem.RoleAssignment) *Policy {
	p := &Policy{roles: map[string]*tandem.RoleDefinition{}, by: map[string][]*tandem.RoleAssignment{}}
	for _, r := range roles {
		p.roles[strings.ToLower(r.Name)] = r
	}
	for _, a := range assignments {
		p.by[a.Assignee] = append(p.by[a.Assignee], a)
	}
	return p
}

// Role returns a role definition by name (case-insensitive).
func (p *Policy) Role(name string) (*tandem.RoleDefinition, bool) {
	r, ok := p.roles[strings.ToLower(name)]
	return r, ok
}

// Decide answers whether any of assignees (a principal's name, or its
// external subject and groups) may perform action on resource.
func (p *Policy) Decide(assignees []string, action string, resource tandem.Scope) Decision {
	var excluded string
	for _, who := range assignees {
		for _, a := range p.by[who] {
			if !a.Scope.Covers(resource) {
				continue
			}
			r, ok := p.Role(a.Role)
			if !ok {
				continue
			}
			allowed, why := RoleAllows(r, action)
			if allowed {
				return Decision{Allowed: true, Reason: fmt.Sprintf("allowed by role %q assigned to %s at scope %s", r.Name, who, a.Scope)}
			}
			if why != "" && excluded == "" {
				excluded = fmt.Sprintf("; role %q assigned to %s at %s excludes it (%s)", r.Name, who, a.Scope, why)
			}
		}
	}
	return Decision{Reason: fmt.Sprintf("no role assignment allows %s at scope %s%s", action, resource, excluded)}
}

// Scopes returns the scopes narrower than the workspace at which one of
// assignees may perform action: what a search by a principal without a
// workspace-wide grant may show.
func (p *Policy) Scopes(assignees []string, action string) []tandem.Scope {
	var out []tandem.Scope
	seen := map[tandem.Scope]bool{}
	for _, who := range assignees {
		for _, a := range p.by[who] {
			if a.Scope == tandem.ScopeWorkspace || seen[a.Scope] {
				continue
			}
			if r, ok := p.Role(a.Role); ok {
				if allowed, _ := RoleAllows(r, action); allowed {
					seen[a.Scope] = true
					out = append(out, a.Scope)
				}
			}
		}
	}
	return out
}

// RoleAllows reports whether r allows action; when an Actions pattern
// matched but a NotActions pattern excluded it, why names that pattern.
func RoleAllows(r *tandem.RoleDefinition, action string) (allowed bool, why string) {
	for _, n := range r.NotActions {
		if Match(n, action) {
			for _, a := range r.Actions {
				if Match(a, action) {
					return false, "not_actions " + n
				}
			}
			return false, ""
		}
	}
	for _, a := range r.Actions {
		if Match(a, action) {
			return true, ""
		}
	}
	return false, ""
}

// Match reports whether action matches pattern, case-insensitively, where
// '*' in pattern matches any run of characters ('/' included), as Azure
// RBAC's wildcards do.
func Match(pattern, action string) bool {
	p, s := strings.ToLower(pattern), strings.ToLower(action)
	// Iterative glob with one backtrack point: linear in practice, never
	// exponential.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// GrantsAllow reports whether a restricted token's grants cover action on
// every one of resources (the request's scopes; the workspace when it has
// none of its own). No grants: the token is not restricted. A grant at the
// workspace covers every resource; a narrower one only its own scope, so
// a request whose scope cannot be resolved is refused to a token limited
// to one experiment.
func GrantsAllow(grants []tandem.TokenGrant, action string, resources []tandem.Scope) bool {
	if len(grants) == 0 {
		return true
	}
	if len(resources) == 0 {
		resources = []tandem.Scope{tandem.ScopeWorkspace}
	}
	for _, res := range resources {
		if !grantCovers(grants, action, res) {
			return false
		}
	}
	return true
}

func grantCovers(grants []tandem.TokenGrant, action string, res tandem.Scope) bool {
	for _, g := range grants {
		if !g.Scope.Covers(res) {
			continue
		}
		for _, a := range g.Actions {
			if Match(a, action) {
				return true
			}
		}
	}
	return false
}

// GrantsAtWorkspace reports whether one of grants allows action across the
// whole workspace (then the request's own scopes need not be resolved).
func GrantsAtWorkspace(grants []tandem.TokenGrant, action string) bool {
	return len(grants) == 0 || grantCovers(grants, action, tandem.ScopeWorkspace)
}

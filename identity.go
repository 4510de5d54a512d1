package tandem

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// PrincipalKind says how a principal proves who it is.
type PrincipalKind string

const (
	PrincipalUser    PrincipalKind = "user"              // a person: password (HTTP basic) and tokens
	PrincipalService PrincipalKind = "service_principal" // automation: tokens only
)

// Principal is someone or something that may be granted roles. Secrets are
// never part of it: a user's password hash lives beside it in storage and is
// read only by Identity.Authenticate implementations.
type Principal struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Kind      PrincipalKind `json:"kind"`
	CreatedMS int64         `json:"created_ms"`
}

var principalName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$`)

// Validate checks a principal's name and kind. Names may not contain ':'
// (reserved for external subjects, see ExternalAssignee).
func (p *Principal) Validate() error {
	if !principalName.MatchString(p.Name) {
		return Errorf(EINVALID, "principal name %q: 1-128 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", p.Name)
	}
	if p.Kind != PrincipalUser && p.Kind != PrincipalService {
		return Errorf(EINVALID, "principal kind %q: must be %q or %q", p.Kind, PrincipalUser, PrincipalService)
	}
	return nil
}

// Token is an issued API token's metadata. The token itself is shown once
// at creation and stored only as Hash = SHA-256(Salt || secret).
type Token struct {
	ID          string `json:"id"` // public lookup id, part of the token string
	PrincipalID string `json:"principal_id"`
	Description string `json:"description,omitempty"`
	CreatedMS   int64  `json:"created_ms"`
	ExpiresMS   int64  `json:"expires_ms"`           // 0: never
	RevokedMS   int64  `json:"revoked_ms,omitempty"` // 0: not revoked
	// Grants restrict the token to less than its principal may do: a
	// request is allowed when the principal's roles allow it and one grant
	// covers it. None: the token carries all of its principal's rights.
	// (A job's attempt token is restricted to its run's experiment.)
	Grants []TokenGrant `json:"grants,omitempty"`
	Salt   []byte       `json:"-"`
	Hash   []byte       `json:"-"`
}

// TokenGrant is one restriction of a token: actions (patterns as in role
// definitions) at a scope.
type TokenGrant struct {
	Actions []string `json:"actions"`
	Scope   Scope    `json:"scope"`
}

// MaxTokenGrants bounds a token's grants.
const MaxTokenGrants = 16

// ValidateGrants checks a token's grants.
func ValidateGrants(gs []TokenGrant) error {
	if len(gs) > MaxTokenGrants {
		return Errorf(EINVALID, "token: at most %d grants", MaxTokenGrants)
	}
	for i := range gs {
		if len(gs[i].Actions) == 0 {
			return Errorf(EINVALID, "token grant %d: actions are required", i)
		}
		for _, a := range gs[i].Actions {
			if len(a) > 256 || !actionPattern.MatchString(a) {
				return Errorf(EINVALID, "token grant %d: action %q: segments of letters, digits, '.' and '*' separated by '/'", i, a)
			}
		}
		sc, err := ParseScope(string(gs[i].Scope))
		if err != nil {
			return err
		}
		gs[i].Scope = sc
	}
	return nil
}

// Usable reports whether the token may authenticate at now.
func (t *Token) Usable(now time.Time) bool {
	return t.RevokedMS == 0 && (t.ExpiresMS == 0 || now.UnixMilli() < t.ExpiresMS)
}

// RoleDefinition is a named set of allowed and denied actions, Azure RBAC
// style: an action is allowed when it matches one of Actions and none of
// NotActions. Patterns may hold '*' (any run of characters, '/' included)
// and match case-insensitively.
type RoleDefinition struct {
	Name        string   `json:"name" yaml:"name"`
	Description string   `json:"description,omitempty" yaml:"description,omitempty"`
	Actions     []string `json:"actions" yaml:"actions"`
	NotActions  []string `json:"not_actions,omitempty" yaml:"not_actions,omitempty"`
	BuiltIn     bool     `json:"built_in,omitempty" yaml:"-"`
}

var roleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,127}$`)
var actionPattern = regexp.MustCompile(`^[A-Za-z0-9.*]+(/[A-Za-z0-9.*]+)*$`)

// Validate checks a role definition's name and action patterns.
func (r *RoleDefinition) Validate() error {
	if !roleName.MatchString(r.Name) {
		return Errorf(EINVALID, "role name %q: 1-128 letters, digits, spaces, '.', '_' or '-'", r.Name)
	}
	if len(r.Actions) == 0 {
		return Errorf(EINVALID, "role %q: actions must list at least one action", r.Name)
	}
	for _, list := range [][]string{r.Actions, r.NotActions} {
		for _, a := range list {
			if len(a) > 256 || !actionPattern.MatchString(a) {
				return Errorf(EINVALID, "role %q: action %q: segments of letters, digits, '.' and '*' separated by '/'", r.Name, a)
			}
		}
	}
	return nil
}

// Scope is what a role assignment covers: the whole workspace, one
// experiment (its runs included) or one registered model (its versions
// included). Written "/", "/experiments/ID", "/models/NAME".
type Scope string

// ScopeWorkspace covers everything.
const ScopeWorkspace Scope = "/"

// ExperimentScope is the scope of one experiment.
func ExperimentScope(id string) Scope { return Scope("/experiments/" + id) }

// ModelScope is the scope of one registered model.
func ModelScope(name string) Scope { return Scope("/models/" + name) }

// ParseScope checks and normalises a scope string ("" is the workspace).
func ParseScope(s string) (Scope, error) {
	switch {
	case s == "" || s == "/":
		return ScopeWorkspace, nil
	case strings.HasPrefix(s, "/experiments/") && len(s) > len("/experiments/") && !strings.Contains(s[len("/experiments/"):], "/"):
		return Scope(s), nil
	case strings.HasPrefix(s, "/models/") && len(s) > len("/models/") && !strings.Contains(s[len("/models/"):], "/"):
		return Scope(s), nil
	}
	return "", Errorf(EINVALID, "scope %q: must be /, /experiments/ID or /models/NAME", s)
}

// Covers reports whether an assignment at s applies to a resource at r:
// the workspace scope covers everything, any other scope only itself.
func (s Scope) Covers(r Scope) bool { return s == ScopeWorkspace || s == r }

// RoleAssignment grants a role to an assignee at a scope. The assignee is
// a principal's name, or an external identity: "oidc:sub:SUBJECT" or
// "oidc:group:GROUP" (see ExternalAssignee).
type RoleAssignment struct {
	ID        string `json:"id"`
	Role      string `json:"role"`
	Assignee  string `json:"assignee"`
	Scope     Scope  `json:"scope"`
	CreatedMS int64  `json:"created_ms"`
}

// ExternalAssignee names an external subject ("sub") or group ("group") as
// an assignee.
func ExternalAssignee(what, value string) string { return "oidc:" + what + ":" + value }

// Validate checks an assignment's fields (not whether the role exists).
func (a *RoleAssignment) Validate() error {
	if a.Role == "" {
		return Errorf(EINVALID, "role assignment: role is required")
	}
	if a.Assignee == "" || len(a.Assignee) > 512 {
		return Errorf(EINVALID, "role assignment: assignee is required (at most 512 characters)")
	}
	if rest, ok := strings.CutPrefix(a.Assignee, "oidc:"); ok {
		if !(strings.HasPrefix(rest, "sub:") && len(rest) > 4) && !(strings.HasPrefix(rest, "group:") && len(rest) > 6) {
			return Errorf(EINVALID, "role assignment: external assignee %q must be oidc:sub:SUBJECT or oidc:group:GROUP", a.Assignee)
		}
	} else if !principalName.MatchString(a.Assignee) {
		return Errorf(EINVALID, "role assignment: assignee %q is not a principal name", a.Assignee)
	}
	sc, err := ParseScope(string(a.Scope))
	if err != nil {
		return err
	}
	a.Scope = sc
	return nil
}

// Identity is the replicated store of principals, tokens, roles and role
// assignments. Writes go through the journal (primary only: EUNAVAILABLE
// elsewhere); reads serve from the region's own replica, so a secondary
// authenticates and authorises while the primary is down.
type Identity interface {
	// CreatePrincipal adds p (ID and CreatedMS chosen when empty) with a
	// password hash (users; nil for service principals). EEXISTS, EINVALID.
	CreatePrincipal(ctx context.Context, p *Principal, passwordHash []byte) (*Principal, error)
	// Principal returns a principal by name. ENOTFOUND.
	Principal(ctx context.Context, name string) (*Principal, error)
	// PrincipalByID returns a principal by id. ENOTFOUND.
	PrincipalByID(ctx context.Context, id string) (*Principal, error)
	// PasswordHash returns a user's password hash (nil: none). ENOTFOUND.
	// Only authentication may call it.
	PasswordHash(ctx context.Context, name string) ([]byte, *Principal, error)
	// SetPassword replaces a user's password hash (nil: none, so the user
	// can sign in with tokens only). ENOTFOUND; EINVALID for a service
	// principal.
	SetPassword(ctx context.Context, name string, passwordHash []byte) error
	// Principals lists principals by name.
	Principals(ctx context.Context) ([]*Principal, error)
	// DeletePrincipal removes a principal, its tokens and its role
	// assignments. ENOTFOUND.
	DeletePrincipal(ctx context.Context, name string) error
	// CreateToken stores t (hash and salt set by the caller). EINVALID,
	// ENOTFOUND for an unknown principal.
	CreateToken(ctx context.Context, t *Token) error
	// Token returns a token by id, revoked or not. ENOTFOUND.
	Token(ctx context.Context, id string) (*Token, error)
	// Tokens lists a principal's tokens.
	Tokens(ctx context.Context, principalID string) ([]*Token, error)
	// RevokeToken revokes a token at once in this region, and everywhere
	// within the replication lag. ENOTFOUND.
	RevokeToken(ctx context.Context, id string) error
	// PutRole creates or replaces a custom role. Built-in names: EINVALID.
	PutRole(ctx context.Context, r *RoleDefinition) error
	// Roles lists the custom roles (built-in ones are BuiltInRoles).
	Roles(ctx context.Context) ([]*RoleDefinition, error)
	// DeleteRole removes a custom role; EINVALIDSTATE while assigned.
	DeleteRole(ctx context.Context, name string) error
	// CreateAssignment adds a role assignment (ID chosen). EEXISTS,
	// ENOTFOUND for an unknown role or principal, EINVALID.
	CreateAssignment(ctx context.Context, a *RoleAssignment) (*RoleAssignment, error)
	// Assignments lists every role assignment.
	Assignments(ctx context.Context) ([]*RoleAssignment, error)
	// DeleteAssignment removes one by id. ENOTFOUND.
	DeleteAssignment(ctx context.Context, id string) error
	// Generation changes whenever any identity state committed in this
	// region changed (a write here or an applied journal entry): callers
	// cache decisions per generation.
	Generation() uint64
}

type visibleKey struct{}

// WithVisibleScopes returns ctx for a list or search request of a caller
// who may read only these scopes (no workspace-wide read): the handler
// returns only what they cover, as MLflow's auth app filters searches.
func WithVisibleScopes(ctx context.Context, scopes []Scope) context.Context {
	return context.WithValue(ctx, visibleKey{}, scopes)
}

// VisibleScopes returns the scopes WithVisibleScopes put in ctx; ok is
// false when the caller's reads are not restricted.
func VisibleScopes(ctx context.Context) (scopes []Scope, ok bool) {
	s, ok := ctx.Value(visibleKey{}).([]Scope)
	return s, ok
}

// Visible reports whether s is covered by the scopes of ctx (always true
// when the caller's reads are not restricted).
func Visible(ctx context.Context, s Scope) bool {
	scopes, ok := VisibleScopes(ctx)
	if !ok {
		return true
	}
	for _, v := range scopes {
		if v.Covers(s) {
			return true
		}
	}
	return false
}

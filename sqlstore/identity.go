package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/tandemml/tandem"
)

// Identity ops. Payloads carry hashes, never secrets; ids and times are
// chosen in prepare, so appliers are deterministic.
const (
	opPrincipalCreate  = "identity.principal.create"
	opPrincipalDelete  = "identity.principal.delete"
	opPrincipalPasswd  = "identity.principal.password"
	opTokenCreate      = "identity.token.create"
	opTokenRevoke      = "identity.token.revoke"
	opRolePut          = "identity.role.put"
	opRoleDelete       = "identity.role.delete"
	opAssignmentCreate = "identity.assignment.create"
	opAssignmentDelete = "identity.assignment.delete"
)

func (s *Store) registerIdentity() {
	s.register(opPrincipalCreate, tandem.KindWorkspace, applyPrincipalCreate)
	s.register(opPrincipalDelete, tandem.KindWorkspace, applyPrincipalDelete)
	s.register(opPrincipalPasswd, tandem.KindWorkspace, applyPrincipalPassword)
	s.register(opTokenCreate, tandem.KindWorkspace, applyTokenCreate)
	s.register(opTokenRevoke, tandem.KindWorkspace, applyTokenRevoke)
	s.register(opRolePut, tandem.KindWorkspace, applyRolePut)
	s.register(opRoleDelete, tandem.KindWorkspace, applyRoleDelete)
	s.register(opAssignmentCreate, tandem.KindWorkspace, applyAssignmentCreate)
	s.register(opAssignmentDelete, tandem.KindWorkspace, applyAssignmentDelete)
}

// IdentityStore is the tandem.Identity service on a region's metadata
// database: it shares the Store's handle and journal, and is the pattern
// for splitting the Store into services per area (issue 13): callers hold
// a tandem.Identity, not the whole Store.
type IdentityStore struct {
	s   *Store
	gen atomic.Uint64
}

var _ tandem.Identity = (*IdentityStore)(nil)

// NewIdentity returns the identity service of s. Create one per Store: it
// counts identity changes (its Generation) from s's commits, primary writes
// and applied entries alike.
func NewIdentity(s *Store) *IdentityStore {
	is := &IdentityStore{s: s}
	is.gen.Store(1)
	s.OnCommit(func(e tandem.Entry) {
		if strings.HasPrefix(e.Op, "identity.") {
			is.gen.Add(1)
		}
	})
	return is
}

// Generation implements tandem.Identity.
// A snapshot load (ReplaceState) counts too: it replaces every table.
func (is *IdentityStore) Generation() uint64 { return is.gen.Load() + is.s.replaced.Load() }

type principalPayload struct {
	Principal    tandem.Principal `json:"principal"`
	PasswordHash string           `json:"password_hash,omitempty"` // bcrypt
}

type namePayload struct {
	Name string `json:"name"`
	ID   string `json:"id,omitempty"`
	MS   int64  `json:"ms,omitempty"`
}

type tokenPayload struct {
	Token tandem.Token `json:"token"`
	Salt  string       `json:"salt"`
	Hash  string       `json:"hash"`
}

// CreatePrincipal implements tandem.Identity.
func (is *IdentityStore) CreatePrincipal(ctx context.Context, p *tandem.Principal, passwordHash []byte) (*tandem.Principal, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	out := *p
	_, err := is.s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := principalBy(ctx, tx, "name", out.Name); err == nil {
			return nil, tandem.Errorf(tandem.EEXISTS, "principal %q already exists", out.Name)
		} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
			return nil, err
		}
		if out.ID == "" {
			out.ID = newUUIDHex()
		}
		if out.CreatedMS == 0 {
			out.CreatedMS = nowMillis()
		}
		return &Change{Op: opPrincipalCreate, Key: out.Name, Payload: principalPayload{Principal: out, PasswordHash: string(passwordHash)}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func applyPrincipalCreate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p principalPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("principal payload: %w", err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO identity_principals (id, name, kind, password_hash, created_ms) VALUES (?, ?, ?, ?, ?)`,
		p.Principal.ID, p.Principal.Name, string(p.Principal.Kind), p.PasswordHash, p.Principal.CreatedMS)
	return err
}

func principalBy(ctx context.Context, q Querier, col, v string) (*tandem.Principal, error) {
	p, _, err := principalRow(ctx, q, col, v)
	return p, err
}

func principalRow(ctx context.Context, q Querier, col, v string) (*tandem.Principal, string, error) {
	var p tandem.Principal
	var kind, hash string
	err := q.QueryRowContext(ctx, `SELECT id, name, kind, password_hash, created_ms FROM identity_principals WHERE `+col+` = ?`, v).
		Scan(&p.ID, &p.Name, &kind, &hash, &p.CreatedMS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", tandem.Errorf(tandem.ENOTFOUND, "principal %q not found", v)
	} else if err != nil {
		return nil, "", fmt.Errorf("principal: %w", err)
	}
	p.Kind = tandem.PrincipalKind(kind)
	return &p, hash, nil
}

// Principal implements tandem.Identity.
func (is *IdentityStore) Principal(ctx context.Context, name string) (*tandem.Principal, error) {
	return principalBy(ctx, is.s.Reader(), "name", name)
}

// PrincipalByID implements tandem.Identity.
func (is *IdentityStore) PrincipalByID(ctx context.Context, id string) (*tandem.Principal, error) {
	return principalBy(ctx, is.s.Reader(), "id", id)
}

// PasswordHash implements tandem.Identity.
func (is *IdentityStore) PasswordHash(ctx context.Context, name string) ([]byte, *tandem.Principal, error) {
	p, h, err := principalRow(ctx, is.s.Reader(), "name", name)
	if err != nil {
		return nil, nil, err
	}
	if h == "" {
		return nil, p, nil
	}
	return []byte(h), p, nil
}

// SetPassword implements tandem.Identity.
func (is *IdentityStore) SetPassword(ctx context.Context, name string, passwordHash []byte) error {
	_, err := is.s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		p, err := principalBy(ctx, tx, "name", name)
		if err != nil {
			return nil, err
		}
		if p.Kind != tandem.PrincipalUser {
			return nil, tandem.Errorf(tandem.EINVALID, "%q is a service principal: only users have passwords", name)
		}
		return &Change{Op: opPrincipalPasswd, Key: name, Payload: principalPayload{Principal: *p, PasswordHash: string(passwordHash)}}, nil
	})
	return err
}

func applyPrincipalPassword(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p principalPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("principal payload: %w", err)
	}
	_, err := tx.ExecContext(ctx, `UPDATE identity_principals SET password_hash = ? WHERE id = ?`, p.PasswordHash, p.Principal.ID)
	return err
}

// Principals implements tandem.Identity.
func (is *IdentityStore) Principals(ctx context.Context) ([]*tandem.Principal, error) {
	rows, err := is.s.Reader().QueryContext(ctx, `SELECT id, name, kind, created_ms FROM identity_principals ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("principals: %w", err)
	}
	defer rows.Close()
	out := []*tandem.Principal{}
	for rows.Next() {
		var p tandem.Principal
		var kind string
		if err := rows.Scan(&p.ID, &p.Name, &kind, &p.CreatedMS); err != nil {
			return nil, err
		}
		p.Kind = tandem.PrincipalKind(kind)
		out = append(out, &p)
	}
	return out, rows.Err()
}

// DeletePrincipal implements tandem.Identity.
func (is *IdentityStore) DeletePrincipal(ctx context.Context, name string) error {
	_, err := is.s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		p, err := principalBy(ctx, tx, "name", name)
		if err != nil {
			return nil, err
		}
		return &Change{Op: opPrincipalDelete, Key: name, Payload: namePayload{Name: name, ID: p.ID}}, nil
	})
	return err
}

func applyPrincipalDelete(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p namePayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("principal payload: %w", err)
	}
	for _, q := range []struct{ sql, arg string }{
		{`DELETE FROM identity_tokens WHERE principal_id = ?`, p.ID},
		{`DELETE FROM identity_assignments WHERE assignee = ?`, p.Name},
		{`DELETE FROM identity_principals WHERE id = ?`, p.ID},
	} {
		if _, err := tx.ExecContext(ctx, q.sql, q.arg); err != nil {
			return err
		}
	}
	return nil
}

// CreateToken implements tandem.Identity.
func (is *IdentityStore) CreateToken(ctx context.Context, t *tandem.Token) error {
	if t.ID == "" || len(t.Salt) == 0 || len(t.Hash) == 0 {
		return tandem.Errorf(tandem.EINVALID, "token: id, salt and hash are required")
	}
	if len(t.Description) > 256 {
		return tandem.Errorf(tandem.EINVALID, "token description: at most 256 characters")
	}
	if err := tandem.ValidateGrants(t.Grants); err != nil {
		return err
	}
	_, err := is.s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		if _, err := principalBy(ctx, tx, "id", t.PrincipalID); err != nil {
			return nil, err
		}
		if t.CreatedMS == 0 {
			t.CreatedMS = nowMillis()
		}
		return &Change{Op: opTokenCreate, Key: t.ID, Payload: tokenPayload{Token: *t,
			Salt: hex.EncodeToString(t.Salt), Hash: hex.EncodeToString(t.Hash)}}, nil
	})
	return err
}

func applyTokenCreate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p tokenPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("token payload: %w", err)
	}
	t := p.Token
	var grants sql.NullString
	if len(t.Grants) > 0 {
		b, err := json.Marshal(t.Grants)
		if err != nil {
			return fmt.Errorf("token grants: %w", err)
		}
		grants = sql.NullString{String: string(b), Valid: true}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO identity_tokens (id, principal_id, description, salt, token_hash, created_ms, expires_ms, revoked_ms, grants)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)`, t.ID, t.PrincipalID, t.Description, p.Salt, p.Hash, t.CreatedMS, t.ExpiresMS, grants)
	return err
}

const tokenCols = `id, principal_id, description, salt, token_hash, created_ms, expires_ms, revoked_ms, grants`

func scanToken(sc interface{ Scan(...any) error }) (*tandem.Token, error) {
	var t tandem.Token
	var salt, hash string
	var grants sql.NullString
	if err := sc.Scan(&t.ID, &t.PrincipalID, &t.Description, &salt, &hash, &t.CreatedMS, &t.ExpiresMS, &t.RevokedMS, &grants); err != nil {
		return nil, err
	}
	if grants.Valid && grants.String != "" {
		if err := json.Unmarshal([]byte(grants.String), &t.Grants); err != nil {
			return nil, fmt.Errorf("token %s grants: %w", t.ID, err)
		}
	}
	t.Salt, _ = hex.DecodeString(salt)
	t.Hash, _ = hex.DecodeString(hash)
	return &t, nil
}

// Token implements tandem.Identity.
func (is *IdentityStore) Token(ctx context.Context, id string) (*tandem.Token, error) {
	t, err := scanToken(is.s.Reader().QueryRowContext(ctx, `SELECT `+tokenCols+` FROM identity_tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "token %q not found", id)
	}
	return t, err
}

// Tokens implements tandem.Identity.
func (is *IdentityStore) Tokens(ctx context.Context, principalID string) ([]*tandem.Token, error) {
	rows, err := is.s.Reader().QueryContext(ctx, `SELECT `+tokenCols+` FROM identity_tokens WHERE principal_id = ? ORDER BY created_ms, id`, principalID)
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	defer rows.Close()
	out := []*tandem.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken implements tandem.Identity.
func (is *IdentityStore) RevokeToken(ctx context.Context, id string) error {
	_, err := is.s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var revoked int64
		err := tx.QueryRowContext(ctx, `SELECT revoked_ms FROM identity_tokens WHERE id = ?`, id).Scan(&revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "token %q not found", id)
		} else if err != nil {
			return nil, err
		}
		if revoked != 0 {
			return nil, tandem.Errorf(tandem.EINVALIDSTATE, "token %q is already revoked", id)
		}
		return &Change{Op: opTokenRevoke, Key: id, Payload: namePayload{ID: id, MS: nowMillis()}}, nil
	})
	return err
}

func applyTokenRevoke(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p namePayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("token payload: %w", err)
	}
	_, err := tx.ExecContext(ctx, `UPDATE identity_tokens SET revoked_ms = ? WHERE id = ?`, p.MS, p.ID)
	return err
}

func builtInRole(name string) bool {
	for _, r := range tandem.BuiltInRoles() {
		if strings.EqualFold(r.Name, name) {
			return true
		}
	}
	return false
}

// PutRole implements tandem.Identity.
func (is *IdentityStore) PutRole(ctx context.Context, r *tandem.RoleDefinition) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if builtInRole(r.Name) {
		return tandem.Errorf(tandem.EINVALID, "role %q is built in and cannot be changed", r.Name)
	}
	out := *r
	out.BuiltIn = false
	_, err := is.s.Write(ctx, &Change{Op: opRolePut, Key: r.Name, Payload: struct {
		Role      tandem.RoleDefinition `json:"role"`
		CreatedMS int64                 `json:"created_ms"`
	}{out, nowMillis()}})
	return err
}

func applyRolePut(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p struct {
		Role      tandem.RoleDefinition `json:"role"`
		CreatedMS int64                 `json:"created_ms"`
	}
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("role payload: %w", err)
	}
	a, _ := json.Marshal(p.Role.Actions)
	n, _ := json.Marshal(append([]string{}, p.Role.NotActions...))
	_, err := tx.ExecContext(ctx, `INSERT INTO identity_roles (name, description, actions, not_actions, created_ms) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET description = excluded.description, actions = excluded.actions, not_actions = excluded.not_actions`,
		p.Role.Name, p.Role.Description, string(a), string(n), p.CreatedMS)
	return err
}

// Roles implements tandem.Identity.
func (is *IdentityStore) Roles(ctx context.Context) ([]*tandem.RoleDefinition, error) {
	rows, err := is.s.Reader().QueryContext(ctx, `SELECT name, description, actions, not_actions FROM identity_roles ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	defer rows.Close()
	out := []*tandem.RoleDefinition{}
	for rows.Next() {
		var r tandem.RoleDefinition
		var a, n string
		if err := rows.Scan(&r.Name, &r.Description, &a, &n); err != nil {
			return nil, err
		}
		if err := errors.Join(json.Unmarshal([]byte(a), &r.Actions), json.Unmarshal([]byte(n), &r.NotActions)); err != nil {
			return nil, fmt.Errorf("role %q: %w", r.Name, err)
		}
		out = append(out, &r)
	}
	return out, rows.Err()
}

// DeleteRole implements tandem.Identity.
func (is *IdentityStore) DeleteRole(ctx context.Context, name string) error {
	if builtInRole(name) {
		return tandem.Errorf(tandem.EINVALID, "role %q is built in and cannot be deleted", name)
	}
	_, err := is.s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_roles WHERE name = ?`, name).Scan(&n); err != nil {
			return nil, err
		} else if n == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "role %q not found", name)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_assignments WHERE role = ?`, name).Scan(&n); err != nil {
			return nil, err
		} else if n > 0 {
			return nil, tandem.Errorf(tandem.EINVALIDSTATE, "role %q has %d assignments: delete them first", name, n)
		}
		return &Change{Op: opRoleDelete, Key: name, Payload: namePayload{Name: name}}, nil
	})
	return err
}

func applyRoleDelete(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p namePayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("role payload: %w", err)
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM identity_roles WHERE name = ?`, p.Name)
	return err
}

// CreateAssignment implements tandem.Identity.
func (is *IdentityStore) CreateAssignment(ctx context.Context, a *tandem.RoleAssignment) (*tandem.RoleAssignment, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	out := *a
	_, err := is.s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		// Built-in roles are named canonically; custom ones must exist.
		found := false
		for _, r := range tandem.BuiltInRoles() {
			if strings.EqualFold(r.Name, out.Role) {
				out.Role, found = r.Name, true
			}
		}
		if !found {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_roles WHERE name = ?`, out.Role).Scan(&n); err != nil {
				return nil, err
			} else if n == 0 {
				return nil, tandem.Errorf(tandem.ENOTFOUND, "role %q not found", out.Role)
			}
		}
		if !strings.HasPrefix(out.Assignee, "oidc:") {
			if _, err := principalBy(ctx, tx, "name", out.Assignee); err != nil {
				return nil, err
			}
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_assignments WHERE role = ? AND assignee = ? AND scope = ?`,
			out.Role, out.Assignee, string(out.Scope)).Scan(&n); err != nil {
			return nil, err
		} else if n > 0 {
			return nil, tandem.Errorf(tandem.EEXISTS, "%s already has role %q at scope %s", out.Assignee, out.Role, out.Scope)
		}
		out.ID, out.CreatedMS = newUUIDHex(), nowMillis()
		return &Change{Op: opAssignmentCreate, Key: out.ID, Payload: out}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func applyAssignmentCreate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var a tandem.RoleAssignment
	if err := json.Unmarshal(e.Payload, &a); err != nil {
		return fmt.Errorf("assignment payload: %w", err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO identity_assignments (id, role, assignee, scope, created_ms) VALUES (?, ?, ?, ?, ?)`,
		a.ID, a.Role, a.Assignee, string(a.Scope), a.CreatedMS)
	return err
}

// Assignments implements tandem.Identity.
func (is *IdentityStore) Assignments(ctx context.Context) ([]*tandem.RoleAssignment, error) {
	rows, err := is.s.Reader().QueryContext(ctx, `SELECT id, role, assignee, scope, created_ms FROM identity_assignments ORDER BY created_ms, id`)
	if err != nil {
		return nil, fmt.Errorf("assignments: %w", err)
	}
	defer rows.Close()
	out := []*tandem.RoleAssignment{}
	for rows.Next() {
		var a tandem.RoleAssignment
		var scope string
		if err := rows.Scan(&a.ID, &a.Role, &a.Assignee, &scope, &a.CreatedMS); err != nil {
			return nil, err
		}
		a.Scope = tandem.Scope(scope)
		out = append(out, &a)
	}
	return out, rows.Err()
}

// DeleteAssignment implements tandem.Identity.
func (is *IdentityStore) DeleteAssignment(ctx context.Context, id string) error {
	_, err := is.s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity_assignments WHERE id = ?`, id).Scan(&n); err != nil {
			return nil, err
		} else if n == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "role assignment %q not found", id)
		}
		return &Change{Op: opAssignmentDelete, Key: id, Payload: namePayload{ID: id}}, nil
	})
	return err
}

func applyAssignmentDelete(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p namePayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("assignment payload: %w", err)
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM identity_assignments WHERE id = ?`, p.ID)
	return err
}

// RunExperiment returns the experiment of a run (the scope of per-experiment
// role assignments). ENOTFOUND.
func (is *IdentityStore) RunExperiment(ctx context.Context, runID string) (string, error) {
	return is.s.RunExperiment(ctx, runID)
}

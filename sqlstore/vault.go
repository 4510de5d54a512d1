package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tandemml/tandem"
)

// Key vault ops (kind workspace). Payloads carry only ciphertext: the value
// is encrypted by keyvault before it reaches the store.
const (
	opVaultSet      = "vault.secret.set"
	opVaultUpdate   = "vault.secret.update"
	opVaultDelete   = "vault.secret.delete" // soft delete and recover
	opVaultPurge    = "vault.secret.purge"
	opVaultKeyCheck = "vault.keycheck"
)

var _ tandem.VaultStore = (*Store)(nil)

func (s *Store) registerVault() {
	s.register(opVaultSet, tandem.KindWorkspace, applyVaultSet)
	s.register(opVaultUpdate, tandem.KindWorkspace, applyVaultUpdate)
	s.register(opVaultDelete, tandem.KindWorkspace, applyVaultDelete)
	s.register(opVaultPurge, tandem.KindWorkspace, applyVaultPurge)
	s.register(opVaultKeyCheck, tandem.KindWorkspace, applyVaultKeyCheck)
}

type vaultSetPayload struct {
	Secret     tandem.Secret `json:"secret"`
	Ciphertext string        `json:"ciphertext"` // base64 of the keeper's ciphertext
}

type vaultUpdatePayload struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Enabled   bool   `json:"enabled"`
	UpdatedMS int64  `json:"updated_ms"`
}

type vaultDeletePayload struct {
	Name      string `json:"name"`
	DeletedMS int64  `json:"deleted_ms"` // 0: recover
}

type vaultPurgePayload struct {
	Name string `json:"name"`
}

// SetSecret records a new version of sec.Name holding ciphertext (the
// value already encrypted). The version is the next integer. Errors:
// EINVALID, EINVALIDSTATE when the name is soft-deleted.
func (s *Store) SetSecret(ctx context.Context, sec tandem.Secret, ciphertext string) (*tandem.Secret, error) {
	if err := tandem.ValidateSecretName(sec.Name); err != nil {
		return nil, err
	}
	if err := tandem.ValidateTags(sec.Tags); err != nil {
		return nil, err
	}
	out := sec
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		vs, err := secretVersions(ctx, tx, sec.Name)
		if err != nil {
			return nil, err
		}
		var versions []string
		for _, v := range vs {
			if v.DeletedMS != 0 {
				return nil, tandem.Errorf(tandem.ECONFLICT, "secret %s is deleted: recover it (tandem secret recover) or purge it before setting it again", sec.Name)
			}
			versions = append(versions, v.Version)
		}
		now := time.Now().UnixMilli()
		out.Version, out.Enabled, out.CreatedMS, out.UpdatedMS, out.DeletedMS = tandem.NextVersion(versions), true, now, now, 0
		return &Change{Op: opVaultSet, Key: "secret/" + sec.Name + "/" + out.Version,
			Payload: vaultSetPayload{Secret: out, Ciphertext: ciphertext}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func applyVaultSet(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p vaultSetPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("vault set payload: %w", err)
	}
	sec := p.Secret
	tags, _ := json.Marshal(nonNilTags(sec.Tags))
	_, err := tx.ExecContext(ctx, `INSERT INTO vault_secrets (name, version, seq, ciphertext, enabled, content_type, tags, created_ms, created_by, updated_ms, deleted_ms)
VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, 0)
ON CONFLICT (name, version) DO UPDATE SET seq = excluded.seq, ciphertext = excluded.ciphertext, enabled = 1, content_type = excluded.content_type,
 tags = excluded.tags, created_ms = excluded.created_ms, created_by = excluded.created_by, updated_ms = excluded.updated_ms, deleted_ms = 0`,
		sec.Name, sec.Version, e.Seq, p.Ciphertext, sec.ContentType, string(tags), sec.CreatedMS, sec.CreatedBy, sec.UpdatedMS)
	if err != nil {
		return fmt.Errorf("insert secret: %w", err)
	}
	return nil
}

// UpdateSecret enables or disables one version of a secret that is not
// deleted. Errors: ENOTFOUND.
func (s *Store) UpdateSecret(ctx context.Context, name, version string, enabled bool) (*tandem.Secret, error) {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		vs, err := liveVersions(ctx, tx, name)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if v.Version == version {
				return &Change{Op: opVaultUpdate, Key: "secret/" + name + "/" + version,
					Payload: vaultUpdatePayload{Name: name, Version: version, Enabled: enabled, UpdatedMS: time.Now().UnixMilli()}}, nil
			}
		}
		return nil, tandem.Errorf(tandem.ENOTFOUND, "secret %s has no version %s", name, version)
	})
	if err != nil {
		return nil, err
	}
	vs, err := secretVersions(ctx, s.Reader(), name)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if v.Version == version {
			return v, nil
		}
	}
	return nil, tandem.Errorf(tandem.ENOTFOUND, "secret %s has no version %s", name, version)
}

func applyVaultUpdate(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p vaultUpdatePayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("vault update payload: %w", err)
	}
	en := 0
	if p.Enabled {
		en = 1
	}
	_, err := tx.ExecContext(ctx, `UPDATE vault_secrets SET enabled = ?, updated_ms = ? WHERE name = ? AND version = ?`, en, p.UpdatedMS, p.Name, p.Version)
	return err
}

// DeleteSecret soft-deletes (deleted true) or recovers every version of
// name. Errors: ENOTFOUND (no such secret, or not in the state to change).
func (s *Store) DeleteSecret(ctx context.Context, name string, deleted bool) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		vs, err := secretVersions(ctx, tx, name)
		if err != nil {
			return nil, err
		}
		if len(vs) == 0 || (vs[0].DeletedMS != 0) == deleted {
			if deleted {
				return nil, tandem.Errorf(tandem.ENOTFOUND, "secret %s not found", name)
			}
			return nil, tandem.Errorf(tandem.ENOTFOUND, "deleted secret %s not found", name)
		}
		p := vaultDeletePayload{Name: name}
		if deleted {
			p.DeletedMS = time.Now().UnixMilli()
		}
		return &Change{Op: opVaultDelete, Key: "secret/" + name, Payload: p}, nil
	})
	return err
}

func applyVaultDelete(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p vaultDeletePayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("vault delete payload: %w", err)
	}
	_, err := tx.ExecContext(ctx, `UPDATE vault_secrets SET deleted_ms = ? WHERE name = ?`, p.DeletedMS, p.Name)
	return err
}

// PurgeSecret removes every version of a soft-deleted secret. Errors:
// ENOTFOUND when there is no deleted secret of that name.
func (s *Store) PurgeSecret(ctx context.Context, name string) error {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		vs, err := secretVersions(ctx, tx, name)
		if err != nil {
			return nil, err
		}
		if len(vs) == 0 || vs[0].DeletedMS == 0 {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "deleted secret %s not found (delete it first)", name)
		}
		return &Change{Op: opVaultPurge, Key: "secret/" + name, Payload: vaultPurgePayload{Name: name}}, nil
	})
	return err
}

func applyVaultPurge(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var p vaultPurgePayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return fmt.Errorf("vault purge payload: %w", err)
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM vault_secrets WHERE name = ?`, p.Name)
	return err
}

const secretColumns = `name, version, enabled, content_type, tags, created_ms, created_by, updated_ms, deleted_ms`

func scanSecret(sc interface{ Scan(...any) error }, extra ...any) (*tandem.Secret, error) {
	var sec tandem.Secret
	var enabled int
	var tags string
	if err := sc.Scan(append([]any{&sec.Name, &sec.Version, &enabled, &sec.ContentType, &tags, &sec.CreatedMS, &sec.CreatedBy, &sec.UpdatedMS, &sec.DeletedMS}, extra...)...); err != nil {
		return nil, err
	}
	sec.Enabled = enabled != 0
	if err := json.Unmarshal([]byte(tags), &sec.Tags); err != nil {
		return nil, fmt.Errorf("secret %s tags: %w", sec.Name, err)
	}
	if len(sec.Tags) == 0 {
		sec.Tags = nil
	}
	return &sec, nil
}

// secretVersions lists every version of name, newest first (deleted or not).
func secretVersions(ctx context.Context, q Querier, name string) ([]*tandem.Secret, error) {
	return querySecrets(ctx, q, `SELECT `+secretColumns+` FROM vault_secrets WHERE name = ? ORDER BY seq DESC`, name)
}

func querySecrets(ctx context.Context, q Querier, query string, args ...any) ([]*tandem.Secret, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	defer rows.Close()
	var out []*tandem.Secret
	for rows.Next() {
		sec, err := scanSecret(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sec)
	}
	return out, rows.Err()
}

// liveVersions is secretVersions of a secret that is not deleted, or
// ENOTFOUND.
func liveVersions(ctx context.Context, q Querier, name string) ([]*tandem.Secret, error) {
	vs, err := secretVersions(ctx, q, name)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 || vs[0].DeletedMS != 0 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "secret %s not found", name)
	}
	return vs, nil
}

// SecretVersions lists the versions of a secret that is not deleted,
// newest first. Errors: ENOTFOUND.
func (s *Store) SecretVersions(ctx context.Context, name string) ([]*tandem.Secret, error) {
	return liveVersions(ctx, s.Reader(), name)
}

// ListSecrets lists the newest version of each secret, by name: the live
// ones, or the soft-deleted ones when deleted is true.
func (s *Store) ListSecrets(ctx context.Context, deleted bool) ([]*tandem.Secret, error) {
	cond := `deleted_ms = 0`
	if deleted {
		cond = `deleted_ms <> 0`
	}
	all, err := querySecrets(ctx, s.Reader(), `SELECT `+secretColumns+` FROM vault_secrets WHERE `+cond+` ORDER BY name, seq DESC`)
	if err != nil {
		return nil, err
	}
	var out []*tandem.Secret
	for _, sec := range all {
		if len(out) == 0 || out[len(out)-1].Name != sec.Name {
			out = append(out, sec)
		}
	}
	return out, nil
}

// SecretCiphertext returns the current version of name (the newest enabled
// version of a secret not deleted) and its ciphertext, for the server-side
// code that resolves a reference. Never for responses. Errors: ENOTFOUND.
func (s *Store) SecretCiphertext(ctx context.Context, name string) (*tandem.Secret, string, error) {
	var ct string
	sec, err := scanSecret(s.Reader().QueryRowContext(ctx, `SELECT `+secretColumns+`, ciphertext FROM vault_secrets
WHERE name = ? AND enabled = 1 AND deleted_ms = 0 ORDER BY seq DESC LIMIT 1`, name), &ct)
	if IsNoRows(err) {
		return nil, "", tandem.Errorf(tandem.ENOTFOUND, "secret %s not found (or no version is enabled)", name)
	}
	if err != nil {
		return nil, "", err
	}
	return sec, ct, nil
}

// KeyCheck returns the workspace key check, or nil when none is stored.
func (s *Store) KeyCheck(ctx context.Context) (*tandem.KeyCheck, error) {
	return keyCheck(ctx, s.Reader())
}

func keyCheck(ctx context.Context, q Querier) (*tandem.KeyCheck, error) {
	var k tandem.KeyCheck
	err := q.QueryRowContext(ctx, `SELECT ciphertext, region, created_ms FROM vault_keycheck WHERE id = 'workspace'`).Scan(&k.Ciphertext, &k.Region, &k.CreatedMS)
	if IsNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("key check: %w", err)
	}
	return &k, nil
}

// SetKeyCheck stores the workspace key check when none is stored and
// returns the one stored (the existing one, unchanged, when there is one).
func (s *Store) SetKeyCheck(ctx context.Context, k tandem.KeyCheck) (*tandem.KeyCheck, error) {
	_, err := s.Mutate(ctx, func(ctx context.Context, tx *Tx) (*Change, error) {
		old, err := keyCheck(ctx, tx)
		if err != nil {
			return nil, err
		}
		if old != nil {
			return nil, tandem.Errorf(tandem.EEXISTS, "the workspace key check is already stored")
		}
		k.CreatedMS = time.Now().UnixMilli()
		return &Change{Op: opVaultKeyCheck, Key: "keycheck", Payload: k}, nil
	})
	if err != nil && tandem.ErrorCode(err) != tandem.EEXISTS {
		return nil, err
	}
	return s.KeyCheck(ctx)
}

func applyVaultKeyCheck(ctx context.Context, tx *Tx, e *tandem.Entry) error {
	var k tandem.KeyCheck
	if err := json.Unmarshal(e.Payload, &k); err != nil {
		return fmt.Errorf("key check payload: %w", err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO vault_keycheck (id, ciphertext, region, created_ms) VALUES ('workspace', ?, ?, ?)
ON CONFLICT (id) DO NOTHING`, k.Ciphertext, k.Region, k.CreatedMS)
	return err
}

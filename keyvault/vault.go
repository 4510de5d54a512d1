package keyvault

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/tandemml/tandem"
	"gocloud.dev/secrets"
)

// keyCheckPlaintext is what the key check encrypts; decrypting it back
// proves a region holds the workspace key.
const keyCheckPlaintext = "tandem workspace key check v1"

// Vault is the key vault of one region: it implements
// tandem.SecretService on the region's store, and seals and opens datastore
// credentials. Values are encrypted before they reach the store and are
// decrypted only for server-side use.
type Vault struct {
	store   tandem.VaultStore
	keeper  *secrets.Keeper // nil: this region has no workspace key
	region  string
	source  string // where the key came from, for messages
	checked atomic.Bool
}

var _ tandem.SecretService = (*Vault)(nil)

// New returns the vault of a region. keeper may be nil (no key); source
// says where the key came from ("secrets.keeper file workspace.key"), for
// error messages.
func New(store tandem.VaultStore, keeper *secrets.Keeper, region, source string) *Vault {
	return &Vault{store: store, keeper: keeper, region: region, source: source}
}

// HasKey reports whether this region has a workspace key.
func (v *Vault) HasKey() bool { return v.keeper != nil }

func (v *Vault) noKey(what string) error {
	return tandem.Errorf(tandem.EUNAVAILABLE, "this region has no workspace secrets key, so it cannot %s: name one in workspace.yaml (secrets: {keeper: ...}) or set TANDEM_SECRETS_KEY", what)
}

// seal encrypts plain with the workspace key for storing (what the caller
// stores, for the error when this region has no key), once the key has
// passed its check.
func (v *Vault) seal(ctx context.Context, what string, plain []byte) (string, error) {
	if v.keeper == nil {
		return "", v.noKey(what)
	}
	if err := v.EnsureKeyCheck(ctx); err != nil {
		return "", err
	}
	return v.encrypt(ctx, plain)
}

// encrypt returns base64 of the keeper's ciphertext of plain.
func (v *Vault) encrypt(ctx context.Context, plain []byte) (string, error) {
	ct, err := v.keeper.Encrypt(ctx, plain)
	if err != nil {
		return "", tandem.Errorf(tandem.EUNAVAILABLE, "encrypt with the workspace key (%s) failed", v.source)
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

func (v *Vault) decrypt(ctx context.Context, sealed, what string) ([]byte, error) {
	if v.keeper == nil {
		return nil, v.noKey("open " + what)
	}
	ct, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, fmt.Errorf("stored %s: %w", what, err)
	}
	plain, err := v.keeper.Decrypt(ctx, ct)
	if err != nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "%s cannot be decrypted with this region's workspace key (%s)", what, v.source)
	}
	return plain, nil
}

// CheckKey verifies the stored key check, if any, with this region's key.
// A region must not serve when it fails: the secrets it would store or
// open are the workspace's, under another key.
func (v *Vault) CheckKey(ctx context.Context) error {
	if v.checked.Load() {
		return nil
	}
	kc, err := v.store.KeyCheck(ctx)
	if err != nil || kc == nil {
		return err
	}
	if err := v.verify(ctx, kc); err != nil {
		return err
	}
	v.checked.Store(true)
	return nil
}

func (v *Vault) verify(ctx context.Context, kc *tandem.KeyCheck) error {
	if v.keeper == nil {
		return tandem.Errorf(tandem.EINVALIDSTATE, "workspace key missing: this region has no secrets key, but the workspace's secrets are encrypted with the workspace key (key check written by region %s); give every region the same key (secrets: {keeper: ...} in workspace.yaml); refusing to start", kc.Region)
	}
	ct, err := base64.StdEncoding.DecodeString(kc.Ciphertext)
	var plain []byte
	if err == nil {
		plain, err = v.keeper.Decrypt(ctx, ct)
	}
	if err != nil || string(plain) != keyCheckPlaintext {
		return tandem.Errorf(tandem.EINVALIDSTATE, "workspace key mismatch: this region's secrets key (%s) cannot decrypt the workspace's secrets (key check written by region %s); every region of a workspace must use the same key (secrets: {keeper: ...} in workspace.yaml); refusing to start", v.source, kc.Region)
	}
	return nil
}

// EnsureKeyCheck stores the key check when the workspace has none (the
// primary calls it at start and before it seals anything, so every
// ciphertext in the journal follows a key check) and verifies the stored
// one otherwise. A region without a key does nothing.
func (v *Vault) EnsureKeyCheck(ctx context.Context) error {
	if v.keeper == nil || v.checked.Load() {
		return nil
	}
	kc, err := v.store.KeyCheck(ctx)
	if err != nil {
		return err
	}
	if kc == nil {
		ct, err := v.encrypt(ctx, []byte(keyCheckPlaintext))
		if err != nil {
			return err
		}
		if kc, err = v.store.SetKeyCheck(ctx, tandem.KeyCheck{Ciphertext: ct, Region: v.region}); err != nil {
			return err
		}
	}
	if err := v.verify(ctx, kc); err != nil {
		return err
	}
	v.checked.Store(true)
	return nil
}

// Watch verifies the key check as soon as it is stored (by replication,
// on a secondary) and returns the refusal error when this region's key
// cannot decrypt it; it returns nil once verified or when ctx ends.
func (v *Vault) Watch(ctx context.Context) error {
	for {
		changed := v.store.Changed()
		kc, err := v.store.KeyCheck(ctx)
		if err == nil && kc != nil {
			if err := v.verify(ctx, kc); err != nil {
				return err
			}
			v.checked.Store(true)
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

// SetSecret implements tandem.SecretService.
func (v *Vault) SetSecret(ctx context.Context, name string, value []byte, meta tandem.Secret) (*tandem.Secret, error) {
	if err := tandem.ValidateSecretName(name); err != nil {
		return nil, err
	}
	if len(value) == 0 {
		return nil, tandem.Errorf(tandem.EINVALID, "secret %s: the value is empty", name)
	}
	if len(value) > tandem.MaxSecretBytes {
		return nil, tandem.Errorf(tandem.ELIMIT, "secret %s: the value is larger than %d bytes", name, tandem.MaxSecretBytes)
	}
	ct, err := v.seal(ctx, "store secrets", value)
	if err != nil {
		return nil, err
	}
	meta.Name = name
	return v.store.SetSecret(ctx, meta, ct)
}

// ListSecrets implements tandem.SecretService.
func (v *Vault) ListSecrets(ctx context.Context, deleted bool) ([]*tandem.Secret, error) {
	return v.store.ListSecrets(ctx, deleted)
}

// SecretVersions implements tandem.SecretService.
func (v *Vault) SecretVersions(ctx context.Context, name string) ([]*tandem.Secret, error) {
	return v.store.SecretVersions(ctx, name)
}

// UpdateSecret implements tandem.SecretService.
func (v *Vault) UpdateSecret(ctx context.Context, name, version string, enabled bool) (*tandem.Secret, error) {
	return v.store.UpdateSecret(ctx, name, version, enabled)
}

// DeleteSecret implements tandem.SecretService.
func (v *Vault) DeleteSecret(ctx context.Context, name string) error {
	return v.store.DeleteSecret(ctx, name, true)
}

// RecoverSecret implements tandem.SecretService.
func (v *Vault) RecoverSecret(ctx context.Context, name string) error {
	return v.store.DeleteSecret(ctx, name, false)
}

// PurgeSecret implements tandem.SecretService.
func (v *Vault) PurgeSecret(ctx context.Context, name string) error {
	return v.store.PurgeSecret(ctx, name)
}

// ResolveSecret implements tandem.SecretService. Server-side use only.
func (v *Vault) ResolveSecret(ctx context.Context, name string) ([]byte, error) {
	_, ct, err := v.store.SecretCiphertext(ctx, name)
	if err != nil {
		return nil, err
	}
	return v.decrypt(ctx, ct, "secret "+name)
}

// SealCredentials encrypts a datastore's credentials into the text stored
// with it. Values may be references ${{secrets.NAME}} to vault secrets,
// which must exist (EINVALID otherwise); they are kept as references and
// resolved when the credentials are opened.
func (v *Vault) SealCredentials(ctx context.Context, creds map[string]string) (string, error) {
	if len(creds) == 0 {
		return "", nil
	}
	for _, k := range tandem.SortedKeys(creds) {
		name, ok, err := tandem.ParseSecretRef(creds[k])
		if err != nil {
			return "", tandem.Errorf(tandem.EINVALID, "credentials.%s: %s", k, tandem.ErrorMessage(err))
		}
		if !ok {
			continue
		}
		if _, _, err := v.store.SecretCiphertext(ctx, name); tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return "", tandem.Errorf(tandem.EINVALID, "credentials.%s refers to secret %s, which does not exist: tandem secret set %s first", k, name, name)
		} else if err != nil {
			return "", err
		}
	}
	plain, _ := json.Marshal(creds)
	return v.seal(ctx, "store datastore credentials", plain)
}

// OpenCredentials decrypts sealed datastore credentials and resolves their
// secret references, for the code that reads data on the datastore. The
// result must never be logged or returned.
func (v *Vault) OpenCredentials(ctx context.Context, datastore, sealed string) (map[string]string, error) {
	if sealed == "" {
		return nil, nil
	}
	plain, err := v.decrypt(ctx, sealed, "datastore "+datastore+" credentials")
	if err != nil {
		return nil, err
	}
	var creds map[string]string
	if err := json.Unmarshal(plain, &creds); err != nil {
		return nil, fmt.Errorf("stored credentials: %w", err)
	}
	for _, k := range tandem.SortedKeys(creds) {
		name, ok, err := tandem.ParseSecretRef(creds[k])
		if err != nil || !ok {
			continue
		}
		val, err := v.ResolveSecret(ctx, name)
		if err != nil {
			return nil, tandem.Errorf(tandem.ErrorCode(err), "datastore %s credentials.%s: %s", datastore, k, tandem.ErrorMessage(err))
		}
		creds[k] = string(val)
	}
	return creds, nil
}

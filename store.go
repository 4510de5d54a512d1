package tandem

import "context"

// The store interfaces: one per area of a region's metadata store, each
// stating what the packages above sqlstore need of that area. sqlstore
// implements all of them on one database handle (one *sqlstore.Store per
// region, wired in cmd/tandem and region); a consumer takes the interface
// of the area it uses, or a union of them, and its tests still run against
// a real store. Unless its comment says otherwise, a write method goes
// through the journal: it is primary-only, and where this region may not
// write now it fails with the Gate's EUNAVAILABLE.
//
// Areas not listed here (tracking, registry, traces, assets, journal,
// transfer) are still used through *sqlstore.Store directly; they move here
// as their consumers are switched.

// VaultStore is the replicated store of the workspace key vault: secret
// versions with their values already encrypted, and the workspace key
// check. Implemented by sqlstore; used by keyvault, which encrypts and
// decrypts (nothing here sees a plaintext value).
type VaultStore interface {
	// SetSecret records a new version of sec.Name holding ciphertext.
	// EINVALID, EINVALIDSTATE when the name is soft-deleted.
	SetSecret(ctx context.Context, sec Secret, ciphertext string) (*Secret, error)
	// ListSecrets lists the newest version of each live secret, or of each
	// soft-deleted one when deleted is true.
	ListSecrets(ctx context.Context, deleted bool) ([]*Secret, error)
	// SecretVersions lists the versions of a live secret, newest first.
	// ENOTFOUND.
	SecretVersions(ctx context.Context, name string) ([]*Secret, error)
	// UpdateSecret enables or disables one version of a live secret.
	// ENOTFOUND.
	UpdateSecret(ctx context.Context, name, version string, enabled bool) (*Secret, error)
	// DeleteSecret soft-deletes (deleted true) or recovers every version of
	// name. ENOTFOUND when there is no secret in the state to change.
	DeleteSecret(ctx context.Context, name string, deleted bool) error
	// PurgeSecret removes a soft-deleted secret for good. ENOTFOUND.
	PurgeSecret(ctx context.Context, name string) error
	// SecretCiphertext returns the current version of name and its
	// ciphertext, for server-side resolution only. ENOTFOUND.
	SecretCiphertext(ctx context.Context, name string) (*Secret, string, error)
	// KeyCheck returns the workspace key check, or nil when none is stored.
	KeyCheck(ctx context.Context) (*KeyCheck, error)
	// SetKeyCheck stores k when no key check is stored, and returns the one
	// stored (an existing one unchanged).
	SetKeyCheck(ctx context.Context, k KeyCheck) (*KeyCheck, error)
	// Changed returns a channel closed at the next commit (a local write or
	// an applied journal entry): a secondary waits on it for the key check
	// to arrive.
	Changed() <-chan struct{}
}

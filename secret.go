package tandem

import (
	"context"
	"regexp"
	"strings"
)

// Secret is the metadata of one version of a workspace key vault secret.
// The value is write-only: it arrives with Set, is encrypted with the
// workspace key before it reaches the database or the journal, and no API
// returns it. Versions are kept (Azure Key Vault's model): Set adds one,
// the newest enabled version is the current value.
type Secret struct {
	Name        string            `json:"name"`
	Version     string            `json:"version"`
	Enabled     bool              `json:"enabled"`
	ContentType string            `json:"content_type,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	CreatedMS   int64             `json:"created_ms"`
	CreatedBy   string            `json:"created_by,omitempty"`
	UpdatedMS   int64             `json:"updated_ms"`
	// DeletedMS is set on a soft-deleted secret: it is hidden from list
	// and resolution until recovered, and its name cannot be set until it
	// is recovered or purged.
	DeletedMS int64 `json:"deleted_ms,omitempty"`
}

// MaxSecretBytes bounds a secret value (Azure Key Vault's limit).
const MaxSecretBytes = 25 << 10

// SecretService is the workspace key vault. Every method may be called by
// the API layer; ResolveSecret only by server-side code that needs a value
// (datastore access), never to answer a request with it.
type SecretService interface {
	// SetSecret stores value as a new version of name. Errors: EINVALID
	// (name), ELIMIT (size), ECONFLICT (the name is soft-deleted), EUNAVAILABLE
	// (no workspace key, or not primary).
	SetSecret(ctx context.Context, name string, value []byte, s Secret) (*Secret, error)
	// ListSecrets lists the newest version of each secret (deleted ones
	// instead when deleted is true).
	ListSecrets(ctx context.Context, deleted bool) ([]*Secret, error)
	// SecretVersions lists every version of name, newest first. ENOTFOUND.
	SecretVersions(ctx context.Context, name string) ([]*Secret, error)
	// UpdateSecret enables or disables one version. ENOTFOUND.
	UpdateSecret(ctx context.Context, name, version string, enabled bool) (*Secret, error)
	// DeleteSecret soft-deletes every version of name. ENOTFOUND.
	DeleteSecret(ctx context.Context, name string) error
	// RecoverSecret undoes a soft delete. ENOTFOUND when not deleted.
	RecoverSecret(ctx context.Context, name string) error
	// PurgeSecret removes a soft-deleted secret for good. ENOTFOUND when
	// not deleted.
	PurgeSecret(ctx context.Context, name string) error
	// ResolveSecret returns the current value of name (newest enabled
	// version of a secret not deleted). ENOTFOUND. Never log the result.
	ResolveSecret(ctx context.Context, name string) ([]byte, error)
}

var secretNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,126}$`)

// ValidateSecretName checks a secret name: 1-127 letters, digits and '-',
// starting with a letter or digit (Azure Key Vault's rule).
func ValidateSecretName(name string) error {
	if !secretNameRE.MatchString(name) {
		return Errorf(EINVALID, "secret name %q must be 1-127 letters, digits and '-', starting with a letter or digit", name)
	}
	return nil
}

// SecretRef is how a definition (a datastore's credentials) names a vault
// secret instead of holding its value: the whole value is ${{secrets.NAME}}.
const (
	secretRefOpen  = "${{"
	secretRefClose = "}}"
)

// ParseSecretRef reports whether v is a reference ${{secrets.NAME}}
// (spaces allowed inside the braces) and returns NAME. A value that starts
// like a reference but is malformed is EINVALID, so a typo never becomes a
// literal credential; the message never quotes the value.
func ParseSecretRef(v string) (string, bool, error) {
	t := strings.TrimSpace(v)
	if !strings.HasPrefix(t, secretRefOpen) {
		return "", false, nil
	}
	if !strings.HasSuffix(t, secretRefClose) {
		return "", false, Errorf(EINVALID, "a value starting with ${{ must be a secret reference ${{secrets.NAME}}")
	}
	inner := strings.TrimSpace(t[len(secretRefOpen) : len(t)-len(secretRefClose)])
	name, ok := strings.CutPrefix(inner, "secrets.")
	if !ok {
		return "", false, Errorf(EINVALID, "a value starting with ${{ must be a secret reference ${{secrets.NAME}}")
	}
	if err := ValidateSecretName(name); err != nil {
		return "", false, Errorf(EINVALID, "secret reference: %s", ErrorMessage(err))
	}
	return name, true, nil
}

// SecretRefString is the reference to name, as ParseSecretRef reads it.
func SecretRefString(name string) string { return "${{secrets." + name + "}}" }

// KeyCheck is the workspace key check: a known plaintext encrypted with the
// workspace key, written once by the first primary that had a key.
type KeyCheck struct {
	Ciphertext string `json:"ciphertext"`
	Region     string `json:"region"`
	CreatedMS  int64  `json:"created_ms"`
}

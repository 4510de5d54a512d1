package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/tandemml/tandem"
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"
)

// KeyConfig says where the key that encrypts datastore credentials comes
// from, in order: Key (base64 of 32 bytes, e.g. from TANDEM_SECRETS_KEY),
// KeyFile (a file holding that base64 text), DefaultFile (used like KeyFile,
// and created with a new random key when missing: the embedded default).
type KeyConfig struct {
	Key         string
	KeyFile     string
	DefaultFile string
}

// KeyConfigFromEnv reads TANDEM_SECRETS_KEY and TANDEM_SECRETS_KEY_FILE;
// for a SQLite metadata URL the default key file is secrets.key beside the
// database (so `tandem up` gets a key under its data folder).
func KeyConfigFromEnv(metadataURL string) KeyConfig {
	kc := KeyConfig{Key: os.Getenv("TANDEM_SECRETS_KEY"), KeyFile: os.Getenv("TANDEM_SECRETS_KEY_FILE")}
	if u, err := url.Parse(metadataURL); err == nil && strings.HasPrefix(u.Scheme, "sqlite") {
		if p := u.Host + u.Path; p != "" {
			kc.DefaultFile = filepath.Join(filepath.Dir(p), "secrets.key")
		}
	}
	return kc
}

// OpenKeeper returns the keeper for cfg, or nil (and no error) when no key
// is configured: then credentials cannot be stored.
func OpenKeeper(cfg KeyConfig) (*secrets.Keeper, error) {
	text := cfg.Key
	if text == "" && cfg.KeyFile != "" {
		b, err := os.ReadFile(cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("secrets key file: %w", err)
		}
		text = string(b)
	}
	if text == "" && cfg.DefaultFile != "" {
		b, err := os.ReadFile(cfg.DefaultFile)
		if errors.Is(err, fs.ErrNotExist) {
			key := make([]byte, 32)
			if _, err := rand.Read(key); err != nil {
				return nil, err
			}
			b = []byte(base64.StdEncoding.EncodeToString(key) + "\n")
			if err := os.MkdirAll(filepath.Dir(cfg.DefaultFile), 0o700); err != nil {
				return nil, fmt.Errorf("secrets key: %w", err)
			}
			// O_EXCL: two servers starting at once keep the first key.
			f, werr := os.OpenFile(cfg.DefaultFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if werr == nil {
				_, werr = f.Write(b)
				werr = errors.Join(werr, f.Close())
			}
			if werr != nil && !errors.Is(werr, fs.ErrExist) {
				return nil, fmt.Errorf("secrets key: %w", werr)
			}
			b, err = os.ReadFile(cfg.DefaultFile)
		}
		if err != nil {
			return nil, fmt.Errorf("secrets key file: %w", err)
		}
		text = string(b)
	}
	if text == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("secrets key must be the base64 encoding of 32 bytes")
	}
	var k [32]byte
	copy(k[:], key)
	return localsecrets.NewKeeper(k), nil
}

// sealCredentials encrypts a datastore's credentials into the text stored
// in the metadata database.
func (s *Server) sealCredentials(ctx context.Context, creds map[string]string) (string, error) {
	if len(creds) == 0 {
		return "", nil
	}
	if s.keeper == nil {
		return "", tandem.Errorf(tandem.EINVALID, "this server has no secrets key, so it cannot store datastore credentials: set TANDEM_SECRETS_KEY or TANDEM_SECRETS_KEY_FILE")
	}
	plain, _ := json.Marshal(creds)
	ct, err := s.keeper.Encrypt(ctx, plain)
	if err != nil {
		return "", fmt.Errorf("encrypt credentials: %w", err)
	}
	return base64.StdEncoding.EncodeToString(ct), nil
}

// OpenCredentials decrypts a datastore's stored credentials, for the code
// that reads data on the datastore. The result must never be logged or
// returned.
func (s *Server) OpenCredentials(ctx context.Context, name string) (map[string]string, error) {
	sealed, err := s.store.AssetSecret(ctx, tandem.AssetDatastore, name)
	if err != nil || sealed == "" {
		return nil, err
	}
	if s.keeper == nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "this server has no secrets key to open datastore credentials")
	}
	ct, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return nil, fmt.Errorf("stored credentials: %w", err)
	}
	plain, err := s.keeper.Decrypt(ctx, ct)
	if err != nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "datastore %s: credentials cannot be decrypted with this server's key", name)
	}
	var creds map[string]string
	if err := json.Unmarshal(plain, &creds); err != nil {
		return nil, fmt.Errorf("stored credentials: %w", err)
	}
	return creds, nil
}

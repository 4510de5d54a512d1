// Package keyvault is the workspace key vault: the keeper that holds the
// workspace key (chosen by URL through gocloud.dev/secrets: the built-in
// base64key:// key, HashiCorp Vault, AWS KMS, GCP KMS, Azure Key Vault),
// encryption of everything secret before it reaches the database or the
// journal (vault secrets, datastore credentials), the key check that keeps
// a region with the wrong key from running, and the SecretService.
package keyvault

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/workspace"
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"
)

// Config says where the workspace key comes from, in order: URL (a keeper
// URL, e.g. hashivault://KEY or base64key://BASE64), Key (base64 of 32
// bytes, e.g. from TANDEM_SECRETS_KEY), KeyFile (a file holding that base64
// text), DefaultFile (used like KeyFile, and created with a new random key
// when missing: a single region's embedded default). Source describes where
// the key came from for messages; it never holds key material.
type Config struct {
	URL         string
	Key         string
	KeyFile     string
	DefaultFile string
	Source      string
}

// FromEnv reads TANDEM_SECRETS_KEY and TANDEM_SECRETS_KEY_FILE; when
// defaultFile is true and the metadata URL is SQLite, the default key file
// is secrets.key beside the database. Regions of a multi-region workspace
// get no default file (each would make its own key, and a failover would
// leave the credentials undecryptable); one an older tandem made is read.
func FromEnv(metadataURL string, defaultFile bool) Config {
	c := Config{Key: os.Getenv("TANDEM_SECRETS_KEY"), KeyFile: os.Getenv("TANDEM_SECRETS_KEY_FILE")}
	switch {
	case c.Key != "":
		c.Source = "TANDEM_SECRETS_KEY"
	case c.KeyFile != "":
		c.Source = "TANDEM_SECRETS_KEY_FILE " + c.KeyFile
	}
	if u, err := url.Parse(metadataURL); err == nil && strings.HasPrefix(u.Scheme, "sqlite") && c.Key == "" && c.KeyFile == "" {
		if p := u.Host + u.Path; p != "" {
			f := filepath.Join(filepath.Dir(p), "secrets.key")
			if defaultFile {
				c.DefaultFile, c.Source = f, f
			} else if _, err := os.Stat(f); err == nil {
				// A key an older tandem made for this region alone: keep
				// opening what it sealed; the key check tells the user when
				// the regions' keys differ.
				c.KeyFile, c.Source = f, f
			}
		}
	}
	return c
}

// Open returns the keeper for c, or nil (and no error) when no key is
// configured: then nothing secret can be stored.
func Open(ctx context.Context, c Config) (*secrets.Keeper, error) {
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "secrets keeper URL: not a URL")
		}
		if u.Scheme == localsecrets.Scheme && u.Host == "" && u.Path == "" && u.Opaque == "" {
			// gocloud.dev would make a random key: every region (and every
			// restart) would have another one.
			return nil, tandem.Errorf(tandem.EINVALID, "secrets keeper base64key:// needs the key: base64key://BASE64 (32 bytes, URL-safe base64), or use {file: ...}")
		}
		k, err := secrets.OpenKeeper(ctx, c.URL)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "secrets keeper %s: %s", Describe(c.URL), scrub(err.Error(), c.URL))
		}
		return k, nil
	}
	text := c.Key
	if text == "" && c.KeyFile != "" {
		b, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "secrets key file: %v", err)
		}
		text = string(b)
	}
	if text == "" && c.DefaultFile != "" {
		if err := WriteKeyFile(c.DefaultFile); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		b, err := os.ReadFile(c.DefaultFile)
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
		return nil, tandem.Errorf(tandem.EINVALID, "secrets key (%s) must be the base64 encoding of 32 bytes", c.Source)
	}
	var k [32]byte
	copy(k[:], key)
	return localsecrets.NewKeeper(k), nil
}

// WriteKeyFile writes a new random 32-byte key, base64, to path (mode
// 0600). An existing file is kept and fs.ErrExist returned: two processes
// creating it at once keep the first key.
func WriteKeyFile(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("secrets key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("secrets key: %w", err)
	}
	_, err = f.Write([]byte(base64.StdEncoding.EncodeToString(key) + "\n"))
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("secrets key: %w", err)
	}
	return nil
}

// Describe names a keeper URL without its key material or credentials:
// base64key:// keeps only its scheme; other URLs lose their query and user.
func Describe(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if u.Scheme == localsecrets.Scheme {
		return "base64key:// (inline key)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// scrub removes s from msg (a driver's error may quote its URL).
func scrub(msg, s string) string {
	if s == "" {
		return msg
	}
	return strings.ReplaceAll(msg, s, "(keeper URL)")
}

// ConfigFor returns where a region's workspace key comes from: the
// workspace file's secrets.keeper when set, else the environment (FromEnv),
// with a default key file only for a single region (ws nil or one region).
func ConfigFor(ws *workspace.Workspace, metadataURL string) (Config, error) {
	if ws == nil {
		return FromEnv(metadataURL, true), nil
	}
	s := ws.Secrets
	switch {
	case s.KeeperURL != "":
		return Config{URL: s.KeeperURL, Source: "secrets.keeper " + Describe(s.KeeperURL)}, nil
	case s.KeyFile != "":
		return Config{KeyFile: ws.SecretsKeyFile(), Source: "secrets.keeper file " + s.KeyFile}, nil
	case s.KeyEnv != "":
		v := os.Getenv(s.KeyEnv)
		if v == "" {
			return Config{}, tandem.Errorf(tandem.EINVALID, "workspace.yaml: secrets.keeper.env: environment variable %s is not set", s.KeyEnv)
		}
		return Config{Key: v, Source: "secrets.keeper env " + s.KeyEnv}, nil
	}
	return FromEnv(metadataURL, len(ws.Regions) <= 1), nil
}

// OpenRegion opens the workspace key of a region and its vault, and
// verifies the stored key check: a region whose key cannot decrypt the
// workspace's secrets gets the refusal error and must not start.
func OpenRegion(ctx context.Context, store tandem.VaultStore, ws *workspace.Workspace, metadataURL, region string) (*Vault, error) {
	c, err := ConfigFor(ws, metadataURL)
	if err != nil {
		return nil, err
	}
	k, err := Open(ctx, c)
	if err != nil {
		return nil, err
	}
	v := New(store, k, region, c.Source)
	if err := v.CheckKey(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

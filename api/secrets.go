package api

import (
	"context"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/keyvault"
)

// openVault is the vault of a server built without one: on cfg.Keeper, or
// on the key the environment names. A key that cannot be read is logged
// and leaves the server unable to store secrets (EUNAVAILABLE on such
// writes).
func (s *Server) openVault(cfg Config) *keyvault.Vault {
	if cfg.Keeper != nil {
		return keyvault.New(cfg.Store, cfg.Keeper, "local", "the configured keeper")
	}
	kc := keyvault.FromEnv(cfg.MetadataURL, true)
	k, err := keyvault.Open(context.Background(), kc)
	if err != nil {
		s.log.Error("secrets key unusable: secrets and datastore credentials cannot be stored", "err", err)
	}
	return keyvault.New(cfg.Store, k, "local", kc.Source)
}

// sealCredentials encrypts a datastore's credentials into the text stored
// in the metadata database.
func (s *Server) sealCredentials(ctx context.Context, creds map[string]string) (string, error) {
	return s.vault.SealCredentials(ctx, creds)
}

// OpenCredentials decrypts a datastore's stored credentials, secret
// references resolved, for the code that reads data on the datastore. The
// result must never be logged or returned.
func (s *Server) OpenCredentials(ctx context.Context, name string) (map[string]string, error) {
	if _, err := s.store.GetAsset(ctx, tandem.AssetDatastore, name, ""); err != nil {
		return nil, err
	}
	sealed, err := s.store.AssetSecret(ctx, tandem.AssetDatastore, name)
	if err != nil {
		return nil, err
	}
	return s.vault.OpenCredentials(ctx, name, sealed)
}

package keyvault

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/tandemml/tandem"
)

// NewEndpointKey returns a fresh endpoint key: 256 random bits, base64url.
func NewEndpointKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SealEndpointKeys encrypts an online endpoint's keys with the workspace
// key, into the text the store keeps and replicates.
func (v *Vault) SealEndpointKeys(ctx context.Context, keys tandem.EndpointKeys) (string, error) {
	plain, _ := json.Marshal(keys)
	return v.seal(ctx, "store online endpoint keys", plain)
}

// OpenEndpointKeys decrypts sealed endpoint keys, for checking a scoring
// request or answering get-credentials. Never log the result.
func (v *Vault) OpenEndpointKeys(ctx context.Context, endpoint, sealed string) (tandem.EndpointKeys, error) {
	var keys tandem.EndpointKeys
	plain, err := v.decrypt(ctx, sealed, "online endpoint "+endpoint+" keys")
	if err != nil {
		return keys, err
	}
	if err := json.Unmarshal(plain, &keys); err != nil {
		return keys, fmt.Errorf("stored endpoint keys: %w", err)
	}
	return keys, nil
}

package keyvault

import (
	"context"
	"encoding/json"
)

// SealGatewaySecret encrypts an AI gateway secret's values with the
// workspace key, into the text the store keeps and replicates.
func (v *Vault) SealGatewaySecret(ctx context.Context, value map[string]string) (string, error) {
	if v.keeper == nil {
		return "", v.noKey("store a gateway secret")
	}
	if err := v.EnsureKeyCheck(ctx); err != nil {
		return "", err
	}
	plain, err := json.Marshal(value)
	if err != nil {
		return "", err
	}
	return v.encrypt(ctx, plain)
}

package keyvault

import (
	"context"
	"encoding/json"
)

// SealGatewaySecret encrypts an AI gateway secret's values with the
// workspace key, into the text the store keeps and replicates.
func (v *Vault) SealGatewaySecret(ctx context.Context, value map[string]string) (string, error) {
	plain, err := json.Marshal(value)
	if err != nil {
		return "", err
	}
	return v.seal(ctx, "store a gateway secret", plain)
}

package keyvault

import "context"

// SealWebhookSecret encrypts a model-registry webhook's signing secret with
// the workspace key, into the text the store keeps and replicates ("" for
// no secret).
func (v *Vault) SealWebhookSecret(ctx context.Context, secret string) (string, error) {
	if secret == "" {
		return "", nil
	}
	return v.seal(ctx, "store a webhook secret", []byte(secret))
}

// OpenWebhookSecret decrypts a sealed webhook secret, for signing one
// delivery. Never log the result.
func (v *Vault) OpenWebhookSecret(ctx context.Context, webhookID, sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	plain, err := v.decrypt(ctx, sealed, "webhook "+webhookID+" secret")
	if err != nil {
		return "", err
	}
	return string(plain), nil
}

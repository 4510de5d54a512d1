package keyvault

// The keeper drivers a workspace may name by URL (secrets.keeper in
// workspace.yaml). localsecrets is the built-in key; the others encrypt
// with a cloud KMS or HashiCorp Vault's transit engine.
import (
	_ "gocloud.dev/secrets/awskms"
	_ "gocloud.dev/secrets/azurekeyvault"
	_ "gocloud.dev/secrets/gcpkms"
	_ "gocloud.dev/secrets/hashivault"
	_ "gocloud.dev/secrets/localsecrets"
)

package workspace

import (
	"encoding/base64"
	"net/url"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Secrets says where the workspace key comes from: the key that encrypts
// the key vault's secrets and datastore credentials before they reach the
// database or the journal. Every region of a workspace must use the same
// key. Exactly one of the fields is set, or none (then the key comes from
// TANDEM_SECRETS_KEY / TANDEM_SECRETS_KEY_FILE, and a single region falls
// back to secrets.key beside its SQLite database).
//
//	secrets: {keeper: {file: workspace.key}}       # base64 of 32 bytes, 0600
//	secrets: {keeper: {env: TANDEM_WORKSPACE_KEY}}
//	secrets: {keeper: "hashivault://tandem"}        # or awskms://, gcpkms://, azurekeyvault://, base64key://KEY
type Secrets struct {
	KeeperURL string // a gocloud.dev/secrets URL; never logged (base64key:// holds the key)
	KeyFile   string // as written: relative to the workspace file
	KeyEnv    string
}

// KeeperSchemes are the keeper URL schemes a workspace may name.
var KeeperSchemes = []string{"base64key", "hashivault", "awskms", "gcpkms", "azurekeyvault"}

type secretsFile struct {
	Keeper yaml.Node `yaml:"keeper"`
	// Names are the vault secrets the desired state needs (desired.go):
	// references only, plan checks they exist.
	Names yaml.Node `yaml:"names"`
}

func parseSecrets(w *Workspace, f *secretsFile) error {
	if f == nil {
		return nil
	}
	n := &f.Keeper
	switch n.Kind {
	case 0:
		if f.Names.Kind != 0 {
			return nil // secrets: {names: [...]} alone: the key comes from the environment
		}
		return invalid("secrets.keeper", "required (a keeper URL, {file: PATH} or {env: NAME})")
	case yaml.ScalarNode:
		u, err := url.Parse(n.Value)
		if err != nil || u.Scheme == "" {
			return invalid("secrets.keeper", "must be a keeper URL (%s://...), {file: PATH} or {env: NAME}", schemeList())
		}
		known := false
		for _, s := range KeeperSchemes {
			known = known || u.Scheme == s
		}
		if !known {
			return invalid("secrets.keeper", "scheme %q is not one of %s", u.Scheme, schemeList())
		}
		if u.Scheme == "base64key" {
			// The key is the host; the message must never quote it.
			k, err := base64.URLEncoding.DecodeString(u.Host)
			if err != nil || len(k) != 32 {
				return invalid("secrets.keeper", "base64key:// must hold 32 bytes in URL-safe base64 (or use {file: PATH})")
			}
		}
		w.Secrets.KeeperURL = n.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if key := n.Content[i].Value; key != "file" && key != "env" {
				return invalid("secrets.keeper."+key, "unknown field (file or env)")
			}
		}
		var k peerKeyFile
		if err := n.Decode(&k); err != nil {
			return invalid("secrets.keeper", "%v", err)
		}
		if (k.File == "") == (k.Env == "") {
			return invalid("secrets.keeper", "give file or env, exactly one")
		}
		w.Secrets.KeyFile, w.Secrets.KeyEnv = k.File, k.Env
	default:
		return invalid("secrets.keeper", "must be a keeper URL, {file: PATH} or {env: NAME}")
	}
	return nil
}

func schemeList() string { return strings.Join(KeeperSchemes, ", ") }

// SecretsKeyFile is secrets.keeper's file as a path (relative to the
// workspace file's folder), or "".
func (w *Workspace) SecretsKeyFile() string {
	p := w.Secrets.KeyFile
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(w.dir, p)
}

package keyvault_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/keyvault"
	"github.com/tandemml/tandem/sqlstore"
	"github.com/tandemml/tandem/storetest"
	"github.com/tandemml/tandem/workspace"
	"gocloud.dev/secrets"
	"gocloud.dev/secrets/localsecrets"
)

func newKeeper(t *testing.T) *secrets.Keeper {
	var k [32]byte
	rand.Read(k[:])
	return localsecrets.NewKeeper(k)
}

func openStore(t *testing.T, url string) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.Open(t.Context(), url, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func code(err error) string { return tandem.ErrorCode(err) }

// TestVaultLifecycle: set makes versions, values never come back in
// metadata, disable picks the newest enabled version, delete hides and
// blocks set, recover and purge, and the stored ciphertext is not the value.
func TestVaultLifecycle(t *testing.T) {
	for _, b := range storetest.MetadataURLs(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, b.URL)
			v := keyvault.New(st, newKeeper(t), "east", "test key")
			s1, err := v.SetSecret(ctx, "lake-key", []byte("value-one-canary"), tandem.Secret{CreatedBy: "alice"})
			if err != nil || s1.Version != "1" || !s1.Enabled || s1.CreatedBy != "alice" {
				t.Fatalf("set: %+v %v", s1, err)
			}
			if _, err := v.SetSecret(ctx, "lake-key", []byte("value-two-canary"), tandem.Secret{}); err != nil {
				t.Fatal(err)
			}
			if got, err := v.ResolveSecret(ctx, "lake-key"); err != nil || string(got) != "value-two-canary" {
				t.Fatalf("resolve: %q %v", got, err)
			}
			vs, err := v.SecretVersions(ctx, "lake-key")
			if err != nil || len(vs) != 2 || vs[0].Version != "2" {
				t.Fatalf("versions: %+v %v", vs, err)
			}
			if _, err := v.UpdateSecret(ctx, "lake-key", "2", false); err != nil {
				t.Fatal(err)
			}
			if got, _ := v.ResolveSecret(ctx, "lake-key"); string(got) != "value-one-canary" {
				t.Fatalf("resolve after disabling v2: %q", got)
			}
			if _, c, err := st.SecretCiphertext(ctx, "lake-key"); err != nil || strings.Contains(c, "canary") || c == "" {
				t.Fatalf("stored ciphertext: %v", err)
			}
			if err := v.DeleteSecret(ctx, "lake-key"); err != nil {
				t.Fatal(err)
			}
			if _, err := v.ResolveSecret(ctx, "lake-key"); code(err) != tandem.ENOTFOUND {
				t.Fatalf("resolve deleted: %v", err)
			}
			if _, err := v.SetSecret(ctx, "lake-key", []byte("x"), tandem.Secret{}); code(err) != tandem.ECONFLICT {
				t.Fatalf("set on deleted: %v", err)
			}
			if l, _ := v.ListSecrets(ctx, false); len(l) != 0 {
				t.Fatalf("list shows deleted: %+v", l)
			}
			if l, _ := v.ListSecrets(ctx, true); len(l) != 1 || l[0].DeletedMS == 0 {
				t.Fatalf("list deleted: %+v", l)
			}
			if err := v.RecoverSecret(ctx, "lake-key"); err != nil {
				t.Fatal(err)
			}
			if got, _ := v.ResolveSecret(ctx, "lake-key"); string(got) != "value-one-canary" {
				t.Fatalf("resolve recovered: %q", got)
			}
			if err := v.PurgeSecret(ctx, "lake-key"); code(err) != tandem.ENOTFOUND {
				t.Fatalf("purge of a live secret: %v", err)
			}
			v.DeleteSecret(ctx, "lake-key")
			if err := v.PurgeSecret(ctx, "lake-key"); err != nil {
				t.Fatal(err)
			}
			if l, _ := v.ListSecrets(ctx, true); len(l) != 0 {
				t.Fatalf("purged secret listed: %+v", l)
			}
			for _, bad := range []string{"", "-x", "a_b", strings.Repeat("a", 128)} {
				if _, err := v.SetSecret(ctx, bad, []byte("x"), tandem.Secret{}); code(err) != tandem.EINVALID {
					t.Errorf("name %q: %v", bad, err)
				}
			}
			if _, err := v.SetSecret(ctx, "big", make([]byte, tandem.MaxSecretBytes+1), tandem.Secret{}); code(err) != tandem.ELIMIT {
				t.Errorf("oversized value: %v", err)
			}
		})
	}
}

// TestCredentialReferences: datastore credentials may name vault secrets;
// sealing checks they exist, opening resolves them, and a key that did not
// seal them cannot open them.
func TestCredentialReferences(t *testing.T) {
	ctx := t.Context()
	st := openStore(t, storetest.SQLiteURL(t))
	v := keyvault.New(st, newKeeper(t), "east", "test key")
	if _, err := v.SealCredentials(ctx, map[string]string{"account_key": "${{secrets.missing}}"}); code(err) != tandem.EINVALID {
		t.Fatalf("reference to a missing secret: %v", err)
	}
	if _, err := v.SetSecret(ctx, "acct", []byte("resolved-canary"), tandem.Secret{}); err != nil {
		t.Fatal(err)
	}
	sealed, err := v.SealCredentials(ctx, map[string]string{"account_key": "${{ secrets.acct }}", "sas_token": "inline-canary"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "canary") {
		t.Fatal("sealed credentials in clear")
	}
	creds, err := v.OpenCredentials(ctx, "lake", sealed)
	if err != nil || creds["account_key"] != "resolved-canary" || creds["sas_token"] != "inline-canary" {
		t.Fatalf("open: %v %v", creds != nil, err)
	}
	other := keyvault.New(st, newKeeper(t), "west", "other key")
	if _, err := other.OpenCredentials(ctx, "lake", sealed); code(err) != tandem.EUNAVAILABLE {
		t.Fatalf("open with another key: %v", err)
	}
	nokey := keyvault.New(st, nil, "west", "")
	if _, err := nokey.SealCredentials(ctx, map[string]string{"sas_token": "x"}); code(err) != tandem.EUNAVAILABLE {
		t.Fatalf("seal without a key: %v", err)
	}
}

// TestKeyCheck: the first seal stores the key check; the same key passes,
// another key and no key are refused with the clear error, and a check
// is never replaced.
func TestKeyCheck(t *testing.T) {
	ctx := t.Context()
	st := openStore(t, storetest.SQLiteURL(t))
	k := newKeeper(t)
	v := keyvault.New(st, k, "east", "test key")
	if err := v.CheckKey(ctx); err != nil {
		t.Fatalf("no check stored yet: %v", err)
	}
	if kc, _ := st.KeyCheck(ctx); kc != nil {
		t.Fatal("key check stored before anything was sealed")
	}
	if _, err := v.SetSecret(ctx, "a", []byte("x"), tandem.Secret{}); err != nil {
		t.Fatal(err)
	}
	kc, _ := st.KeyCheck(ctx)
	if kc == nil || kc.Region != "east" {
		t.Fatalf("key check: %+v", kc)
	}
	if err := keyvault.New(st, k, "west", "same key").CheckKey(ctx); err != nil {
		t.Fatalf("same key refused: %v", err)
	}
	err := keyvault.New(st, newKeeper(t), "west", "secrets.keeper file other.key").CheckKey(ctx)
	if code(err) != tandem.EINVALIDSTATE || !strings.Contains(err.Error(), "workspace key mismatch") || !strings.Contains(err.Error(), "other.key") {
		t.Fatalf("other key: %v", err)
	}
	if err := keyvault.New(st, nil, "west", "").CheckKey(ctx); code(err) != tandem.EINVALIDSTATE {
		t.Fatalf("no key: %v", err)
	}
	if _, err := keyvault.New(st, newKeeper(t), "west", "x").SetSecret(ctx, "b", []byte("y"), tandem.Secret{}); code(err) != tandem.EINVALIDSTATE {
		t.Fatalf("set with another key: %v", err)
	}
	again, _ := st.SetKeyCheck(ctx, tandem.KeyCheck{Ciphertext: "AAAA", Region: "west"})
	if again.Ciphertext != kc.Ciphertext {
		t.Fatal("key check replaced")
	}
}

// TestWatchRefusesOnArrival: a region whose key check arrives later (by
// replication) is refused as soon as it is stored.
func TestWatchRefusesOnArrival(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st := openStore(t, storetest.SQLiteURL(t))
	wrong := keyvault.New(st, newKeeper(t), "west", "wrong key")
	errc := make(chan error, 1)
	go func() { errc <- wrong.Watch(ctx) }()
	if _, err := keyvault.New(st, newKeeper(t), "east", "right key").SetSecret(ctx, "a", []byte("x"), tandem.Secret{}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; code(err) != tandem.EINVALIDSTATE {
		t.Fatalf("watch: %v", err)
	}
}

func TestOpenKeeper(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	kc := keyvault.FromEnv("sqlite://"+filepath.Join(dir, "local", "tandem.db"), true)
	if kc.DefaultFile != filepath.Join(dir, "local", "secrets.key") {
		t.Fatalf("default key file = %s", kc.DefaultFile)
	}
	k1, err := keyvault.Open(ctx, kc)
	if err != nil || k1 == nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(kc.DefaultFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	ct, _ := k1.Encrypt(ctx, []byte("hello"))
	k2, err := keyvault.Open(ctx, kc)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k2.Decrypt(ctx, ct); err != nil || string(pt) != "hello" {
		t.Fatalf("reopened key: %q %v", pt, err)
	}
	if k, err := keyvault.Open(ctx, keyvault.Config{Key: "c2hvcnQ="}); err == nil || k != nil {
		t.Fatal("a short key was accepted")
	}
	if k, err := keyvault.Open(ctx, keyvault.Config{}); err != nil || k != nil {
		t.Fatalf("no key configured: %v %v", k, err)
	}
	if _, err := keyvault.Open(ctx, keyvault.Config{URL: "base64key://"}); code(err) != tandem.EINVALID {
		t.Fatalf("base64key:// without a key (gocloud would make a random one): %v", err)
	}
	var raw [32]byte
	rand.Read(raw[:])
	u := "base64key://" + base64.URLEncoding.EncodeToString(raw[:])
	ku, err := keyvault.Open(ctx, keyvault.Config{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	ct, _ = ku.Encrypt(ctx, []byte("by url"))
	if pt, err := localsecrets.NewKeeper(raw).Decrypt(ctx, ct); err != nil || string(pt) != "by url" {
		t.Fatalf("URL keeper is not the named key: %v", err)
	}
	if d := keyvault.Describe(u); strings.Contains(d, base64.URLEncoding.EncodeToString(raw[:])) {
		t.Fatalf("Describe leaks the key: %s", d)
	}
	_, err = keyvault.Open(ctx, keyvault.Config{URL: "nosuch://x"})
	if code(err) != tandem.EINVALID {
		t.Fatalf("unknown scheme: %v", err)
	}
}

// TestConfigFor: the workspace file's keeper wins; a multi-region
// workspace without one gets no per-region default key file.
func TestConfigFor(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TANDEM_SECRETS_KEY", "")
	t.Setenv("TANDEM_SECRETS_KEY_FILE", "")
	write := func(extra string, regions int) *workspace.Workspace {
		body := "workspace: w\nprimary: a\npeer_key: {env: X}\n" + extra + "regions:\n"
		for i, n := range []string{"a", "b"}[:regions] {
			body += "  - {name: " + n + ", url: 'http://127.0.0.1:" + string(rune('1'+i)) + "000', metadata: 'sqlite://" + filepath.Join(dir, n, "t.db") + "', artifacts: 'file:///tmp/x'}\n"
		}
		p := filepath.Join(dir, "workspace.yaml")
		os.WriteFile(p, []byte(body), 0o600)
		ws, err := workspace.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}
	c, _ := keyvault.ConfigFor(write("secrets: {keeper: {file: ws.key}}\n", 2), "sqlite://"+filepath.Join(dir, "a", "t.db"))
	if c.KeyFile != filepath.Join(dir, "ws.key") {
		t.Fatalf("key file %q", c.KeyFile)
	}
	c, _ = keyvault.ConfigFor(write("", 2), "sqlite://"+filepath.Join(dir, "a", "t.db"))
	if c.DefaultFile != "" {
		t.Fatalf("multi-region workspace got a per-region default key %s", c.DefaultFile)
	}
	os.MkdirAll(filepath.Join(dir, "b"), 0o700)
	keyvault.WriteKeyFile(filepath.Join(dir, "b", "secrets.key")) // made by an older tandem
	c, _ = keyvault.ConfigFor(write("", 2), "sqlite://"+filepath.Join(dir, "b", "t.db"))
	if c.KeyFile != filepath.Join(dir, "b", "secrets.key") || c.DefaultFile != "" {
		t.Fatalf("existing per-region key not read: %+v", c)
	}
	c, _ = keyvault.ConfigFor(write("", 1), "sqlite://"+filepath.Join(dir, "a", "t.db"))
	if c.DefaultFile == "" {
		t.Fatal("single region lost its default key file")
	}
	if _, err := keyvault.ConfigFor(write("secrets: {keeper: {env: TANDEM_NO_SUCH_KEY_VAR}}\n", 2), ""); code(err) != tandem.EINVALID {
		t.Fatalf("unset env: %v", err)
	}
}

package workspace

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
)

const secretsBase = `workspace: w
regions: [{name: a, url: 'http://h:1', metadata: 'sqlite://a.db', artifacts: 'file://a'}]
`

func TestParseSecrets(t *testing.T) {
	key := base64.URLEncoding.EncodeToString(make([]byte, 32))
	for _, c := range []struct{ yaml, url, file, env, err string }{
		{"", "", "", "", ""},
		{"secrets: {keeper: {file: workspace.key}}", "", "workspace.key", "", ""},
		{"secrets: {keeper: {env: WS_KEY}}", "", "", "WS_KEY", ""},
		{"secrets: {keeper: 'hashivault://tandem'}", "hashivault://tandem", "", "", ""},
		{"secrets: {keeper: 'base64key://" + key + "'}", "base64key://" + key, "", "", ""},
		{"secrets: {keeper: 'base64key://c2hvcnQ='}", "", "", "", "32 bytes"},
		{"secrets: {keeper: 'ftp://x'}", "", "", "", "not one of"},
		{"secrets: {keeper: {file: a, env: B}}", "", "", "", "exactly one"},
		{"secrets: {keeper: {}}", "", "", "", "exactly one"},
		{"secrets: {}", "", "", "", "required"},
		{"secrets: {keeper: [a]}", "", "", "", "keeper URL"},
		{"secrets: {keeper: {file: a, other: b}}", "", "", "", "secrets.keeper"},
	} {
		w, err := Parse([]byte(secretsBase + c.yaml))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.yaml, err, c.err)
			}
			if err != nil && strings.Contains(err.Error(), "c2hvcnQ") {
				t.Errorf("%s: error quotes the key: %v", c.yaml, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.yaml, err)
			continue
		}
		if s := w.Secrets; s.KeeperURL != c.url || s.KeyFile != c.file || s.KeyEnv != c.env {
			t.Errorf("%s: %+v", c.yaml, s)
		}
	}
	w, _ := Parse([]byte(secretsBase + "secrets: {keeper: {file: k/workspace.key}}"))
	w.dir = "/srv/ws"
	if got := w.SecretsKeyFile(); got != filepath.Join("/srv/ws", "k/workspace.key") {
		t.Fatalf("SecretsKeyFile = %s", got)
	}
}

func FuzzParseSecrets(f *testing.F) {
	for _, s := range []string{"secrets: {keeper: {file: k}}", "secrets: {keeper: 'hashivault://x'}", "secrets: {keeper: 'base64key://AAAA'}", "secrets: 3", "secrets: {keeper: null}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := Parse([]byte(secretsBase + s))
		if err != nil {
			return
		}
		n := 0
		for _, v := range []string{w.Secrets.KeeperURL, w.Secrets.KeyFile, w.Secrets.KeyEnv} {
			if v != "" {
				n++
			}
		}
		if n > 1 {
			t.Fatalf("%q: more than one key source: %+v", s, w.Secrets)
		}
	})
}

package workspace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/tlsconf"
)

const tlsBase = `workspace: demo
primary: east
peer_key: {env: K}
`

func TestTLSParse(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "workspace.yaml")
	os.WriteFile(p, []byte(tlsBase+`tls: {ca: tls/ca.crt, cert: tls/op.crt, key: tls/op.key, client_auth: require_for_peers}
regions:
  - {name: east, url: "https://127.0.0.1:5000", metadata: "sqlite:///e.db", artifacts: "file:///e", tls: {cert: tls/east.crt, key: tls/east.key}}
  - {name: west, url: "https://127.0.0.1:5001", metadata: "sqlite:///w.db", artifacts: "file:///w", tls: {cert: /etc/west.crt, key: /etc/west.key, client_auth: request}}
`), 0o644)
	w, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	east, _ := w.RegionTLS("east")
	want := tlsconf.Files{Cert: filepath.Join(dir, "tls/east.crt"), Key: filepath.Join(dir, "tls/east.key"), CA: filepath.Join(dir, "tls/ca.crt"), ClientAuth: tlsconf.ClientAuthRequireForPeers}
	if east != want {
		t.Errorf("east: %+v, want %+v", east, want)
	}
	west, _ := w.RegionTLS("west")
	if west.Cert != "/etc/west.crt" || west.ClientAuth != tlsconf.ClientAuthRequest || west.CA != want.CA {
		t.Errorf("west: %+v", west)
	}
	if c := w.ClientTLS(); c.Cert != filepath.Join(dir, "tls/op.crt") || c.CA != want.CA {
		t.Errorf("client: %+v", c)
	}
	// No tls: plain HTTP, nothing enabled.
	plain, err := Parse([]byte(tlsBase + `regions:
  - {name: east, url: "http://127.0.0.1:5000", metadata: "sqlite:///e.db", artifacts: "file:///e"}
`))
	if err != nil || plain.Regions[0].TLS.Enabled() || plain.Regions[0].TLS.ClientAuth != tlsconf.ClientAuthNone {
		t.Fatalf("plain: %+v %v", plain, err)
	}
}

func TestTLSErrorsNameTheField(t *testing.T) {
	region := func(url, tls string) string {
		return "regions:\n  - {name: east, url: \"" + url + "\", metadata: \"sqlite:///e.db\", artifacts: \"file:///e\"" + tls + "}\n"
	}
	for _, c := range []struct{ yaml, field string }{
		{region("https://127.0.0.1:5000", ""), "regions[0].tls.cert: required for an https url"},
		{"tls: {cert: a.crt, key: a.key}\n" + region("http://127.0.0.1:5000", ""), "regions[0].url"},
		{"tls: {cert: a.crt}\n" + region("https://127.0.0.1:5000", ""), "tls.key: required"},
		{region("https://127.0.0.1:5000", ", tls: {key: a.key}"), "regions[0].tls.cert: required with key"},
		{"tls: {client_auth: always}\n" + region("http://127.0.0.1:5000", ""), "tls.client_auth: \"always\" must be one of"},
		{"tls: {client_auth: request}\n" + region("http://127.0.0.1:5000", ""), "tls.ca: required with client_auth request"},
		{"tls: {ca: ca.crt, client_auth: request}\n" + region("http://127.0.0.1:5000", ""), "regions[0].tls.client_auth"},
		{"tls: {certificate: x}\n" + region("http://127.0.0.1:5000", ""), "certificate"},
	} {
		_, err := Parse([]byte(tlsBase + c.yaml))
		if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(tandem.ErrorMessage(err), c.field) {
			t.Errorf("%s: got %v, want EINVALID naming %q", c.yaml, err, c.field)
		}
	}
	// Behind a proxy that terminates TLS (trusted_proxies) an https url
	// needs no certificate: the region serves plain HTTP.
	ws, err := Parse([]byte(tlsBase + "trusted_proxies: [10.1.0.0/16]\n" + region("https://east.example.test", "")))
	if err != nil || ws.Regions[0].TLS.Enabled() {
		t.Fatalf("https url behind a trusted proxy: %+v %v", ws, err)
	}
}

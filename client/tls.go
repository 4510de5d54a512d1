package client

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/tlsconf"
	"github.com/tandemml/tandem/workspace"
)

// HTTPClient returns the HTTP client for cfg's endpoints: TLS 1.2 or newer,
// and https endpoints verified against the system roots plus cfg.CAFile
// when it is set. EINVALID when the CA file cannot be read or holds no PEM
// certificate.
func HTTPClient(cfg Config) (*http.Client, error) {
	if cfg.CAFile == "" {
		return &http.Client{}, nil
	}
	p := cfg.CAFile
	if !filepath.IsAbs(p) && cfg.Path != "" {
		p = filepath.Join(filepath.Dir(cfg.Path), p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "ca_file: %v", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, tandem.Errorf(tandem.EINVALID, "ca_file: %s holds no PEM certificate", p)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	return &http.Client{Transport: t}, nil
}

// WorkspaceHTTPClient returns the HTTP client for a workspace file's
// regions: the top-level tls: CA trusted (besides the system roots when it
// is empty) and its certificate presented as the client certificate, for
// regions that require one of peers. Plain HTTP regions: Go's defaults.
func WorkspaceHTTPClient(ws *workspace.Workspace) (*http.Client, error) {
	f := ws.ClientTLS()
	if !f.Enabled() && f.CA == "" {
		return &http.Client{}, nil
	}
	cfg, err := tlsconf.Client(f, nil)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: tlsconf.Transport(cfg)}, nil
}

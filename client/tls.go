package client

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"

	"github.com/tandemml/tandem"
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

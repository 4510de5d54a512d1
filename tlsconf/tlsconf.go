// Package tlsconf builds the TLS configuration of tandem's listeners (region
// server, gateway, built-in witness) and of its peer links (the HTTP clients
// regions use to reach each other and the witness) from certificate files
// named in workspace.yaml. Certificates are re-read when their files change,
// so a renewed certificate is served without a restart (Reloader). It also
// generates a local certificate authority and per-region certificates for
// `tandem up --tls` (ca.go).
//
// Every configuration is TLS 1.2 or newer (Go prefers 1.3 when both sides
// speak it). Nothing here implements cryptography: crypto/tls and
// crypto/x509 do.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/tandemml/tandem"
)

// ClientAuth is whether a listener asks its clients for a certificate.
type ClientAuth string

const (
	// ClientAuthNone never asks for a client certificate.
	ClientAuthNone ClientAuth = "none"
	// ClientAuthRequest asks for one and verifies it against the CA when
	// given; a client without one is served as any client.
	ClientAuthRequest ClientAuth = "request"
	// ClientAuthRequireForPeers is Request, and a request that claims to be
	// a peer's (it carries the peer key or is a forwarded write) is refused
	// without a valid client certificate (RequirePeerCert).
	ClientAuthRequireForPeers ClientAuth = "require_for_peers"
	// ClientAuthRequire refuses every connection without a valid client
	// certificate.
	ClientAuthRequire ClientAuth = "require"
)

// ClientAuths lists the valid values, for messages.
var ClientAuths = []ClientAuth{ClientAuthNone, ClientAuthRequest, ClientAuthRequireForPeers, ClientAuthRequire}

// Files names the PEM files of one TLS endpoint. Paths are absolute (the
// workspace package resolves them against the workspace file's folder).
// Cert and Key are the endpoint's own certificate chain and key: served by
// a listener and presented as the client certificate on peer links. CA is
// the bundle that peer certificates (server and client) must chain to;
// empty: the system roots for servers, and client certificates cannot be
// verified (ClientAuth must then be none).
type Files struct {
	Cert       string
	Key        string
	CA         string
	ClientAuth ClientAuth
}

// Enabled reports whether the endpoint serves TLS (a certificate is named).
func (f Files) Enabled() bool { return f.Cert != "" }

// MinVersion is the oldest protocol version any tandem endpoint speaks.
const MinVersion = tls.VersionTLS12

// Server returns the listener configuration for f: the certificate from a
// Reloader (re-read when the files change), client certificates asked for
// and verified against f.CA as f.ClientAuth says. EINVALID when a file is
// missing, unreadable, not PEM, or the certificate has expired.
func Server(f Files, log *slog.Logger) (*tls.Config, error) {
	rl, err := NewReloader(f.Cert, f.Key, log)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: MinVersion, GetCertificate: rl.GetCertificate, NextProtos: []string{"h2", "http/1.1"}}
	switch f.ClientAuth {
	case "", ClientAuthNone:
		cfg.ClientAuth = tls.NoClientCert
		return cfg, nil
	case ClientAuthRequest, ClientAuthRequireForPeers:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, tandem.Errorf(tandem.EINVALID, "tls.client_auth: %q must be one of %v", f.ClientAuth, ClientAuths)
	}
	if f.CA == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "tls.ca: required with client_auth %s (client certificates are verified against it)", f.ClientAuth)
	}
	pool, err := LoadPool(f.CA)
	if err != nil {
		return nil, err
	}
	cfg.ClientCAs = pool
	return cfg, nil
}

// Client returns the configuration of a peer link: servers verified against
// f.CA (the system roots when empty), and f's certificate, when named,
// presented to servers that ask for one (re-read when its files change).
func Client(f Files, log *slog.Logger) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: MinVersion}
	if f.CA != "" {
		pool, err := LoadPool(f.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" {
		rl, err := NewReloader(f.Cert, f.Key, log)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = rl.GetClientCertificate
	}
	return cfg, nil
}

// Transport is http.DefaultTransport's settings with cfg as the TLS client
// configuration (nil cfg: the defaults).
func Transport(cfg *tls.Config) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if cfg != nil {
		t.TLSClientConfig = cfg
		t.ForceAttemptHTTP2 = true
	}
	return t
}

// LoadPool reads a PEM bundle of CA certificates. EINVALID when the file
// cannot be read or holds no certificate.
func LoadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "tls.ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, tandem.Errorf(tandem.EINVALID, "tls.ca: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// RequirePeerCert wraps next for a listener with client_auth
// require_for_peers: a request isPeer says is a peer's (it uses the peer
// key, or is a write forwarded by a secondary) without a client certificate
// that verified against the CA is refused with 401 UNAUTHENTICATED. Other
// requests pass unchanged.
func RequirePeerCert(isPeer func(*http.Request) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPeer(r) && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{
				"error_code": tandem.MLflowName(tandem.EUNAUTHORIZED),
				"message":    "peer requests to this region need a client certificate signed by the workspace CA (tls.client_auth: require_for_peers)",
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkValidity is EINVALID when the leaf has expired or is not valid yet,
// naming the file and the dates.
func checkValidity(path string, leaf *x509.Certificate, now time.Time) error {
	switch {
	case now.After(leaf.NotAfter):
		return tandem.Errorf(tandem.EINVALID, "tls.cert: the certificate in %s expired at %s", path, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return tandem.Errorf(tandem.EINVALID, "tls.cert: the certificate in %s is not valid before %s", path, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

func fileErr(field string, err error) error {
	return tandem.Errorf(tandem.EINVALID, "tls.%s: %v", field, fmt.Sprint(err))
}

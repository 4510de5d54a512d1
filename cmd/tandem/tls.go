package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/tandemml/tandem/tlsconf"
)

// listenTLS wraps ln in TLS when cert is set (the gateway's and the
// witness's --tls-cert/--tls-key), with the certificate re-read when its
// files change; clientCA, when set, makes client certificates required.
func listenTLS(ln net.Listener, cert, key, clientCA string) (net.Listener, error) {
	if cert == "" && key == "" {
		return ln, nil
	}
	f := tlsconf.Files{Cert: cert, Key: key, CA: clientCA, ClientAuth: tlsconf.ClientAuthNone}
	if clientCA != "" {
		f.ClientAuth = tlsconf.ClientAuthRequire
	}
	cfg, err := tlsconf.Server(f, nil)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(ln, cfg), nil
}

// writeLocalTLS creates (or reuses) the local CA under dir/tls and a
// certificate per region and for the witness, valid for this machine's
// loopback names; it returns the CA certificate's path.
func writeLocalTLS(dir string, names ...string) (string, error) {
	ca, err := tlsconf.OpenCA(filepath.Join(dir, "tls"), "tandem local CA")
	if err != nil {
		return "", err
	}
	for _, n := range names {
		cert, key := filepath.Join(dir, "tls", n+".crt"), filepath.Join(dir, "tls", n+".key")
		if _, err := os.Stat(cert); err == nil {
			continue
		}
		if err := ca.Issue(tlsconf.Issue{Name: n, Hosts: tlsconf.LocalHosts}, cert, key); err != nil {
			return "", fmt.Errorf("tls: %s: %w", n, err)
		}
	}
	return ca.CertPath, nil
}

package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/tandemml/tandem"
)

// LocalHosts are the names a certificate for a region on this machine
// covers.
var LocalHosts = []string{"127.0.0.1", "::1", "localhost"}

// CA is a certificate authority whose key is on disk: the local CA of
// `tandem up --tls`, which signs one certificate per region.
type CA struct {
	CertPath string // PEM certificate: what clients trust (ca_file, REQUESTS_CA_BUNDLE)
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
}

// CA file names inside the folder given to OpenCA.
const (
	CACertFile = "ca.crt"
	caKeyFile  = "ca.key"
)

// OpenCA loads the CA in dir (ca.crt, ca.key), creating it with an ECDSA
// P-256 key valid for ten years when the folder holds none. The key file is
// written 0600.
func OpenCA(dir, name string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, caKeyFile)
	if pair, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if !ok || !pair.Leaf.IsCA {
			return nil, tandem.Errorf(tandem.EINVALID, "tls: %s is not a tandem CA", certPath)
		}
		return &CA{CertPath: certPath, cert: pair.Leaf, key: key}, nil
	} else if _, serr := os.Stat(certPath); !errors.Is(serr, os.ErrNotExist) {
		return nil, fmt.Errorf("tls: open CA: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tls: create CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls: create CA: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tls: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tls: create CA: %w", err)
	}
	if err := writePair(certPath, keyPath, der, key); err != nil {
		return nil, err
	}
	return &CA{CertPath: certPath, cert: cert, key: key}, nil
}

// Issue describes one certificate the CA signs.
type Issue struct {
	Name  string   // common name (the region's name)
	Hosts []string // DNS names and IP addresses (subject alternative names)
	// NotBefore and NotAfter bound its validity; zero: from an hour ago
	// for one year.
	NotBefore, NotAfter time.Time
}

// Issue signs a certificate for is, usable by a server and as a client
// certificate (a region is both on its peer links), and writes it and a new
// ECDSA P-256 key as certPath and keyPath (the key 0600).
func (ca *CA) Issue(is Issue, certPath, keyPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tls: issue %s: %w", is.Name, err)
	}
	now := time.Now()
	if is.NotBefore.IsZero() {
		is.NotBefore = now.Add(-time.Hour)
	}
	if is.NotAfter.IsZero() {
		is.NotAfter = now.AddDate(1, 0, 0)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: is.Name},
		NotBefore:    is.NotBefore,
		NotAfter:     is.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range is.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return fmt.Errorf("tls: issue %s: %w", is.Name, err)
	}
	return writePair(certPath, keyPath, der, key)
}

// writePair writes the certificate and key PEM files, each by rename so a
// Reloader never reads half a file.
func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := writeAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

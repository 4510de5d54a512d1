package tlsconf

import (
	"crypto/tls"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Reloader serves a certificate and key read from two PEM files, and reads
// them again when either file changes (its modification time or size), so
// replacing the files renews the certificate of every new connection
// without a restart. A replacement that does not load (a half-written pair,
// a key that does not match, an expired certificate) is logged and the
// previous certificate kept. Safe for concurrent use.
type Reloader struct {
	certPath, keyPath string
	log               *slog.Logger

	mu   sync.Mutex
	cert *tls.Certificate
	seen stamp // the files' state when last read (loaded or not)
}

// stamp is what Reloader compares to notice a changed file.
type stamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// NewReloader loads the pair once. EINVALID when it cannot be loaded or the
// certificate has expired or is not valid yet.
func NewReloader(certPath, keyPath string, log *slog.Logger) (*Reloader, error) {
	if certPath == "" {
		return nil, fileErr("cert", os.ErrNotExist)
	}
	if keyPath == "" {
		return nil, fileErr("key", os.ErrNotExist)
	}
	if log == nil {
		log = slog.Default()
	}
	r := &Reloader{certPath: certPath, keyPath: keyPath, log: log}
	st, err := r.stat()
	if err != nil {
		return nil, err
	}
	c, err := r.load(time.Now())
	if err != nil {
		return nil, err
	}
	r.cert, r.seen = c, st
	return r, nil
}

func (r *Reloader) stat() (stamp, error) {
	ci, err := os.Stat(r.certPath)
	if err != nil {
		return stamp{}, fileErr("cert", err)
	}
	ki, err := os.Stat(r.keyPath)
	if err != nil {
		return stamp{}, fileErr("key", err)
	}
	return stamp{certMod: ci.ModTime(), keyMod: ki.ModTime(), certSize: ci.Size(), keySize: ki.Size()}, nil
}

func (r *Reloader) load(now time.Time) (*tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(r.certPath, r.keyPath)
	if err != nil {
		return nil, fileErr("cert", err)
	}
	if err := checkValidity(r.certPath, c.Leaf, now); err != nil {
		return nil, err
	}
	return &c, nil
}

// Certificate returns the current certificate, reading the files again
// first when they changed since they were last read.
func (r *Reloader) Certificate() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := r.stat()
	if err != nil || st == r.seen {
		if err != nil && r.seen != (stamp{}) {
			r.log.Warn("tls: certificate files unreadable; serving the previous certificate", "cert", r.certPath, "err", err)
			r.seen = stamp{}
		}
		return r.cert
	}
	r.seen = st
	c, err := r.load(time.Now())
	if err != nil {
		r.log.Warn("tls: changed certificate files did not load; serving the previous certificate", "cert", r.certPath, "err", err)
		return r.cert
	}
	r.cert = c
	r.log.Info("tls: certificate reloaded", "cert", r.certPath, "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return r.cert
}

// GetCertificate is tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.Certificate(), nil
}

// GetClientCertificate is tls.Config.GetClientCertificate.
func (r *Reloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.Certificate(), nil
}

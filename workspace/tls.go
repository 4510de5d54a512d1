package workspace

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/tandemml/tandem/tlsconf"
)

// TLS in workspace.yaml. The top-level tls: applies to every region, the
// gateway (--workspace) and the CLI's peer-key commands; a region's own
// tls: overrides it field by field (typically its own cert and key):
//
//	tls:
//	  ca: tls/ca.crt                  # peers' certificates must chain to it
//	  client_auth: require_for_peers  # none (default) | request | require_for_peers | require
//	regions:
//	  - name: eastus
//	    url: https://east.example:5000
//	    tls: {cert: tls/eastus.crt, key: tls/eastus.key}
//
// cert and key are the region's certificate chain and key (PEM), served on
// its listener and presented as its client certificate on peer links (so
// the certificate should allow both server and client authentication); they
// are re-read when the files change. ca is the PEM bundle that peer servers
// and client certificates are verified against (empty: the system roots,
// and no client certificates). client_auth: none never asks for a client
// certificate; request verifies one when given; require_for_peers also
// refuses a peer request (one with the peer key, or a forwarded write)
// without a valid one; require refuses every connection without one.
// Relative paths are relative to the workspace file's folder. A region
// with an https url needs a cert, unless the workspace lists
// trusted_proxies (a proxy in front terminates TLS and the region serves
// plain HTTP on its listen address); one with a cert needs an https url.

type tlsFile struct {
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	CA         string `yaml:"ca"`
	ClientAuth string `yaml:"client_auth"`
}

func parseTLS(w *Workspace, f *file) error {
	top, err := tlsFiles("tls", f.TLS, tlsconf.Files{})
	if err != nil {
		return err
	}
	w.TLS = top
	for i := range w.Regions {
		field := fmt.Sprintf("regions[%d].tls", i)
		r, err := tlsFiles(field, f.Regions[i].TLS, top)
		if err != nil {
			return err
		}
		u, _ := url.Parse(w.Regions[i].URL)
		switch {
		case u.Scheme == "https" && !r.Enabled() && len(w.TrustedProxies) == 0:
			return invalid(field+".cert", "required for an https url (set tls.cert and tls.key at the top or under the region, or list the proxy that terminates TLS in trusted_proxies)")
		case !r.Enabled() && r.ClientAuth != tlsconf.ClientAuthNone:
			return invalid(field+".client_auth", "%s needs tls.cert (a plain HTTP region cannot ask for client certificates)", r.ClientAuth)
		case u.Scheme != "https" && r.Enabled():
			return invalid(fmt.Sprintf("regions[%d].url", i), "%q must be an https:// URL when the region has a tls.cert", w.Regions[i].URL)
		}
		w.Regions[i].TLS = r
	}
	return nil
}

// tlsFiles merges tf over base and validates the result.
func tlsFiles(field string, tf *tlsFile, base tlsconf.Files) (tlsconf.Files, error) {
	r := base
	if tf != nil {
		if tf.Cert != "" || tf.Key != "" {
			r.Cert, r.Key = tf.Cert, tf.Key
		}
		if tf.CA != "" {
			r.CA = tf.CA
		}
		if tf.ClientAuth != "" {
			r.ClientAuth = tlsconf.ClientAuth(tf.ClientAuth)
		}
	}
	if r.ClientAuth == "" {
		r.ClientAuth = tlsconf.ClientAuthNone
	}
	switch {
	case r.Cert != "" && r.Key == "":
		return r, invalid(field+".key", "required with cert (the certificate's private key)")
	case r.Key != "" && r.Cert == "":
		return r, invalid(field+".cert", "required with key")
	}
	known := false
	for _, c := range tlsconf.ClientAuths {
		known = known || c == r.ClientAuth
	}
	names := make([]string, len(tlsconf.ClientAuths))
	for i, c := range tlsconf.ClientAuths {
		names[i] = string(c)
	}
	if !known {
		return r, invalid(field+".client_auth", "%q must be one of %s", r.ClientAuth, strings.Join(names, ", "))
	}
	if r.ClientAuth != tlsconf.ClientAuthNone && r.CA == "" {
		return r, invalid(field+".ca", "required with client_auth %s (client certificates are verified against it)", r.ClientAuth)
	}
	return r, nil
}

// RegionTLS is the TLS of region name with paths resolved against the
// workspace file's folder (zero Files when the region serves plain HTTP).
func (w *Workspace) RegionTLS(name string) (tlsconf.Files, error) {
	r, err := w.Region(name)
	if err != nil {
		return tlsconf.Files{}, err
	}
	return w.resolveTLS(r.TLS), nil
}

// ClientTLS is the top-level tls: with paths resolved: what the gateway
// serves and what the CLI presents and trusts on peer-key requests.
func (w *Workspace) ClientTLS() tlsconf.Files { return w.resolveTLS(w.TLS) }

func (w *Workspace) resolveTLS(f tlsconf.Files) tlsconf.Files {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(w.dir, p)
	}
	f.Cert, f.Key, f.CA = abs(f.Cert), abs(f.Key), abs(f.CA)
	return f
}

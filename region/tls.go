package region

import (
	"crypto/subtle"
	"crypto/tls"
	"log/slog"
	"net/http"
	"strings"

	"github.com/tandemml/tandem/replication"
	"github.com/tandemml/tandem/tlsconf"
)

// openTLS builds the region's listener TLS (nil: plain HTTP) and its peer
// links' TLS client configuration (nil: Go's defaults) from the workspace
// file's tls: settings.
func openTLS(cfg Config, log *slog.Logger) (files tlsconf.Files, server, peer *tls.Config, err error) {
	if cfg.Workspace == nil {
		return files, nil, nil, nil
	}
	if files, err = cfg.Workspace.RegionTLS(cfg.Name); err != nil {
		return files, nil, nil, err
	}
	if files.Enabled() {
		if server, err = tlsconf.Server(files, log); err != nil {
			return files, nil, nil, err
		}
	}
	if files.Enabled() || files.CA != "" {
		if peer, err = tlsconf.Client(files, log); err != nil {
			return files, nil, nil, err
		}
	}
	return files, server, peer, nil
}

// requirePeerCerts wraps h when the region's client_auth is
// require_for_peers: a request that presents the peer key, or is a write
// forwarded by a secondary, needs a verified client certificate.
func requirePeerCerts(files tlsconf.Files, key []byte, h http.Handler) http.Handler {
	if files.ClientAuth != tlsconf.ClientAuthRequireForPeers {
		return h
	}
	token := []byte(replication.Token(key))
	return tlsconf.RequirePeerCert(func(r *http.Request) bool {
		if r.Header.Get(replication.HeaderForwarded) != "" {
			return true
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		return ok && len(key) > 0 && subtle.ConstantTimeCompare([]byte(got), token) == 1
	}, h)
}

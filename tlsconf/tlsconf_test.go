package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/tlsconf"
)

// pki is a CA in a temporary folder and helpers to issue from it.
type pki struct {
	dir string
	ca  *tlsconf.CA
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := tlsconf.OpenCA(filepath.Join(dir, "ca"), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	return &pki{dir: dir, ca: ca}
}

// issue writes name.crt/name.key and returns their paths.
func (p *pki) issue(t *testing.T, is tlsconf.Issue) (string, string) {
	t.Helper()
	if is.Hosts == nil {
		is.Hosts = tlsconf.LocalHosts
	}
	cert, key := filepath.Join(p.dir, is.Name+".crt"), filepath.Join(p.dir, is.Name+".key")
	if err := p.ca.Issue(is, cert, key); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// serve runs an HTTPS server with cfg on loopback; the handler answers
// the CN of the verified client certificate, or "anonymous".
func serve(t *testing.T, cfg *tls.Config, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(r.TLS.VerifiedChains) > 0 {
				io.WriteString(w, r.TLS.VerifiedChains[0][0].Subject.CommonName)
				return
			}
			io.WriteString(w, "anonymous")
		})
	}
	srv := &http.Server{Handler: h, TLSConfig: cfg, ErrorLog: nil}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return "https://" + ln.Addr().String()
}

// client is an HTTP client with cfg and no connection reuse, so every
// request is a new handshake.
func client(cfg *tls.Config) *http.Client {
	tr := tlsconf.Transport(cfg)
	tr.DisableKeepAlives = true
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func get(c *http.Client, u string, hdr ...string) (int, string, error) {
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestCAIssuesServerAndClientCertificates(t *testing.T) {
	p := newPKI(t)
	cert, key := p.issue(t, tlsconf.Issue{Name: "east"})
	srv, err := tlsconf.Server(tlsconf.Files{Cert: cert, Key: key, CA: p.ca.CertPath, ClientAuth: tlsconf.ClientAuthRequest}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := serve(t, srv, nil)
	wcert, wkey := p.issue(t, tlsconf.Issue{Name: "west"})
	cc, err := tlsconf.Client(tlsconf.Files{Cert: wcert, Key: wkey, CA: p.ca.CertPath}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{u, strings.Replace(u, "127.0.0.1", "localhost", 1)} {
		code, body, err := get(client(cc), host)
		if err != nil || code != 200 || body != "west" {
			t.Fatalf("%s with west's certificate: %d %q %v", host, code, body, err)
		}
	}
	// Without the CA the server's certificate is not trusted.
	if _, _, err := get(client(&tls.Config{}), u); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client without the CA: %v, want a certificate error", err)
	}
	// OpenCA again loads the same CA (tandem up reuses it).
	again, err := tlsconf.OpenCA(filepath.Dir(p.ca.CertPath), "test CA")
	if err != nil || again.CertPath != p.ca.CertPath {
		t.Fatalf("reopen: %v", err)
	}
	// TLS 1.1 is refused.
	old := &tls.Config{RootCAs: cc.RootCAs, MaxVersion: tls.VersionTLS11}
	if _, _, err := get(client(old), u); err == nil {
		t.Fatal("a TLS 1.1 client was served")
	}
	// TLS 1.3 is what two tandem endpoints speak.
	conn, err := tls.Dial("tcp", strings.TrimPrefix(u, "https://"), cc)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if v := conn.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("negotiated %x, want TLS 1.3", v)
	}
}

func TestExpiredCertificate(t *testing.T) {
	p := newPKI(t)
	past := time.Now().Add(-48 * time.Hour)
	cert, key := p.issue(t, tlsconf.Issue{Name: "old", NotBefore: past, NotAfter: past.Add(time.Hour)})
	// Loading it for a listener is refused, naming the file and the date.
	_, err := tlsconf.Server(tlsconf.Files{Cert: cert, Key: key}, nil)
	if tandem.ErrorCode(err) != tandem.EINVALID || !strings.Contains(tandem.ErrorMessage(err), "expired at") || !strings.Contains(tandem.ErrorMessage(err), cert) {
		t.Fatalf("expired listener certificate: %v", err)
	}
	// A server that presents one anyway: the client refuses the handshake
	// and says why.
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	u := serve(t, &tls.Config{Certificates: []tls.Certificate{pair}}, nil)
	cc, _ := tlsconf.Client(tlsconf.Files{CA: p.ca.CertPath}, nil)
	if _, _, err := get(client(cc), u); err == nil || !strings.Contains(err.Error(), "certificate has expired") {
		t.Fatalf("a server with an expired certificate: %v, want 'certificate has expired'", err)
	}
	// A peer presenting an expired client certificate is refused.
	good, gkey := p.issue(t, tlsconf.Issue{Name: "east"})
	srv, _ := tlsconf.Server(tlsconf.Files{Cert: good, Key: gkey, CA: p.ca.CertPath, ClientAuth: tlsconf.ClientAuthRequest}, nil)
	u = serve(t, srv, nil)
	expiredClient := &tls.Config{RootCAs: cc.RootCAs, Certificates: []tls.Certificate{pair}}
	if code, body, err := get(client(expiredClient), u); err == nil {
		t.Fatalf("an expired client certificate was accepted: %d %q", code, body)
	}
}

func TestRequirePeerCert(t *testing.T) {
	p := newPKI(t)
	cert, key := p.issue(t, tlsconf.Issue{Name: "east"})
	srv, err := tlsconf.Server(tlsconf.Files{Cert: cert, Key: key, CA: p.ca.CertPath, ClientAuth: tlsconf.ClientAuthRequireForPeers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	isPeer := func(r *http.Request) bool { return r.Header.Get("X-Peer") != "" }
	u := serve(t, srv, tlsconf.RequirePeerCert(isPeer, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})))
	anon, _ := tlsconf.Client(tlsconf.Files{CA: p.ca.CertPath}, nil)
	wcert, wkey := p.issue(t, tlsconf.Issue{Name: "west"})
	peer, _ := tlsconf.Client(tlsconf.Files{Cert: wcert, Key: wkey, CA: p.ca.CertPath}, nil)
	// A certificate from another CA does not count.
	other := newPKI(t)
	ocert, okey := other.issue(t, tlsconf.Issue{Name: "intruder"})
	opair, _ := tls.LoadX509KeyPair(ocert, okey)
	intruder := &tls.Config{RootCAs: anon.RootCAs, Certificates: []tls.Certificate{opair}}

	if code, _, err := get(client(anon), u); err != nil || code != 200 {
		t.Fatalf("an ordinary client without a certificate: %d %v", code, err)
	}
	code, body, err := get(client(anon), u, "X-Peer", "west")
	if err != nil || code != 401 || !strings.Contains(body, "UNAUTHENTICATED") || !strings.Contains(body, "client certificate") {
		t.Fatalf("a peer request without a certificate: %d %q %v", code, body, err)
	}
	if code, body, err := get(client(peer), u, "X-Peer", "west"); err != nil || code != 200 || body != "ok" {
		t.Fatalf("a peer request with the CA's certificate: %d %q %v", code, body, err)
	}
	if code, _, err := get(client(intruder), u, "X-Peer", "west"); err == nil && code == 200 {
		t.Fatal("a peer request with another CA's certificate was served")
	}
	// client_auth require: no certificate, no connection.
	req, _ := tlsconf.Server(tlsconf.Files{Cert: cert, Key: key, CA: p.ca.CertPath, ClientAuth: tlsconf.ClientAuthRequire}, nil)
	u = serve(t, req, nil)
	if _, _, err := get(client(anon), u); err == nil {
		t.Fatal("client_auth require served a client without a certificate")
	}
	if code, body, err := get(client(peer), u); err != nil || code != 200 || body != "west" {
		t.Fatalf("client_auth require with a certificate: %d %q %v", code, body, err)
	}
}

func TestReload(t *testing.T) {
	p := newPKI(t)
	cert, key := p.issue(t, tlsconf.Issue{Name: "east"})
	srv, err := tlsconf.Server(tlsconf.Files{Cert: cert, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := serve(t, srv, nil)
	cc, _ := tlsconf.Client(tlsconf.Files{CA: p.ca.CertPath}, nil)
	served := func() *x509.Certificate {
		t.Helper()
		conn, err := tls.Dial("tcp", strings.TrimPrefix(u, "https://"), cc)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	first := served()
	// Replace the files (as a renewal would): the next connection gets
	// the new certificate, without a restart.
	if err := p.ca.Issue(tlsconf.Issue{Name: "east-renewed", Hosts: tlsconf.LocalHosts}, cert, key); err != nil {
		t.Fatal(err)
	}
	second := served()
	if second.Subject.CommonName != "east-renewed" || second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatalf("after replacing the files the server presents %s (serial %s), want east-renewed", second.Subject.CommonName, second.SerialNumber)
	}
	// A broken replacement (a key that is not the certificate's) is not
	// served: the previous certificate stays.
	other := filepath.Join(p.dir, "x.crt")
	if err := p.ca.Issue(tlsconf.Issue{Name: "mismatch", Hosts: tlsconf.LocalHosts}, other, key); err != nil {
		t.Fatal(err)
	}
	if got := served(); got.SerialNumber.Cmp(second.SerialNumber) != 0 {
		t.Fatalf("a mismatched key pair replaced the served certificate: %s", got.Subject.CommonName)
	}
}

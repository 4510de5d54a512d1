package oidc_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/oidc"
)

// issuer is an issuer whose signing key the test holds: tokens made with
// go-jose for the cases a real provider will not issue on demand (expired,
// not yet valid, unknown key id).
type issuer struct {
	URL       string
	key       *ecdsa.PrivateKey
	kid       string
	jwksCalls atomic.Int64
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key, kid: "k1"}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	is.URL = srv.URL
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": is.URL, "jwks_uri": is.URL + "/keys",
			"authorization_endpoint": is.URL + "/auth", "token_endpoint": is.URL + "/token",
			"id_token_signing_alg_values_supported": []string{"ES256"}})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		is.jwksCalls.Add(1)
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: is.kid, Algorithm: "ES256", Use: "sig"}}})
	})
	return is
}

func (is *issuer) sign(t testing.TB, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: is.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func (is *issuer) claims(d time.Duration) map[string]any {
	now := time.Now()
	return map[string]any{"iss": is.URL, "aud": "tandem", "sub": "u-1", "iat": now.Unix(), "exp": now.Add(d).Unix(), "groups": "solo"}
}

func TestSelfSignedClaims(t *testing.T) {
	is := newIssuer(t)
	v, err := oidc.New(ctx(t), oidc.Config{Issuer: is.URL, Audience: "tandem"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := v.VerifyToken(ctx(t), is.sign(t, "k1", is.claims(time.Hour)))
	if err != nil || id.Subject != "u-1" || len(id.Groups) != 1 || id.Groups[0] != "solo" {
		t.Fatalf("valid token: %+v %v", id, err)
	}
	// Within the leeway: expired 5 s ago still passes.
	if _, err := v.VerifyToken(ctx(t), is.sign(t, "k1", is.claims(-5*time.Second))); err != nil {
		t.Errorf("expired within the leeway: %v", err)
	}
	expectRefused := func(name, raw, why string) {
		t.Helper()
		_, err := v.VerifyToken(ctx(t), raw)
		if tandem.ErrorCode(err) != tandem.EUNAUTHORIZED || !strings.Contains(tandem.ErrorMessage(err), why) {
			t.Errorf("%s: got %v, want EUNAUTHORIZED saying %q", name, err, why)
		}
	}
	expectRefused("expired", is.sign(t, "k1", is.claims(-oidc.Leeway-time.Minute)), "expired")
	nbf := is.claims(time.Hour)
	nbf["nbf"] = time.Now().Add(oidc.Leeway + time.Minute).Unix()
	expectRefused("not yet valid", is.sign(t, "k1", nbf), "not valid before")
	noSub := is.claims(time.Hour)
	delete(noSub, "sub")
	expectRefused("no subject", is.sign(t, "k1", noSub), "")
	badGroups := is.claims(time.Hour)
	badGroups["groups"] = 7
	expectRefused("groups not strings", is.sign(t, "k1", badGroups), "groups")

	// An unknown key id refetches the keys, but at most once per
	// RefetchEvery: a burst of them costs one request.
	before := is.jwksCalls.Load()
	for range 5 {
		expectRefused("unknown kid", is.sign(t, "nope", is.claims(time.Hour)), "signature")
	}
	if n := is.jwksCalls.Load() - before; n > 1 {
		t.Errorf("%d key fetches for 5 unknown key ids, want at most 1", n)
	}
}

// FuzzVerifyToken: no input makes VerifyToken panic or accept a token the
// issuer did not sign; every refusal is EUNAUTHORIZED.
func FuzzVerifyToken(f *testing.F) {
	is := newIssuer(f)
	v, err := oidc.New(f.Context(), oidc.Config{Issuer: is.URL, Audience: "tandem"})
	if err != nil {
		f.Fatal(err)
	}
	good := is.sign(f, "k1", is.claims(time.Hour))
	for _, s := range []string{"", ".", "..", "a.b.c", good, good + "x", strings.Replace(good, ".", "..", 1),
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", strings.Repeat("a", oidc.MaxTokenBytes+1)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		id, err := v.VerifyToken(t.Context(), raw)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
				t.Fatalf("refusal with code %s: %v", tandem.ErrorCode(err), err)
			}
			return
		}
		if id.Subject != "u-1" || id.Issuer != is.URL {
			t.Fatalf("accepted %q as %+v", raw, id)
		}
	})
}

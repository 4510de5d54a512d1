// Package oidc verifies JSON Web Tokens issued by an OpenID Connect
// provider (the issuer named in workspace.yaml) and returns what they
// assert as a tandem.ExternalIdentity. It implements tandem.TokenVerifier.
//
// New fetches the issuer's discovery document once; the signing keys (JWKS)
// are fetched then and again when a token names a key id the cached set
// does not hold, at most once per RefetchEvery, so a stream of tokens with
// made-up key ids cannot turn into a stream of requests to the provider.
// Signatures are checked by github.com/coreos/go-oidc (go-jose), with the
// algorithms the provider advertises; iss, aud, exp and nbf are checked
// with a leeway of Leeway for clock skew.
//
// Every refusal is EUNAUTHORIZED with a message that never contains the
// token, and nothing here logs it.
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/tandemml/tandem"
)

// Leeway is the clock skew tolerated on exp and nbf.
const Leeway = 30 * time.Second

// RefetchEvery bounds how often an unknown key id makes the verifier fetch
// the provider's keys again.
const RefetchEvery = 30 * time.Second

// MaxTokenBytes is the longest token VerifyToken looks at.
const MaxTokenBytes = 16 << 10

// Config names the provider.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as its tokens' iss
	// claim and its discovery document say it
	// (Issuer + "/.well-known/openid-configuration").
	Issuer string
	// Audience is the client id tokens must be issued for (their aud).
	Audience string
	// GroupsClaim names the claim that lists the subject's groups (a
	// string array or one string); empty: "groups".
	GroupsClaim string
	// HTTPClient fetches the discovery document and keys; nil:
	// http.DefaultClient.
	HTTPClient *http.Client
}

// Verifier checks tokens of one issuer for one audience. Safe for
// concurrent use.
type Verifier struct {
	cfg      Config
	verifier *gooidc.IDTokenVerifier
}

var _ tandem.TokenVerifier = (*Verifier)(nil)

// New fetches the issuer's discovery document and keys. EINVALID for a
// configuration without issuer or audience, EUNAVAILABLE when the provider
// cannot be reached or its discovery document is not for Issuer.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "oidc: issuer is required")
	}
	if cfg.Audience == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "oidc: audience is required (the client id tokens are issued for)")
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	pctx := gooidc.ClientContext(ctx, cfg.HTTPClient)
	p, err := gooidc.NewProvider(pctx, cfg.Issuer)
	if err != nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "oidc: discovery of %s: %v", cfg.Issuer, err)
	}
	var disc struct {
		JWKSURL string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&disc); err != nil || disc.JWKSURL == "" {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "oidc: the discovery document of %s names no jwks_uri", cfg.Issuer)
	}
	ks := newKeySet(disc.JWKSURL, cfg.HTTPClient)
	if err := ks.refresh(ctx, time.Now()); err != nil {
		return nil, tandem.Errorf(tandem.EUNAVAILABLE, "oidc: keys of %s: %v", cfg.Issuer, err)
	}
	v := gooidc.NewVerifier(cfg.Issuer, ks, &gooidc.Config{
		ClientID:             cfg.Audience,
		SupportedSigningAlgs: disc.Algs,
		// exp is checked against a clock Leeway behind: a token expired
		// less than Leeway ago still passes (nbf: see VerifyToken).
		Now: func() time.Time { return time.Now().Add(-Leeway) },
	})
	return &Verifier{cfg: cfg, verifier: v}, nil
}

// VerifyToken checks raw (a compact JWS, as sent after "Bearer ") and
// returns the identity it asserts. EUNAUTHORIZED for any token it does not
// accept.
func (v *Verifier) VerifyToken(ctx context.Context, raw string) (tandem.ExternalIdentity, error) {
	if raw == "" || len(raw) > MaxTokenBytes || strings.Count(raw, ".") != 2 {
		return tandem.ExternalIdentity{}, refuse("not a JSON Web Token")
	}
	tok, err := v.verifier.Verify(ctx, raw)
	if err != nil {
		var exp *gooidc.TokenExpiredError
		if errors.As(err, &exp) {
			return tandem.ExternalIdentity{}, refuse("token expired at %s", exp.Expiry.UTC().Format(time.RFC3339))
		}
		return tandem.ExternalIdentity{}, refuse("%s", describe(err))
	}
	var claims map[string]json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return tandem.ExternalIdentity{}, refuse("unreadable claims")
	}
	if nbf, ok := claims["nbf"]; ok {
		var n float64
		if err := json.Unmarshal(nbf, &n); err != nil {
			return tandem.ExternalIdentity{}, refuse("nbf is not a number")
		}
		if t := time.Unix(int64(n), 0); time.Now().Add(Leeway).Before(t) {
			return tandem.ExternalIdentity{}, refuse("token not valid before %s", t.UTC().Format(time.RFC3339))
		}
	}
	if tok.Subject == "" {
		return tandem.ExternalIdentity{}, refuse("token has no subject (sub)")
	}
	groups, err := groupsOf(claims[v.cfg.GroupsClaim])
	if err != nil {
		return tandem.ExternalIdentity{}, refuse("claim %s: %v", v.cfg.GroupsClaim, err)
	}
	return tandem.ExternalIdentity{Issuer: tok.Issuer, Subject: tok.Subject, Groups: groups, Expires: tok.Expiry}, nil
}

// groupsOf reads a groups claim: absent, one string or an array of strings.
func groupsOf(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, errors.New("must be a string or an array of strings")
	}
	return many, nil
}

// describe shortens go-oidc's reasons to what a client may read; none of
// them holds the token.
func describe(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "different provider"):
		return "token issued by another issuer"
	case strings.Contains(msg, "expected audience"):
		return "token issued for another audience"
	case strings.Contains(msg, "signature"), strings.Contains(msg, "unknown key"):
		return "token signature does not verify with the issuer's keys"
	case strings.Contains(msg, "malformed"), strings.Contains(msg, "unmarshal"):
		return "malformed token"
	case strings.Contains(msg, "signing algorithm"), strings.Contains(msg, "unexpected signature algorithm"):
		return "token signed with an algorithm the issuer does not use"
	}
	return "token not accepted"
}

func refuse(format string, args ...any) error {
	return tandem.Errorf(tandem.EUNAUTHORIZED, "OpenID Connect token refused: %s", fmt.Sprintf(format, args...))
}

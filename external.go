package tandem

import (
	"context"
	"time"
)

// ExternalIdentity is what an external identity provider (OpenID Connect)
// asserts about the bearer of a token it issued: who (Issuer, Subject), in
// which groups, and until when.
type ExternalIdentity struct {
	Issuer  string
	Subject string
	Groups  []string
	Expires time.Time
}

// TokenVerifier checks a bearer token that tandem did not issue (a JWT from
// the OpenID Connect issuer named in workspace.yaml): signature against the
// issuer's keys, issuer, audience, exp and nbf. It returns EUNAUTHORIZED for
// any token it does not accept, and never logs the token. Implemented by
// package oidc; the auth middleware maps the identity to a principal.
type TokenVerifier interface {
	VerifyToken(ctx context.Context, raw string) (ExternalIdentity, error)
}

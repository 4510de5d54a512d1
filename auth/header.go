package auth

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"github.com/tandemml/tandem"
)

// Credentials are what an Authorization header presents.
type Credentials struct {
	Scheme   string // "bearer" or "basic"; "" when the header is absent
	Token    string // bearer
	User     string // basic
	Password string // basic
}

// MaxHeaderBytes bounds the Authorization header tandem reads.
const MaxHeaderBytes = 8 << 10

// ParseAuthorization parses an Authorization header value: "Bearer TOKEN"
// or "Basic base64(user:password)" (schemes case-insensitive, RFC 7235).
// An empty value is no credentials; anything else malformed is an
// EUNAUTHORIZED error whose message never repeats the value.
func ParseAuthorization(h string) (Credentials, error) {
	if h == "" {
		return Credentials{}, nil
	}
	bad := func(why string) (Credentials, error) {
		return Credentials{}, tandem.Errorf(tandem.EUNAUTHORIZED, "malformed Authorization header: %s", why)
	}
	if len(h) > MaxHeaderBytes {
		return bad("too long")
	}
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok {
		return bad("expected \"Bearer TOKEN\" or \"Basic CREDENTIALS\"")
	}
	rest = strings.TrimLeft(rest, " ")
	if rest == "" || strings.ContainsAny(rest, " \t\r\n") {
		return bad("expected one credential after the scheme")
	}
	switch strings.ToLower(scheme) {
	case "bearer":
		if !printableASCII(rest) {
			return bad("the token has characters a token cannot have")
		}
		return Credentials{Scheme: "bearer", Token: rest}, nil
	case "basic":
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return bad("basic credentials are not base64")
		}
		user, pw, ok := strings.Cut(string(b), ":")
		if !ok || user == "" || !utf8.ValidString(user) || !utf8.ValidString(pw) || strings.ContainsAny(user, "\x00\r\n") {
			return bad("basic credentials must be user:password")
		}
		return Credentials{Scheme: "basic", User: user, Password: pw}, nil
	}
	return bad("unsupported scheme (use Bearer or Basic)")
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/tandemml/tandem"
	"golang.org/x/crypto/bcrypt"
)

// TokenPrefix starts every token tandem issues: "tdm_<id>_<secret>". The
// id (16 hex digits) is public and finds the stored hash; the secret is 32
// random bytes (base64url).
const TokenPrefix = "tdm_"

// NewToken issues a token for principalID: the string to show once, and
// the record to store.
//
// Why SHA-256 and not a password KDF: a token's secret is 256 bits from
// crypto/rand, so nobody can guess it from its hash however fast the hash
// is; slow KDFs exist to protect low-entropy human passwords. A per-token
// random salt still makes every stored hash unique. Verifying costs one
// SHA-256, which keeps authentication off the request's critical path.
func NewToken(principalID, description string, ttl time.Duration, now time.Time) (string, *tandem.Token, error) {
	var id [8]byte
	var secret [32]byte
	salt := make([]byte, 16)
	for _, b := range [][]byte{id[:], secret[:], salt} {
		if _, err := rand.Read(b); err != nil {
			return "", nil, err
		}
	}
	s := base64.RawURLEncoding.EncodeToString(secret[:])
	t := &tandem.Token{ID: hex.EncodeToString(id[:]), PrincipalID: principalID, Description: description,
		CreatedMS: now.UnixMilli(), Salt: salt, Hash: hashSecret(salt, s)}
	if ttl > 0 {
		t.ExpiresMS = now.Add(ttl).UnixMilli()
	}
	return TokenPrefix + t.ID + "_" + s, t, nil
}

// TokenFrom builds the stored record of a token string chosen elsewhere
// (a bootstrap token from the environment). The string must have tandem's
// token form.
func TokenFrom(raw, principalID, description string, now time.Time) (*tandem.Token, error) {
	id, secret, ok := SplitToken(raw)
	if !ok {
		return nil, tandem.Errorf(tandem.EINVALID, "a tandem token has the form %s<16 hex digits>_<43 base64url characters>", TokenPrefix)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	return &tandem.Token{ID: id, PrincipalID: principalID, Description: description, CreatedMS: now.UnixMilli(),
		Salt: salt, Hash: hashSecret(salt, secret)}, nil
}

// SplitToken splits a token string into its id and secret; ok is false
// for anything not shaped like a tandem token.
func SplitToken(raw string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(raw, TokenPrefix)
	if !ok || len(rest) != 16+1+43 || rest[16] != '_' {
		return "", "", false
	}
	id, secret = rest[:16], rest[17:]
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return "", "", false
	}
	if b, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(b) != 32 {
		return "", "", false
	}
	return id, secret, true
}

// VerifySecret reports, in constant time, whether secret is t's.
func VerifySecret(t *tandem.Token, secret string) bool {
	return subtle.ConstantTimeCompare(hashSecret(t.Salt, secret), t.Hash) == 1
}

func hashSecret(salt []byte, secret string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(secret))
	return h.Sum(nil)
}

// PasswordCost is bcrypt's work factor for user passwords (its default).
const PasswordCost = bcrypt.DefaultCost

// HashPassword hashes a user's password with bcrypt (a salted, slow KDF:
// passwords are chosen by people and guessable). EINVALID for passwords
// bcrypt cannot take (over 72 bytes) or shorter than 8.
func HashPassword(pw string) ([]byte, error) {
	if len(pw) < 8 || len(pw) > 72 {
		return nil, tandem.Errorf(tandem.EINVALID, "a password has 8 to 72 bytes")
	}
	return bcrypt.GenerateFromPassword([]byte(pw), PasswordCost)
}

// CheckPassword reports whether pw matches hash (bcrypt compares in
// constant time).
func CheckPassword(hash []byte, pw string) bool {
	return len(hash) > 0 && bcrypt.CompareHashAndPassword(hash, []byte(pw)) == nil
}

package oidc_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/oidc"
)

func TestDexToken(t *testing.T) {
	d := startDex(t)
	v, err := oidc.New(ctx(t), oidc.Config{Issuer: d.Issuer, Audience: "tandem"})
	if err != nil {
		t.Fatal(err)
	}
	tk := d.login(t, "tandem", "tandem-secret")
	id, err := v.VerifyToken(ctx(t), tk.IDToken)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if want := d.userinfoSubject(t, tk.AccessToken); id.Subject != want {
		t.Errorf("subject %q, userinfo says %q", id.Subject, want)
	}
	if id.Issuer != d.Issuer {
		t.Errorf("issuer %q, want %q", id.Issuer, d.Issuer)
	}
	if !slices.Equal(id.Groups, dexGroups) {
		t.Errorf("groups %v, want %v", id.Groups, dexGroups)
	}
	if id.Expires.IsZero() {
		t.Error("no expiry")
	}

	refused := func(name, raw, why string) {
		t.Helper()
		_, err := v.VerifyToken(ctx(t), raw)
		if tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
			t.Fatalf("%s: got %v, want EUNAUTHORIZED", name, err)
		}
		msg := tandem.ErrorMessage(err)
		if !strings.Contains(msg, why) {
			t.Errorf("%s: message %q does not say %q", name, msg, why)
		}
		if raw != "" && strings.Contains(err.Error(), raw) {
			t.Errorf("%s: the error holds the token", name)
		}
	}
	// Another audience: a token Dex issued to its other client.
	refused("other audience", d.login(t, "other", "other-secret").IDToken, "another audience")
	// Another issuer: a second Dex with the same client and user.
	d2 := startDex(t)
	refused("other issuer", d2.login(t, "tandem", "tandem-secret").IDToken, "")
	// A bad signature: the token with its signature's bytes changed.
	parts := strings.Split(tk.IDToken, ".")
	sig := []byte(parts[2])
	// Another base64url letter in the middle (flipping a bit could make
	// '-' or '_' a character base64url has not, a malformed token).
	if sig[len(sig)/2] == 'A' {
		sig[len(sig)/2] = 'B'
	} else {
		sig[len(sig)/2] = 'A'
	}
	refused("bad signature", parts[0]+"."+parts[1]+"."+string(sig), "signature")
	// A payload changed under the original signature.
	refused("changed payload", parts[0]+"."+parts[1]+"x."+parts[2], "")
	refused("empty", "", "not a JSON Web Token")
	refused("garbage", "a.b.c", "malformed")
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []oidc.Config{{Audience: "a"}, {Issuer: "http://127.0.0.1:1/x"}} {
		if _, err := oidc.New(ctx(t), cfg); tandem.ErrorCode(err) != tandem.EINVALID {
			t.Errorf("%+v: got %v, want EINVALID", cfg, err)
		}
	}
	// Nothing listens on port 1: the provider is unreachable.
	if _, err := oidc.New(ctx(t), oidc.Config{Issuer: "http://127.0.0.1:1/x", Audience: "a"}); tandem.ErrorCode(err) != tandem.EUNAVAILABLE {
		t.Errorf("unreachable issuer: got %v, want EUNAVAILABLE", err)
	}
}

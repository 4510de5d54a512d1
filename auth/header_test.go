package auth

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/tandemml/tandem"
)

func TestParseAuthorization(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, c := range []struct {
		in   string
		want Credentials
		err  bool
	}{
		{"", Credentials{}, false},
		{"Bearer abc.def", Credentials{Scheme: "bearer", Token: "abc.def"}, false},
		{"bearer  abc", Credentials{Scheme: "bearer", Token: "abc"}, false},
		{"Basic " + b64("alice:pa:ss"), Credentials{Scheme: "basic", User: "alice", Password: "pa:ss"}, false},
		{"Basic " + b64("alice:"), Credentials{Scheme: "basic", User: "alice"}, false},
		{"Bearer", Credentials{}, true},
		{"Bearer ", Credentials{}, true},
		{"Bearer a b", Credentials{}, true},
		{"Bearer \x01", Credentials{}, true},
		{"Basic !!!", Credentials{}, true},
		{"Basic " + b64("nocolon"), Credentials{}, true},
		{"Basic " + b64(":pw"), Credentials{}, true},
		{"Digest x", Credentials{}, true},
		{"Bearer " + strings.Repeat("a", MaxHeaderBytes), Credentials{}, true},
	} {
		got, err := ParseAuthorization(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseAuthorization(%q) = %+v, %v", c.in, got, err)
		}
		if err != nil && (tandem.ErrorCode(err) != tandem.EUNAUTHORIZED || (len(c.in) > 7 && strings.Contains(err.Error(), c.in[7:]))) {
			t.Errorf("error %v: want EUNAUTHORIZED without the value", err)
		}
	}
}

func TestTokens(t *testing.T) {
	raw, tok, err := NewToken("p1", "ci", time.Hour, time.UnixMilli(1000))
	if err != nil {
		t.Fatal(err)
	}
	id, secret, ok := SplitToken(raw)
	if !ok || id != tok.ID || !VerifySecret(tok, secret) || VerifySecret(tok, secret[:42]+"A") && secret[42] != 'A' {
		t.Fatalf("token %q does not verify", raw)
	}
	if strings.Contains(string(tok.Hash), secret) || tok.ExpiresMS != 1000+3600000 {
		t.Fatalf("token record %+v", tok)
	}
	if !tok.Usable(time.UnixMilli(2000)) || tok.Usable(time.UnixMilli(1000+3600000)) {
		t.Fatal("expiry")
	}
	other, err := TokenFrom(raw, "p1", "", time.Now())
	if err != nil || !VerifySecret(other, secret) || string(other.Salt) == string(tok.Salt) {
		t.Fatalf("TokenFrom: %v", err)
	}
	for _, bad := range []string{"", "tdm_", raw + "x", strings.ToUpper(raw), "tdm_zzzzzzzzzzzzzzzz_" + secret, raw[:20] + "." + raw[21:]} {
		if _, _, ok := SplitToken(bad); ok {
			t.Errorf("SplitToken(%q) accepted", bad)
		}
	}
	if _, err := HashPassword("short"); tandem.ErrorCode(err) != tandem.EINVALID {
		t.Fatal("short password accepted")
	}
	h, err := HashPassword("correct horse")
	if err != nil || !CheckPassword(h, "correct horse") || CheckPassword(h, "correct horsf") || CheckPassword(nil, "") {
		t.Fatal("password check")
	}
}

// FuzzParseAuthorization: never panics; accepted credentials round-trip
// the header's shape.
func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"", "Bearer x", "Basic YTpi", "Basic !!", "bearer tdm_0123456789abcdef_" + strings.Repeat("A", 43), "Negotiate x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		c, err := ParseAuthorization(h)
		if err != nil {
			if tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
				t.Fatalf("code %v", err)
			}
			return
		}
		switch c.Scheme {
		case "":
			if h != "" {
				t.Fatalf("%q parsed as empty", h)
			}
		case "bearer":
			if c.Token == "" || strings.ContainsAny(c.Token, " \t") {
				t.Fatalf("token %q", c.Token)
			}
		case "basic":
			if c.User == "" || strings.Contains(c.User, ":") {
				t.Fatalf("user %q", c.User)
			}
		default:
			t.Fatalf("scheme %q", c.Scheme)
		}
	})
}

// FuzzSplitToken: never panics; what it accepts has tandem's token form.
func FuzzSplitToken(f *testing.F) {
	f.Add("tdm_0123456789abcdef_" + strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, s string) {
		id, secret, ok := SplitToken(s)
		if ok && (s != TokenPrefix+id+"_"+secret || len(id) != 16) {
			t.Fatalf("accepted %q", s)
		}
	})
}

package workspace

import (
	"net/url"
)

// Auth is the workspace's identity and access settings (auth: in
// workspace.yaml). Authentication is on unless Mode is "off".
type Auth struct {
	Mode string // "on" (default) or "off": the explicit switch for a laptop
	OIDC *OIDC  // nil: only tandem's own tokens and passwords
}

// Off reports whether authentication is switched off.
func (a Auth) Off() bool { return a.Mode == "off" }

// OIDC names an OpenID Connect issuer whose JWTs tandem accepts.
type OIDC struct {
	Issuer      string
	Audience    string
	GroupsClaim string // claim holding the caller's groups ("" : groups)
}

type authFile struct {
	Mode string    `yaml:"mode"`
	OIDC *oidcFile `yaml:"oidc"`
}

type oidcFile struct {
	Issuer      string `yaml:"issuer"`
	Audience    string `yaml:"audience"`
	GroupsClaim string `yaml:"groups_claim"`
}

func parseAuth(f *authFile) (Auth, error) {
	a := Auth{Mode: "on"}
	if f == nil {
		return a, nil
	}
	switch f.Mode {
	case "", "on":
	case "off":
		a.Mode = "off"
	default:
		return a, invalid("auth.mode", "%q must be on or off", f.Mode)
	}
	if o := f.OIDC; o != nil {
		u, err := url.Parse(o.Issuer)
		if o.Issuer == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return a, invalid("auth.oidc.issuer", "required: the issuer's http(s) URL")
		}
		if o.Audience == "" {
			return a, invalid("auth.oidc.audience", "required: the audience (client id) tokens are issued for")
		}
		a.OIDC = &OIDC{Issuer: o.Issuer, Audience: o.Audience, GroupsClaim: o.GroupsClaim}
		if a.OIDC.GroupsClaim == "" {
			a.OIDC.GroupsClaim = "groups"
		}
	}
	return a, nil
}

package region

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/replication"
)

// AuthConfig turns on authentication and authorisation (package auth).
type AuthConfig struct {
	// BootstrapToken, when set and the workspace has no principal yet,
	// creates the service principal "bootstrap" with this token (tandem's
	// token form, see auth.NewToken) and the Owner role, on the primary.
	BootstrapToken string
	// Verifier accepts OpenID Connect JWTs (nil: off). cmd/tandem builds it
	// from workspace.yaml's auth.oidc.
	Verifier tandem.TokenVerifier
	// AuditPath is the region's audit log (JSON lines); "" : none.
	AuditPath string
}

// BootstrapPrincipal is the service principal a bootstrap token creates.
const BootstrapPrincipal = "bootstrap"

// guard wraps h with authentication when cfg.Auth is set.
func (r *Region) guard(h http.Handler, key []byte) (http.Handler, error) {
	if r.cfg.Auth == nil {
		auth.OffAPI(r.mux)
		return h, nil
	}
	ac := auth.Config{Identity: r.Identity, Resolver: r.Identity, Verifier: r.cfg.Auth.Verifier,
		Region: r.cfg.Name, Log: r.log, Metrics: r.Metrics}
	if len(key) > 0 {
		ac.PeerToken = replication.Token(key)
	}
	if p := r.cfg.Auth.AuditPath; p != "" {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		r.audit = f
		ac.Audit = f
	}
	r.Auth = auth.New(ac)
	r.Auth.API(r.mux, r.cfg.Auth.AuditPath)
	return r.Auth.Wrap(h), nil
}

// Bootstrap creates the bootstrap owner from cfg.Auth.BootstrapToken when
// the workspace has no principal yet. Only a primary can; elsewhere it is
// a no-op.
func (r *Region) bootstrapOwner(ctx context.Context) error {
	if r.Identity == nil || r.cfg.Auth.BootstrapToken == "" || r.Roles.Current().Role != tandem.RolePrimary {
		return nil
	}
	ps, err := r.Identity.Principals(ctx)
	if err != nil || len(ps) > 0 {
		return err
	}
	return CreateOwner(ctx, r.Identity, BootstrapPrincipal, tandem.PrincipalService, r.cfg.Auth.BootstrapToken)
}

// CreateOwner creates a principal holding token with the Owner role at
// workspace scope.
func CreateOwner(ctx context.Context, id tandem.Identity, name string, kind tandem.PrincipalKind, token string) error {
	p, err := id.CreatePrincipal(ctx, &tandem.Principal{Name: name, Kind: kind}, nil)
	if err != nil {
		return err
	}
	t, err := auth.TokenFrom(token, p.ID, "bootstrap owner", time.Now())
	if err != nil {
		return err
	}
	if err := id.CreateToken(ctx, t); err != nil {
		return err
	}
	_, err = id.CreateAssignment(ctx, &tandem.RoleAssignment{Role: tandem.RoleOwner, Assignee: name, Scope: tandem.ScopeWorkspace})
	return err
}

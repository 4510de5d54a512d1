package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/auth"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/oidc"
	"github.com/tandemml/tandem/region"
)

// Time bounds of the OpenID Connect issuer's requests: the discovery at
// start, and each fetch of its keys (an unknown key id waits on one).
const (
	oidcDiscoveryTimeout = 30 * time.Second
	oidcRequestTimeout   = 10 * time.Second
)

// authFlags are tandem server's identity flags.
type authFlags struct {
	noAuth    bool
	tokenFile string
}

func (f *authFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.noAuth, "no-auth", os.Getenv("TANDEM_NO_AUTH") == "1",
		"serve without authentication: anyone who reaches the port may do anything (a laptop only; TANDEM_NO_AUTH=1)")
	cmd.Flags().StringVar(&f.tokenFile, "bootstrap-token-file", os.Getenv("TANDEM_BOOTSTRAP_TOKEN_FILE"),
		"file holding the first owner's token (a fresh workspace only; TANDEM_BOOTSTRAP_TOKEN holds it directly)")
}

// authConfig is the region's auth configuration from the flags and the
// workspace file (nil: off). The OpenID Connect verifier is wired here:
// with auth.oidc, the issuer's discovery document and keys are fetched
// now (a region does not start on an issuer it cannot reach).
func (f *authFlags) authConfig(ctx context.Context, cfg *region.Config) (*region.AuthConfig, error) {
	if f.noAuth || (cfg.Workspace != nil && cfg.Workspace.Auth.Off()) {
		return nil, nil
	}
	ac := &region.AuthConfig{BootstrapToken: os.Getenv("TANDEM_BOOTSTRAP_TOKEN"), AuditPath: filepath.Join(dataDir(cfg.MetadataURL), cfg.Name+".audit.jsonl")}
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("bootstrap token: %w", err)
		}
		ac.BootstrapToken = strings.TrimSpace(string(b))
	}
	if ac.BootstrapToken != "" {
		if _, _, ok := auth.SplitToken(ac.BootstrapToken); !ok {
			return nil, tandem.Errorf(tandem.EINVALID, "the bootstrap token does not have tandem's token form (%s<16 hex>_<43 base64url>): make one with tandem server's generated file or `tandem up`", auth.TokenPrefix)
		}
	}
	if cfg.Workspace != nil && cfg.Workspace.Auth.OIDC != nil {
		o := cfg.Workspace.Auth.OIDC
		dctx, cancel := context.WithTimeout(ctx, oidcDiscoveryTimeout)
		defer cancel()
		v, err := oidc.New(dctx, oidc.Config{Issuer: o.Issuer, Audience: o.Audience, GroupsClaim: o.GroupsClaim,
			HTTPClient: &http.Client{Timeout: oidcRequestTimeout}})
		if err != nil {
			return nil, fmt.Errorf("auth.oidc: %w", err)
		}
		ac.Verifier = v
	}
	return ac, nil
}

// dataDir is the folder beside a region's data: the SQLite file's folder,
// or the current folder for PostgreSQL.
func dataDir(metadataURL string) string {
	u, err := url.Parse(metadataURL)
	if err != nil || !strings.HasPrefix(u.Scheme, "sqlite") {
		return "."
	}
	p := u.Path
	if u.Host != "" {
		p = filepath.Join(u.Host, p)
	}
	return filepath.Dir(p)
}

// bootstrapGenerated gives a fresh single region an owner when no
// bootstrap token was given: a generated token written to a 0600 file
// beside the data, whose path (never the token) is printed.
func bootstrapGenerated(ctx context.Context, r *region.Region, cfg region.Config, out io.Writer) error {
	if r.Identity == nil || r.Roles.Current().Role != tandem.RolePrimary {
		return nil
	}
	ps, err := r.Identity.Principals(ctx)
	if err != nil || len(ps) > 0 {
		return err
	}
	tok, _, err := auth.NewToken("", "", 0, time.Now())
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir(cfg.MetadataURL), cfg.Name+".owner-token")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return err
	}
	if err := region.CreateOwner(ctx, r.Identity, region.BootstrapPrincipal, tandem.PrincipalService, tok); err != nil {
		return err
	}
	abs, _ := filepath.Abs(path)
	fmt.Fprintf(out, "authentication is on: the owner's token is in %s (mode 0600).\nUse it: export MLFLOW_TRACKING_TOKEN=$(cat %s) TANDEM_TOKEN=$(cat %s)\n", abs, abs, abs)
	return nil
}

// upOwnerToken is the owner token of a `tandem up` workspace: the one in
// ~/.tandem/credentials for it, or a new one saved there (0600). It is
// handed to the regions as TANDEM_BOOTSTRAP_TOKEN; only a fresh workspace
// uses it.
func upOwnerToken(workspace string) (token, path string, err error) {
	path = client.CredentialsPath("")
	c, err := client.LoadCredentials(path)
	if err != nil {
		return "", path, err
	}
	if t := c.Workspaces[workspace]; t != "" {
		return t, path, nil
	}
	if token, _, err = auth.NewToken("", "", 0, time.Now()); err != nil {
		return "", path, err
	}
	return token, path, client.SaveToken(path, workspace, token)
}

// upAuth is tandem up's identity step: the extra environment and server
// flags of its regions, and what to tell the user. With --no-auth the
// regions serve without authentication; otherwise the owner token comes
// from (or goes to) ~/.tandem/credentials and bootstraps a fresh workspace.
func upAuth(cmd *cobra.Command, workspace string, off bool) (env, args []string, note string, err error) {
	if off {
		return nil, []string{"--no-auth"}, "Authentication is off (--no-auth): anyone who reaches these ports may do anything.\n", nil
	}
	tok, path, err := upOwnerToken(workspace)
	if err != nil {
		return nil, nil, "", fmt.Errorf("owner token: %w", err)
	}
	note = fmt.Sprintf("Authentication is on. Your owner token is in %s (the tandem CLI uses it);\nfor MLflow: export MLFLOW_TRACKING_TOKEN=$(tandem token print)\n", path)
	return []string{"TANDEM_BOOTSTRAP_TOKEN=" + tok}, nil, note, nil
}

// newTokenCmd: tandem token print — the token the CLI sends for the
// workspace of the current client config (TANDEM_TOKEN or
// ~/.tandem/credentials), for MLFLOW_TRACKING_TOKEN.
func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "The API token the tandem CLI uses"}
	cmd.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print the token for this workspace (export MLFLOW_TRACKING_TOKEN=$(tandem token print))",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ws := ""
			if p, err := client.FindConfig(client.DefaultLookup("")); err == nil {
				if cc, err := client.LoadConfig(p); err == nil {
					ws = cc.Workspace
				}
			}
			tok := client.Token(ws)
			if tok == "" {
				return tandem.Errorf(tandem.ENOTFOUND, "no token: set TANDEM_TOKEN or run tandem up (it writes %s)", client.CredentialsPath(""))
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	})
	return cmd
}

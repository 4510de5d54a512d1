package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
	"github.com/tandemml/tandem/gateway"
	"github.com/tandemml/tandem/tlsconf"
	"github.com/tandemml/tandem/witness"
	"github.com/tandemml/tandem/workspace"
)

func newGatewayCmd() *cobra.Command {
	var listen, config, tlsCert, tlsKey string
	var regions []string
	var cfg gateway.Config
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Serve one stable URL that follows the primary region",
		Long: `Serve one stable URL for stock MLflow clients in front of a multi-region workspace.

The gateway health-checks every region (GET /api/tandem/v1/replication/status), sends writes to
the current primary and reads to a healthy region, and during a failover holds and resends
requests that cannot be applied twice, so a client keeps going with nothing but its own retries.

With --workspace and a witness in that file, it also reads the lease: a request waiting on a
primary that lost its lease (paused, partitioned) is answered TEMPORARILY_UNAVAILABLE (503, which
MLflow clients retry) as soon as the lease runs out, and writes go to the new holder at once.
Every write carries an Idempotency-Key (the client's, or one the gateway makes, kept for a
client's retry of a write answered 503), so a retry of a write that was applied returns its
first result instead of applying it twice.`,
		Example: `  tandem gateway --listen 127.0.0.1:5050 --workspace tandem-data/workspace.yaml
  tandem gateway --listen 127.0.0.1:5050 --region eastus=http://127.0.0.1:5000 --region westus=http://127.0.0.1:5001
  MLFLOW_TRACKING_URI=http://127.0.0.1:5050 python train.py`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The regions of a workspace file: --workspace, TANDEM_WORKSPACE,
			// or the one tandem up recorded (client.FindWorkspace), unless
			// only --region is given.
			if config != "" || len(regions) == 0 {
				ws, err := client.LoadWorkspace(config)
				if err != nil {
					return err
				}
				for _, r := range ws.Regions {
					cfg.Regions = append(cfg.Regions, gateway.Region{Name: r.Name, URL: r.URL})
				}
				var tc *tls.Config                                  // nil: Go's defaults
				if f := ws.ClientTLS(); f.Enabled() || f.CA != "" { // tls.go: trust the workspace's CA; serve its cert
					if tc, err = tlsconf.Client(f, nil); err != nil {
						return err
					}
					cfg.Transport = tlsconf.Transport(tc)
					if tlsCert == "" && tlsKey == "" {
						tlsCert, tlsKey = f.Cert, f.Key
					}
				}
				if ws.Witness != "" { // without one, no lease bounds a primary
					cfg.LeaseTTL = ws.LeaseTTL
					w, err := openGatewayWitness(cmd.Context(), ws, tc)
					if err != nil {
						return err
					}
					defer w.Close()
					cfg.Witness = w
				}
			}
			for _, s := range regions {
				r, err := gateway.ParseRegion(s)
				if err != nil {
					return err
				}
				cfg.Regions = append(cfg.Regions, r)
			}
			cfg.Logger = newLogger(cmd)
			g, err := gateway.New(cfg)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return tandem.Errorf(tandem.EUNAVAILABLE, "gateway: listen %s: %v", listen, err)
			}
			if ln, err = listenTLS(ln, tlsCert, tlsKey, ""); err != nil {
				return err
			}
			ctx := cmd.Context()
			go g.Run(ctx)
			srv := &http.Server{Handler: g, ReadHeaderTimeout: 30 * time.Second}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			cfg.Logger.Info("gateway serving", "addr", ln.Addr().String(), "regions", len(cfg.Regions))
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return srv.Shutdown(sctx)
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", envDefault("TANDEM_GATEWAY_LISTEN", "127.0.0.1:5050"), "address to listen on (TANDEM_GATEWAY_LISTEN)")
	f.StringArrayVar(&regions, "region", nil, "a region as name=URL (repeat for each region)")
	f.StringVar(&config, "workspace", os.Getenv("TANDEM_WORKSPACE"), "workspace file whose regions to serve (TANDEM_WORKSPACE)")
	f.DurationVar(&cfg.CheckEvery, "check-every", time.Second, "health-check period")
	f.DurationVar(&cfg.RetryFor, "retry-for", 30*time.Second, "how long one request may wait for a primary")
	f.BoolVar(&cfg.SpreadReads, "spread-reads", false, "send reads to any healthy region (default: the primary while it is healthy)")
	f.StringVar(&tlsCert, "tls-cert", "", "serve https with this PEM certificate (default with --workspace: its tls.cert)")
	f.StringVar(&tlsKey, "tls-key", "", "the certificate's PEM key")
	return cmd
}

// openGatewayWitness opens the witness a workspace file names, with the
// built-in witness's key when it is one, over tc (the workspace's TLS; nil:
// Go's defaults).
func openGatewayWitness(ctx context.Context, ws *workspace.Workspace, tc *tls.Config) (tandem.Witness, error) {
	var key string
	if strings.HasPrefix(ws.Witness, "http") {
		k, err := ws.WitnessKeyValue()
		if err != nil {
			return nil, err
		}
		key = k
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	if tc != nil {
		hc.Transport = tlsconf.Transport(tc)
	}
	w, err := witness.Open(ctx, ws.Witness, witness.Options{Name: ws.Name, Key: key, HTTPClient: hc})
	if err != nil {
		return nil, fmt.Errorf("gateway: witness: %w", err)
	}
	return w, nil
}

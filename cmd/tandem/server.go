package main

import (
	"github.com/spf13/cobra"
	"github.com/tandemml/tandem/region"
)

func newServerCmd() *cobra.Command {
	var cfg region.Config
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run one region of a workspace",
		Long: `Run one region: the MLflow REST API, the artifact proxy and tandem's own API on one address.

Flags fall back to TANDEM_LISTEN, TANDEM_METADATA and TANDEM_ARTIFACTS.`,
		Example: `  tandem server --listen 127.0.0.1:5000 --metadata sqlite:///var/lib/tandem/tandem.db --artifacts file:///var/lib/tandem/artifacts
  tandem server --metadata postgres://tandem@db/tandem --artifacts 's3://bucket?endpoint=http://127.0.0.1:7070&use_path_style=true'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg.Logger = newLogger(cmd)
			r, err := region.Open(ctx, cfg)
			if err != nil {
				return err
			}
			defer r.Close()
			return r.Serve(ctx, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", envDefault("TANDEM_LISTEN", "127.0.0.1:5000"), "address to listen on (TANDEM_LISTEN)")
	f.StringVar(&cfg.MetadataURL, "metadata", envDefault("TANDEM_METADATA", "sqlite://tandem-data/tandem.db"), "metadata database URL (TANDEM_METADATA)")
	f.StringVar(&cfg.ArtifactsURL, "artifacts", envDefault("TANDEM_ARTIFACTS", "file://tandem-data/artifacts"), "artifact storage URL (TANDEM_ARTIFACTS)")
	f.StringVar(&cfg.Name, "region", envDefault("TANDEM_REGION", "local"), "region name (TANDEM_REGION)")
	return cmd
}

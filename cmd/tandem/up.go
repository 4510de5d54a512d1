package main

import (
	"fmt"
	"net"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem/region"
)

func newUpCmd() *cobra.Command {
	var dir, listen string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a workspace on the embedded default (SQLite and local folders)",
		Long: `Run a workspace on this machine with no setup: metadata in SQLite and artifacts in a folder
under --dir. Prints the URL to put in MLFLOW_TRACKING_URI. Stops on Ctrl-C.`,
		Example: `  tandem up
  tandem up --dir /tmp/ws --listen 127.0.0.1:5500`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen %s: %w", listen, err)
			}
			r, err := region.Open(ctx, region.Config{
				Name:         "local",
				Listen:       listen,
				MetadataURL:  "sqlite://" + filepath.Join(abs, "local", "tandem.db"),
				ArtifactsURL: "file://" + filepath.Join(abs, "local", "artifacts"),
				Logger:       newLogger(cmd),
			})
			if err != nil {
				ln.Close()
				return err
			}
			defer r.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "tandem is up. Point MLflow at it:\n\n  export MLFLOW_TRACKING_URI=http://%s\n\nData: %s   Stop: Ctrl-C\n", ln.Addr(), abs)
			return r.Serve(ctx, ln)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "tandem-data", "folder for the workspace's databases and artifacts")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:5000", "address to listen on")
	return cmd
}

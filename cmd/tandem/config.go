package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/client"
)

func newAttachCmd() *cobra.Command {
	var cfg client.Config
	var dir, tokenEnv string
	cmd := &cobra.Command{
		Use:   "attach",
		Short: "Write .tandem/config.json so the CLI and clients find the workspace",
		Long: `Write .tandem/config.json in the current folder (or --path): the workspace name and its region
endpoints in order of preference. The CLI, the Go client (client.FromConfig) and tandem's MLflow plugin
find it from this folder and every folder below it. The file never holds a secret: with --token-env the
token is read from that environment variable at request time.`,
		Example: `  tandem attach --workspace ml-prod --endpoint http://eastus.example:5000 --endpoint http://westus.example:5000
  tandem attach --workspace dev --endpoint http://127.0.0.1:5000 --path ~/projects/iris`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if tokenEnv != "" {
				cfg.Auth = client.Auth{Type: "bearer_env", TokenEnv: tokenEnv}
			}
			if dir == "" {
				var err error
				if dir, err = os.Getwd(); err != nil {
					return err
				}
			}
			p, err := client.WriteConfig(dir, &cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Attached to workspace %s (%s): wrote %s\n", cfg.Workspace, strings.Join(cfg.Endpoints, ", "), p)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&cfg.Workspace, "workspace", "w", "", "workspace name (required)")
	f.StringArrayVarP(&cfg.Endpoints, "endpoint", "e", nil, "region endpoint URL; repeat for each region, preferred first (required)")
	f.StringVar(&dir, "path", "", "folder to write .tandem/config.json in (default: the current folder)")
	f.StringVar(&tokenEnv, "token-env", "", "name of the environment variable that holds a bearer token")
	cmd.SetFlagErrorFunc(usageError)
	return cmd
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the workspace config this folder uses",
		Long: `Show the workspace config found the way every tandem client finds it: --config, then TANDEM_CONFIG,
then .tandem/config.json in the current folder and each parent, then ~/.tandem/config.json.`,
	}
	cmd.PersistentFlags().String("config", "", "workspace config file (default: discovered)")
	cmd.SetFlagErrorFunc(usageError)
	cmd.AddCommand(&cobra.Command{
		Use:     "tracking-uri",
		Short:   "Print the URL to put in MLFLOW_TRACKING_URI",
		Example: "  export MLFLOW_TRACKING_URI=$(tandem config tracking-uri)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), c.TrackingURI())
			return nil
		},
	}, &cobra.Command{
		Use:     "show",
		Short:   "Print the config file's path, workspace and endpoints",
		Example: "  tandem config show",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := clientFor(cmd)
			if err != nil {
				return err
			}
			cfg := c.Config()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "config:     %s\nworkspace:  %s\n", cfg.Path, cfg.Workspace)
			for i, e := range cfg.Endpoints {
				fmt.Fprintf(out, "endpoint %d: %s\n", i+1, e)
			}
			return nil
		},
	})
	return cmd
}

// clientFor builds a client from the --config flag or discovery.
func clientFor(cmd *cobra.Command) (*client.Client, error) {
	explicit, _ := cmd.Flags().GetString("config")
	return client.FromConfigPath(cmd.Context(), explicit)
}

// usageError makes flag errors exit with the usage code (2).
func usageError(cmd *cobra.Command, err error) error {
	return tandem.Errorf(tandem.EINVALID, "%v (see %s --help)", err, cmd.CommandPath())
}

package main

import (
	"os"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
	"github.com/tandemml/tandem/mlflowui"
	"github.com/tandemml/tandem/region"
	"github.com/tandemml/tandem/workspace"
)

func newServerCmd() *cobra.Command {
	var cfg region.Config
	var config, mlflowUI string
	var af authFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run one region of a workspace",
		Long: `Run one region: the MLflow REST API, the artifact proxy and tandem's own API on one address.

With --config, the region's addresses and stores come from the workspace file and --region picks
which region this process is; it replicates from the primary when it is a secondary.
Without --config, flags fall back to TANDEM_LISTEN, TANDEM_METADATA and TANDEM_ARTIFACTS and the
server is a single-region workspace.`,
		Example: `  tandem server --config workspace.yaml --region eastus
  tandem server --listen 127.0.0.1:5000 --metadata sqlite:///var/lib/tandem/tandem.db --artifacts file:///var/lib/tandem/artifacts
  tandem server --metadata postgres://tandem@db/tandem --artifacts 's3://bucket?endpoint=http://127.0.0.1:7070&use_path_style=true'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg.Logger = newLogger(cmd)
			if config != "" {
				ws, err := workspace.Load(config)
				if err != nil {
					return err
				}
				if !cmd.Flags().Changed("region") {
					return tandem.Errorf(tandem.EINVALID, "--region is required with --config (one of the workspace's regions)")
				}
				reg, err := ws.Region(cfg.Name)
				if err != nil {
					return err
				}
				cfg.Workspace = ws
				cfg.MetadataURL, cfg.ArtifactsURL = reg.MetadataURL, reg.ArtifactURL
				if !cmd.Flags().Changed("listen") {
					cfg.Listen = reg.Listen
				}
			}
			testHooksFromEnv(&cfg) // a no-op in a release build
			if mlflowUI == "" && cfg.Workspace != nil {
				mlflowUI = cfg.Workspace.MLflowUI
			}
			if mlflowUI != "" {
				dir, err := mlflowui.Find(ctx, mlflowUI, "")
				if err != nil {
					return err
				}
				cfg.MLflowUI = dir
			}
			cfg.Progress = cmd.ErrOrStderr()
			var err error
			if cfg.Auth, err = af.authConfig(ctx, &cfg); err != nil {
				return err
			}
			r, err := region.Open(ctx, cfg)
			if err != nil {
				return err
			}
			defer r.Close()
			if cfg.Auth != nil && cfg.Auth.BootstrapToken == "" {
				if err := bootstrapGenerated(ctx, r, cfg, cmd.ErrOrStderr()); err != nil {
					return err
				}
			}
			return r.Serve(ctx, nil)
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", os.Getenv("TANDEM_WORKSPACE"), "workspace file, workspace.yaml (TANDEM_WORKSPACE)")
	f.StringVar(&cfg.Listen, "listen", envDefault("TANDEM_LISTEN", "127.0.0.1:5000"), "address to listen on (TANDEM_LISTEN)")
	f.StringVar(&cfg.MetadataURL, "metadata", envDefault("TANDEM_METADATA", "sqlite://tandem-data/tandem.db"), "metadata database URL (TANDEM_METADATA)")
	f.StringVar(&cfg.ArtifactsURL, "artifacts", envDefault("TANDEM_ARTIFACTS", "file://tandem-data/artifacts"), "artifact storage URL (TANDEM_ARTIFACTS)")
	f.StringVar(&cfg.Name, "region", envDefault("TANDEM_REGION", "local"), "region name (TANDEM_REGION)")
	f.StringVar(&cfg.OTLPEndpoint, "otlp-endpoint", "", "OpenTelemetry collector (OTLP/HTTP base URL) for this region's traces; default: the workspace file's telemetry.otlp_endpoint, else OTEL_EXPORTER_OTLP_ENDPOINT")
	f.DurationVar(&cfg.DriftInterval, "drift-interval", envDuration("TANDEM_DRIFT_INTERVAL", region.DefaultDriftInterval), "how often the region checks its state against the last applied desired state (TANDEM_DRIFT_INTERVAL)")
	f.DurationVar(&cfg.ImageSyncInterval, "image-sync-interval", envDuration("TANDEM_IMAGE_SYNC_INTERVAL", region.DefaultImageSyncInterval), "with a registry (regions[].registry), how often the region checks that its registry holds every environment's image and copies what it lacks (TANDEM_IMAGE_SYNC_INTERVAL)")
	f.StringVar(&cfg.ScoringPython, "scoring-python", envDefault("TANDEM_SCORING_PYTHON", os.Getenv("TANDEM_PYTHON")), "python interpreter whose environment has mlflow, for online endpoints' scoring processes; empty: this region serves no scoring (TANDEM_SCORING_PYTHON, else TANDEM_PYTHON)")
	f.StringVar(&cfg.ScoringCache, "scoring-cache", os.Getenv("TANDEM_SCORING_CACHE"), "folder for model files and scoring processes (TANDEM_SCORING_CACHE; default: under the temporary folder)")
	f.StringVar(&cfg.WorkDir, "work-dir", os.Getenv("TANDEM_WORK_DIR"), "folder for the job attempts this region runs (TANDEM_WORK_DIR; default: next to a SQLite database, else under the temporary folder)")
	f.IntVar(&cfg.LocalMaxInstances, "local-max-instances", 0, "quota of the implicit local compute (default: the CPU count)")
	f.StringVar(&mlflowUI, "mlflow-ui", os.Getenv("TANDEM_MLFLOW_UI"), "serve the MLflow UI at /: the js/build folder of an installed mlflow package, or auto to ask TANDEM_PYTHON (else python3) where it is (TANDEM_MLFLOW_UI; workspace.yaml mlflow_ui)")
	af.register(cmd)
	return cmd
}

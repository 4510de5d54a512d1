// Command tandem is the one tandem binary: the region server, the local
// workspace launcher, the witness, the gateway and the CLI verbs. It only
// parses flags and wires the packages together.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem"
)

// Exit codes: 0 ok, 1 failure, 2 usage error, 3 not found, 4 conflict
// (already exists / divergent), 5 unavailable (no primary reachable).
func exitCode(err error) int {
	switch tandem.ErrorCode(err) {
	case tandem.EINVALID:
		return 2
	case tandem.ENOTFOUND:
		return 3
	case tandem.EEXISTS, tandem.ECONFLICT:
		return 4
	case tandem.EUNAVAILABLE:
		return 5
	}
	return 1
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		var ee exitError // plan.go: an exit code without a message
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		var te *tandem.Error
		if errors.As(err, &te) {
			fmt.Fprintf(os.Stderr, "tandem: %s\n", te.Message)
		} else {
			fmt.Fprintf(os.Stderr, "tandem: %v\n", err)
		}
		os.Exit(exitCode(err))
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "tandem",
		Short:         "A machine-learning workspace that keeps working when a region goes down",
		Long:          "tandem serves the MLflow REST API from two or more regions, replicates every change between them\nand fails over when the primary region is lost.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       tandem.Version,
	}
	root.PersistentFlags().String("log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().String("log-format", "text", "log format: text or json")
	root.AddCommand(newServerCmd(), newUpCmd(), newJournalCmd())
	addCommands(root)
	return root
}

func newLogger(cmd *cobra.Command) *slog.Logger {
	level, _ := cmd.Flags().GetString("log-level")
	format, _ := cmd.Flags().GetString("log-format")
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// envDefault returns the environment variable's value, or def.
func envDefault(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/tandemml/tandem/sqlstore"
)

func newJournalCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "journal", Short: "Inspect a region's change journal"}
	var metadata string
	var after int64
	var follow bool
	var limit int
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Print journal entries, one JSON object a line",
		Example: `  tandem journal tail --metadata sqlite://tandem-data/local/tandem.db
  tandem journal tail --metadata sqlite://tandem-data/local/tandem.db --after 100 --follow`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := sqlstore.Open(ctx, metadata, sqlstore.Options{Logger: newLogger(cmd)})
			if err != nil {
				return err
			}
			defer st.Close()
			enc := json.NewEncoder(cmd.OutOrStdout())
			for {
				es, err := st.ReadJournal(ctx, after, limit)
				if err != nil {
					return err
				}
				for _, e := range es {
					if err := enc.Encode(e); err != nil {
						return err
					}
					after = e.Seq
				}
				if !follow {
					return nil
				}
				if len(es) == 0 {
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(500 * time.Millisecond):
					}
				}
			}
		},
	}
	tail.Flags().StringVar(&metadata, "metadata", envDefault("TANDEM_METADATA", "sqlite://tandem-data/local/tandem.db"), "metadata database URL")
	tail.Flags().Int64Var(&after, "after", 0, "print entries after this sequence number")
	tail.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new entries")
	tail.Flags().IntVar(&limit, "limit", 1000, "entries per read")
	cmd.AddCommand(tail)
	_ = fmt.Sprint
	return cmd
}

package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/vuln"
)

// newDBCmd builds `vigil db`: manage the offline vulnerability database.
func newDBCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Manage the offline vulnerability database"}
	cmd.AddCommand(newDBImportCmd(), newDBInfoCmd())
	return cmd
}

func newDBImportCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "import ZIP|DIR|FILE --db DIR",
		Short: "Import OSV records (an OSV zip export, a directory of OSV JSON files, or one file)",
		Long: `Import adds OSV records to the database in --db, replacing records with the
same id, and rebuilds the (ecosystem, package) index. OSV exports are at
https://osv-vulnerabilities.storage.googleapis.com/<ECOSYSTEM>/all.zip (fetch
them on a connected machine; vigil never downloads).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return errors.New("--db is required")
			}
			bar := startProgress(cmd, "db import "+args[0])
			st, warns, err := vuln.Import(args[0], dir)
			bar.Done()
			for _, w := range warns {
				warn(cmd, fmt.Sprint(w))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d records (%d skipped); %s now holds %d records for %d packages\n",
				st.Imported, st.Skipped, dir, st.Records, st.Keys)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "db", "", "database directory (created if missing)")
	return cmd
}

func newDBInfoCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "info --db DIR",
		Short: "Show how many records a database holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--db is required")
			}
			db, err := vuln.Open(dir)
			if err != nil {
				return err
			}
			defer db.Close()
			warnDB(cmd, dir, db)
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d records\n", dir, db.Len())
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "db", "", "database directory")
	return cmd
}

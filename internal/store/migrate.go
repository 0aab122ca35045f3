package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations bring the schema from version i to i+1 (PRAGMA user_version).
// Version 1 is the alerts table (files written before versions were
// recorded have user_version 0 and that table); version 2 adds profiles; version 3 the console's columns, incidents and
// reports; version 4 the incidents' node, so that the hub's store and this
// one share their statements (sqlshared.go).
// A migration only adds: nothing stored is rewritten or lost.
var migrations = []string{
	0: schema,
	1: profileSchema,
	2: consoleSchema,
	3: sharedSchema,
}

// SchemaVersion is the schema version this build writes.
var SchemaVersion = len(migrations)

// migrate applies the missing migrations, each in one transaction with
// its version bump; a file of a newer schema is refused.
func migrate(ctx context.Context, c *sql.Conn) error {
	var v int
	if err := c.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > SchemaVersion {
		return fmt.Errorf("schema version %d is newer than this build's (%d): use a newer vigil", v, SchemaVersion)
	}
	for ; v < SchemaVersion; v++ {
		tx, err := c.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback() //nolint:errcheck // the error is the migration's
			return fmt.Errorf("schema migration to version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback() //nolint:errcheck
			return fmt.Errorf("schema migration to version %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("schema migration to version %d: %w", v+1, err)
		}
	}
	return nil
}

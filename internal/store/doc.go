// Package store keeps alerts in an embedded SQLite database (pure Go,
// modernc.org/sqlite), /var/lib/vigil/alerts.db by default, for `vigil
// alerts` and the HTTP API.
//
// The database runs in WAL mode with synchronous=NORMAL: a batch is one
// transaction, so a crash (even SIGKILL mid-batch) loses at most the batches
// not yet committed and never corrupts the file. Add never blocks: alerts
// are queued (a queue.Queue named "store") and written in batches by Run,
// off the hot path; a full queue drops, counts and reports through
// Options.Overflow. Run also applies retention (by age and by size)
// periodically. An alert delivered again with the same UUID (the coalescer's
// update) replaces the stored one, so its count is updated.
//
// RuleHits, Report and HitCounts (gathering a rule-hits query's rows into
// buckets, rules by total) are also the hub's store's (internal/hub) and
// the console's types, and the statements on incidents, reports and rule
// hits are the hub's too (sqlshared.go: one Dialect, SQLite or
// PostgreSQL, the only difference; the tables they read have the same
// columns in both stores): the knowledge lives here once.
//
// Ownership: Open returns the Store; the caller runs Run in a goroutine,
// cancels its context to stop it (Run flushes what is queued), then calls
// Close.
package store

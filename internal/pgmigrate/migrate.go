// Package pgmigrate applies a package's embedded, versioned schema to a
// PostgreSQL database: the runner behind the Migrate methods of
// idempotency/postgres and outbox/postgres.
package pgmigrate

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound/internal/migrations"
)

// Spec describes one package's schema and how Run reports on it.
type Spec struct {
	// Files holds the schema as migrations/NNN_what.sql, one file per
	// version, numbered from 1 without gaps: what
	// //go:embed migrations/*.sql gives. A file is applied once, in a
	// transaction, and never edited after release.
	Files fs.FS

	// Render rewrites a file's SQL before it runs, such as to put in
	// table names. Nil runs the SQL as written.
	Render func(sql string) string

	// VersionTable is the table that lists the applied versions, as SQL
	// (quoted, possibly schema-qualified). Run creates it.
	VersionTable string

	// LockKey is the transaction-level advisory lock that serialises
	// concurrent Runs of this schema.
	LockKey int64

	// Prefix begins every error Run returns, such as "outbox/postgres".
	Prefix string

	// Subject names what is migrated in the error that refuses a newer
	// schema, such as a table name or "the outbox".
	Subject string
}

// Run brings the schema up to its last version: it applies, in one
// transaction, the migrations that s.VersionTable does not list yet. The
// advisory lock s.LockKey serialises concurrent Runs, so every process may
// run it at start. It fails without changing anything if the version
// table lists a version newer than the last of s.Files.
func Run(ctx context.Context, pool *pgxpool.Pool, s Spec) (err error) {
	ms, err := migrations.Load(s.Files, s.Prefix)
	if err != nil {
		return err
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", s.Prefix, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.LockKey); err != nil {
		return fmt.Errorf("%s: migrate: lock: %w", s.Prefix, err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+s.VersionTable+` (
	version    INTEGER PRIMARY KEY,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`); err != nil {
		return fmt.Errorf("%s: migrate: version table: %w", s.Prefix, err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM `+s.VersionTable).Scan(&current); err != nil {
		return fmt.Errorf("%s: migrate: read version: %w", s.Prefix, err)
	}
	if current > len(ms) {
		return fmt.Errorf("%s: migrate: %s is at schema version %d, newer than this package's %d", s.Prefix, s.Subject, current, len(ms))
	}
	for _, m := range ms[current:] {
		stmts := m.SQL
		if s.Render != nil {
			stmts = s.Render(stmts)
		}
		// Without arguments, pgx sends the simple protocol, which runs
		// every statement of the file.
		if _, err := tx.Exec(ctx, stmts); err != nil {
			return fmt.Errorf("%s: migrate: %s: %w", s.Prefix, m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+s.VersionTable+` (version) VALUES ($1)`, m.Version); err != nil {
			return fmt.Errorf("%s: migrate: %s: record version: %w", s.Prefix, m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("%s: migrate: commit: %w", s.Prefix, err)
	}
	return nil
}

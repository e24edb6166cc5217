// Package sqlmigrate applies a package's embedded, versioned schema to a
// SQLite database through database/sql: the runner behind the Migrate
// methods of idempotency/sqlite and outbox/sqlite.
package sqlmigrate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io/fs"

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
	// (quoted). Run creates it.
	VersionTable string

	// Prefix begins every error Run returns, such as "outbox/sqlite".
	Prefix string

	// Subject names what is migrated in the error that refuses a newer
	// schema, such as a table name.
	Subject string
}

// Run brings the schema up to its last version: it applies, in one
// transaction, the migrations that s.VersionTable does not list yet. The
// transaction begins IMMEDIATE, taking SQLite's write lock first, so
// concurrent Runs go one after the other (each waiting up to the busy
// timeout) and every process may run it at start. It fails without
// changing anything if the version table lists a version newer than the
// last of s.Files.
func Run(ctx context.Context, db *sql.DB, s Spec) (err error) {
	ms, err := migrations.Load(s.Files, s.Prefix)
	if err != nil {
		return err
	}
	// database/sql's BeginTx says BEGIN DEFERRED unless the DSN has
	// _txlock=immediate, and a deferred read-then-write can fail with
	// SQLITE_BUSY without waiting; so begin by hand on one connection.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", s.Prefix, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return fmt.Errorf("%s: migrate: begin: %w", s.Prefix, err)
	}
	defer func() {
		if err == nil {
			return
		}
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
			// Never hand a connection inside a transaction back to
			// the pool.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+s.VersionTable+` (
	version    INTEGER PRIMARY KEY,
	applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
)`); err != nil {
		return fmt.Errorf("%s: migrate: version table: %w", s.Prefix, err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(max(version), 0) FROM `+s.VersionTable).Scan(&current); err != nil {
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
		if _, err := conn.ExecContext(ctx, stmts); err != nil {
			return fmt.Errorf("%s: migrate: %s: %w", s.Prefix, m.Name, err)
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO `+s.VersionTable+` (version) VALUES (?1)`, m.Version); err != nil {
			return fmt.Errorf("%s: migrate: %s: record version: %w", s.Prefix, m.Name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return fmt.Errorf("%s: migrate: commit: %w", s.Prefix, err)
	}
	return nil
}

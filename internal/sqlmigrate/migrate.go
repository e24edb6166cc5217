// Package sqlmigrate applies a package's embedded, versioned schema to a
// SQLite database through database/sql: the runner behind the Migrate
// methods of idempotency/sqlitestore and outbox/sqlite.
package sqlmigrate

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
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

	// Prefix begins every error Run returns, such as "sqlitestore".
	Prefix string

	// Subject names what is migrated in the error that refuses a newer
	// schema, such as a table name.
	Subject string
}

// migration is one file of a schema.
type migration struct {
	version int
	file    string
	sql     string
}

// load returns the migrations of s.Files in version order.
func load(s Spec) ([]migration, error) {
	entries, err := fs.ReadDir(s.Files, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries { // ReadDir sorts by name, so by version
		prefix, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if err != nil || v != len(ms)+1 {
			return nil, fmt.Errorf("%s: migration %s: want version %d first in its name", s.Prefix, e.Name(), len(ms)+1)
		}
		b, err := fs.ReadFile(s.Files, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, file: e.Name(), sql: string(b)})
	}
	return ms, nil
}

// Run brings the schema up to its last version: it applies, in one
// transaction, the migrations that s.VersionTable does not list yet. The
// transaction begins IMMEDIATE, taking SQLite's write lock first, so
// concurrent Runs go one after the other (each waiting up to the busy
// timeout) and every process may run it at start. It fails without
// changing anything if the version table lists a version newer than the
// last of s.Files.
func Run(ctx context.Context, db *sql.DB, s Spec) (err error) {
	ms, err := load(s)
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
		stmts := m.sql
		if s.Render != nil {
			stmts = s.Render(stmts)
		}
		if _, err := conn.ExecContext(ctx, stmts); err != nil {
			return fmt.Errorf("%s: migrate: %s: %w", s.Prefix, m.file, err)
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO `+s.VersionTable+` (version) VALUES (?1)`, m.version); err != nil {
			return fmt.Errorf("%s: migrate: %s: record version: %w", s.Prefix, m.file, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return fmt.Errorf("%s: migrate: commit: %w", s.Prefix, err)
	}
	return nil
}

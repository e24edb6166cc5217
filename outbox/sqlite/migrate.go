package sqlite

import (
	"context"
	"database/sql/driver"
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/rebound-go/rebound/outbox"
)

// The schema, one file per version: NNN_what.sql, numbered from 1 without
// gaps. A file is applied once, in a transaction, and never edited after
// release; a change of schema is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	file    string
	sql     string
}

// loadMigrations returns the embedded migrations in version order.
func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries { // ReadDir sorts by name, so by version
		prefix, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if err != nil || v != len(ms)+1 {
			return nil, fmt.Errorf("outbox/sqlite: migration %s: want version %d first in its name", e.Name(), len(ms)+1)
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, file: e.Name(), sql: string(b)})
	}
	return ms, nil
}

// SchemaVersion is the schema version this package's Migrate brings the
// outbox table to.
const SchemaVersion = 1

// versionTable lists the migrations applied.
const versionTable = outbox.Table + "_schema_version"

// Migrate brings the outbox table (outbox.Table) up to SchemaVersion: it
// applies, in one transaction, the embedded migrations that the version
// table (outbox.Table+"_schema_version") does not list yet. The
// transaction begins IMMEDIATE, taking SQLite's write lock first, so
// concurrent Migrate calls run one after the other (each waiting up to the
// busy timeout) and every process may call it at start. It fails without
// changing anything if the table is at a version newer than this package
// knows.
func (s *Store) Migrate(ctx context.Context) (err error) {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	// database/sql's BeginTx says BEGIN DEFERRED unless the DSN has
	// _txlock=immediate, and a deferred read-then-write can fail with
	// SQLITE_BUSY without waiting; so begin by hand on one connection.
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("outbox/sqlite: migrate: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return fmt.Errorf("outbox/sqlite: migrate: begin: %w", err)
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
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+versionTable+` (
	version    INTEGER PRIMARY KEY,
	applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
)`); err != nil {
		return fmt.Errorf("outbox/sqlite: migrate: version table: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(max(version), 0) FROM `+versionTable).Scan(&current); err != nil {
		return fmt.Errorf("outbox/sqlite: migrate: read version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("outbox/sqlite: migrate: %s is at schema version %d, newer than this package's %d", outbox.Table, current, len(ms))
	}
	for _, m := range ms[current:] {
		if _, err := conn.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("outbox/sqlite: migrate: %s: %w", m.file, err)
		}
		if _, err := conn.ExecContext(ctx, `INSERT INTO `+versionTable+` (version) VALUES (?1)`, m.version); err != nil {
			return fmt.Errorf("outbox/sqlite: migrate: %s: record version: %w", m.file, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return fmt.Errorf("outbox/sqlite: migrate: commit: %w", err)
	}
	return nil
}

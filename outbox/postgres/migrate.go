package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"strconv"
	"strings"
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
			return nil, fmt.Errorf("outbox/postgres: migration %s: want version %d first in its name", e.Name(), len(ms)+1)
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
// outbox to.
const SchemaVersion = 1

// VersionTable records the applied schema versions, next to the outbox
// table.
const VersionTable = "rebound_outbox_schema_version"

// migrateLock is the advisory lock that serialises Migrate calls.
var migrateLock = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("rebound/outbox/postgres:migrate"))
	return int64(h.Sum64())
}()

// Migrate brings the outbox up to SchemaVersion: it applies, in one
// transaction, the embedded migrations that VersionTable does not list
// yet. The tables are created in the first schema of the connection's
// search_path. An advisory lock serialises concurrent Migrate calls, so
// every process may call it at start. It fails without changing anything
// if the outbox is at a version newer than this package knows.
func (s *Store) Migrate(ctx context.Context) (err error) {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("outbox/postgres: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrateLock); err != nil {
		return fmt.Errorf("outbox/postgres: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+VersionTable+` (
	version    INTEGER PRIMARY KEY,
	applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`); err != nil {
		return fmt.Errorf("outbox/postgres: migrate: version table: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM `+VersionTable).Scan(&current); err != nil {
		return fmt.Errorf("outbox/postgres: migrate: read version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("outbox/postgres: migrate: the outbox is at schema version %d, newer than this package's %d", current, len(ms))
	}
	for _, m := range ms[current:] {
		// Without arguments, pgx sends the simple protocol, which runs
		// every statement of the file.
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("outbox/postgres: migrate: %s: %w", m.file, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+VersionTable+` (version) VALUES ($1)`, m.version); err != nil {
			return fmt.Errorf("outbox/postgres: migrate: %s: record version: %w", m.file, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("outbox/postgres: migrate: commit: %w", err)
	}
	return nil
}

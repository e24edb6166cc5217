package postgres

import (
	"context"
	"embed"
	"strings"

	"github.com/rebound-go/rebound/internal/pgmigrate"
)

// The schema, one file per version: NNN_what.sql, numbered from 1 without
// gaps. A file is applied once, in a transaction, and never edited after
// release; a change of schema is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// SchemaVersion is the schema version this package's Migrate brings a
// table to.
const SchemaVersion = 1

// Migrate brings the table up to SchemaVersion: it applies, in one
// transaction, the embedded migrations that the version table
// (Config.Table+"_schema_version") does not list yet. An advisory lock
// serialises concurrent Migrate calls on the same table, so every process
// may call it at start. It fails without changing anything if the table is
// at a version newer than this package knows.
func (s *Store) Migrate(ctx context.Context) error {
	return pgmigrate.Run(ctx, s.pool, pgmigrate.Spec{
		Files:        migrationFiles,
		Render:       strings.NewReplacer("{{table}}", s.table, "{{name}}", s.name).Replace,
		VersionTable: s.versions,
		LockKey:      s.lockKey,
		Prefix:       "idempotency/postgres",
		Subject:      s.table,
	})
}

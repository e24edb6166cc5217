package sqlite

import (
	"context"
	"embed"

	"github.com/rebound-go/rebound/internal/sqlmigrate"
)

// The schema, one file per version: NNN_what.sql, numbered from 1 without
// gaps. A file is applied once, in a transaction, and never edited after
// release; a change of schema is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// SchemaVersion is the schema version this package's Migrate brings the
// outbox table to.
const SchemaVersion = 3

// VersionTable records the applied schema versions, next to Table.
const VersionTable = Table + "_schema_version"

// Migrate brings the outbox table (Table) up to SchemaVersion: it
// applies, in one transaction, the embedded migrations that VersionTable
// does not list yet. The transaction begins IMMEDIATE, taking SQLite's write lock first, so
// concurrent Migrate calls run one after the other (each waiting up to the
// busy timeout) and every process may call it at start. It fails without
// changing anything if the table is at a version newer than this package
// knows.
func (s *Store) Migrate(ctx context.Context) error {
	return sqlmigrate.Run(ctx, s.db, sqlmigrate.Spec{
		Files:        migrationFiles,
		VersionTable: VersionTable,
		Prefix:       "outbox/sqlite",
		Subject:      Table,
	})
}

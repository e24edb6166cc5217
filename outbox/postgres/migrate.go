package postgres

import (
	"context"
	"embed"
	"hash/fnv"

	"github.com/rebound-go/rebound/internal/pgmigrate"
)

// The schema, one file per version: NNN_what.sql, numbered from 1 without
// gaps. A file is applied once, in a transaction, and never edited after
// release; a change of schema is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// SchemaVersion is the schema version this package's Migrate brings the
// outbox to.
const SchemaVersion = 4

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
func (s *Store) Migrate(ctx context.Context) error {
	return pgmigrate.Run(ctx, s.pool, pgmigrate.Spec{
		Files:        migrationFiles,
		VersionTable: VersionTable,
		LockKey:      migrateLock,
		Prefix:       "outbox/postgres",
		Subject:      "the outbox",
	})
}

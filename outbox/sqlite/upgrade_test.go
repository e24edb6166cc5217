package sqlite

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rebound-go/rebound/internal/sqlmigrate"
	"github.com/rebound-go/rebound/outbox"
)

// TestUpgradeFromVersion2KeepsEveryMessage: an outbox made by version 2's
// schema, holding a pending and a sent message, upgrades to the current
// one (the trace context columns) without losing or changing either; they
// read as untraced, and a traced message enqueued after keeps its context.
func TestUpgradeFromVersion2KeepsEveryMessage(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	old := fstest.MapFS{}
	for _, name := range []string{"migrations/001_init.sql", "migrations/002_unfinished_idx.sql"} {
		b, err := fs.ReadFile(migrationFiles, name)
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: b}
	}
	if err := sqlmigrate.Run(ctx, db, sqlmigrate.Spec{Files: old, VersionTable: VersionTable, Prefix: "outbox/sqlite", Subject: Table}); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute).UnixNano()
	for _, r := range []struct {
		id      string
		state   outbox.State
		attempt int
		sentAt  int64
	}{{"m1-pending", outbox.Pending, 0, 0}, {"m2-sent", outbox.Sent, 1, past}} {
		if _, err := db.ExecContext(ctx, `INSERT INTO `+Table+` (id, destination, payload, state, attempt, created_at, next_attempt_at, lease_until, sent_at)
			VALUES (?, 'hook', 'x', ?, ?, ?, ?, 0, ?)`, r.id, int(r.state), r.attempt, past, past, r.sentAt); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(db, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	for id, state := range map[string]outbox.State{"m1-pending": outbox.Pending, "m2-sent": outbox.Sent} {
		r, err := s.Get(ctx, id)
		if err != nil || r.State != state || string(r.Payload) != "x" || r.TraceParent != "" || r.TraceState != "" {
			t.Fatalf("%s after the upgrade: %+v, %v; want %v, untraced", id, r, err, state)
		}
	}
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := outbox.Enqueue(ctx, tx, outbox.Message{ID: "m3-traced", Destination: "hook", TraceParent: parent}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	ds, err := s.Claim(ctx, time.Now().Add(time.Second), time.Minute, 10, nil)
	if err != nil || len(ds) != 2 || ds[0].ID != "m1-pending" || ds[1].TraceParent != parent {
		t.Fatalf("claimed %+v, %v; want the old pending message, then the traced one", ds, err)
	}
}

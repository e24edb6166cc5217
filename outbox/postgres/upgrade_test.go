package postgres

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rebound-go/rebound/internal/pgmigrate"
	"github.com/rebound-go/rebound/outbox"
)

// TestUpgradeFromVersion2KeepsEveryMessage: an outbox made by version 2's
// schema, holding a message in each state, upgrades to the current one
// without losing or changing any, and the relay's statements still find
// the unfinished ones and leave the sent and dead ones alone.
func TestUpgradeFromVersion2KeepsEveryMessage(t *testing.T) {
	pool := testPool(t, "outbox_upgrade_")
	ctx := context.Background()

	// Version 2: the first two migration files only.
	old := fstest.MapFS{}
	for _, name := range []string{"migrations/001_init.sql", "migrations/002_drop_unread_indexes.sql"} {
		b, err := fs.ReadFile(migrationFiles, name)
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: b}
	}
	if err := pgmigrate.Run(ctx, pool, pgmigrate.Spec{Files: old, VersionTable: VersionTable, LockKey: migrateLock, Prefix: "outbox/postgres", Subject: "the outbox"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	past := nanos(now.Add(-time.Minute))
	// One message per state, written as version 2's relay would leave them:
	// pending and retrying due, delivering with an expired lease.
	rows := []struct {
		id            string
		state         outbox.State
		attempt       int
		lease, sentAt int64
	}{
		{"m1-pending", outbox.Pending, 0, 0, 0},
		{"m2-delivering", outbox.Delivering, 1, past, 0},
		{"m3-sent", outbox.Sent, 1, 0, past},
		{"m4-retrying", outbox.Retrying, 2, 0, 0},
		{"m5-dead", outbox.Dead, 3, 0, 0},
	}
	for _, r := range rows {
		if _, err := pool.Exec(ctx, `INSERT INTO `+Table+` (id, destination, payload, state, attempt, created_at, next_attempt_at, lease_until, sent_at)
			VALUES ($1, 'hook', 'x', $2, $3, $4, $4, $5, $6)`, r.id, int16(r.state), r.attempt, past, r.lease, r.sentAt); err != nil {
			t.Fatal(err)
		}
	}

	s, err := New(pool, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	for _, r := range rows {
		rec, err := s.Get(ctx, r.id)
		if err != nil || rec.State != r.state || rec.Attempt != r.attempt || rec.TraceParent != "" || rec.TraceState != "" {
			t.Fatalf("%s after the upgrade: %+v, %v; want state %v, attempt %d, untraced", r.id, rec, err, r.state, r.attempt)
		}
		var done bool
		if err := pool.QueryRow(ctx, `SELECT done FROM `+Table+` WHERE id = $1`, r.id).Scan(&done); err != nil || done != (r.state == outbox.Sent || r.state == outbox.Dead) {
			t.Fatalf("%s: done %v, %v", r.id, done, err)
		}
	}
	ds, err := s.Claim(ctx, now, time.Minute, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range ds {
		got = append(got, d.ID)
	}
	if len(got) != 3 || got[0] != "m1-pending" || got[1] != "m2-delivering" || got[2] != "m4-retrying" {
		t.Fatalf("claimed %v, want the pending, the expired delivering and the retrying message", got)
	}
	if n, err := s.Prune(ctx, now); err != nil || n != 1 {
		t.Fatalf("prune: %d, %v; want the sent message", n, err)
	}
	if err := s.Replay(ctx, "m5-dead", now); err != nil {
		t.Fatalf("replay the dead message: %v", err)
	}
}

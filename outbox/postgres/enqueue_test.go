package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound/internal/pgtest"
	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/postgres"
)

func TestEnqueueInAPgxTransaction(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()

	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rolledBack, err := postgres.Enqueue(ctx, tx, outbox.Message{Destination: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Get(ctx, rolledBack[0]); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("a rolled back message: %v, want ErrNotFound", err)
	}

	tx, err = e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := postgres.Enqueue(ctx, tx,
		outbox.Message{Destination: "a", Payload: []byte("1"), Headers: map[string]string{"X-N": "1"}},
		outbox.Message{ID: "mine", Destination: "b", OrderingKey: "k"},
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] == "" || ids[1] != "mine" {
		t.Fatalf("ids %v", ids)
	}
	// Not visible outside the transaction before it commits.
	if _, err := e.store.Get(ctx, ids[0]); !errors.Is(err, outbox.ErrNotFound) {
		t.Fatalf("an uncommitted message: %v, want ErrNotFound", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	ds, err := e.store.Claim(ctx, time.Now().Add(time.Second), time.Minute, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[0].ID != ids[0] || ds[1].ID != ids[1] || string(ds[0].Payload) != "1" || ds[0].Headers["X-N"] != "1" || ds[1].OrderingKey != "k" {
		t.Fatalf("claimed %+v", ds)
	}
}

func TestEnqueueRefusesAllOnAnInvalidMessage(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var fe *outbox.FieldError
	_, err = postgres.Enqueue(ctx, tx, outbox.Message{ID: "ok", Destination: "a"}, outbox.Message{})
	if !errors.As(err, &fe) || fe.Field != "Destination" {
		t.Fatalf("an invalid message: %v, want a FieldError on Destination", err)
	}
	// Nothing was sent: the transaction goes on.
	if _, err := postgres.Enqueue(ctx, tx, outbox.Message{ID: "ok", Destination: "a"}); err != nil {
		t.Fatal(err)
	}
	if ids, err := postgres.Enqueue(ctx, tx); err != nil || len(ids) != 0 {
		t.Fatalf("no messages: %v, %v", ids, err)
	}
	_, err = postgres.Enqueue(ctx, tx, outbox.Message{ID: "ok", Destination: "a"})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Fatalf("a duplicate ID: %v, want a unique violation", err)
	}
}

// Through the pool, outside any transaction, many messages are one
// statement: they commit at once, in their order, all or none.
func TestEnqueueOutsideATransaction(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	var msgs []outbox.Message
	for i := range 20 {
		m := outbox.Message{Destination: "a", Payload: []byte{byte('a' + i)}}
		if i == 5 {
			m.NotBefore = later
		}
		if i == 7 {
			m.Headers = map[string]string{"X-Seven": "7"}
		}
		msgs = append(msgs, m)
	}
	ids, err := postgres.Enqueue(ctx, e.pool, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := e.store.Claim(ctx, time.Now().Add(time.Second), time.Minute, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 19 {
		t.Fatalf("claimed %d, want the 19 due", len(ds))
	}
	for j, d := range ds {
		i := j
		if j >= 5 {
			i++ // the fifth waits until later
		}
		if d.ID != ids[i] || string(d.Payload) != string(rune('a'+i)) {
			t.Fatalf("claim %d: %s %q, want message %d (%s): not in enqueue order", j, d.ID, d.Payload, i, ids[i])
		}
	}
	if ds[6].Headers["X-Seven"] != "7" || len(ds[0].Headers) != 0 {
		t.Fatalf("headers %v and %v", ds[6].Headers, ds[0].Headers)
	}
	if r, err := e.store.Get(ctx, ids[5]); err != nil || r.NextAttemptAt.UnixNano() != later.UnixNano() {
		t.Fatalf("the delayed message: %+v, %v", r, err)
	}

	// One duplicate ID among them: none is written.
	_, err = postgres.Enqueue(ctx, e.pool, outbox.Message{ID: "new-1", Destination: "a"}, outbox.Message{ID: ids[3], Destination: "a"}, outbox.Message{ID: "new-2", Destination: "a"})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Fatalf("a duplicate ID: %v, want a unique violation", err)
	}
	for _, id := range []string{"new-1", "new-2"} {
		if _, err := e.store.Get(ctx, id); !errors.Is(err, outbox.ErrNotFound) {
			t.Fatalf("%s of a refused batch: %v, want ErrNotFound", id, err)
		}
	}
}

func BenchmarkEnqueue(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	msgs := make([]outbox.Message, 10)
	for i := range msgs {
		msgs[i] = outbox.Message{Destination: "a", Payload: []byte(`{"n":1}`)}
	}
	for b.Loop() {
		tx, err := e.pool.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := postgres.Enqueue(ctx, tx, msgs...); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEnqueueBeforeMigrateSaysToMigrate(t *testing.T) {
	_, dsn := pgtest.Schema(t, pgtest.URL(t, "test Enqueue before Migrate"), "enqueue_nomigrate")
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	_, err = postgres.Enqueue(ctx, tx, outbox.Message{Destination: "d", Payload: []byte("{}")})
	var pg *pgconn.PgError
	if !errors.Is(err, outbox.ErrNoTable) || !errors.As(err, &pg) || !strings.Contains(err.Error(), "Migrate") {
		t.Fatalf("Enqueue before Migrate: %v; want ErrNoTable, saying to call Migrate, with the driver's error", err)
	}
}

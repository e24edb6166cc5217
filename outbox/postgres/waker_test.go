package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/postgres"
)

// listening makes s listen: the first Wait returns once it does.
func listening(t *testing.T, s *postgres.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("first Wait: %v", err)
	}
}

// waitAsync runs Wait with a 5 s bound and reports its result.
func waitAsync(s *postgres.Store) <-chan error {
	ch := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ch <- s.Wait(ctx)
	}()
	return ch
}

func TestWaitWakesAtACommittedEnqueue(t *testing.T) {
	e := newEnvAt(t, ownDatabase(t), nil)
	listening(t, e.store)

	// Nothing committed: Wait runs until its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := e.store.Wait(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait with nothing enqueued: %v, want the context's deadline", err)
	}

	// A rolled back enqueue notifies nobody; a committed one, from a
	// connection of database/sql, wakes the waiter.
	woken := waitAsync(e.store)
	tx, err := e.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := outbox.Enqueue(context.Background(), tx, outbox.Message{Destination: "a"}); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback()
	e.enqueueSQL(t, outbox.Message{Destination: "a"})
	if err := <-woken; err != nil {
		t.Fatalf("Wait after a committed enqueue: %v", err)
	}
}

func TestWaitWakesEveryWaiter(t *testing.T) {
	e := newEnvAt(t, ownDatabase(t), nil)
	listening(t, e.store)
	const waiters = 4
	var wg sync.WaitGroup
	errs := make(chan error, waiters)
	for range waiters {
		wg.Go(func() { errs <- <-waitAsync(e.store) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// A waiter may start after a notification went by: enqueue until
	// every one has woken, within the waiters' 5 s.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		e.enqueueSQL(t, outbox.Message{Destination: "a"})
		select {
		case <-done:
			waiting = false
		case <-tick.C:
		}
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a waiter: %v", err)
		}
	}
}

func TestWaitReconnectsAfterAConnectionError(t *testing.T) {
	app := "outbox_waker_" + outbox.NewID(time.Now())[20:]
	e := newEnvAt(t, ownDatabase(t), func(c *pgxpool.Config) { c.ConnConfig.RuntimeParams["application_name"] = app })
	ctx := context.Background()
	listening(t, e.store)

	// Kill the listening session from another one.
	var killed int
	if err := e.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE application_name = $1 AND query = 'LISTEN '||$2 AND pid <> pg_backend_pid()`, app, postgres.Channel).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d listening sessions (%v), want 1", killed, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.store.Wait(wctx); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on a terminated session: %v, want the connection's error", err)
	}
	// The next Wait connects again and listens.
	listening(t, e.store)
	woken := waitAsync(e.store)
	e.enqueueSQL(t, outbox.Message{Destination: "a"})
	if err := <-woken; err != nil {
		t.Fatalf("Wait after reconnecting: %v", err)
	}
}

func TestCloseEndsWait(t *testing.T) {
	e := newEnvAt(t, ownDatabase(t), nil)
	listening(t, e.store)
	woken := waitAsync(e.store)
	follower := waitAsync(e.store)
	e.store.Close()
	for _, ch := range []<-chan error{woken, follower} {
		if err := <-ch; !errors.Is(err, postgres.ErrClosed) {
			t.Fatalf("Wait during Close: %v, want ErrClosed", err)
		}
	}
	if err := e.store.Wait(context.Background()); !errors.Is(err, postgres.ErrClosed) {
		t.Fatalf("Wait after Close: %v, want ErrClosed", err)
	}
	e.store.Close()
	// The store still works.
	if _, err := e.store.Stats(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
}

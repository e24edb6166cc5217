package sqlite_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rebound-go/rebound/outbox"
	"github.com/rebound-go/rebound/outbox/sqlite"
)

// Wait returns at once the first time, then when another connection
// commits, within WakeInterval, and not before; it ends with ctx.
func TestWaitWakesOnACommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openDB(t)
		s := newStore(t, db)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		if err := s.Wait(ctx); err != nil {
			t.Fatalf("first Wait: %v", err)
		}

		woke := make(chan error, 1)
		// asleep checks that Wait has not returned after 5 s more.
		asleep := func(after string) {
			t.Helper()
			time.Sleep(5 * time.Second)
			synctest.Wait()
			select {
			case err := <-woke:
				t.Fatalf("Wait returned %v %s", err, after)
			default:
			}
		}
		go func() { woke <- s.Wait(ctx) }()
		asleep("with nothing committed")
		enqueue(t, db, outbox.Message{Destination: "d", Payload: []byte("{}")})
		start := time.Now()
		if err := <-woke; err != nil || time.Since(start) > sqlite.WakeInterval {
			t.Fatalf("Wait returned %v after %v, want nil within %v of the commit", err, time.Since(start), sqlite.WakeInterval)
		}

		// A claim that finds nothing changes nothing: no wake.
		go func() { woke <- s.Wait(ctx) }()
		time.Sleep(time.Second)
		synctest.Wait()
		if ds, err := s.Claim(ctx, time.Now().Add(-time.Hour), time.Minute, 10, nil); err != nil || len(ds) != 0 {
			t.Fatalf("claim of nothing due: %v, %v", ds, err)
		}
		asleep("after a claim that changed nothing")
		cancel()
		if err := <-woke; !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait ended by its context: %v", err)
		}
		// The connection went back to the pool with the canceled Wait: a
		// new Wait returns at once, as the first did.
		if err := s.Wait(t.Context()); err != nil {
			t.Fatalf("Wait after a canceled one: %v", err)
		}
		if n := db.Stats().InUse; n != 1 {
			t.Fatalf("%d connections in use, want the watch's one", n)
		}
	})
}

// With a pool of one connection, Wait does not take it: it waits for its
// context, and the Store keeps working meanwhile.
func TestWaitLeavesAOneConnectionPoolAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openDB(t)
		db.SetMaxOpenConns(1)
		s := newStore(t, db)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		woke := make(chan error, 1)
		go func() { woke <- s.Wait(ctx) }()
		enqueue(t, db, outbox.Message{Destination: "d", Payload: []byte("{}")})
		if got := claim(t, s, time.Now().Add(time.Second), 10); len(got) != 1 {
			t.Fatalf("claimed %v, want the message", got)
		}
		start := time.Now()
		if err := <-woke; !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Minute {
			t.Fatalf("Wait returned %v after %v, want its deadline after 1m", err, time.Since(start))
		}
	})
}

// Close ends the Waits in progress and later ones with ErrClosed, gives
// the watch's connection back, may be called twice, and leaves the rest
// of the Store working.
func TestCloseEndsWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openDB(t)
		s := newStore(t, db)
		ctx := t.Context()
		if err := s.Wait(ctx); err != nil {
			t.Fatalf("first Wait: %v", err)
		}
		ended := make(chan error, 2)
		for range 2 {
			go func() { ended <- s.Wait(ctx) }()
		}
		synctest.Wait()
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for range 2 {
			if err := <-ended; !errors.Is(err, sqlite.ErrClosed) {
				t.Fatalf("Wait during Close: %v, want ErrClosed", err)
			}
		}
		if err := s.Wait(ctx); !errors.Is(err, sqlite.ErrClosed) {
			t.Fatalf("Wait after Close: %v, want ErrClosed", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if n := db.Stats().InUse; n != 0 {
			t.Errorf("%d connections in use after Close, want 0", n)
		}
		if _, err := s.Stats(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
	})
}

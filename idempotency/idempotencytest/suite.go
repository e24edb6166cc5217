// Package idempotencytest is the conformance suite every idempotency.Store
// must pass, and with it the database engines MarkTx runs on.
//
// A store package runs it from a test of its own:
//
//	func TestConformance(t *testing.T) {
//		idempotencytest.Run(t, func(t *testing.T) idempotencytest.Harness {
//			return idempotencytest.Harness{Store: newEmptyStore(t)}
//		})
//	}
package idempotencytest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rebound-go/rebound/idempotency"
)

// Harness is what the suite needs of the store under test, fresh for each
// subtest.
type Harness struct {
	// Store is the store under test, holding no keys.
	Store idempotency.Store
	// DB is a database/sql handle on the store's database engine, for the
	// MarkTx tests, of the harness's own: the suite creates the table of
	// processed IDs (idempotency.CreateMarkTable) and a table of effects
	// in it. Two of its transactions must be able to run at once, the
	// second waiting for the first's locks (on SQLite: a busy timeout).
	// Nil where MarkTx does not apply (Redis, MemoryStore): the MarkTx
	// tests are skipped.
	DB *sql.DB
	// NativeExpiry says that the store deletes expired keys by itself, so
	// that Reap may report 0 (Redis).
	NativeExpiry bool
}

// Run runs the suite. newHarness must return a fresh harness each time it
// is called, once per subtest: an empty store and, where MarkTx applies, a
// database that holds none of the suite's tables.
//
// Run is long on purpose: it is the list of what a store promises, one
// independent subtest per promise, read top to bottom as the
// specification.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	newStore := func(t *testing.T) idempotency.Store { return newHarness(t).Store }
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	const lease, ttl = 10 * time.Second, time.Hour
	ctx := context.Background()
	key := func(t *testing.T) string { return fmt.Sprintf("k-%s-%d", t.Name(), time.Now().UnixNano()) }
	resp := idempotency.Response{
		Status: 201,
		Header: http.Header{"Content-Type": {"application/json"}, "X-Multi": {"a", "b"}},
		Body:   []byte("{\"id\":1}\x00\xff binary-safe"),
	}

	t.Run("ClaimThenInFlight", func(t *testing.T) {
		s, k := newStore(t), key(t)
		c, err := s.Claim(ctx, k, "fp1", t0, lease, ttl)
		if err != nil || !c.Claimed || c.Token == "" {
			t.Fatalf("first claim: %+v, %v", c, err)
		}
		c2, err := s.Claim(ctx, k, "fp2", t0.Add(time.Second), lease, ttl)
		if err != nil || c2.Claimed {
			t.Fatalf("second claim while in flight: %+v, %v", c2, err)
		}
		if c2.Existing.State != idempotency.InFlight || c2.Existing.Fingerprint != "fp1" {
			t.Fatalf("existing %+v, want in flight with the first fingerprint", c2.Existing)
		}
	})

	t.Run("CompleteThenReplay", func(t *testing.T) {
		s, k := newStore(t), key(t)
		c, _ := s.Claim(ctx, k, "fp", t0, lease, ttl)
		if err := s.Complete(ctx, k, c.Token, resp, t0.Add(time.Second), ttl); err != nil {
			t.Fatal(err)
		}
		c2, err := s.Claim(ctx, k, "fp", t0.Add(2*time.Second), lease, ttl)
		if err != nil || c2.Claimed || c2.Existing.State != idempotency.Completed {
			t.Fatalf("claim after completion: %+v, %v", c2, err)
		}
		got := c2.Existing.Response
		if got.Status != resp.Status || !bytes.Equal(got.Body, resp.Body) || got.Header.Get("Content-Type") != "application/json" || len(got.Header["X-Multi"]) != 2 {
			t.Fatalf("replayed %+v, want %+v", got, resp)
		}
		if c2.Existing.Fingerprint != "fp" {
			t.Fatalf("fingerprint %q", c2.Existing.Fingerprint)
		}
	})

	t.Run("FencedByToken", func(t *testing.T) {
		s, k := newStore(t), key(t)
		c, _ := s.Claim(ctx, k, "fp", t0, lease, ttl)
		for name, err := range map[string]error{
			"complete": s.Complete(ctx, k, "not-the-token", resp, t0, ttl),
			"extend":   s.Extend(ctx, k, "not-the-token", t0, lease),
			"release":  s.Release(ctx, k, "not-the-token"),
		} {
			if !errors.Is(err, idempotency.ErrLeaseLost) {
				t.Errorf("%s with a wrong token: %v, want ErrLeaseLost", name, err)
			}
		}
		if err := s.Complete(ctx, k, c.Token, resp, t0, ttl); err != nil {
			t.Fatal(err)
		}
		if err := s.Complete(ctx, k, c.Token, resp, t0, ttl); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("completing twice: %v, want ErrLeaseLost", err)
		}
		if err := s.Release(ctx, k, c.Token); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("releasing a completed key: %v, want ErrLeaseLost", err)
		}
	})

	t.Run("ExpiredLeaseIsTakenOver", func(t *testing.T) {
		s, k := newStore(t), key(t)
		old, _ := s.Claim(ctx, k, "fp", t0, lease, ttl)
		c, err := s.Claim(ctx, k, "fp", t0.Add(lease), lease, ttl)
		if err != nil || !c.Claimed || c.Token == old.Token {
			t.Fatalf("claim after the lease: %+v, %v", c, err)
		}
		// The crashed holder wakes up: it can no longer write.
		if err := s.Complete(ctx, k, old.Token, resp, t0.Add(lease), ttl); !errors.Is(err, idempotency.ErrLeaseLost) {
			t.Fatalf("stale holder completed: %v", err)
		}
		if err := s.Complete(ctx, k, c.Token, resp, t0.Add(lease), ttl); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("ExtendKeepsTheLease", func(t *testing.T) {
		s, k := newStore(t), key(t)
		c, _ := s.Claim(ctx, k, "fp", t0, lease, ttl)
		if err := s.Extend(ctx, k, c.Token, t0.Add(lease-time.Second), lease); err != nil {
			t.Fatal(err)
		}
		c2, _ := s.Claim(ctx, k, "fp", t0.Add(lease+time.Second), lease, ttl)
		if c2.Claimed {
			t.Fatal("an extended lease was taken over")
		}
		c3, _ := s.Claim(ctx, k, "fp", t0.Add(2*lease), lease, ttl)
		if !c3.Claimed {
			t.Fatal("the extended lease never ended")
		}
	})

	t.Run("ReleaseFreesTheKey", func(t *testing.T) {
		s, k := newStore(t), key(t)
		c, _ := s.Claim(ctx, k, "fp", t0, lease, ttl)
		if err := s.Release(ctx, k, c.Token); err != nil {
			t.Fatal(err)
		}
		c2, err := s.Claim(ctx, k, "other", t0.Add(time.Second), lease, ttl)
		if err != nil || !c2.Claimed {
			t.Fatalf("claim after release: %+v, %v", c2, err)
		}
	})

	t.Run("PanickingHandlerReleasesTheKey", func(t *testing.T) {
		// Through the middleware: a handler that panics gives its key
		// back, so that the retry runs it, instead of 409 for a lease.
		s, k := newStore(t), key(t)
		mw, err := idempotency.Middleware(idempotency.Config{Store: s})
		if err != nil {
			t.Fatal(err)
		}
		var runs atomic.Int64
		h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if runs.Add(1) == 1 {
				panic(http.ErrAbortHandler)
			}
			w.WriteHeader(http.StatusCreated)
		}))
		post := func() (status int, panicked any) {
			defer func() { panicked = recover() }()
			r := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader("{}"))
			r.Header.Set(idempotency.HeaderKey, k)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Code, nil
		}
		if _, p := post(); p != http.ErrAbortHandler {
			t.Fatalf("the handler's panic became %v; want it to go on unchanged", p)
		}
		if status, p := post(); status != http.StatusCreated || p != nil || runs.Load() != 2 {
			t.Fatalf("the retry got %d (panic %v) after %d runs; want a second run answering 201", status, p, runs.Load())
		}
	})

	t.Run("CompletedKeysExpire", func(t *testing.T) {
		s, k := newStore(t), key(t)
		c, _ := s.Claim(ctx, k, "fp", t0, lease, ttl)
		_ = s.Complete(ctx, k, c.Token, resp, t0, ttl)
		if c2, _ := s.Claim(ctx, k, "fp", t0.Add(ttl-time.Second), lease, ttl); c2.Claimed {
			t.Fatal("claimed before the TTL")
		}
		c3, err := s.Claim(ctx, k, "fp", t0.Add(ttl), lease, ttl)
		if err != nil || !c3.Claimed {
			t.Fatalf("claim after the TTL: %+v, %v", c3, err)
		}
	})

	t.Run("Reap", func(t *testing.T) {
		h := newHarness(t)
		s := h.Store
		k1, k2 := key(t)+"-1", key(t)+"-2"
		c, _ := s.Claim(ctx, k1, "fp", t0, lease, ttl)
		_ = s.Complete(ctx, k1, c.Token, resp, t0, time.Minute)
		c2, _ := s.Claim(ctx, k2, "fp", t0, lease, ttl)
		_ = s.Complete(ctx, k2, c2.Token, resp, t0, 2*ttl)
		n, err := s.Reap(ctx, t0.Add(ttl))
		if err != nil {
			t.Fatal(err)
		}
		if !h.NativeExpiry && n < 1 {
			t.Fatalf("reaped %d keys, want at least the expired one", n)
		}
		if c, _ := s.Claim(ctx, k2, "fp", t0.Add(ttl), lease, ttl); c.Claimed || c.Existing.State != idempotency.Completed {
			t.Fatalf("a live key was reaped: %+v", c)
		}
	})

	t.Run("ConcurrentClaimsOneWinner", func(t *testing.T) {
		s, k := newStore(t), key(t)
		var wins atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c, err := s.Claim(ctx, k, "fp", t0, lease, ttl)
				if err != nil {
					t.Error(err)
					return
				}
				if c.Claimed {
					wins.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d of 50 concurrent claims won, want exactly 1", wins.Load())
		}
	})

	runMarkTx(t, newHarness)
}
